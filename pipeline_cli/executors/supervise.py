"""The worker side of the Dask executor: the function a Dask worker runs for ONE attempt.

`run_attempt(spec, opts)` runs the attempt exactly as pipe runs it locally (AttemptProcess:
its own session and process group, the worker's environment with the attempt's `env` over
it, `$PIPE_OUTPUT`, Python entrypoints in a child process) and, while it runs:

- takes the attempt's start ticket from its control queue first: Dask reruns a task whose
  worker died, and a second start finds no ticket and returns `{"duplicate": True}`; a worker
  that runs another pipe or sees another pipeline file starts nothing;
- streams the masked output to pipe through a bounded `distributed.Queue` (chunks of at most
  CHUNK bytes, SLOTS of them in flight): when pipe does not keep up, `put` waits and the task
  blocks on its own pipe, so no side holds more than a few chunks;
- once it has run FLUSH seconds, says where it runs and waits for pipe's kill orders on the
  control queue (a long poll on the worker's event loop; SIGTERM to the group, SIGKILL after
  the grace), and reads the run's lease, a Variable pipe bumps (one reader per worker process
  and run): silent for `lease` seconds (pipe was killed, the scheduler is gone) it kills the
  group itself;
- registers the group with a watcher process that SIGKILLs it if the worker process dies;
- enforces the task's timeout, and returns a small dict (also sent as the stream's last item).

The queues are used through the scheduler's queue handlers, as distributed.Queue does;
pipe creates and releases them (dask.py).

Nothing here imports distributed at module level: `python -m pipeline_cli.executors.supervise
--watch` is the watcher, and must start fast.
"""
from __future__ import annotations

import hashlib
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace

from . import base
from .base import AttemptSpec

CHUNK = 256 * 1024        # most bytes in one queue item
SLOTS = 8                 # most items in flight per attempt (the queue's maxsize)
FLUSH = 0.05              # a partial chunk waits at most this long (live logs)
POLL = 0.2                # the supervisor's loop wakes at least this often
RPC_TIMEOUT = 5.0         # no call to the scheduler waits longer than this


def queue_names(dask_key: str, owner: str = "") -> tuple[str, str]:
    """(control queue, output queue) of an attempt; `owner` names the lease of the pipe that
    made them (pipe-lease-OWNER): once that lease is gone, whoever finds them removes them."""
    tail = f"{dask_key} {owner}" if owner else dask_key
    return f"pipe-ctl {tail}", f"pipe-out {tail}"


# -- the start-of-run check ---------------------------------------------------------------
def check_worker(pipeline_file: str, modules: list | None = None) -> dict:
    """Run on every worker by `client.run` before the first task (and on each worker that
    joins later): pipe's version there, and what the pipeline file and the modules of its
    Python tasks ([path, digest] each) are at the same paths."""
    import pipeline_cli

    found: dict = {"version": getattr(pipeline_cli, "__version__", "?"), "python": sys.version.split()[0]}
    try:
        found["digest"] = file_digest(pipeline_file)
    except OSError as e:
        found["error"] = e.strerror or str(e)
    found["differs"] = _files_differ(modules or [])
    return found


def file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- the watcher: a worker's attempts die with it --------------------------------------------
_watch_lock = threading.Lock()
_watcher: subprocess.Popen | None = None


def _watch(line: str) -> None:
    """Tell this worker process's watcher about a group ("+PGID FOLDER" / "-PGID"). The watcher reads
    a pipe only this process holds: when the worker dies, it reads EOF and SIGKILLs every
    group still registered."""
    with _watch_lock:
        _start_watcher()
        try:
            _watcher.stdin.write(f"{line}\n".encode())
            _watcher.stdin.flush()
        except OSError:
            pass


def _start_watcher() -> None:
    """(Under _watch_lock.) This worker process's watcher, started if it is not running.
    Started before an attempt's process (not once it runs): a worker killed while its
    watcher was still starting would leave that attempt's group behind."""
    global _watcher
    if _watcher is None or _watcher.poll() is not None:
        _watcher = subprocess.Popen([sys.executable, "-m", "pipeline_cli.executors.supervise", "--watch"],
                                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True,
                                    close_fds=True)


