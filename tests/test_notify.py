"""Notifications (SPEC section 9) through the real CLI, with real receivers on 127.0.0.1:
an aiosmtpd SMTP server, an http.server JSON webhook, a port that refuses connections,
one that never answers, and the block's `run:` command."""
from __future__ import annotations

import email
import email.policy
import json
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import clean_env

pytest.importorskip("apprise")
SECRET = "tok-5up3r-s3cret"


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Mailbox:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller

    box = Mailbox()
    port = free_port()       # Controller(port=0) cannot check its own readiness
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    box.url = f"mailto://127.0.0.1:{port}?from=pipe@example.com&to=ops@example.com&mode=insecure"
    yield box
    controller.stop()


class Hook:
    """A JSON webhook receiver: every POST's body (JSON) and headers, in order."""

    def __init__(self):
        self.posts: list[dict] = []
        self.headers: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.posts.append(json.loads(body))
                hook.headers.append(dict(self.headers))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def titles(self) -> list[str]:
        return [p["title"] for p in self.posts]


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.server.shutdown()
    h.server.server_close()


@pytest.fixture
def env(project, write_pipeline, pipe):
    class Env:
        root = project

        def write(self, name, text):
            return write_pipeline(name, text)

        def cli(self, *args, env=None, timeout=120):
            extra = {"TOK": SECRET}
            extra.update(env or {})
            return pipe("--state-dir", "state", "--pipelines-dir", "pipelines", *args, env=extra, timeout=timeout)

        def tick(self, now, *more, env=None):
            return self.cli("tick", "--now", now, *more, env=env)

        def events(self, name, kind="notify"):
            out = []
            for f in sorted((project / "state" / name / "runs").glob("*/events.jsonl")):
                out += [e for e in map(json.loads, f.read_text().splitlines()) if e["event"] == kind]
            return out

    return Env()


def pipeline(to: list[str], task: str, *, block: str = "", schedule: str = "@daily", extra: str = "") -> str:
    targets = json.dumps(to)
    return (f'schedule: "{schedule}"\nsecrets: [TOK]\nworkdir: ..\n{extra}'
            f"notify:\n  to: {targets}\n{block}"
            f"tasks:\n  fetch:\n    run: {json.dumps(task)}\n")


FAILING = "for i in $(seq 1 25); do echo line $i; done; echo token=$TOK; exit 3"


# --- the failure message -------------------------------------------------------------------------

def test_failing_scheduled_run_sends_one_mail_and_one_webhook(env, smtp, hook):
    header = hook.url + "?+X-Pipe-Token={{ env.TOK }}"
    env.write("weather", pipeline([smtp.url, header], FAILING))
    r = env.tick("2026-11-23T00:10:00+00:00", env={"PIPE_BASE_URL": "https://pipe.example.com/"})
    assert r.returncode == 1, r.stderr          # as without notifications: a run failed
    assert len(smtp.messages) == 1 and len(hook.posts) == 1
    mail = smtp.messages[0]
    assert mail["Subject"] == "[pipe] weather 2026-11-22 failed: fetch"
    body = mail.get_body().get_content().replace("\r\n", "\n")
    run_id = env.events("weather", "run_started")[0]["run_id"]
    for i in range(7, 26):
        assert f"  | line {i}\n" in body          # the last 20 lines of the log (19, and the token)...
    assert "| line 6\n" not in body               # ...and no more
    assert "token=***" in body and SECRET not in body
    assert f"pipe logs weather fetch --run {run_id}" in body
    assert f"https://pipe.example.com/pipelines/weather/runs/{run_id}" in body
    assert "Logical date: 2026-11-22T00:00:00+00:00" in body and "1 failed" in body
    post = hook.posts[0]
    assert post["title"] == mail["Subject"] and post["type"] == "failure"
    assert "token=***" in post["message"] and SECRET not in post["message"]
    assert hook.headers[0]["X-Pipe-Token"] == SECRET          # the template was rendered...
    events = env.events("weather")
    assert [(e["when"], e["ok"]) for e in events] == [("failure", True), ("failure", True)]
    state_dir = env.root / "state"
    assert SECRET not in "".join(p.read_text() for p in state_dir.rglob("*.jsonl"))    # ...and masked
    # the final event is written before anything is delivered
    lines = (next((state_dir / "weather" / "runs").glob("*/events.jsonl"))).read_text().splitlines()
    kinds = [json.loads(line)["event"] for line in lines]
    assert kinds.index("run_finished") < kinds.index("notify")
    status = env.cli("status", "weather", "--run", run_id, "--json")
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)["run"]
    assert len(doc["notifications"]) == 2 and SECRET not in status.stdout
    text = env.cli("status", "weather", "--run", run_id)
    assert "notify failure -> json://127.0.0.1" in text.stdout and SECRET not in text.stdout


