"""The other commands: init, serve, notify test, completion."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from .app import call, command, notify_app
from .params import WHOLE, Choice, pipeline_arg


@command("init", "create a commented starter pipeline",
         "Create a commented starter pipeline in the pipelines folder (a shell and a Python "
         "task, a dependency, a schedule, an output used downstream), and say what to do next.",
         ("pipe init", "pipe init sales"))
def init(
    name: Annotated[Optional[str], typer.Argument(metavar="NAME", show_default=False,
                                                  help="the pipeline's name [default: hello]")] = None,
) -> int:
    return call("init", name=name)


@command("serve", "serve the web UI: pipelines, runs, graphs, live logs",
         "Serve the web UI over the state folder: the pipelines, a pipeline's grid of runs, a run's "
         "tasks with its graph and timeline, each attempt's log, all updated live. Binds 127.0.0.1 "
         "unless --host; any other address needs a token. Needs the web extra: "
         "pip install 'pipe-cli[web]' (in a checkout of pipe: pip install -e '.[web]').",
         ("pipe serve", "PIPE_SERVE_TOKEN=s3cret pipe serve --host 0.0.0.0 --actions"))
def serve(
    host: Annotated[str, typer.Option("--host", metavar="HOST",
                                      help="address to listen on; beyond loopback a token is required")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", metavar="PORT", click_type=WHOLE,
                                      help="port to listen on (0: any free port)")] = 8080,
    token: Annotated[Optional[str], typer.Option(
        "--token", metavar="TOKEN", envvar="PIPE_SERVE_TOKEN",
        help="require this token (Authorization: Bearer, or the sign-in form)")] = None,
    actions: Annotated[bool, typer.Option("--actions", help="allow triggering and resuming runs from the pages")]
    = False,
) -> int:
    return call("pipeline_cli.web:serve", host=host, port=port, token=token, actions=actions)


@command("test", "send a test message to a pipeline's notify targets",
         "Send a test message to every target of the pipeline's `notify:` block (and run its "
         "`run:` command once), and say per target whether it was delivered; exit 1 when one "
         "was not. Apprise URLs need the notify extra: pip install 'pipe-cli[notify]' "
         "(in a checkout of pipe: pip install -e '.[notify]').",
         ("pipe notify test weather",), on=notify_app)
def notify_test(pipeline: Annotated[str, pipeline_arg("the pipeline")]) -> int:
    return call("pipeline_cli.commands.notify:notify_test", pipeline=pipeline)


@command("completion", "print a shell completion script",
         "Print a completion script for bash, zsh or fish: commands, options, pipeline names, "
         "task ids and run ids, read from the folders the line names (--pipelines-dir, "
         "--state-dir) as the command would. The script asks pipe for the candidates through "
         "Click's completion protocol (_PIPE_COMPLETE=bash_complete, zsh_complete or "
         "fish_complete, with COMP_WORDS and COMP_CWORD). `pipe completion --words W1 --words W2 "
         "...` prints the same candidates for the words typed so far (the last one being typed), "
         "one a line.",
         ('eval "$(pipe completion bash)"   (in ~/.bashrc)',
          'eval "$(pipe completion zsh)"   (in ~/.zshrc, after compinit)',
          "pipe completion fish > ~/.config/fish/completions/pipe.fish"))
def completion(
    shell: Annotated[Optional[str], typer.Argument(metavar="SHELL", click_type=Choice(("bash", "zsh", "fish")),
                                                   show_default=False, help="bash, zsh or fish")] = None,
    words: Annotated[Optional[list[str]], typer.Option(
        "--words", metavar="WORD",
        help="a word typed so far, once per word: print what may complete the last one")] = None,
) -> int:
    return call("pipeline_cli.cli.completion:completion", shell=shell, words=words)