def watch_main() -> int:
    """The watcher: "+PGID FOLDER" registers an attempt's group and temporary folder, "-PGID"
    forgets it; at EOF (the worker process is gone) it SIGKILLs the groups left and removes
    their folders."""
    groups: dict[int, str] = {}
    for raw in sys.stdin.buffer:
        line = raw.strip().decode()
        if line[:1] == "+":
            pgid, _, folder = line[1:].partition(" ")
            groups[int(pgid)] = folder
        elif line[:1] == "-":
            groups.pop(int(line[1:]), None)
    for pgid, folder in groups.items():
        base.signal_group(pgid, signal.SIGKILL)
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


# -- the lease: one reader per worker process and run, whatever the number of its attempts ---
_leases: dict[str, list] = {}       # lease name -> [last value, when it last changed, when last read]
_leases_lock = threading.Lock()


def _lease_silence(lease, seconds: float) -> float:
    """Seconds since pipe last bumped this lease (as seen from this worker process)."""
    now = time.monotonic()
    with _leases_lock:
        entry = _leases.setdefault(lease.name, [None, now, 0.0])
        due = now - entry[2] >= min(1.0, seconds / 10)
        if due:
            entry[2] = now
    if due:
        try:
            value = lease.get(timeout=0.5, callback_timeout=RPC_TIMEOUT)
            with _leases_lock:
                if value != entry[0]:
                    entry[0], entry[1] = value, time.monotonic()
        except Exception:          # noqa: BLE001  (silence: no scheduler, or no such lease)
            pass
    return time.monotonic() - entry[1]


# -- one attempt ------------------------------------------------------------------------------
def run_attempt(spec: AttemptSpec, opts: dict) -> dict:
    from distributed import get_client, get_worker

    worker = get_worker().address
    client = get_client()
    ctl_name, out_name = queue_names(opts["dask_key"], opts.get("owner", ""))
    link = _Link(client, ctl_name, out_name)
    differs = _differs(opts)
    if differs:
        # A worker that joined after pipe's start-of-run check, and is unfit for this run: it
        # leaves the start ticket where it is (this is no start), and pipe hands the attempt
        # to another worker.
        unfit = {"unfit": f"{differs}", "worker": worker}
        try:
            link.put(unfit, timeout=RPC_TIMEOUT)
        except Exception:      # noqa: BLE001  (pipe reads it from the future then)
            pass
        return unfit
    try:
        first = link.call(client.scheduler.queue_get, name=ctl_name, batch=True)
    except Exception:       # noqa: BLE001  (no such queue: pipe gave the attempt up)
        first = []
    if {"go": 1} not in first:
        # The ticket is gone: this attempt started before (its worker died and Dask ran the
        # task again), or pipe took it back to cancel it. Never start twice.
        return {"duplicate": True, "worker": worker}
    kill = next((m for m in first if isinstance(m, dict) and "kill" in m), None)
    return _Supervisor(spec, opts, worker, client, link, kill).run()


_seen_files: dict[tuple, str] = {}


def _digest_now(path: str) -> str:
    """The file's digest, read again only when its mtime or size changed (OSError if unseen)."""
    st = os.stat(path)
    key = (path, st.st_mtime_ns, st.st_size)
    if key not in _seen_files:
        _seen_files[key] = file_digest(path)
    return _seen_files[key]


def _files_differ(modules: list) -> str | None:
    """The first module ([path, digest]) this worker does not see as pipe does, said in words."""
    for path, digest in modules:
        try:
            if _digest_now(path) != digest:
                return f"sees another copy of {path}, a module the pipeline's Python tasks import (its content differs)"
        except OSError as e:
            return f"cannot see {path}, a module the pipeline's Python tasks import: {e.strerror}"
    return None


