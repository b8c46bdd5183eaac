"""The executor interface: run a plan's runs somewhere and say what became of each."""

from __future__ import annotations

from abc import ABC, abstractmethod

from benchmark.experiment.execute import RunResult
from benchmark.experiment.plan import PlannedRun, RunOptions
from benchmark.runs import RunError


class ExecutorError(RunError):
    """Bad input to an executor (``--jobs 0``, no ``sbatch`` on PATH ...): one sentence, before anything runs."""


class Executor(ABC):
    """Runs planned runs. :meth:`check` refuses bad input before anything runs or is submitted; :meth:`run`
    executes the plan and returns one :class:`RunResult` per planned run, in plan order."""

    name: str = ""

    @abstractmethod
    def run(self, plan: list[PlannedRun], options: RunOptions) -> list[RunResult]:
        ...

    def check(self, plan: list[PlannedRun], options: RunOptions) -> None:  # noqa: B027 - optional hook
        """Raise :class:`ExecutorError` (one sentence) for anything that would fail before the first run."""

    def threads_per_run(self) -> int | None:
        """The CPU threads each run trains with (None: this process's count)."""
        return None

    def describe(self) -> dict:
        """What the run manifests record about this executor (``{"kind": name, ...}``)."""
        return {"kind": self.name}
