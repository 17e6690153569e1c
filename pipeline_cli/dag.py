"""The task graph: order, subsets (--only, --from) and critical-path priorities."""
from __future__ import annotations

import graphlib
from typing import Iterable, Mapping

from .errors import UsageError, did_you_mean
from .model import Pipeline


class Dag:
    def __init__(self, pipeline: Pipeline):
        self.tasks = pipeline.tasks
        self.upstream: dict[str, tuple[str, ...]] = {t.id: t.deps for t in pipeline.tasks.values()}
        self.downstream: dict[str, list[str]] = {tid: [] for tid in self.tasks}
        for tid, deps in self.upstream.items():
            for d in deps:
                self.downstream[d].append(tid)

    def order(self) -> list[str]:
        """A topological order; among tasks ready together, declaration order."""
        return list(graphlib.TopologicalSorter(self.upstream).static_order())

    def roots(self) -> list[str]:
        return [t for t, deps in self.upstream.items() if not deps]

    def descendants(self, start: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        stack = list(start)
        while stack:
            t = stack.pop()
            if t not in seen:
                seen.add(t)
                stack.extend(self.downstream[t])
        return seen

    def ancestors(self, start: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        stack = [d for t in start for d in self.upstream[t]]
        while stack:
            t = stack.pop()
            if t not in seen:
                seen.add(t)
                stack.extend(self.upstream[t])
        return seen

    def check_ids(self, ids: Iterable[str], option: str) -> list[str]:
        ids = list(ids)
        for t in ids:
            if t not in self.tasks:
                raise UsageError(f"{option}: no task {t!r} in this pipeline{did_you_mean(t, self.tasks)}")
        return ids

    def select(self, only: Iterable[str] | None = None, from_: Iterable[str] | None = None) -> set[str]:
        """The tasks a run takes: all, `--only` these, or `--from` these and their downstream."""
        selected = set(self.tasks)
        if only:
            selected &= set(self.check_ids(only, "--only"))
        if from_:
            selected &= self.descendants(self.check_ids(from_, "--from"))
        return selected

    def priorities(self, estimate: Mapping[str, float]) -> dict[str, tuple[float, float, int]]:
        """Each task's rank among ready tasks: the one with the smallest runs first.

        First the longest remaining path to the end of the DAG, its own (estimated)
        duration included: the classic critical-path list schedule. Ties, which are the
        rule on a first run when every estimate is the same guess, go to the task on the
        longest path through it from start to end, so the head and also the tail of a long
        chain run before short side tasks. Last, the order of declaration."""
        order = self.order()
        remaining: dict[str, float] = {}
        for tid in reversed(order):
            after = max((remaining[d] for d in self.downstream[tid]), default=0.0)
            remaining[tid] = estimate.get(tid, 1.0) + after
        before: dict[str, float] = {}
        for tid in order:
            before[tid] = max((before[d] + estimate.get(d, 1.0) for d in self.upstream[tid]), default=0.0)
        index = {tid: i for i, tid in enumerate(self.tasks)}
        return {tid: (-remaining[tid], -(before[tid] + remaining[tid]), index[tid]) for tid in order}
