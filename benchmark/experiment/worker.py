"""``python -m benchmark.experiment.worker TASK RESULT``: execute one pickled ``(PlannedRun, RunOptions, log)``
and pickle its :class:`~benchmark.experiment.execute.RunResult` to ``RESULT`` (the local executor's child)."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    task, result = (Path(a) for a in (argv if argv is not None else sys.argv[1:]))
    threads = os.environ.get("SISBENCH_THREADS")
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    from benchmark.experiment.execute import execute_run
    from benchmark.io import atomic_write

    run, options, log = pickle.loads(task.read_bytes())
    outcome = execute_run(run, options, catch=True, log=log)
    sys.stdout.flush()
    atomic_write(result, lambda fh: pickle.dump(outcome, fh))
    return 0


if __name__ == "__main__":
    sys.exit(main())
