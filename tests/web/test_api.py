"""`pipe serve` over HTTP: the JSON API equals the CLI's --json documents, unknown or hostile
names are 404 JSON, the token and CSRF rules hold. Real server processes on 127.0.0.1."""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import httpx
import pytest

from conftest import clean_env

PIPELINE = """
    description: Two tasks and a failure
    schedule: "@yearly"
    params: {city: Seattle}
    tasks:
      hello:
        run: echo "hello <b>world</b>"
      broken:
        run: echo "about to fail"; exit 3
        deps: [hello]
"""


@pytest.fixture
def history(project, pipe, write_pipeline):
    """A project with pipeline `demo` and one finished (failed) run of it; returns its run id."""
    write_pipeline("demo", PIPELINE)
    result = pipe("run", "demo", "--json")
    assert result.returncode == 1, result.stderr
    return json.loads(result.stdout)["run_id"]


def cli_json(pipe, *args):
    result = pipe(*args, "--json")
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def test_json_api_equals_the_cli_documents(history, pipe, serve):
    server = serve()
    with httpx.Client(base_url=server.url) as http:
        r = http.get("/api/pipelines")
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.json() == cli_json(pipe, "list")

        r = http.get(f"/api/pipelines/demo/runs/{history}")
        assert r.status_code == 200
        assert r.json() == cli_json(pipe, "status", "demo", "--run", history)

        r = http.get("/api/pipelines/demo/runs")
        assert r.status_code == 200
        status = cli_json(pipe, "status", "demo", "--limit", "25")
        assert r.json() == status["pipelines"][0]
        assert r.json()["pipeline"] == "demo" and [x["run_id"] for x in r.json()["runs"]] == [history]

        r = http.get(f"/api/pipelines/demo/runs/{history}/tasks/broken/log", params={"attempt": 1})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        assert r.text == pipe("logs", "demo", "broken", "--run", history).stdout
        assert r.text == "about to fail\n"
        # Without ?attempt: the latest attempt, as `pipe logs`.
        assert http.get(f"/api/pipelines/demo/runs/{history}/tasks/hello/log").text == 'hello <b>world</b>\n'


@pytest.mark.parametrize("path", [
    "/api/pipelines/nope/runs",
    "/api/pipelines/nope/runs/20261124T060000123Z-manual-1a2b",
    "/api/pipelines/demo/runs/20261124T060000123Z-manual-1a2b",
    "/api/pipelines/demo/runs/not-a-run-id",
    "/api/pipelines/demo/runs/{run}/tasks/nope/log",
    "/api/pipelines/demo/runs/{run}/tasks/hello/log?attempt=2",
    "/api/pipelines/demo/runs/{run}/tasks/hello/log?attempt=0",
    "/api/pipelines/demo/runs/{run}/tasks/hello/log?attempt=x",
    "/api/pipelines/demo/runs/{run}/tasks/..%2F..%2Fevents/log",
    "/api/pipelines/..%2F..%2Fetc/runs",
    "/api/pipelines/demo/runs/..%2F..%2F..%2Fetc%2Fpasswd",
    "/api/pipelines/demo/runs/{run}/tasks/hello%2F..%2F..%2Fevents.jsonl/log",
    "/api/nothing",
])
def test_unknown_or_hostile_names_are_404_json(history, serve, path):
    server = serve()
    r = httpx.get(server.url + path.replace("{run}", history))
    assert r.status_code == 404, r.text
    assert r.headers["content-type"] == "application/json"
    assert set(r.json()) == {"error"}
    assert "Traceback" not in r.text and "root:" not in r.text


@pytest.mark.parametrize("path", ["/pipelines/nope", "/pipelines/demo/runs/20261124T060000123Z-manual-1a2b",
                                  "/pipelines/demo/runs/{run}/tasks/nope/log", "/nothing"])
def test_unknown_pages_are_404_html(history, serve, path):
    r = httpx.get(serve().url + path.replace("{run}", history))
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "Traceback" not in r.text