def _differs(opts: dict) -> str | None:
    """What makes this worker unfit for the run: another pipe, or not the same pipeline file
    or modules of its Python tasks (pipe checked the workers it saw at the start, and checks
    those that join; this covers one an attempt reaches first)."""
    import pipeline_cli

    if opts.get("version") and getattr(pipeline_cli, "__version__", None) != opts["version"]:
        return f"runs pipe {getattr(pipeline_cli, '__version__', '?')}, not {opts['version']} as pipe does"
    if opts.get("pipeline_file"):
        path, digest = opts["pipeline_file"]
        try:
            if _digest_now(path) != digest:
                return f"sees another pipeline file at {path} (its content differs)"
        except OSError as e:
            return f"cannot see the pipeline file {path}: {e.strerror}"
    return _files_differ(opts.get("modules") or [])


class _Link:
    """The attempt's two queues, used through the scheduler's queue handlers (as
    distributed.Queue does) without holding a reference: pipe created them and releases them."""

    def __init__(self, client, ctl: str, out: str):
        self.client, self.ctl, self.out = client, ctl, out
        self.orders: list[dict] = []
        self.done = False
        self._r = self._w = -1
        self.lock = threading.Lock()

    def call(self, fn, **kwargs):
        got = self.client.sync(fn, callback_timeout=RPC_TIMEOUT, **kwargs)
        if isinstance(got, (list, tuple)):
            return [r.get("value") if isinstance(r, dict) else r for r in got]
        return got

    def watch_orders(self) -> int:
        """Wait for pipe's orders on the worker's event loop (a long poll, not a call every
        fraction of a second); each order is queued and a byte written to the returned fd."""
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        self.client.loop.add_callback(self._watch_orders)
        return self._r

    async def _watch_orders(self) -> None:
        import asyncio

        s = self.client.scheduler
        try:
            while not self.done:
                try:
                    # No timeout (the scheduler would log each as an ERROR): stop_watching()
                    # and pipe's orders, "gone" included, end the wait.
                    record = await s.queue_get(name=self.ctl)
                except KeyError:               # the queue is gone: pipe gave this attempt up
                    self._order({"kill": "pipe gave this attempt up", "grace": 0, "gone": True})
                    return
                except Exception:              # noqa: BLE001  (no scheduler: the lease decides)
                    await asyncio.sleep(1)
                    continue
                value = record.get("value") if isinstance(record, dict) else None
                if isinstance(value, dict) and "kill" in value:
                    self._order(value)
                elif value == {"done": 1}:          # stop_watching() ends the poll
                    return
        finally:
            self.done = True

    def _order(self, order: dict) -> None:
        """(On the event loop.) Under the lock: stop_watching() closes the pipe under it."""
        with self.lock:
            self.orders.append(order)
            if self._w >= 0:
                try:
                    os.write(self._w, b"!")
                except OSError:
                    pass

    def take_orders(self) -> list[dict]:
        """(In the task's thread, which alone closes the pipe.)"""
        if self._r >= 0:
            try:
                while os.read(self._r, 512):
                    pass
            except (BlockingIOError, OSError):
                pass
        with self.lock:
            taken, self.orders = self.orders, []
        return taken

    def stop_watching(self) -> None:
        if self._r < 0:
            return
        self.done = True
        try:       # end the long poll now, rather than leave it waiting on the scheduler
            self.call(self.client.scheduler.queue_put, name=self.ctl, data={"done": 1})
        except Exception:      # noqa: BLE001  (the queue is gone: so is the poll)
            pass
        with self.lock:
            for fd in (self._r, self._w):
                os.close(fd)
            self._r = self._w = -1

    def put(self, item, timeout: float) -> None:
        self.call(self.client.scheduler.queue_put, name=self.out, data=item, timeout=timeout)

    def release(self) -> None:
        """pipe is gone: drop its queues for it (it can no longer)."""
        for name in (self.ctl, self.out):
            try:
                self.client._send_to_scheduler({"op": "queue_release", "name": name})
            except Exception:      # noqa: BLE001
                pass