# --- which runs notify, and how often -------------------------------------------------------------

STREAK = "test ! -e fail"


def test_failure_once_per_streak_then_one_recovery(env, hook):
    env.write("s", pipeline([hook.url], STREAK, schedule="@hourly"))
    (env.root / "fail").write_text("")
    for hour in ("01", "02", "03"):
        assert env.tick(f"2026-11-05T{hour}:05:00+00:00").returncode == 1
    assert hook.titles() == ["[pipe] s 2026-11-05 00:00 failed: fetch"]
    (env.root / "fail").unlink()
    for hour in ("04", "05"):
        assert env.tick(f"2026-11-05T{hour}:05:00+00:00").returncode == 0
    assert hook.titles() == ["[pipe] s 2026-11-05 00:00 failed: fetch", "[pipe] s 2026-11-05 03:00 recovered"]
    assert hook.posts[1]["type"] == "success"
    (env.root / "fail").write_text("")          # a new streak is said again
    assert env.tick("2026-11-05T06:05:00+00:00").returncode == 1
    assert len(hook.posts) == 3 and hook.titles()[2].endswith("failed: fetch")


def test_repeat_sends_every_failure(env, hook):
    env.write("s", pipeline([hook.url], "exit 1", schedule="@hourly", block="  repeat: true\n"))
    for hour in ("01", "02", "03"):
        env.tick(f"2026-11-05T{hour}:05:00+00:00")
    assert len(hook.posts) == 3


def test_success_every_time_when_asked(env, hook):
    env.write("s", pipeline([hook.url], "true", schedule="@hourly", block="  when: [success]\n"))
    for hour in ("01", "02"):
        assert env.tick(f"2026-11-05T{hour}:05:00+00:00").returncode == 0
    assert hook.titles() == ["[pipe] s 2026-11-05 00:00 succeeded", "[pipe] s 2026-11-05 01:00 succeeded"]


@pytest.mark.parametrize("when, expected", [("[failure, recovery]", 0), ("[retry]", 1)])
def test_retried_then_succeeded_task_is_quiet_unless_retry_is_asked(env, hook, when, expected):
    flaky = "if [ -e tried ]; then echo ok; else touch tried; exit 1; fi"
    env.write("r", pipeline([hook.url], flaky, block=f"  when: {when}\n", extra="defaults: {retries: 1}\n"))
    assert env.tick("2026-11-05T00:10:00+00:00").returncode == 0
    assert len(hook.posts) == expected
    if expected:
        assert hook.titles() == ["[pipe] r 2026-11-04 succeeded, retried: fetch"]


@pytest.mark.parametrize("manual, expected", [(False, 0), (True, 1)])
def test_manual_run_notifies_only_with_manual_true(env, hook, manual, expected):
    block = "  manual: true\n" if manual else ""
    env.write("m", pipeline([hook.url], "exit 1", block=block))
    assert env.cli("run", "m", "--date", "2026-11-04").returncode == 1
    assert len(hook.posts) == expected


def test_backfill_runs_notify(env, hook):
    env.write("b", pipeline([hook.url], "exit 1", block="  repeat: true\n"))
    r = env.cli("backfill", "b", "--start", "2026-11-01", "--end", "2026-11-02")
    assert r.returncode == 1
    assert hook.titles() == ["[pipe] b 2026-11-01 failed: fetch", "[pipe] b 2026-11-02 failed: fetch"]


# --- deadlines --------------------------------------------------------------------------------------

def test_deadline_reported_once_however_many_ticks(env, hook):
    env.write("d", pipeline([hook.url], "exit 1", block="  when: [deadline]\n  deadline: 1h\n"))
    assert env.tick("2026-11-05T00:10:00+00:00").returncode == 1      # 11-04 fails; failure not asked
    assert hook.posts == []
    for minute in range(5, 60, 6):                                    # the deadline passed at 01:00
        env.tick(f"2026-11-05T01:{minute:02d}:00+00:00")
    assert hook.titles() == ["[pipe] d 2026-11-04 late: not succeeded 1h after its interval ended"]
    assert hook.posts[0]["type"] == "failure"
    assert [e["when"] for e in env.events("d")] == ["deadline"]       # recorded in that interval's run
    listed = env.cli("list", "--json")
    assert listed.returncode == 0, listed.stderr
    row = next(r for r in json.loads(listed.stdout)["pipelines"] if r["name"] == "d")
    assert row["late"] is True