def test_pages_answer_with_security_headers_and_escaped_text(history, serve):
    server = serve()
    for path in ["/", "/pipelines/demo", f"/pipelines/demo/runs/{history}",
                 f"/pipelines/demo/runs/{history}/tasks/hello/log", "/static/style.css", "/api/pipelines"]:
        r = httpx.get(server.url + path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"]
    page = httpx.get(f"{server.url}/pipelines/demo/runs/{history}/tasks/hello/log").text
    assert "hello &lt;b&gt;world&lt;/b&gt;" in page and "<b>world" not in page
    # Pages name no other origin and hold no inline script.
    for path in ["/", "/pipelines/demo", f"/pipelines/demo/runs/{history}"]:
        html = httpx.get(server.url + path).text
        assert not re.search(r"(src|href|action)=\"(https?:)?//", html)
        assert not re.search(r"<script(?![^>]*\bsrc=)", html)
        assert " style=" not in html and " on" + "click=" not in html


def test_every_task_element_carries_its_id_and_state(history, serve):
    html = httpx.get(f"{serve().url}/pipelines/demo/runs/{history}").text
    for task, state in [("hello", "succeeded"), ("broken", "failed")]:
        row = re.search(rf'<tr data-task="{task}" data-state="{state}">(.*?)</tr>', html, re.S)
        assert row and f"{state}</span>" in row.group(1)
        node = re.search(rf'<g class="node" data-task="{task}" data-state="{state}">(.*?)</g>', html, re.S)
        assert node and f">{state}</text>" in node.group(1)
        assert re.search(rf'<g class="row" data-task="{task}" data-state="{state}">', html)


def test_refuses_to_listen_beyond_loopback_without_a_token(project):
    for host in ("0.0.0.0", "::", "192.0.2.1"):
        result = subprocess.run([sys.executable, "-m", "pipeline_cli", "serve", "--host", host, "--port", "0"],
                                cwd=project, env=clean_env(), capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result
        assert "token" in result.stderr and "Traceback" not in result.stderr
        assert result.stdout == ""


def test_a_token_is_required_on_every_request(history, serve):
    server = serve(env={"PIPE_SERVE_TOKEN": "s3cret-token-of-the-team"})
    for path in ["/", "/pipelines/demo", "/api/pipelines", f"/api/pipelines/demo/runs/{history}",
                 "/static/style.css", "/live"]:
        r = httpx.get(server.url + path)
        assert r.status_code == 401, path
        r = httpx.get(server.url + path, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401, path
    assert httpx.get(server.url + "/api/pipelines").json() == {
        "error": "a token is required: Authorization: Bearer TOKEN"}
    ok = httpx.get(server.url + "/api/pipelines", headers={"Authorization": "Bearer s3cret-token-of-the-team"})
    assert ok.status_code == 200 and ok.json()["pipelines"][0]["name"] == "demo"
    # The page's sign-in form sets a cookie that then opens every page.
    page = httpx.get(server.url + "/pipelines/demo")
    assert page.status_code == 401 and 'action="/signin"' in page.text
    with httpx.Client(base_url=server.url) as browser:
        wrong = browser.post("/signin", data={"token": "nope", "next": "/pipelines/demo"})
        assert wrong.status_code == 401 and not browser.cookies
        r = browser.post("/signin", data={"token": "s3cret-token-of-the-team", "next": "/pipelines/demo"})
        assert r.status_code == 303 and r.headers["location"] == "/pipelines/demo"
        assert "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
        assert browser.get("/pipelines/demo").status_code == 200
        assert browser.get("/api/pipelines").status_code == 200
        # A sign-in never redirects to another site.
        for target in ("//evil.example/", "/\t/evil.example/", "/\\evil.example", "https://evil.example/",
                       "/\n/evil.example"):
            r = browser.post("/signin", data={"token": "s3cret-token-of-the-team", "next": target})
            assert r.headers["location"] == "/", target


def test_actions_are_off_unless_asked_and_need_the_csrf_token(history, pipe, serve):
    server = serve()
    r = httpx.post(server.url + "/pipelines/demo/trigger", data={"date": ""})
    assert r.status_code == 403
    assert 'method="post"' not in httpx.get(server.url + "/pipelines/demo").text      # no action form (the filters are a GET)

    server = serve("--actions")
    page = httpx.get(server.url + "/pipelines/demo").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    for data in ({}, {"csrf": ""}, {"csrf": csrf[:-1] + "x"}):
        r = httpx.post(server.url + "/pipelines/demo/trigger", data=data)
        assert r.status_code == 403, data
        r = httpx.post(f"{server.url}/pipelines/demo/runs/{history}/resume", data=data)
        assert r.status_code == 403, data
    assert [r["run_id"] for r in cli_json(pipe, "status", "demo")["pipelines"][0]["runs"]] == [history]

    r = httpx.post(server.url + "/pipelines/demo/trigger", data={"csrf": csrf, "param.city": "Paris <x>"})
    assert r.status_code == 303, r.text
    run_id = r.headers["location"].rsplit("/", 1)[1]
    assert r.headers["location"] == f"/pipelines/demo/runs/{run_id}"
    doc = cli_json(pipe, "status", "demo", "--run", run_id)["run"]
    assert doc["kind"] == "manual" and doc["params"] == {"city": "Paris <x>"}


def test_a_refused_trigger_says_why(history, serve):
    server = serve("--actions")
    csrf = re.search(r'name="csrf" value="([^"]+)"', httpx.get(server.url + "/pipelines/demo").text).group(1)
    r = httpx.post(server.url + "/pipelines/demo/trigger", data={"csrf": csrf, "date": "2026-13-45"})
    assert r.status_code == 400
    said = re.search(r'data-field="form-error">([^<]*)<', r.text).group(1)
    assert said.startswith("Date &#39;2026-13-45&#39;:") and "Traceback" not in r.text, said   # in the page's words
    assert 'name="date" value="2026-13-45"' in r.text                                         # the form kept


def write_run(project, pipeline: str, run_id: str, lines: list) -> None:
    """A run folder written by hand, as another machine's pipe (or a crash) leaves it."""
    run_dir = project / ".pipe" / pipeline / "runs" / run_id
    (run_dir / "logs").mkdir(parents=True)
    text = "".join((json.dumps(line) if isinstance(line, dict) else line) + "\n" for line in lines)
    (run_dir / "events.jsonl").write_text(text.rstrip("\n") if lines and isinstance(lines[-1], str) else text)


def started(run_id, host, pid, tasks):
    return {"event": "run_started", "time": "2026-11-24T06:00:00.123000+00:00", "format": 1, "run_id": run_id,
            "pipeline": "demo", "kind": "scheduled", "logical_date": "2026-11-23T00:00:00+00:00",
            "interval_start": "2026-11-23T00:00:00+00:00", "interval_end": "2026-11-24T00:00:00+00:00",
            "params": {}, "tasks": tasks, "executor": "local", "pid": pid, "pid_start": "1", "host": host}


def test_a_run_on_another_host_is_running_there_not_interrupted(project, write_pipeline, serve):
    write_pipeline("demo", PIPELINE)
    run_id = "20261124T060000123Z-scheduled-1a2b"
    write_run(project, "demo", run_id, [
        started(run_id, "worker-7.example", 999999, ["hello", "broken"]),
        {"event": "task", "time": "2026-11-24T06:00:01+00:00", "task": "hello", "state": "running", "attempt": 1}])
    server = serve()
    doc = httpx.get(f"{server.url}/api/pipelines/demo/runs/{run_id}").json()["run"]
    assert doc["state"] == "running" and doc["host"] == "worker-7.example"
    assert doc["tasks"]["hello"]["state"] == "running"
    page = httpx.get(f"{server.url}/pipelines/demo/runs/{run_id}").text
    assert "running on worker-7.example" in page and "interrupted" not in page
    assert '<tr data-task="hello" data-state="running">' in page


def test_a_dead_local_run_is_interrupted_and_a_torn_line_is_reported(project, pipe, write_pipeline, serve):
    write_pipeline("demo", PIPELINE)
    run_id = "20261124T060000123Z-scheduled-1a2c"
    write_run(project, "demo", run_id, [
        started(run_id, os.uname().nodename, 999999, ["hello", "broken"]),
        {"event": "task", "time": "2026-11-24T06:00:01+00:00", "task": "hello", "state": "running", "attempt": 1},
        '{"event":"task","time":"2026-11-24T06:00:02+00:00","task":"hel'])
    server = serve()
    doc = httpx.get(f"{server.url}/api/pipelines/demo/runs/{run_id}").json()
    assert doc["run"]["state"] == "interrupted" and doc["run"]["skipped_lines"] == 1
    cli = cli_json(pipe, "status", "demo", "--run", run_id)
    for d in (doc["run"], cli["run"], doc["pipelines"][0]["runs"][0], cli["pipelines"][0]["runs"][0]):
        d.pop("duration")                     # an interrupted run's duration counts up to now
    assert doc == cli
    page = httpx.get(f"{server.url}/pipelines/demo/runs/{run_id}").text
    assert 'data-run-state="interrupted"' in page
    assert "1 line(s) of the event log could not be read" in page


def test_resume_from_the_page_reruns_the_failed_tasks(project, pipe, write_pipeline, serve):
    write_pipeline("flaky", """
        tasks:
          first:
            run: echo first
          check:
            deps: [first]
            run: test -f ok
    """)
    assert pipe("run", "flaky").returncode == 1
    run_id = cli_json(pipe, "status", "flaky")["run"]["run_id"]
    server = serve("--actions")
    page = httpx.get(f"{server.url}/pipelines/flaky/runs/{run_id}").text
    assert "Resume this run" in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    (project / "pipelines" / "ok").touch()
    r = httpx.post(f"{server.url}/pipelines/flaky/runs/{run_id}/resume", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == f"/pipelines/flaky/runs/{run_id}"
    deadline = time.monotonic() + 60
    while cli_json(pipe, "status", "flaky", "--run", run_id)["run"]["state"] != "succeeded":
        assert time.monotonic() < deadline, "the resumed run did not succeed"
        time.sleep(0.1)
    doc = cli_json(pipe, "status", "flaky", "--run", run_id)["run"]
    assert doc["tasks"]["first"]["attempt"] == 1 and doc["tasks"]["check"]["attempt"] == 2


def test_a_port_in_use_is_a_clear_error(project):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "pipeline_cli", "serve", "--port", str(port)],
                                cwd=project, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr


LOOPBACK_HOSTS = ("127.0.0.1", "127.0.0.1:8080", "127.1.2.3:80", "localhost", "localhost:8080", "LocalHost",
                  "localhost.", "[::1]", "[::1]:8080", "[::ffff:127.0.0.1]:8080")
FOREIGN_HOSTS = ("evil.example", "evil.example:8080", "127.attacker.example", "127.attacker.example:8080",
                 "127.0.0.1.nip.io", "127.0.0.1.nip.io:8080", "localhost.evil.example", "evil.localhost",
                 "127.0.0.1:8080:80", "127.0.0.1:port", "[::1]x", "[::1", "::1", "[::2]:8080", "10.0.0.1",
                 "0.0.0.0", "")


@pytest.mark.parametrize("actions", [False, True])
def test_without_a_token_only_loopback_host_names_are_served(history, serve, actions):
    # DNS rebinding: a page of evil.example (or of a name made to look like 127.0.0.1) whose
    # name now resolves to 127.0.0.1 must neither read the pages (nor their CSRF token) nor act.
    server = serve(*(["--actions"] if actions else []))
    for host in FOREIGN_HOSTS:
        for path in ("/", "/pipelines/demo", "/api/pipelines", f"/pipelines/demo/runs/{history}"):
            r = httpx.get(server.url + path, headers={"Host": host})
            assert r.status_code in (400, 421), (host, path, r.status_code)
            assert 'name="csrf"' not in r.text and "demo" not in r.text, (host, path)
        r = httpx.post(server.url + "/pipelines/demo/trigger", headers={"Host": host}, data={"csrf": "x"})
        assert r.status_code in (400, 421), host
    for host in LOOPBACK_HOSTS:
        assert httpx.get(server.url + "/api/pipelines", headers={"Host": host}).status_code == 200, host
    page = httpx.get(server.url + "/pipelines/demo")
    assert page.status_code == 200 and ('name="csrf"' in page.text) == actions
    # With a token the name is the proxy's business: the token guards the door.
    server = serve("--token", "a-token-of-16-ch")
    r = httpx.get(server.url + "/api/pipelines", headers={"Host": "pipe.example",
                                                           "Authorization": "Bearer a-token-of-16-ch"})
    assert r.status_code == 200
    assert httpx.get(server.url + "/api/pipelines", headers={"Host": "pipe.example"}).status_code == 401


def test_the_name_given_with_host_is_served(history, serve):
    server = serve("--host", "localhost")
    assert httpx.get(server.url + "/api/pipelines", headers={"Host": "localhost:1"}).status_code == 200
    assert httpx.get(server.url + "/api/pipelines", headers={"Host": "127.attacker.example"}).status_code == 421


@pytest.mark.parametrize("token", ["a", "fifteen-chars-x", " " * 3])
@pytest.mark.parametrize("how", ["option", "env"])
def test_a_token_shorter_than_16_characters_is_refused(project, token, how):
    args, env = (["--token", token], None) if how == "option" else ([], {"PIPE_SERVE_TOKEN": token})
    for host in (["--host", "0.0.0.0"], []):
        result = subprocess.run([sys.executable, "-m", "pipeline_cli", "serve", "--port", "0", *host, *args],
                                cwd=project, env=clean_env(env), capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result
        assert "--token (or PIPE_SERVE_TOKEN)" in result.stderr and "at least 16" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_the_grid_pages_through_older_runs(project, pipe, write_pipeline, serve):
    write_pipeline("many", "tasks: {a: {run: 'true'}}\n")
    for _ in range(27):
        assert pipe("run", "many").returncode == 0
    ids = [r["run_id"] for r in cli_json(pipe, "status", "many", "--limit", "100")["pipelines"][0]["runs"]][::-1]
    server = serve()
    newest = httpx.get(server.url + "/pipelines/many?n=25").text
    assert all(f'href="/pipelines/many/runs/{r}"' in newest for r in ids[-25:])
    assert f'href="/pipelines/many/runs/{ids[1]}"' not in newest
    older = re.search(r'href="(/pipelines/many\?[^"]*before=[^"]+)"', newest).group(1)
    page = httpx.get(server.url + older.replace("&amp;", "&")).text
    assert all(f'href="/pipelines/many/runs/{r}"' in page for r in ids[:2])
    assert f'href="/pipelines/many/runs/{ids[2]}"' not in page and "older runs" not in page
    assert httpx.get(server.url + "/pipelines/many?before=../x").status_code == 404
    for bad in ("state=bogus", "kind=nightly", "n=0", "n=x", "date=septembre"):
        answer = httpx.get(f"{server.url}/pipelines/many?{bad}")
        assert answer.status_code == 400 and "expected" in answer.text and "Traceback" not in answer.text, bad


def test_the_event_stream_of_a_log_resumes_where_the_browser_got_to(history, serve):
    server = serve()
    url = f"{server.url}/live"
    base = {"pipeline": "demo", "run": history, "task": "broken", "attempt": "1", "offset": "0"}
    with httpx.stream("GET", url, params=base) as r:
        body = r.read().decode()
    assert r.headers["content-type"].startswith("text/event-stream")
    assert 'event: log\ndata: "about to fail\\n"' in body and body.rstrip().endswith("event: done\ndata: {}")
    # A reconnect (Last-Event-ID: the offset it had) gets nothing twice.
    with httpx.stream("GET", url, params=base, headers={"Last-Event-ID": str(len("about to fail\n"))}) as r:
        again = r.read().decode()
    assert "event: log" not in again and "event: done" in again
    for params in ({"run": history}, {"pipeline": "demo", "task": "broken"},
                   {**base, "attempt": "x"}, {**base, "task": "../../x"}, {**base, "attempt": "9"}):
        r = httpx.get(url, params=params)
        assert r.status_code == 404 and "error" in r.json(), params


def test_the_web_layer_and_the_core_keep_to_their_sides():
    code = ("import sys; import pipeline_cli.web.app, pipeline_cli.web.data; "
            "print(sorted(m for m in sys.modules if m in ('typer', 'rich', 'pipeline_cli.cli') "
            "or m.startswith('dask')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_env())
    assert out.returncode == 0 and out.stdout.strip() == "[]", out
    code = ("import sys; import pipeline_cli.commands, pipeline_cli.run, pipeline_cli.scheduling, "
            "pipeline_cli.state; print(sorted(m for m in sys.modules if m.startswith(('starlette', 'uvicorn', "
            "'pipeline_cli.web'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_env())
    assert out.returncode == 0 and out.stdout.strip() == "[]", out


def test_every_attempt_of_a_retried_task_has_its_bar_and_its_log(project, pipe, write_pipeline, serve):
    write_pipeline("retry", """
        tasks:
          shaky:
            retries: 1
            run: |
              if [ -f tried ]; then echo "second try"; else touch tried; echo "first try"; exit 5; fi
    """)
    assert pipe("run", "retry").returncode == 0
    run_id = cli_json(pipe, "status", "retry")["run"]["run_id"]
    server = serve()
    page = httpx.get(f"{server.url}/pipelines/retry/runs/{run_id}").text
    log = f"/pipelines/retry/runs/{run_id}/tasks/shaky/log"
    assert f'href="{log}?attempt=1"' in page and f'href="{log}?attempt=2"' in page
    bars = re.findall(r'<rect class="bar" data-state="(\w+)"', page)
    assert bars == ["failed", "succeeded"]          # attempt 1 failed (and was retried)
    first = httpx.get(f"{server.url}{log}?attempt=1").text
    assert "first try" in first and "second try" not in first and "exit code 5" in first
    assert "second try" in httpx.get(f"{server.url}{log}").text
    assert httpx.get(f"{server.url}/api{log}?attempt=1").text == "first try\n"


def test_nothing_to_serve_is_exit_2_and_history_without_files_still_shows(tmp_path_factory, project, pipe,
                                                                         write_pipeline, serve):
    empty = tmp_path_factory.mktemp("no-project")
    result = subprocess.run([sys.executable, "-m", "pipeline_cli", "serve", "--port", "0"], cwd=empty,
                            env=clean_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "nothing to serve here" in result.stderr, result
    write_pipeline("gone", "tasks: {a: {run: 'true'}}\n")
    assert pipe("run", "gone").returncode == 0
    run_id = cli_json(pipe, "status", "gone")["run"]["run_id"]
    shutil.rmtree(project / "pipelines")
    server = serve()
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and "no pipelines folder" in page.text
    assert 'href="/pipelines/gone"' in page.text
    assert httpx.get(f"{server.url}/pipelines/gone").status_code == 200
    assert httpx.get(f"{server.url}/pipelines/gone/runs/{run_id}").status_code == 200
