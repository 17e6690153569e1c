"""Benchmark workloads, each described once as plain data.

A workload is a list of tasks in declaration order; every tool's files
(pipe YAML, Makefile, dodo.py, luigi module) are rendered from it by
``generate.py``, so all tools run the same DAG with the same commands.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

TRUE = ("true",)


@dataclass(frozen=True)
class Task:
    id: str
    cmd: tuple[str, ...]  # argv; rendered as a shell word list where a tool wants a string
    deps: tuple[str, ...] = ()
    duration: float = 0.0  # expected run time of cmd, for the ideal wall time


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    tasks: tuple[Task, ...]  # declaration order
    concurrency: int = 2
    ideal: float = 0.0  # best possible wall time with `concurrency` slots and zero overhead
    tags: frozenset[str] = field(default_factory=frozenset)

    @property
    def n(self) -> int:
        return len(self.tasks)

    def sinks(self) -> list[str]:
        """Tasks nothing depends on (in declaration order)."""
        used = {d for t in self.tasks for d in t.deps}
        return [t.id for t in self.tasks if t.id not in used]

    def lower_bound(self) -> float:
        """max(critical path, total work / slots): a sanity check for `ideal`."""
        finish: dict[str, float] = {}
        for t in self.tasks:  # declaration order is a topological order here
            finish[t.id] = t.duration + max((finish[d] for d in t.deps), default=0.0)
        work = sum(t.duration for t in self.tasks)
        return max(max(finish.values(), default=0.0), work / self.concurrency)


def sleep(seconds: float) -> tuple[str, ...]:
    return ("sleep", repr(seconds))


def noop_1() -> Workload:
    return Workload(
        "noop-1",
        "one `true` task: the fixed start-up cost",
        (Task("t0", TRUE),),
    )


def chain_200() -> Workload:
    tasks = [Task("t0", TRUE)]
    tasks += [Task(f"t{i}", TRUE, (f"t{i - 1}",)) for i in range(1, 200)]
    return Workload("chain-200", "200 `true` tasks in a line", tuple(tasks))


def wide_500() -> Workload:
    mids = [f"t{i}" for i in range(1, 501)]
    tasks = [Task("root", TRUE)]
    tasks += [Task(m, TRUE, ("root",)) for m in mids]
    tasks.append(Task("sink", TRUE, tuple(mids)))
    return Workload("wide-500", "a root, 500 independent `true` tasks, a sink", tuple(tasks))


def sleep_wide() -> Workload:
    tasks = tuple(Task(f"t{i}", sleep(0.1), (), 0.1) for i in range(40))
    return Workload("sleep-wide", "40 independent `sleep 0.1`", tasks, ideal=2.0,
                    tags=frozenset({"efficiency"}))


def critical_path() -> Workload:
    # The short, independent tasks are declared FIRST: a first-come scheduler
    # runs them before the chain (1.0 s) and then the chain alone (2.0 s) = 3.0 s;
    # starting the chain at once and filling the other slot with the short
    # ones takes 2.0 s.
    shorts = [Task(f"short{i}", sleep(0.25), (), 0.25) for i in range(8)]
    chain = [Task("chain0", sleep(0.4), (), 0.4)]
    chain += [Task(f"chain{i}", sleep(0.4), (f"chain{i - 1}",), 0.4) for i in range(1, 5)]
    return Workload(
        "critical-path",
        "a chain of 5 `sleep 0.4` and 8 independent `sleep 0.25` declared first "
        "(optimum 2.0 s, first-come 3.0 s)",
        tuple(shorts + chain), ideal=2.0, tags=frozenset({"no-history"}),
    )


def big_10k(seed: int = 20261101, n: int = 10_000, layers: int = 100) -> Workload:
    """A random layered DAG: `layers` layers of n/layers tasks; each task below
    the first layer depends on 1-3 tasks of the previous three layers."""
    rng = random.Random(seed)
    per = n // layers
    tasks: list[Task] = []
    ids_by_layer: list[list[str]] = []
    k = 0
    for layer in range(layers):
        ids = []
        pool = [i for prev in ids_by_layer[-3:] for i in prev]
        last = ids_by_layer[-1] if ids_by_layer else []
        for _ in range(per):
            tid = f"t{k}"
            k += 1
            if last:
                # at least one dependency on the previous layer keeps the depth = layers
                deps = {rng.choice(last)}
                deps.update(rng.sample(pool, rng.randint(0, 2)))
                deps_t = tuple(sorted(deps, key=lambda s: int(s[1:])))
            else:
                deps_t = ()
            tasks.append(Task(tid, TRUE, deps_t))
            ids.append(tid)
        ids_by_layer.append(ids)
    return Workload(
        "big-10k",
        f"{n:,} `true` tasks in a random layered DAG ({layers} layers, 1-3 deps each, seed {seed})",
        tuple(tasks), tags=frozenset({"big"}),
    )


def tick_pipelines(count: int = 20) -> list[Workload]:
    """Small scheduled pipelines for the `pipe tick` start-up benchmark."""
    out = []
    for i in range(count):
        out.append(Workload(
            f"daily-{i:02d}", "scheduled pipeline for the tick benchmark",
            (Task("extract", TRUE), Task("load", TRUE, ("extract",))),
        ))
    return out


# name -> factory, in the order the runner runs them
WORKLOADS = {
    "noop-1": noop_1,
    "chain-200": chain_200,
    "wide-500": wide_500,
    "sleep-wide": sleep_wide,
    "critical-path": critical_path,
    "big-10k": big_10k,
}
