"""The Dask executor: attempts run on the workers of a Dask distributed cluster; pipe stays
the coordinator (SPEC section 7). The only module of the coordinator that imports
distributed; the worker side is supervise.py.

Per attempt: a control queue holding its start ticket (and, later, kill orders), an output
queue the worker streams the masked log through, and one Dask task (`supervise.run_attempt`)
with its own key, `pure=False`, `retries=0`, the task's resources and its critical-path
priority. Starting an attempt and draining its output into the log file on this machine run
as coroutines on the client's event loop (no thread per attempt, no waiting in `submit`);
the stream's last item is the outcome. Around them, a heartbeat thread bumps the run's lease
(the workers kill what pipe no longer watches), notices lost workers and a lost scheduler, and
releases what ended. Tasks with `executor: local` go to an embedded LocalExecutor; `wait`
watches both.

Queues are spoken to through the scheduler's queue handlers (`queue_create`, `queue_put`,
`queue_get`, `queue_release`: distributed/queues.py), as `distributed.Queue` does, so that
this can run on the event loop. Only pipe holds a reference to an attempt's queues (the
worker uses them without one), and releases them once the attempt ended. No call asks the
scheduler to time out (Dask logs each such timeout as an ERROR with a traceback): the long
polls of the drain and of the worker's order watch wait until something is put, and are woken
on purpose (_nudge(); the heartbeat wakes a drain that has waited DRAIN_WAIT; a stop order).
"""
from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import selectors
import sys
import threading
import time
import uuid
from dataclasses import dataclass

from distributed import Client, Variable

from .. import __version__
from ..errors import UsageError
from . import base, supervise
from .base import AttemptSpec, Outcome, Started
from .local import LocalExecutor

CONNECT_TIMEOUT = float(os.environ.get("PIPE_DASK_CONNECT_TIMEOUT", "10"))
LEASE = float(os.environ.get("PIPE_DASK_LEASE", "30"))    # seconds a worker goes on without word from pipe
WAIT_WORKERS = 120.0  # default of --dask-wait-workers / PIPE_DASK_WAIT_WORKERS
RPC_SHORT = 1.0       # a put to a queue that has room
LEASE_PREFIX = "pipe-lease-"
SWEEP_EVERY = 60.0    # how often a running pipe looks for what killed pipes left on the scheduler
MAX_REFUSALS = 10     # unfit workers that refuse one attempt before it fails to start
BACKSTOP = 5.0        # pipe ends a timed-out attempt itself this long after its worker should have
DRAIN_WAIT = 2.0      # the heartbeat wakes a drain's long poll that has waited this long
SAFETY_WAKES = 25.0   # ... but at most about this many such wakes a second in all
_WAKE = "\0dask"      # marks our wake-up pipe in the embedded local executor's selector


class _NotSubmitted(Exception):
    pass


@dataclass
class _Remote:
    spec: AttemptSpec
    dask_key: str
    ctl: str                         # queue names
    out: str
    log_fd: int
    submitted: float
    future: object = None
    fkey: str = ""                   # the key of its current Dask task (another after a refusal)
    refusals: int = 0                # unfit workers that refused to start it
    worker: str | None = None        # known once the worker says it started, or the scheduler places it
    said: bool = False               # the worker said it started (placed by Dask is not started:
                                     # a worker queues tasks behind its busy threads)
    placed_at: float | None = None   # when pipe learned it (the start of its timeout, seen from here)
    no_worker_since: float | None = None   # Dask holds it: no worker can run it (its resources)
    lost_kind: str = base.LOST
    result: dict | None = None       # the stream's last item
    lost: str | None = None          # "worker lost" / "scheduler lost"
    future_done: bool = False
    ticket_taken_back: bool = False  # cancelled before it could start
    polling_since: float | None = None   # the drain waits on the output queue since
    cancelled: str | None = None
    ended: bool = False