class _Supervisor:
    def __init__(self, spec: AttemptSpec, opts: dict, worker: str, client, link: _Link, kill: dict | None):
        from distributed import Variable

        self.spec, self.opts, self.worker = spec, opts, worker
        self.link = link
        self.lease = Variable(opts["lease"], client=client)
        self.lease_seconds = float(opts["lease_seconds"])
        self.next_lease = time.monotonic() + min(1.0, self.lease_seconds / 10)
        self.orphaned = False              # pipe went silent for the lease: the attempt is killed
        self.given_up = False              # ...and stayed silent for a second lease: its output is dropped
        self.gone = False                  # pipe dropped the attempt's queues
        self.pending_kill = kill
        self.buffer = bytearray()
        self.sent = 0
        self.last_flush = time.monotonic()
        self.hello: dict | None = None      # "started": sent once the attempt runs FLUSH seconds

    # talking to pipe -------------------------------------------------------------
    def poll_pipe(self, proc) -> None:
        for m in self.link.take_orders():
            self.pending_kill = m
            if m.get("gone"):
                self.gone = True
        now = time.monotonic()
        if now >= self.next_lease:
            self.next_lease = now + min(1.0, self.lease_seconds / 10)
            silent = _lease_silence(self.lease, self.lease_seconds)
            if silent > self.lease_seconds and not self.orphaned:
                # pipe is gone or stopped: kill the attempt, but keep what it prints (pipe may
                # only be stopped, and read it once it goes on) for one more lease.
                self.orphaned = True
                self.pending_kill = {"kill": f"pipe lost: no word from it for {base.seconds_text(self.lease_seconds)}",
                                     "grace": base.KILL_GRACE}
            elif silent > 2 * self.lease_seconds and not self.given_up:
                self.given_up = True           # nobody will read it: drop the queues for pipe
                self.link.release()
        if self.pending_kill is not None and proc is not None:
            m, self.pending_kill = self.pending_kill, None
            grace = float(m.get("grace", base.KILL_GRACE))
            proc.stop(m["kill"], m.get("kind", base.CANCELLED), grace)
            if grace <= 0:
                proc.kill()

    def send(self, item, proc=None) -> None:
        """Put one item; while the queue is full (pipe is slow), keep obeying kill orders."""
        while not self.given_up and not self.gone:
            try:
                self.link.put(item, timeout=POLL)
                return
            except KeyError:              # the queue is gone: pipe gave this attempt up
                self.gone = True
                self.pending_kill = self.pending_kill or {"kill": "pipe gave this attempt up", "grace": 0}
            except Exception:             # noqa: BLE001  (full: wait; no scheduler: the lease decides)
                pass
            self.poll_pipe(proc)
            if proc is not None:
                proc.on_time(time.monotonic())

    def flush(self, proc, force: bool = False) -> None:
        while self.buffer and (force or len(self.buffer) >= CHUNK or time.monotonic() - self.last_flush >= FLUSH):
            chunk = bytes(self.buffer[:CHUNK])
            del self.buffer[:CHUNK]
            self.send(chunk, proc)
            self.sent += len(chunk)
            self.last_flush = time.monotonic()
            if not force and len(self.buffer) < CHUNK:
                break

    # the attempt -----------------------------------------------------------------
    def run(self) -> dict:
        from .process import AttemptProcess

        if self.pending_kill is not None:       # cancelled before it could start
            result = {"kind": base.CANCELLED, "reason": self.pending_kill["kill"], "exit_code": None,
                      "duration": 0.0, "outputs": {}, "worker": self.worker}
            self.send({"end": result})
            return result
        folder = tempfile.mkdtemp(prefix="pipe-attempt-")
        with _watch_lock:
            _start_watcher()
        try:
            spec = _localize(self.spec, folder)
            proc = AttemptProcess(spec, dict(os.environ), -1, sink=self.buffer.extend, always_pipe=True)
            if proc.pid:
                _watch(f"+{proc.pid} {folder}")
            self.hello = {"started": self.worker, "host": socket.gethostname(), "pid": proc.pid}
            try:
                self.supervise(proc)
                outcome = proc.finish(worker=self.worker)
            finally:
                if proc.pid:
                    _watch(f"-{proc.pid}")
            if self.orphaned:
                self.buffer.extend(f"pipe: killed on its worker {self.worker}: no word from pipe for "
                                   f"{base.seconds_text(self.lease_seconds)} (its lease ran out)\n".encode())
            self.flush(proc, force=True)
            result = {"kind": outcome.kind, "exit_code": outcome.exit_code, "reason": outcome.reason,
                      "duration": outcome.duration, "outputs": outcome.outputs, "worker": self.worker,
                      "log_bytes": self.sent}
            # The watch ends before the outcome goes: once pipe has it, it releases the queues,
            # and a later "done" would find none (the scheduler logs that as an ERROR).
            self.link.stop_watching()
            self.send({"end": result})
            return result
        finally:
            self.link.stop_watching()
            shutil.rmtree(folder, ignore_errors=True)

    def supervise(self, proc) -> None:
        sel = selectors.DefaultSelector()
        if proc.pipe_fd >= 0:
            sel.register(proc.pipe_fd, selectors.EVENT_READ, "out")
        if proc.pidfd >= 0:
            sel.register(proc.pidfd, selectors.EVENT_READ, "exit")
        reading = proc.pipe_fd >= 0
        try:
            while True:
                now = time.monotonic()
                if self.hello is not None and now - proc.started >= FLUSH:
                    # Still running: say where, and from now on wait for pipe's orders (an
                    # attempt shorter than this costs neither; an order given meanwhile waits
                    # in the queue).
                    hello, self.hello = self.hello, None
                    sel.register(self.link.watch_orders(), selectors.EVENT_READ, "orders")
                    self.send(hello, proc)
                proc.on_time(now)
                self.poll_pipe(proc)
                if len(self.buffer) >= CHUNK or (self.buffer and now - self.last_flush >= FLUSH):
                    self.flush(proc)
                    continue
                if proc.poll():
                    break
                limit = min(POLL, max(0.0, (proc.next_deadline() or now + POLL) - now))
                if self.buffer:
                    limit = min(limit, max(0.0, self.last_flush + FLUSH - now))
                if proc.pidfd < 0:
                    limit = min(limit, 0.05)
                for key, _ in sel.select(limit):
                    if key.data == "out" and reading and not self._read(proc):
                        sel.unregister(proc.pipe_fd)
                        reading = False
            # The leader exited: take what is left in the pipe (bounded: a background child
            # that keeps writing does not hold the attempt open), then finish() closes it.
            for _ in range(256):
                if not reading or not self._read(proc, block_ok=False):
                    break
                if len(self.buffer) >= CHUNK:
                    self.flush(proc)
            if proc.pipe_fd >= 0:     # closed here, so that finish() does not read on without bound
                if reading:
                    sel.unregister(proc.pipe_fd)
                if proc.stream:
                    self.buffer.extend(proc.stream.close())
                os.close(proc.pipe_fd)
                proc.pipe_fd = -1
        finally:
            sel.close()

    def _read(self, proc, block_ok: bool = True) -> bool:
        """One read of the task's output into the buffer (the process's sink); False at end of
        stream (or nothing left, after the leader exited)."""
        got = proc.read_once()
        return block_ok if got is None else got


def _localize(spec: AttemptSpec, folder: str) -> AttemptSpec:
    """The attempt with $PIPE_OUTPUT and a Python task's result file in a folder of this
    worker (pipe's state folder need not be shared); its output goes back over the queue."""
    output = os.path.join(folder, "output")
    env = dict(spec.env, PIPE_OUTPUT=output)
    call = dict(spec.python_call, result=os.path.join(folder, "result.json")) if spec.python_call else None
    return replace(spec, env=env, output_path=output, python_call=call, log_path=os.devnull)


if __name__ == "__main__" and sys.argv[1:] == ["--watch"]:
    sys.exit(watch_main())