def test_deadline_not_sent_when_the_failure_was(env, hook):
    env.write("d", pipeline([hook.url], "exit 1", block="  deadline: 1h\n"))
    env.tick("2026-11-05T00:10:00+00:00")
    for minute in (5, 30, 59):
        env.tick(f"2026-11-05T01:{minute:02d}:00+00:00")
    assert [t.split()[3] for t in hook.titles()] == ["failed:"]


def test_deadline_of_a_succeeded_interval_is_not_sent(env, hook):
    env.write("d", pipeline([hook.url], "true", block="  deadline: 1h\n"))
    env.tick("2026-11-05T00:10:00+00:00")
    env.tick("2026-11-05T01:10:00+00:00")
    assert hook.posts == []


# --- receivers that fail ----------------------------------------------------------------------------

@pytest.fixture
def silent():
    """A port that accepts connections and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield f"json://127.0.0.1:{s.getsockname()[1]}/hook"
    s.close()


@pytest.mark.parametrize("task, code, when", [("exit 1", 1, "[failure]"), ("true", 0, "[success]")])
def test_unreachable_receivers_change_nothing(env, silent, task, code, when):
    refused = f"json://127.0.0.1:{free_port()}/hook"
    env.write("u", pipeline([refused, silent, "nosuchscheme://x/y"], task,
                            block=f"  when: {when}\n  timeout: 1s\n"))
    r = env.tick("2026-11-05T00:10:00+00:00")
    assert r.returncode == code
    finished = env.events("u", "run_finished")
    assert [e["state"] for e in finished] == ["failed" if code else "succeeded"]
    by_target = {e["target"]: e for e in env.events("u")}
    assert all(not e["ok"] for e in by_target.values()) and len(by_target) == 3
    assert "Connection" in by_target[refused]["error"]
    assert "timed out" in by_target[silent]["error"] and "1s" in by_target[silent]["error"]
    assert "not a URL Apprise can send to" in by_target["nosuchscheme://x/y"]["error"]
    assert r.stderr.count("was not delivered") == 3 and "Traceback" not in r.stderr


def test_without_apprise_the_message_names_the_extra(env, project):
    env.write("n", pipeline(["json://127.0.0.1:9/x"], "exit 1"))
    code = ("import sys; sys.modules['apprise'] = None; sys.argv = ['pipe'] + sys.argv[1:]; "
            "from pipeline_cli.entry import main; main()")
    r = subprocess.run([sys.executable, "-c", code, "--state-dir", "state", "--pipelines-dir", "pipelines",
                        "tick", "--now", "2026-11-05T00:10:00+00:00"], cwd=project, env=clean_env({"TOK": SECRET}),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "pip install 'pipe-cli[notify]'" in r.stderr
    assert "pip install 'pipe-cli[notify]'" in env.events("n")[0]["error"]


# --- the command ----------------------------------------------------------------------------------------

def test_run_command_gets_the_variables_and_the_message(env):
    cmd = "env | grep -E '^PIPE_' | sort > notified.env; cat > notified.txt"
    text = ('schedule: "@daily"\nparams: {city: Paris}\n'
            f"notify:\n  run: {json.dumps(cmd)}\n"
            "tasks:\n  a: {run: 'exit 2'}\n  b: {run: 'exit 3'}\n  c: {run: 'true'}\n")
    env.write("c", text)
    assert env.tick("2026-11-05T00:10:00+00:00").returncode == 1
    folder = env.root / "pipelines"
    variables = dict(line.split("=", 1) for line in (folder / "notified.env").read_text().splitlines())
    run_id = env.events("c", "run_started")[0]["run_id"]
    assert variables["PIPE_RUN_STATE"] == "failed"
    assert sorted(variables["PIPE_FAILED_TASKS"].split(",")) == ["a", "b"]
    assert variables["PIPE_PIPELINE"] == "c" and variables["PIPE_RUN_ID"] == run_id
    assert variables["PIPE_DS"] == "2026-11-04" and variables["PIPE_PARAM_CITY"] == "Paris"
    assert variables["PIPE_NOTIFY_EVENT"] == "failure"
    assert variables["PIPE_NOTIFY_TITLE"].startswith("[pipe] c 2026-11-04 failed: ")
    assert "pipe logs c a --run " + run_id in (folder / "notified.txt").read_text()
    assert [(e["when"], e["ok"], e["target"]) for e in env.events("c")] == [("failure", True, "run: " + cmd)]


def test_failing_command_is_recorded_not_raised(env):
    env.write("c", 'schedule: "@daily"\nnotify:\n  run: "echo oops; exit 5"\n  when: [success]\n'
                   "tasks:\n  a: {run: 'true'}\n")
    r = env.tick("2026-11-05T00:10:00+00:00")
    assert r.returncode == 0
    [event] = env.events("c")
    assert event["ok"] is False and event["error"] == "exit code 5: oops"


# --- tick's own problems -----------------------------------------------------------------------------------

def test_invalid_file_is_said_once_and_sent_once(env, hook):
    env.write("good", 'schedule: "*/1 * * * *"\nworkdir: ..\ntasks:\n  a: {run: "echo {{ ds }} >> good.txt"}\n')
    bad = env.write("bad", 'schedule: "@hourly"\ntasks:\n  x: {run: echo, deps: [nope]}\n')
    results = [env.tick(f"2026-11-05T10:{m:02d}:30+00:00", env={"PIPE_NOTIFY": hook.url}) for m in range(10)]
    assert len(hook.posts) == 1
    assert "bad.yaml" in hook.posts[0]["title"] and "nope" in hook.posts[0]["message"]
    assert "bad.yaml" in results[0].stderr
    assert all("bad.yaml" not in r.stderr for r in results[1:])
    assert len((env.root / "good.txt").read_text().splitlines()) == 10     # the others still run
    bad.write_text('schedule: "@hourly"\ntasks:\n  x: {run: echo, deps: [other]}\n')   # new content: said again
    again = env.tick("2026-11-05T10:10:30+00:00", env={"PIPE_NOTIFY": hook.url})
    assert "bad.yaml" in again.stderr and len(hook.posts) == 2


def test_tick_notify_option(env, hook):
    env.write("bad", 'schedule: "@hourly"\ntasks:\n  x: {run: echo, deps: [nope]}\n')
    r = env.tick("2026-11-05T10:00:30+00:00", "--notify", hook.url)
    assert len(hook.posts) == 1 and "bad.yaml" in r.stderr
    assert r.returncode == 2
    again = env.tick("2026-11-05T10:01:30+00:00", "--notify", hook.url)
    assert (again.returncode, again.stderr, len(hook.posts)) == (2, "", 1)


# --- pipe notify test ------------------------------------------------------------------------------------------

def test_notify_test_says_per_target_and_exits_1_when_one_failed(env, hook, smtp):
    refused = f"json://127.0.0.1:{free_port()}/x"
    env.write("t", pipeline([hook.url, smtp.url, refused], "true"))
    r = env.cli("notify", "test", "t")
    lines = r.stdout.splitlines()
    assert r.returncode == 1, r.stderr
    assert lines[0].startswith("ok") and hook.url in lines[0]
    assert lines[1].startswith("ok") and "mailto://127.0.0.1" in lines[1]
    assert lines[2].startswith("FAILED") and refused in lines[2]
    assert hook.titles() == ["[pipe] t: test message"] and len(smtp.messages) == 1
    env.write("t", pipeline([hook.url], "true"))
    assert env.cli("notify", "test", "t").returncode == 0


# --- import cost -------------------------------------------------------------------------------------------------

def test_apprise_is_imported_only_to_deliver(env, project):
    env.write("plain", 'tasks:\n  a: {run: "true"}\n')
    for args in (["--version"], ["run", "plain"]):
        r = subprocess.run([sys.executable, "-X", "importtime", "-m", "pipeline_cli", "--state-dir", "state", *args],
                           cwd=project, env=clean_env(), capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert "apprise" not in r.stderr and "pipeline_cli.notify" not in r.stderr


def test_two_runs_failing_at_once_send_one_failure(env, hook):
    # two intervals due at once, run side by side: the streak is decided under a lock
    env.write("two", pipeline([hook.url], "sleep 0.5; exit 1", schedule="@hourly",
                              extra="max_active_runs: 2\ncatchup: true\nstart_date: 2026-11-05\n"))
    assert env.tick("2026-11-05T02:05:00+00:00").returncode == 1
    assert len(env.events("two", "run_finished")) == 2
    assert len(hook.posts) == 1


def test_interrupted_scheduled_run_is_a_failure(env, hook, project):
    import signal
    import time

    env.write("i", pipeline([hook.url], "touch started; sleep 30", block="  manual: true\n"))
    proc = subprocess.Popen([sys.executable, "-m", "pipeline_cli", "--state-dir", "state", "--pipelines-dir",
                             "pipelines", "run", "i", "--date", "2026-11-04"], cwd=project,
                            env=clean_env({"TOK": SECRET}), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(600):
        if (project / "started").exists():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    assert hook.titles() == ["[pipe] i 2026-11-04 interrupted"]
    assert "pipe resume i " in hook.posts[0]["message"]