class DaskExecutor:
    name = "dask"

    def __init__(self, address: str | None = None, wait_workers: float | None = None):
        self.address = address
        self.wait_workers = wait_workers if wait_workers is not None else wait_workers_from_env()
        self.swept: set[tuple[str, str]] = set()      # (pipeline, run id) whose leftovers were looked for
        self.client: Client | None = None
        self.cluster = None
        self.local = LocalExecutor()
        self.remote: dict[str, _Remote] = {}
        self.ended: list[tuple[str, Outcome]] = []
        self.started: list[tuple[str, str]] = []       # (key, worker) not yet told: placed()
        self.lock = threading.Lock()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.owner = uuid.uuid4().hex
        self.lease_name = f"{LEASE_PREFIX}{self.owner}"
        self.swept_at = 0.0
        self.lease: Variable | None = None
        self.beats = 0
        self.scheduler_lost = False
        self.closing = threading.Event()
        self.heart: threading.Thread | None = None
        self.releasable: list[_Remote] = []
        self.pipeline_file: tuple[str, str] | None = None     # (path, digest), from check()
        self.threads: int | None = None                       # the cluster's worker threads (the heartbeat)
        self.modules: list[list[str]] = []                    # [path, digest] of the Python tasks' modules
        self.checked: set[str] = set()                        # workers pipe has checked
        self.fit: set[str] = set()                            # ... and found fit for the run
        self.unfit: dict[str, str] = {}                       # ... or not: address -> why (said once)
        self.said_unfit: set[str] = set()
        if address:
            self._connect()       # an unreachable scheduler is refused before the run is recorded

    # -- connecting -----------------------------------------------------------------------
    def _connect(self) -> Client:
        if self.client is not None:
            return self.client
        # distributed logs its own errors (a lost scheduler, with tracebacks) on stderr: pipe
        # says what happened to the attempts itself, once, in its own words.
        for name in ["distributed", *logging.root.manager.loggerDict]:
            if name.split(".")[0] == "distributed":
                logging.getLogger(name).setLevel(logging.CRITICAL)
        if self.address:
            from distributed.comm.addressing import get_address_host_port, parse_address
            from distributed.comm.registry import get_backend

            try:      # a malformed address is said at once (a Client would try, then time out)
                get_backend(parse_address(self.address)[0])
                get_address_host_port(self.address)
            except ValueError as e:
                raise UsageError(f"--dask-scheduler {self.address!r}: {e}; expected e.g. tcp://10.0.0.5:8786") from None
            try:
                self.client = Client(self.address, timeout=CONNECT_TIMEOUT, set_as_default=False)
            except Exception as e:      # noqa: BLE001  (refused, timed out, a malformed address)
                raise UsageError(f"cannot reach the Dask scheduler at {self.address} ({_short(e)})") from None
        else:
            from distributed import LocalCluster

            import dask

            try:
                # Its scheduler runs in this process: the settings the README advises for pipe.
                with dask.config.set({"distributed.scheduler.worker-saturation": 1.0,
                                      "distributed.scheduler.allowed-failures": 0}):
                    self.cluster = LocalCluster(host="127.0.0.1", scheduler_port=0, dashboard_address="127.0.0.1:0",
                                                processes=True, silence_logs=logging.ERROR)
                self.client = Client(self.cluster, set_as_default=False)
            except Exception as e:      # noqa: BLE001
                raise UsageError(f"cannot start a local Dask cluster: {_short(e)}") from None
            if importlib.util.find_spec("bokeh") is not None:
                dash = f"dashboard {self.cluster.dashboard_link}"
            else:
                dash = "dashboard: pip install bokeh to see it"
            print(f"pipe: a local Dask cluster for this run at {self.cluster.scheduler_address}; {dash}",
                  file=sys.stderr, flush=True)
        # The client's stream to the scheduler batches messages for 10 ms; each task of a chain
        # paid up to that once more (measured: 10.6 -> 5.5 ms a task). 2 ms, as the worker's.
        comm = getattr(self.client, "scheduler_comm", None)
        if comm is not None and isinstance(getattr(comm, "interval", None), float):
            comm.interval = 0.002
        self.lease = Variable(self.lease_name, client=self.client)
        self.lease.set(self._lease_value())
        self._sweep()
        self.heart = threading.Thread(target=self._heartbeat, name="pipe-dask-heartbeat", daemon=True)
        self.heart.start()
        return self.client

    def _lease_value(self) -> dict:
        """What the lease holds: a count that changes at each bump (the workers watch it change)
        and the lease's length (so that whoever finds it stale knows when it is orphaned)."""
        return {"n": self.beats, "lease": LEASE}

    def _sweep(self) -> None:
        """Remove what killed pipes left on the scheduler: a lease no pipe has bumped for
        twice its length, and the queues of a pipe whose lease is gone (see _sweep_orphans)."""
        self.swept_at = time.monotonic()
        try:
            self.client.run_on_scheduler(_sweep_orphans())
        except Exception:       # noqa: BLE001  (a scheduler that refuses to run code: left as it is)
            pass

    @property
    def where(self) -> str:
        return self.address or (self.cluster.scheduler_address if self.cluster else "?")

    # -- the protocol -----------------------------------------------------------------------
    def open(self, wake_fd: int) -> None:
        self.local.open(wake_fd)
        self.local.sel.register(self.wake_r, selectors.EVENT_READ, _WAKE)
        self._connect()

    def capacity(self) -> int:
        """The cluster's worker threads (the default concurrency): followed as workers join and
        leave (the heartbeat counts them; this asks nothing of the scheduler). At least 1."""
        if self.threads is None:
            self.threads = sum(int(w.get("nthreads") or 0) for w in self._workers().values())
        return max(1, self.threads)

    def _workers(self) -> dict[str, dict]:
        """The scheduler's workers. None yet (an adaptive cluster starts them once work is
        queued): a task is queued to ask for one, and pipe waits up to --dask-wait-workers,
        saying so; no worker by then is exit 2."""
        client = self._connect()
        info = client.scheduler_info(n_workers=-1)["workers"]
        if not info:
            info = self._wait_for_a_worker(client)
        return info

    def _wait_for_a_worker(self, client: Client) -> dict[str, dict]:
        wait = self.wait_workers
        print(f"pipe: the Dask cluster at {self.where} has no worker yet: waiting up to "
              f"{base.seconds_text(wait)} for one (--dask-wait-workers); a task is queued for it, "
              f"which makes an adaptive cluster start one", file=sys.stderr, flush=True)
        # Any queued task makes adapt() ask for a worker: this one only says who ran it.
        probe = client.submit(supervise.check_worker, self.pipeline_file[0] if self.pipeline_file else "",
                              key=f"pipe-wait-for-workers-{uuid.uuid4().hex}", pure=False, retries=0)
        start = time.monotonic()
        said = start
        try:
            while True:
                info = client.scheduler_info(n_workers=-1)["workers"]
                if info:
                    return info
                now = time.monotonic()
                if now - start >= wait:
                    raise UsageError(f"no worker joined the Dask cluster at {self.where} within "
                                     f"{base.seconds_text(wait)} (--dask-wait-workers); is the cluster "
                                     f"starting workers?")
                if now - said >= 30:
                    said = now
                    print(f"pipe: still waiting for a Dask worker ({base.seconds_text(round(now - start))} "
                          f"of {base.seconds_text(wait)})", file=sys.stderr, flush=True)
                try:
                    client.wait_for_workers(1, timeout=min(1.0, max(0.1, wait - (now - start))))
                except Exception:       # noqa: BLE001  (timed out: look again)
                    pass
        finally:
            try:
                probe.cancel()
                probe.release()
            except Exception:           # noqa: BLE001
                pass

    def check(self, specs_preview: list[AttemptSpec], pipeline_file: str) -> None:
        client = self._connect()
        self.pipeline_file = (pipeline_file, supervise.file_digest(pipeline_file))
        self.modules = task_modules(pipeline_file)
        remote = [s for s in specs_preview if not s.local_only]
        info = self._workers()
        problems = []
        offered = {addr: dict(w.get("resources") or {}) for addr, w in info.items()}
        for s in remote:
            if s.resources and not any(all(res.get(k, 0) >= v for k, v in s.resources.items())
                                       for res in offered.values()):
                wanted = ", ".join(f"{k}={v:g}" for k, v in s.resources.items())
                have = "; ".join(f"{a}: {_res_text(r)}" for a, r in sorted(offered.items()))
                problems.append(f"task {s.task!r} needs resources {wanted}, which no worker of the Dask cluster "
                                f"at {self.where} offers (workers: {have})")
        if problems:
            raise UsageError("\n".join(problems))
        names = {addr: str(w.get("name", addr)) for addr, w in info.items()}
        found = self._check_workers(client, list(info))
        for where, why in sorted(found.items()):
            name = names.get(where, where)
            addr = where if name == where else f"{name} ({where})"
            problems.extend(f"worker {addr} {phrase}" for phrase in why)
        if problems:
            problems.append("workers must run the same pipe and see the pipeline folder at the same path "
                            "(see README: Running on a cluster)")
            raise UsageError("\n".join(problems))

    def _check_workers(self, client: Client, workers: list[str], timeout: float | None = None) -> dict[str, list[str]]:
        """Whether these workers run this pipe version and see the pipeline file and the modules
        of its Python tasks as pipe does: what is wrong with each (nothing: it is fit)."""
        path, digest = self.pipeline_file
        found = client.sync(client._run, supervise.check_worker, path, self.modules, workers=workers,
                            on_error="return", callback_timeout=timeout)
        older = [w for w, got in found.items() if isinstance(got, TypeError)]
        if older:     # an older pipe's check takes the pipeline file alone: ask it so, for its version
            again = client.sync(client._run, supervise.check_worker, path, workers=older, on_error="return",
                                callback_timeout=timeout)
            found.update({w: got for w, got in again.items()
                          if isinstance(got, dict) and got.get("version") != __version__})
        verdicts = {}
        for where, got in found.items():
            why = []
            if isinstance(got, BaseException):
                why.append(f"cannot run pipe's check: {_short(got)} (is pipe {__version__} installed there?)")
            else:
                if got.get("version") != __version__:
                    why.append(f"runs pipe {got.get('version')}, not {__version__} as here")
                if "error" in got:
                    why.append(f"cannot see the pipeline file {path}: {got['error']}")
                elif got.get("digest") != digest:
                    why.append(f"sees another pipeline file at {path} (its content differs)")
                if got.get("differs"):
                    why.append(got["differs"])
            verdicts[where] = why
            with self.lock:
                self.checked.add(where)
                if why:
                    self.unfit.setdefault(where, why[0])
                else:
                    self.fit.add(where)
        return verdicts

    def _check_newcomers(self, present) -> None:
        """(The heartbeat.) Workers that joined since the start are checked as they come: an
        unfit one is avoided for the rest of the run, and said once."""
        new = [w for w in present if w not in self.checked]
        if not new or self.pipeline_file is None:
            return
        try:
            found = self._check_workers(self.client, new, timeout=supervise.RPC_TIMEOUT)
        except Exception:       # noqa: BLE001  (it left meanwhile, or does not answer: not asked again,
            with self.lock:     # so that the lease is not held up; an attempt it reaches checks itself)
                self.checked.update(new)
            return
        for where, why in found.items():
            if why:
                self._avoid(where, why[0])

    def _avoid(self, worker: str, why: str) -> None:
        with self.lock:
            self.fit.discard(worker)
            self.unfit.setdefault(worker, why)
            said, self.said_unfit = worker in self.said_unfit, self.said_unfit | {worker}
        if not said:
            print(f"pipe: avoiding the Dask worker {worker} for this run: it {why}; its attempts go to the "
                  f"other workers", file=sys.stderr, flush=True)

    def running(self) -> int:
        return len(self.remote) + self.local.running()

    def submit(self, spec: AttemptSpec) -> Started:
        if spec.local_only:
            return self.local.submit(spec)
        client = self._connect()
        if (spec.pipeline, spec.run_id) not in self.swept:
            self.swept.add((spec.pipeline, spec.run_id))
            self._stop_leftovers(spec)
        dask_key = f"{spec.task}-{spec.pipeline}-{spec.run_id}-{spec.attempt}"
        ctl, out = supervise.queue_names(dask_key, self.owner)
        log_fd = os.open(spec.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        att = _Remote(spec, dask_key, ctl, out, log_fd, time.monotonic())
        with self.lock:
            self.remote[spec.key] = att
        if self.scheduler_lost:
            self._finish(att, Outcome(kind=base.LOST, reason="scheduler lost", worker=None))
        else:
            client.loop.add_callback(self._run_remote, att)
        return Started(worker=None)       # the worker is known once it starts: the outcome names it

    def wait(self, timeout: float | None) -> list[tuple[str, Outcome]]:
        with self.lock:
            ended, self.ended = self.ended, []
        if ended:
            return ended + (self.local.wait(0) if self.local.running() else [])
        got = self.local.wait(timeout)
        _drain_fd(self.wake_r)
        with self.lock:
            ended, self.ended = self.ended, []
        return got + ended

    def placed(self) -> list[tuple[str, str]]:
        with self.lock:
            started, self.started = self.started, []
        return started

    def cancel(self, key: str, reason: str, grace: float = base.KILL_GRACE) -> None:
        att = self.remote.get(key)
        if att is None:
            self.local.cancel(key, reason, grace)
            return
        if att.cancelled is not None:
            return
        att.cancelled = reason
        self._order_kill(att, reason, grace)

    def cancel_many(self, keys: list[str], reason: str, grace: float = base.KILL_GRACE) -> None:
        """Stop many attempts (the run stops): first the start tickets of all those not known
        to run are taken back at once, so that the threads the others free start none of
        them; then the kill orders."""
        todo = []
        for key in keys:
            att = self.remote.get(key)
            if att is None:
                self.local.cancel(key, reason, grace)
            elif att.cancelled is None:
                att.cancelled = reason
                todo.append(att)
        if self.scheduler_lost or not todo:
            return
        unstarted = [a for a in todo if not a.said and not a.ticket_taken_back and not a.ended]
        if unstarted:
            try:
                taken = set(self.client.run_on_scheduler(_take_tickets([a.ctl for a in unstarted])))
            except Exception:       # noqa: BLE001  (a scheduler that refuses code: one at a time below)
                taken = set()
            for att in unstarted:
                if att.ctl in taken:
                    att.ticket_taken_back = True
        for att in todo:
            if att.ticket_taken_back:
                self._nudge(att)
            else:
                self._order_kill(att, reason, grace)

    def _order_kill(self, att: _Remote, reason: str, grace: float) -> None:
        if self.scheduler_lost or att.ended:
            return               # no scheduler: the lease ends the attempt on its worker
        try:
            if not att.said and not att.ticket_taken_back:
                # Not started yet (as far as we know): take the ticket back; if we got it, the
                # attempt can never start, and ends now.
                back = self._sync(self.client.scheduler.queue_get, name=att.ctl, batch=True)
                if any(_value(r) == {"go": 1} for r in back):
                    att.ticket_taken_back = True
                    self._nudge(att)
                    return
            self._sync(self.client.scheduler.queue_put, name=att.ctl, data={"kill": reason, "grace": grace})
        except Exception:       # noqa: BLE001  (the queue is gone: the attempt ended meanwhile)
            pass

    def stop_leftovers(self, handles: list[dict]) -> None:
        # Local attempts (`executor: local`) by their process groups; a remote attempt is
        # looked for at its own resubmission (submit -> _stop_leftovers), on its worker.
        self.local.stop_leftovers(handles)

    def kill_all(self) -> None:
        self.local.kill_all()
        for att in list(self.remote.values()):
            self._order_kill(att, att.cancelled or "killed", 0)

    def close(self, hard: bool = False) -> None:
        self.local.close(hard)
        left = list(self.remote.values())
        for att in left:          # nothing should be left; if so, kill it
            self._order_kill(att, att.cancelled or "pipe stopped", 0 if hard else base.KILL_GRACE)
            att.lost = att.lost or "pipe stopped"
            self._nudge(att)
        deadline = time.monotonic() + 3
        while self.remote and time.monotonic() < deadline:
            time.sleep(0.05)
        self.closing.set()
        if self.heart is not None:
            self.heart.join(timeout=10)
        self._release()
        try:
            if self.lease is not None and not self.scheduler_lost:
                self.lease.delete()
        except Exception:       # noqa: BLE001
            pass
        if self.client is not None:
            if not self.scheduler_lost:
                try:
                    self.client.sync(self._end_stream)
                except Exception:   # noqa: BLE001
                    pass
            try:
                self.client.close(timeout=5)
            except Exception:   # noqa: BLE001
                pass
        if self.cluster is not None:
            try:
                self.cluster.close(timeout=10)
            except Exception:   # noqa: BLE001
                pass
        with self.lock:           # _wake() writes under it: never to a closed (reused) fd
            for fd in (self.wake_r, self.wake_w):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.wake_r = self.wake_w = -1

    async def _end_stream(self) -> None:
        """Close the client's stream to the scheduler so that the scheduler has nothing left
        to send on it. Its answer to a client heartbeat ("adjust-heartbeat-interval") still on
        its way when the stream closes makes it log the closed connection with a traceback
        (seen in about 1 run in 5 on a loaded machine). So: stop the client's periodic
        heartbeat, send one more and wait (up to 3 s) for its answer, which comes after any
        earlier one (a stream keeps its order); then say goodbye and wait for the scheduler's
        last word ("stream-closed"; Client.close() waits only 100 ms for it)."""
        client = self.client
        comm = client.scheduler_comm
        report = client._handle_report_task
        if comm is None or comm.comm is None or comm.comm.closed() or report is None:
            return
        for pc in list(getattr(client, "_periodic_callbacks", {}).values()):
            pc.stop()
        answered = asyncio.Event()
        handlers = client._stream_handlers
        previous = handlers.get("adjust-heartbeat-interval")

        def heard(**msg):
            answered.set()
            if previous is not None:
                return previous(**msg)

        handlers["adjust-heartbeat-interval"] = heard
        try:
            client._send_to_scheduler({"op": "heartbeat-client"})
            await asyncio.wait_for(answered.wait(), 3)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            pass
        finally:
            if previous is not None:
                handlers["adjust-heartbeat-interval"] = previous
        client.status = "closing"      # else the client takes the closed stream for a lost one and reconnects
        client._send_to_scheduler({"op": "close-client"})
        client._send_to_scheduler({"op": "close-stream"})
        try:
            await asyncio.wait_for(asyncio.shield(report), 3)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            pass

    # -- on the client's event loop -----------------------------------------------------------
    async def _run_remote(self, att: _Remote) -> None:
        """Open the attempt's queues, put its start ticket, submit it, then move its output
        into the log file as it arrives, until its outcome."""
        s = self.client.scheduler
        outcome = None
        try:
            try:
                await asyncio.gather(s.queue_create(name=att.ctl, maxsize=0),
                                     s.queue_create(name=att.out, maxsize=supervise.SLOTS))
                await s.queue_put(name=att.ctl, data={"go": 1})
                if att.cancelled is not None and not att.ticket_taken_back:
                    # Cancelled while its queues were being made (the kill order found no
                    # queue): it is not submitted at all.
                    att.ticket_taken_back = True
                    raise _NotSubmitted
                self._submit_future(att)
            except _NotSubmitted:
                pass
            except (OSError, TimeoutError, asyncio.TimeoutError) as e:     # comms: no scheduler
                att.lost = att.lost or f"scheduler lost ({_short(e)})"
            except Exception as e:      # noqa: BLE001
                att.lost = att.lost or f"cannot hand the attempt to Dask: {_short(e)}"
            last_look = False
            while outcome is None:
                items = []
                if last_look:        # the task ended with no outcome seen: take what is left
                    try:
                        items = [_value(r) for r in await s.queue_get(name=att.out, batch=True)]
                    except Exception:   # noqa: BLE001
                        pass
                elif att.lost is None and not att.ticket_taken_back:
                    try:
                        att.polling_since = time.monotonic()
                        try:
                            items = [_value(await s.queue_get(name=att.out))]
                        finally:
                            att.polling_since = None
                        if isinstance(items[0], bytes):       # more may be waiting: take them all
                            items += [_value(r) for r in await s.queue_get(name=att.out, batch=True)]
                    except Exception:   # noqa: BLE001  (no scheduler: the heartbeat says so)
                        await asyncio.sleep(0.2)
                items = [i for i in items if i != {"wake": 1}]     # a nudge: nothing the attempt said
                unfit = None
                for item in items:
                    if isinstance(item, bytes):
                        os.write(att.log_fd, item)
                    elif isinstance(item, dict) and "started" in item:
                        self._place(att, item["started"], said=True)
                    elif isinstance(item, dict) and "end" in item:
                        att.result = item["end"]
                    elif isinstance(item, dict) and "unfit" in item:
                        unfit = item
                if unfit is not None and att.result is None and att.lost is None and not att.ticket_taken_back:
                    try:
                        outcome = self._refused(att, unfit["worker"], unfit["unfit"])
                    except Exception as e:      # noqa: BLE001  (comms: the heartbeat says what it is)
                        att.lost = att.lost or f"cannot hand the attempt to Dask: {_short(e)}"
                    last_look = False
                    continue
                if att.result is not None:
                    outcome = _outcome(att.result, att.worker)
                elif att.ticket_taken_back:
                    outcome = Outcome(kind=base.CANCELLED, reason=att.cancelled, worker=None)
                elif att.future_done and not items and not last_look and att.lost is None:
                    last_look = True
                elif att.lost or (att.future_done and not items):
                    loop = asyncio.get_running_loop()
                    outcome = await loop.run_in_executor(None, self._ended_badly, att)
        except Exception as e:          # noqa: BLE001  (a bug here must not hang the run)
            outcome = Outcome(kind=base.LOST, reason=f"lost: {_short(e)}", worker=att.worker)
        finally:
            self._finish(att, outcome or Outcome(kind=base.LOST, reason=att.lost or "lost", worker=att.worker))

    def _submit_future(self, att: _Remote) -> None:
        """Hand the attempt to Dask (again, under a new key, after an unfit worker refused it).
        Once a worker was found unfit, only the workers found fit may take attempts."""
        opts = {"dask_key": att.dask_key, "owner": self.owner, "lease": self.lease_name, "lease_seconds": LEASE,
                "slots": supervise.SLOTS, "version": __version__, "pipeline_file": self.pipeline_file,
                "modules": self.modules}
        with self.lock:
            fit = sorted(self.fit - set(self.unfit)) if self.unfit else None
        att.fkey = att.dask_key if not att.refusals else f"{att.dask_key}~{att.refusals}"
        future = self.client.submit(supervise.run_attempt, att.spec, opts, key=att.fkey, pure=False,
                                    retries=0, resources=dict(att.spec.resources) or None,
                                    priority=att.spec.priority, workers=fit or None)
        old, att.future = att.future, future
        att.future_done = False
        future.add_done_callback(lambda f, att=att: self._future_done(att, f))
        if old is not None:
            old.release()

    def _refused(self, att: _Remote, worker: str, why: str) -> Outcome | None:
        """An unfit worker refused to start the attempt (it left the start ticket): not a
        failed attempt; it goes to another worker (None), or, after MAX_REFUSALS, fails to start."""
        self._avoid(worker, why)
        att.refusals += 1
        with self.lock:
            if att.worker == worker:
                att.worker, att.placed_at = None, None
        if att.refusals > MAX_REFUSALS:
            return Outcome(kind=base.NOT_STARTED, reason=f"no fit worker took it: worker {worker} {why}",
                           worker=None)
        try:
            os.write(att.log_fd, f"pipe: the worker {worker} refused this attempt (it {why}): handed to "
                                 f"another worker\n".encode())
        except OSError:
            pass
        self._submit_future(att)
        return None

    # -- where an attempt runs ----------------------------------------------------------------
    def _place(self, att: _Remote, worker: str, said: bool = False) -> None:
        """Record where an attempt runs, from whatever learns it first: the worker's own word
        (`said`, which wins) or the scheduler's record of the task."""
        with self.lock:
            if said:
                att.said = True
            if att.ended or worker == att.worker or (att.worker is not None and not said):
                return
            att.worker = worker
            if att.placed_at is None:
                att.placed_at = time.monotonic()
            self.started.append((att.spec.key, worker))
        self._wake()

    def _look_at_scheduler(self, now: float, any_worker: bool = True) -> None:
        """(The heartbeat.) For attempts not known to run yet, the scheduler's record: where
        Dask placed each (recorded at once: a worker may die before the attempt says so), and
        which ones no worker can run (their resources left with a worker, or no worker is
        left): those wait at most --dask-wait-workers, then fail with that reason."""
        waiting = [a for a in list(self.remote.values()) if a.worker is None and a.future is not None
                   and not a.ended and a.lost is None and not a.ticket_taken_back]
        if not waiting:
            return
        try:
            seen = self.client.run_on_scheduler(_scheduler_record([a.fkey for a in waiting]))
        except Exception:        # noqa: BLE001  (a scheduler that refuses to run code: no record)
            return
        record = {a.fkey: seen.get(a.fkey) or ("gone", None, 0) for a in waiting}
        self._lost_before_placed([a for a in waiting if record[a.fkey][0] in _HELD and record[a.fkey][2]])
        for att in waiting:
            state, worker, suspicious = record[att.fkey]
            if att.lost is not None:
                continue
            if state == "processing" and worker and not suspicious and worker not in self.unfit:
                self._place(att, worker)
            if state != "no-worker" and not (state == "queued" and not any_worker):
                att.no_worker_since = None
                continue
            if att.no_worker_since is None:
                att.no_worker_since = now
            elif now - att.no_worker_since >= self.wait_workers:
                self._give_up(att, self._no_worker_reason(att))

    def _lost_before_placed(self, held: list[_Remote]) -> None:
        """Attempts that Dask holds again because a worker died while running them (not yet
        known to pipe as started): one whose start ticket is gone had started on that worker,
        and is lost with it (no fit worker may be left to run Dask's rerun, which would say so)."""
        if not held:
            return
        try:
            still = set(self.client.run_on_scheduler(_tickets_held([a.ctl for a in held])))
        except Exception:        # noqa: BLE001
            return
        for att in held:
            if att.ctl not in still and att.lost is None and not att.ended:
                att.lost = "worker lost"
                self._nudge(att)

    def _no_worker_reason(self, att: _Remote) -> str:
        waited = f"waited {base.seconds_text(self.wait_workers)} for one to join"
        if att.spec.resources:
            wanted = ", ".join(f"{k}={v:g}" for k, v in att.spec.resources.items())
            return f"no worker of the Dask cluster at {self.where} offers {wanted} ({waited})"
        return f"no worker left in the Dask cluster at {self.where} ({waited})"

    def _give_up(self, att: _Remote, reason: str) -> None:
        """End an attempt Dask holds and no worker can run: take its start ticket back, so
        that it never starts, even if a fit worker joins later."""
        try:
            back = self._sync(self.client.scheduler.queue_get, name=att.ctl, batch=True)
        except Exception:       # noqa: BLE001
            return
        if not any(_value(r) == {"go": 1} for r in back):
            return              # it has started meanwhile: its worker says how it ends
        att.lost, att.lost_kind = reason, base.NOT_STARTED
        self._nudge(att)

    def _wake_long_polls(self, now: float) -> None:
        """(The heartbeat.) A drain that has waited DRAIN_WAIT for output looks at its flags again
        (a safety net under the nudges that go with every change of them). With many attempts
        in flight the wait grows, so that these wakes stay under SAFETY_WAKES a second: each
        is a put on the scheduler (1,000 attempts waiting in Dask cost it 9 % of a core at one
        wake every 2 s each, 2 % without)."""
        remote = list(self.remote.values())
        wait = max(DRAIN_WAIT, len(remote) / SAFETY_WAKES)
        for att in remote:
            since = att.polling_since
            if since is not None and now - since >= wait and not att.ended:
                att.polling_since = None
                self._nudge(att)

    def _timeouts(self, now: float) -> None:
        """(The heartbeat.) `timeout` holds from pipe's side too: an attempt whose worker has
        not ended it a while after it should have (a stopped worker, a stuck supervisor) is
        ordered killed and ends as timed out here."""
        for att in list(self.remote.values()):
            t = att.spec.timeout
            if (t and att.placed_at is not None and att.result is None and att.lost is None and not att.ended
                    and now - att.placed_at > t + base.KILL_GRACE + BACKSTOP):
                self._order_kill(att, f"timed out after {base.seconds_text(t)}", 0)
                att.lost, att.lost_kind = (f"timed out after {base.seconds_text(t)} (ended by pipe: its worker "
                                           f"{att.worker} did not end it)"), base.TIMED_OUT
                self._nudge(att)

    def _worker_from_scheduler_log(self, att: _Remote) -> str | None:
        """The worker that was running the attempt when it left, from the scheduler's record
        of removed workers (for an attempt lost before anyone said where it ran)."""
        try:
            got = self.client.get_events("all")
        except Exception:       # noqa: BLE001
            return None
        for _, msg in reversed(list(got or ())):
            if isinstance(msg, dict) and msg.get("action") == "remove-worker" and \
                    att.fkey in (msg.get("processing-tasks") or ()):
                return msg.get("worker")
        return None

    # -- what a killed pipe left ---------------------------------------------------------------
    def _stop_leftovers(self, spec: AttemptSpec) -> None:
        """Before the first attempt of a run (a resumed one): the attempts an earlier, killed
        pipe left on the cluster are stopped, and pipe waits until they are (the worker's
        answer, or at most until their lease has run out), so that an attempt never runs
        twice at once. What they printed meanwhile goes to their own log files."""
        infix = f"-{spec.pipeline}-{spec.run_id}-"
        prefix = supervise.queue_names("")[0]
        try:
            names = self.client.run_on_scheduler(_queues_with(prefix, infix))
        except Exception:       # noqa: BLE001
            return
        logs = os.path.dirname(spec.log_path)
        for ctl in sorted(names):
            key, _, owner = ctl[len(prefix):].partition(" ")
            task, _, attempt = key.partition(infix)
            out = supervise.queue_names(key, owner)[1]
            log = os.path.join(logs, f"{task}.{attempt}.log")
            try:
                back = self._sync(self.client.scheduler.queue_get, name=ctl, batch=True)
            except Exception:   # noqa: BLE001
                back = []
            if not any(_value(r) == {"go": 1} for r in back):       # it started: stop it, wait
                print(f"pipe: attempt {attempt} of task {task} is still on the Dask cluster (its pipe was "
                      f"killed): stopping it before the run goes on", file=sys.stderr, flush=True)
                how = self._wait_leftover(ctl, out, log)
                _append(log, f"pipe: {how}\n")
            for name in (ctl, out):
                try:
                    self.client._send_to_scheduler({"op": "queue_release", "name": name})
                except Exception:       # noqa: BLE001
                    pass

    def _wait_leftover(self, ctl: str, out: str, log: str) -> str:
        s = self.client.scheduler
        gave_up = "its worker gave it up (no word from its pipe)"
        deadline = time.monotonic() + LEASE * 2 + base.KILL_GRACE + BACKSTOP
        ordered = False
        while time.monotonic() < deadline:
            try:
                items = [_value(r) for r in self._sync(s.queue_get, name=out, batch=True)]
                if not ordered:
                    if not items:
                        # The dead pipe's last long poll may still wait on this queue (for its
                        # last seconds): it takes this, not what the worker sends next.
                        try:
                            self._sync(s.queue_put, name=out, data={"wake": 1}, timeout=RPC_SHORT)
                        except (TimeoutError, asyncio.TimeoutError):
                            pass
                    self._sync(s.queue_put, name=ctl, data={"kill": "stopped: its run was resumed",
                                                             "grace": base.KILL_GRACE})
                    ordered = True
            except Exception:   # noqa: BLE001  (gone: its worker gave it up)
                return gave_up
            for item in items:
                if isinstance(item, bytes):
                    _append(log, item)
                elif isinstance(item, dict) and "end" in item:
                    end = item["end"]
                    return f"ended on {end.get('worker')} when the run was resumed: {end.get('reason') or end.get('kind')}"
            if not items:
                time.sleep(0.1)
        return "no answer from its worker; its lease has run out"

    # -- endings ------------------------------------------------------------------------------
    def _wake(self) -> None:
        with self.lock:
            if self.wake_w < 0:
                return
            try:
                os.write(self.wake_w, b"x")
            except (BlockingIOError, OSError):
                pass

    def _finish(self, att: _Remote, outcome: Outcome) -> None:
        if att.ended:
            return
        att.ended = True
        try:
            os.close(att.log_fd)
        except OSError:
            pass
        with self.lock:
            self.remote.pop(att.spec.key, None)
            self.ended.append((att.spec.key, outcome))
            self.releasable.append(att)
        self._wake()

    def _future_done(self, att: _Remote, future) -> None:
        """The Dask task ended (a callback thread of the client): the drain looks at how."""
        if future is not att.future:          # one an unfit worker refused: handed on since
            return
        att.future_done = True
        self.client.loop.add_callback(self._nudge_later, att)

    async def _nudge_later(self, att: _Remote) -> None:
        """After the Dask task ended: if no outcome came with the stream (the worker died, a
        rerun refused to start), wake the drain rather than let it wait out its long poll."""
        await asyncio.sleep(0.1)
        if att.result is None and not att.ended and not self.scheduler_lost:
            try:
                await self.client.scheduler.queue_put(name=att.out, data={"wake": 1})
            except Exception:       # noqa: BLE001
                pass

    def _ended_badly(self, att: _Remote) -> Outcome:
        """(In a thread.) The stream ended without an outcome: the worker or the scheduler went
        away, or the Dask task ran a second time and refused to start (its first worker died)."""
        reason = att.lost
        kind = att.lost_kind
        future = att.future
        if att.worker is None and reason != "scheduler lost" and kind == base.LOST:
            found = self._worker_from_scheduler_log(att)
            if found:
                self._place(att, found)
        if reason is None and future is not None:
            if future.status == "finished":
                try:
                    got = future.result(timeout=supervise.RPC_TIMEOUT)
                except Exception as e:      # noqa: BLE001
                    got = {"duplicate": True, "error": _short(e)}
                if got.get("unfit"):
                    return Outcome(kind=base.NOT_STARTED, reason=f"worker {got.get('worker')} {got['unfit']}",
                                   worker=None)
                if not got.get("duplicate"):
                    return _outcome(got, att.worker)
                reason = "worker lost"      # Dask ran it again after its worker died
            elif future.status == "error":
                try:
                    exc = future.exception(timeout=supervise.RPC_TIMEOUT)
                except Exception as e:      # noqa: BLE001
                    exc = e
                reason = ("worker lost" if type(exc).__name__ == "KilledWorker"
                          else f"pipe's worker side failed: {_short(exc)}")
            else:                           # cancelled or lost, and not by us
                reason = "scheduler lost"
        if reason and reason.startswith("pipe's worker side failed"):
            kind = base.FAILED
        if att.cancelled and reason == "pipe stopped":
            kind, reason = base.CANCELLED, att.cancelled
        msg = f"pipe: {reason}" + (f" ({att.worker})" if att.worker else "") + "\n"
        try:
            os.write(att.log_fd, msg.encode())
        except OSError:
            pass
        return Outcome(kind=kind, reason=reason or "lost", worker=att.worker,
                       duration=round(time.monotonic() - att.submitted, 4))

    def _release(self) -> None:
        """Release the futures and queues of ended attempts. Done by the heartbeat, not at once:
        these messages go on the client's batched stream, and a submit that follows one within
        its interval waits for the next send (a chain of tasks would pay it each time)."""
        with self.lock:
            done, self.releasable = self.releasable, []
        if self.scheduler_lost or self.client is None:
            return
        for att in done:
            try:
                if att.result is None and att.future is not None and not att.ticket_taken_back:
                    # Ended here without its worker's word: the worker's order watch (a long
                    # poll on the control queue) hears that pipe gave it up before the queue goes.
                    self._sync(self.client.scheduler.queue_put, name=att.ctl,
                               data={"kill": "pipe gave this attempt up", "grace": 0, "gone": True})
                if att.future is not None:
                    att.future.release()
                for name in (att.ctl, att.out):
                    self.client._send_to_scheduler({"op": "queue_release", "name": name})
            except Exception:       # noqa: BLE001
                pass

    def _nudge(self, att: _Remote) -> None:
        """Wake the attempt's drain now (it long-polls the output queue) to look at its flags."""
        if self.scheduler_lost or att.ended or self.client is None:
            return
        try:
            self._sync(self.client.scheduler.queue_put, name=att.out, data={"wake": 1})
        except Exception:       # noqa: BLE001  (gone: it ended; no scheduler: the heartbeat says so)
            pass

    def _sync(self, fn, **kwargs):
        return self.client.sync(fn, callback_timeout=supervise.RPC_TIMEOUT, **kwargs)

    def _heartbeat(self) -> None:
        """Bump the lease; notice a worker that left with our attempt, and a lost scheduler."""
        period = max(0.1, min(5.0, LEASE / 6))
        next_beat = 0.0
        failures = 0
        while not self.closing.wait(min(0.5, period)):
            client = self.client
            now = time.monotonic()
            try:
                if now >= next_beat:
                    self.beats += 1
                    self.lease.set(self._lease_value(), callback_timeout=supervise.RPC_TIMEOUT)
                    next_beat = now + period
                nthreads = client.nthreads(callback_timeout=supervise.RPC_TIMEOUT)
                self._check_newcomers(nthreads)
                present = set(nthreads)
                nthreads = {w: n for w, n in nthreads.items() if w not in self.unfit}
                grown = self.threads is not None and sum(nthreads.values()) > self.threads
                self.threads = sum(nthreads.values())       # the default concurrency follows it
                if grown:
                    self._wake()                            # the runner may start more now
                if self.remote:
                    self._look_at_scheduler(now, bool(nthreads))
                    self._timeouts(now)
                    self._wake_long_polls(now)
                    workers = present
                    for att in list(self.remote.values()):
                        if att.worker is not None and att.worker not in workers and att.result is None:
                            if att.lost is None:
                                att.lost = "worker lost"
                                self._nudge(att)
                self._release()
                if now - self.swept_at >= SWEEP_EVERY:
                    self._sweep()
                failures = 0
            except Exception:          # noqa: BLE001
                failures += 1
            if (client.status != "running" or failures >= 3) and not self.closing.is_set():
                self.scheduler_lost = True
                for att in list(self.remote.values()):
                    att.lost = att.lost or "scheduler lost"
                self._wake()


def task_modules(pipeline_file: str) -> list[list[str]]:
    """[path, digest] of each module the pipeline's Python tasks import from the pipeline's
    folder: each entrypoint's module (and the packages it sits in), then what those import,
    followed through the folder (`import x`, `from x import y`, relative imports), as found
    in the source without running it. What is found elsewhere (installed, the standard
    library) is not followed: the pipe version check covers pipe, not the rest."""
    from ..spec.load import load

    try:
        pipeline = load(pipeline_file)
    except Exception:       # noqa: BLE001  (the runner loaded it: a race with an edit)
        return []
    folder = os.path.realpath(pipeline.folder)
    todo = [t.python.partition(":")[0] for t in pipeline.tasks.values() if t.python]
    names: set[str] = set()
    files: dict[str, str] = {}
    while todo:
        name = todo.pop()
        if name in names or not all(p.isidentifier() for p in name.split(".")):
            continue
        names.add(name)
        for path, package in _module_files(name, folder):
            if path in files:
                continue
            try:
                files[path] = supervise.file_digest(path)
            except OSError:
                continue
            todo.extend(_imports(path, package))
    return [[p, d] for p, d in sorted(files.items())]


def _module_files(name: str, folder: str) -> list[tuple[str, str]]:
    """The source files importing `name` reads from `folder` (each package's __init__.py on
    the way, then the module), each with the package its relative imports start from."""
    from importlib.machinery import PathFinder

    found = []
    locations = [folder]
    parts = name.split(".")
    for i in range(len(parts)):
        spec = PathFinder.find_spec(".".join(parts[:i + 1]), locations)
        if spec is None:
            break
        origin = spec.origin
        is_package = spec.submodule_search_locations is not None
        if origin and origin.endswith(".py"):
            path = os.path.realpath(origin)
            if not path.startswith(folder + os.sep):
                break
            found.append((path, ".".join(parts[:i + 1]) if is_package else ".".join(parts[:i])))
        if not is_package:
            break
        locations = list(spec.submodule_search_locations)
    return found


def _imports(path: str, package: str) -> list[str]:
    """The module names a source file imports (at any depth of its code)."""
    import ast

    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), path)
    except (OSError, SyntaxError, ValueError):
        return []
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                if node.level - 1 > len(parts):
                    continue
                base = ".".join(parts[:len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base:
                names.append(base)
            names.extend(f"{base}.{a.name}" if base else a.name for a in node.names if a.name != "*")
    return names


def wait_workers_from_env() -> float:
    """--dask-wait-workers, as env PIPE_DASK_WAIT_WORKERS (a duration, default 2m)."""
    text = os.environ.get("PIPE_DASK_WAIT_WORKERS")
    if not text:
        return WAIT_WORKERS
    from ..spec.values import parse_duration

    try:
        return parse_duration(text)
    except ValueError as e:
        raise UsageError(f"PIPE_DASK_WAIT_WORKERS={text!r}: {e} (e.g. 2m, 90s)") from None


_HELD = ("no-worker", "queued", "waiting", "released")   # Dask's states of a task no worker runs


def _scheduler_record(keys: list[str]):
    """A function for the scheduler (defined here so that it travels by value: the
    scheduler need not have pipe installed): each key's state, the worker it is processing
    on, and whether a worker died while running it (then Dask's rerun is not the attempt)."""
    def record(dask_scheduler, keys=keys):
        found = {}
        for key in keys:
            ts = dask_scheduler.tasks.get(key)
            if ts is not None:
                where = ts.processing_on
                found[key] = (ts.state, where.address if where is not None else None, ts.suspicious)
        return found
    return record


def _sweep_orphans(prefix: str = LEASE_PREFIX, margin: float = 5.0):
    """A function for the scheduler (by value: it needs no pipe there). A pipe's lease
    (Variable `pipe-lease-OWNER`, {"n": count, "lease": seconds}) whose value has not changed
    for twice its length plus `margin`, as timed by the scheduler's own clock across sweeps
    (kept on the scheduler object), belonged to a pipe that was killed: it is deleted. Queues
    named for an owner (`pipe-ctl KEY OWNER`, `pipe-out KEY OWNER`) whose lease is gone are
    released. A live pipe bumps its lease every few seconds and deletes it last at its end."""
    async def sweep(dask_scheduler, prefix=prefix, margin=margin):
        import time as _time

        now = _time.monotonic()
        seen = getattr(dask_scheduler, "_pipe_leases_seen", None)
        if seen is None:
            seen = {}
            dask_scheduler._pipe_leases_seen = seen
        removed = []
        variables = dask_scheduler.extensions.get("variables")
        leases = set()
        if variables is not None:
            for name, record in list(variables.variables.items()):
                if not name.startswith(prefix):
                    continue
                value = record.get("value") if record.get("type") == "msgpack" else None
                last = seen.get(name)
                if last is None or last[0] != value:
                    seen[name] = (value, now)
                    leases.add(name)
                    continue
                length = value.get("lease") if isinstance(value, dict) else None
                if not isinstance(length, (int, float)) or now - last[1] <= 2 * length + margin:
                    leases.add(name)
                    continue
                await variables.delete(name=name)
                removed.append(name)
        for name in list(seen):
            if name not in leases:
                del seen[name]
        queues = dask_scheduler.extensions.get("queues")
        if queues is not None:
            for name in list(queues.queues):
                if not name.startswith(("pipe-ctl ", "pipe-out ")):
                    continue
                owner = name.split(" ")[2] if name.count(" ") == 2 else None
                if owner and prefix + owner not in leases:
                    queues.client_refcount[name] = 1
                    queues.release(name=name)
                    removed.append(name)
        return removed
    return sweep


def _take_tickets(names: list[str]):
    """A function for the scheduler: take the start ticket out of each of these control
    queues, all in one step of its event loop (nothing can start meanwhile); the names of
    those that still had it."""
    def take(dask_scheduler, names=names):
        ext = dask_scheduler.extensions.get("queues")
        taken = []
        for name in names:
            q = ext.queues.get(name) if ext is not None else None
            if q is None:
                continue
            kept = []
            while not q.empty():
                record = q.get_nowait()
                if isinstance(record, dict) and record.get("value") == {"go": 1}:
                    taken.append(name)
                else:
                    kept.append(record)
            for record in kept:
                q.put_nowait(record)
        return taken
    return take


def _tickets_held(names: list[str]):
    """A function for the scheduler: the names of these control queues that still hold their
    start ticket (nothing is taken out)."""
    def held(dask_scheduler, names=names):
        ext = dask_scheduler.extensions.get("queues")
        found = []
        for name in names:
            q = ext.queues.get(name) if ext is not None else None
            items = list(getattr(q, "_queue", ()) or ())
            if any(isinstance(r, dict) and r.get("value") == {"go": 1} for r in items):
                found.append(name)
        return found
    return held


def _queues_with(prefix: str, infix: str):
    """A function for the scheduler: the names of its queues that start with `prefix` and hold `infix`."""
    def names(dask_scheduler, prefix=prefix, infix=infix):
        ext = dask_scheduler.extensions.get("queues")
        return [n for n in (ext.queues if ext is not None else ()) if n.startswith(prefix) and infix in n]
    return names


def _append(path: str, data) -> None:
    try:
        with open(path, "ab") as f:
            f.write(data.encode() if isinstance(data, str) else data)
    except OSError:
        pass


def _outcome(result: dict, worker: str | None) -> Outcome:
    if result.get("duplicate"):
        return Outcome(kind=base.LOST, reason="worker lost", worker=worker)
    return Outcome(kind=result["kind"], exit_code=result.get("exit_code"), reason=result.get("reason"),
                   duration=result.get("duration") or 0.0, outputs=result.get("outputs") or {},
                   worker=result.get("worker") or worker)


def _value(record: dict):
    """The value of a queue record ({"type": "msgpack", "value": ...})."""
    return record.get("value") if isinstance(record, dict) else record


def _res_text(res: dict) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in sorted(res.items())) or "no resources"


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:300]


def _drain_fd(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except (BlockingIOError, OSError):
        pass


__all__ = ["DaskExecutor"]
