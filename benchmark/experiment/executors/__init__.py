"""Executors by name (``--executor``): imported when asked for, so one whose dependencies are missing
(submitit for ``slurm``) costs nothing until it is chosen."""

from __future__ import annotations

import importlib
from typing import Any

from benchmark.experiment.executors.base import Executor, ExecutorError

#: name -> "module:class"
EXECUTORS: dict[str, str] = {
    "inline": "benchmark.experiment.executors.inline:InlineExecutor",
    "local": "benchmark.experiment.executors.local:LocalExecutor",
    "slurm": "benchmark.experiment.executors.slurm:SlurmExecutor",
}


def get_executor(name: str, **options: Any) -> Executor:
    """The executor ``name`` built with ``options`` (its command-line options); one sentence for an unknown
    name."""
    if name not in EXECUTORS:
        raise ExecutorError(f"unknown executor {name!r}; valid executors: {', '.join(EXECUTORS)}")
    module, _, cls = EXECUTORS[name].partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            raise ExecutorError(f"executor {name!r} is not installed in this copy of SISBench ({module} is "
                                f"missing)") from exc
        raise ExecutorError(f"executor {name!r} needs the package {exc.name!r}; install it "
                            f"(pip install {exc.name})") from exc
    return getattr(mod, cls)(**options)


__all__ = ["EXECUTORS", "Executor", "ExecutorError", "get_executor"]
