"""Collect what has finished under one ``--out``: the oracle row, the dataset's table and the report, written
under the results directory's lock (:func:`benchmark.experiment.lock.directory_lock`), so two processes
reporting at once leave complete files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from benchmark.experiment.lock import describe, directory_lock
from benchmark.experiment.plan import PlannedRun, RunOptions


def _waiting(holder: dict) -> None:
    print(f"[report] waiting for the results directory's lock: {describe(holder)} is writing the report")


def write_report(out: Path, dataset: str | None) -> None:
    """The dataset's table (printed as Markdown) and ``build_report``'s summary lines; call under the lock."""
    from benchmark.report import build_report, write_dataset_table

    if dataset is not None:
        for path in write_dataset_table(out, dataset):
            if path.suffix == ".md":
                print(path.read_text())
    summary = build_report(out)
    for line in summary.lines():
        print(line)


def report(out: Path, dataset: str | None = None) -> None:
    """:func:`write_report` under the results directory's lock (the ``report`` command)."""
    with directory_lock(out, on_wait=_waiting):
        write_report(out, dataset)


def collect(out: Path, dataset: str, options: RunOptions, plan: Sequence[PlannedRun] | None = None) -> None:
    """Score the oracle row (with the first planned run's data config) and write the dataset's table and the
    report, printing what ``run`` always printed."""
    from benchmark import evaluation

    with directory_lock(out, on_wait=_waiting):
        if plan:
            oracle = evaluation.evaluate_oracle(out, plan[0].config["data"], dataset, protocol=options.protocol,
                                                **options.eval_options(None))
            print(f"[oracle] {evaluation.format_record(oracle)}")
        from benchmark.datasets import dataset_name  # a custom dataset's own name (data.name / dataset.json)

        write_report(out, dataset_name(plan[0].config["data"]) if plan else dataset)
