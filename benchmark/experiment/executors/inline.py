"""``--executor inline`` (the default): every planned run in this process, one after the other."""

from __future__ import annotations

from benchmark.experiment.execute import PENDING, RunResult, execute_run
from benchmark.experiment.executors.base import Executor
from benchmark.experiment.plan import PlannedRun, RunOptions


class InlineExecutor(Executor):
    """Runs the plan in order in this process; an error ends the command (as ``run`` always did). A run another
    process holds is put off until the others are done, then waited for (or, with ``--no-wait``, reported
    pending)."""

    name = "inline"

    def __init__(self, **_: object):
        pass

    def run(self, plan: list[PlannedRun], options: RunOptions) -> list[RunResult]:
        results: dict[int, RunResult] = {}
        for i, run in enumerate(plan):
            result = execute_run(run, options, wait=False)
            if result.status != PENDING:
                results[i] = result
        for i, run in enumerate(plan):  # those another process held a moment ago
            if i not in results:
                results[i] = execute_run(run, options)
        return [results[i] for i in range(len(plan))]
