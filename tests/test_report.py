"""Reports from tiny run directories: collection, the papers' table layouts, per-dataset tables, the
Adam-vs-AMM pairing, figures and the HTML page. Nothing is trained here.

Run directories are written in the shape of the team contract (``manifest.json`` with ``compute``,
``budget``, ``sweep``, ``hardware``; ``config.json`` with ``seed``; ``curve.csv``). Metrics records go
through the real write path: a harness result shaped as :func:`metrics.evaluate.evaluate` returns it,
made a record by :func:`benchmark.evaluation.to_record` and written where
:func:`benchmark.evaluation.metrics_path` puts it (``metrics.<protocol>.json`` for a non-default protocol).
``test_a_real_evaluation_under_two_protocols_gives_two_rows`` runs the harness itself."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmark import evaluation
from benchmark.config import load_data_config
from benchmark.io import atomic_write_json
from benchmark.report import build_report, write_dataset_table
from benchmark.report.figures import MULTIMODAL_SOURCES, loss_curves, optimizer_pairs
from benchmark.report.tables import (
    SEED000_TABLE1,
    SEED002_TABLE2,
    SPADE_TABLE1,
    layout,
    load_published,
    table_cells,
)
from benchmark.results import collect_runs, collect_training_runs
from metrics.protocols import get_protocol
from tests.fixtures_data import write_folder

SLNP_OPTIMIZER = {"type": "AMM", "lr_G": 1e-4, "lr_D": 4e-4, "betas": [0.9, 0.999], "alpha": 0.9}


def folder_data_config(root: Path) -> dict:
    """The data section of a run on a tiny ``folder`` dataset (3 val images, 16 x 16)."""
    write_folder(root, {"train": 2, "val": 3}, num_classes=4)
    data = load_data_config("folder", "tiny")
    data.update(root=str(root), load_size=16, crop_size=16, flip=False)
    return data


HARDWARE = {"cpu": "Test CPU @ 2.0GHz", "gpu": None, "threads": 2, "device": "cpu", "platform": "Linux-x86_64"}
SEGMENTER_SHA = "5e6d" * 16


def write_run(out: Path, dataset: str, method: str, run_id: str, *, protocol: str | None = None,
              metrics: dict | None = None, optimizer: dict | None = None, data: dict | None = None,
              log_rows: int = 0, d_level: float = 0.7, stems: tuple[str, ...] = (), preset: str = "tiny",
              overrides: list | None = None, finished: str = "2026-01-01T00:00:00+00:00",
              status: str = "finished", seed: int = 0, sweep: dict | None = None, budget: dict | None = None,
              compute: dict | None = None, ci95: dict | None = None, curve: pd.DataFrame | None = None,
              model: dict | None = None, **record: object) -> Path:
    """A run directory as the pipeline leaves it (the contract's shape): config.json (with ``seed`` and a
    ``budget`` section), manifest.json (``compute``, ``budget``, ``sweep``, ``hardware``), optionally
    train_log.csv, curve.csv, images/<stem>.png and the metrics record of ``protocol``."""
    run_dir = out / "runs" / dataset / method / run_id
    run_dir.mkdir(parents=True)
    config = {"method": method, "dataset": dataset, "preset": preset, "seed": seed,
              "optimizer": dict(optimizer or {"type": "Adam", "lr": 2e-4}),
              "model": model or {"ngf": 16}, "data": data or {"type": dataset}, "budget": budget,
              "run": {"out": str(out)}}
    for key, value in (sweep or {}).items():  # a swept value is in the config like any other key
        section, _, name = key.rpartition(".")
        (config.setdefault(section, {}) if section else config)[name] = value
    (run_dir / "config.json").write_text(json.dumps(config))
    (run_dir / "config.py").write_text("# resolved config\n")
    (run_dir / "manifest.json").write_text(json.dumps({
        "status": status, "method": method, "dataset": dataset, "preset": preset, "run_id": run_id, "seed": seed,
        "overrides": overrides or [], "finished": finished, "train_seconds": 1.0,
        "iterations": {"main": log_rows}, "compute": compute, "budget": budget, "sweep": sweep or {},
        "hardware": HARDWARE}))
    if log_rows:
        rng = np.random.default_rng(seed)
        it = np.arange(1, log_rows + 1) * 10
        log = pd.DataFrame({"stage": "main", "iteration": it, "G_GAN": rng.random(log_rows) + 1,
                            "G_feat": rng.random(log_rows), "D_real0": d_level + 0.01 * rng.random(log_rows),
                            "D_real1": d_level, "D_fake0": d_level, "D_fake1": d_level,
                            "lr_G": 1e-4, "lr_D": 4e-4, "it_per_s": 5.0, "elapsed_s": it / 5})
        log.to_csv(run_dir / "train_log.csv", index=False)
    if curve is not None:
        curve.to_csv(run_dir / "curve.csv", index=False)
    for i, stem in enumerate(stems):
        (run_dir / "images").mkdir(exist_ok=True)
        Image.fromarray(np.full((16, 16, 3), 40 * i, dtype=np.uint8)).save(run_dir / "images" / f"{stem}.png")
    if protocol is not None:
        write_metrics(run_dir, "method", method, dataset, protocol, metrics or {}, run_id, ci95=ci95, preset=preset,
                      **record)
    return run_dir


def harness_result(protocol: str, metrics: dict, *, segmenter_sha256: str | None = SEGMENTER_SHA,
                   num_images: int | None = None, version: int | None = None, oracle: bool = False) -> dict:
    """A result as :func:`metrics.evaluate.evaluate` returns it: ``metrics`` in the harness's units (mIoU and
    accu as fractions; given here in percent, as the tables print them) and the provenance keys the
    harness writes, the protocol taken from the registry."""
    spec = get_protocol(protocol)
    described = spec.to_dict() if version is None else {**spec.to_dict(), "version": version}
    n = num_images if num_images is not None else (spec.num_images or 100)
    raw = {"mIoU": None, "accu": None, "FID": None, "FD-seg": None, "KID": None, **metrics}
    for key in evaluation.PERCENT_KEYS:
        if raw[key] is not None:
            raw[key] = raw[key] / 100.0
    return {"metrics": raw, "provenance": {
        "protocol_id": spec.id, "protocol_version": spec.version if version is None else version,
        "protocol": described, "oracle": oracle, "dataset": spec.dataset, "split": spec.split,
        "num_images": n, "protocol_num_images": spec.num_images,
        "num_images_overridden": num_images is not None and num_images != spec.num_images,
        "fallback": None, "seed": 0,
        "segmenter": {"kind": "trained", "class": "DeepLabV3Segmenter", "checkpoint_sha256": segmenter_sha256}}}


def write_metrics(run_dir: Path, kind: str, method: str, dataset: str, protocol: str, metrics: dict,
                  run_id: str | None = None, *, ci95: dict | None = None, preset: str | None = "tiny",
                  **provenance: object) -> Path:
    """The record of ``metrics`` under ``protocol``, made by the evaluation code and written where it writes
    it (the oracle's always as ``metrics.json`` of its protocol directory, as evaluate_oracle does).
    ``ci95``: the record's bootstrap half-widths (the contract's ``ci95`` / ``ci95_method`` keys)."""
    record = evaluation.to_record(harness_result(protocol, metrics, oracle=kind == "oracle", **provenance),
                                  kind=kind, method=method, dataset=dataset, preset=preset, run_id=run_id)
    if ci95:
        record.update(ci95=ci95, ci95_method="bootstrap over the evaluation images (1000 resamples)")
    path = run_dir / "metrics.json" if kind == "oracle" else evaluation.metrics_path(run_dir, dataset, protocol)
    atomic_write_json(path, record)
    return path


def write_oracle(out: Path, dataset: str, protocol: str, metrics: dict, **provenance: object) -> Path:
    run_dir = out / "runs" / dataset / "_oracle" / protocol
    write_metrics(run_dir, "oracle", "oracle", dataset, protocol, metrics, **provenance)
    return run_dir


#: what a paper table appends to the label of a row measured at the tiny preset
TINY_ROW = ", SISBench tiny preset, not the paper's schedule"


@pytest.fixture()
def published() -> pd.DataFrame:
    return load_published()


# -- collection ------------------------------------------------------------------------------------------

def test_collect_runs_one_row_per_metrics_json(tmp_path):
    spade = write_run(tmp_path, "coco_stuff", "spade", "tiny-a", protocol="coco_stuff-spade-legacy",
                      metrics={"mIoU": 30.5, "accu": 60.0, "FID": 40.0})
    write_run(tmp_path, "coco_stuff", "crn", "tiny-b")  # trained, not evaluated: no row
    oracle = write_oracle(tmp_path, "coco_stuff", "coco_stuff-spade-legacy", {"mIoU": 45.0, "accu": 70.0})
    broken = tmp_path / "runs" / "coco_stuff" / "pix2pix" / "tiny-c" / "metrics.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")

    frame = collect_runs(tmp_path)
    assert sorted(frame["method"]) == ["oracle", "spade"]
    row = frame[frame["method"] == "spade"].iloc[0]
    assert (row["run_dir"], row["protocol_id"], row["mIoU"], row["preset"]) == \
        (spade, "coco_stuff-spade-legacy", 30.5, "tiny")
    assert math.isnan(row["FD-seg"]) and row["status"] == "finished"
    oracle_row = frame[frame["method"] == "oracle"].iloc[0]
    assert (oracle_row["kind"], oracle_row["run_dir"], oracle_row["protocol_id"]) == \
        ("oracle", oracle, "coco_stuff-spade-legacy")
    assert len(frame.attrs["problems"]) == 1 and "pix2pix" in frame.attrs["problems"][0]
    assert sorted(collect_training_runs(tmp_path)["method"]) == ["crn", "spade"]


@pytest.mark.slow
def test_a_real_evaluation_under_two_protocols_gives_two_rows(tmp_path, tiny_segmenter, offline):
    """The harness itself writes ``metrics.json`` (the default protocol) and ``metrics.<protocol>.json`` (a
    second one, on the first 4 images): both reach the results, each with its protocol key as the
    harness recorded it, and the dataset table keeps them in separate blocks."""
    import dataclasses

    from benchmark import runs
    from benchmark.config import load_config, to_plain
    from benchmark.datasets import build_dataset
    from benchmark.registry import PROTOCOLS
    from metrics.base import sha256_file
    from metrics.fid import to_uint8

    sizes = ["data.num_train=16", "data.num_val=6"]  # the data tiny_segmenter was trained on
    cfg = to_plain(load_config("spade", "synthetic", "tiny", sizes))
    run_dir = tmp_path / "runs" / "synthetic" / "spade" / "tiny-real"
    run_dir.mkdir(parents=True)
    atomic_write_json(run_dir / "config.json", cfg)
    runs.update_manifest(run_dir, method="spade", dataset="synthetic", preset="tiny", seed=0, status="finished")
    val = build_dataset(cfg["data"], "val", train=False)
    (run_dir / "images").mkdir()
    for i in range(len(val)):
        sample = val[i]
        Image.fromarray(to_uint8(sample["image"].flip(-1)).permute(1, 2, 0).numpy()).save(
            run_dir / "images" / f"{Path(sample['path']).stem}.png")
    alt = dataclasses.replace(get_protocol("synthetic-v1"), id="synthetic-v1-alt")
    PROTOCOLS.add(alt, name=alt.id, source="tests")
    try:
        evaluation.evaluate_run(run_dir, segmenter_checkpoint=tiny_segmenter, device="cpu")
        evaluation.evaluate_run(run_dir, protocol=alt.id, segmenter_checkpoint=tiny_segmenter, device="cpu",
                                num_images=4)
    finally:
        PROTOCOLS.remove(alt.id)
    assert sorted(p.name for p in run_dir.glob("metrics*.json")) == ["metrics.json", "metrics.synthetic-v1-alt.json"]

    frame = collect_runs(tmp_path).set_index("protocol_id")
    assert sorted(frame.index) == ["synthetic-v1", "synthetic-v1-alt"]
    digest = sha256_file(tiny_segmenter)
    assert list(frame["segmenter_sha256"]) == [digest, digest]
    assert (frame.loc["synthetic-v1", "num_images"], frame.loc["synthetic-v1", "num_images_overridden"]) == (6, False)
    assert (frame.loc["synthetic-v1-alt", "num_images"], frame.loc["synthetic-v1-alt", "num_images_overridden"]) \
        == (4, True)
    assert frame.loc["synthetic-v1-alt", "metrics_file"] == "metrics.synthetic-v1-alt.json"
    assert frame["mIoU"].notna().all() and frame["FD-seg"].notna().all()
    table = pd.read_csv(write_dataset_table(tmp_path, "synthetic")[0])
    assert list(table["protocol_id"]) == ["synthetic-v1", "synthetic-v1-alt"] and list(table["n_seeds"]) == [1, 1]


# -- the papers' tables ----------------------------------------------------------------------------------

def test_spade_table1_layout(tmp_path, published):
    write_run(tmp_path, "coco_stuff", "spade", "paper-1", protocol="coco_stuff-mmseg-deeplabv3", preset="paper",
              metrics={"mIoU": 33.333, "accu": 66.0, "FID": None, "FD-seg": 12.0})
    write_run(tmp_path, "cityscapes", "pix2pix", "tiny-2", protocol="cityscapes-spade-legacy",
              metrics={"mIoU": 40.0, "accu": 70.0, "FID": 90.0})
    write_oracle(tmp_path, "coco_stuff", "coco_stuff-mmseg-deeplabv3", {"mIoU": 50.0, "accu": 75.0, "FID": 0.5})
    results = collect_runs(tmp_path)
    frame = layout(SPADE_TABLE1, table_cells(SPADE_TABLE1, published, results))

    assert list(frame.index) == [
        ("CRN", "published"), ("CRN", "measured (spade-legacy)"), ("CRN", "measured (mmseg-deeplabv3)"),
        ("SIMS", "published"),
        ("pix2pixHD", "published"), ("pix2pixHD", "measured (spade-legacy)"),
        ("pix2pixHD", "measured (mmseg-deeplabv3)"),
        ("SPADE", "published"), ("SPADE", "measured (spade-legacy)"), ("SPADE", "measured (mmseg-deeplabv3)"),
        ("pix2pix", "measured (spade-legacy)"), ("pix2pix", "measured (mmseg-deeplabv3)"),
        ("pix2pix", "measured (spade-legacy)" + TINY_ROW),
        ("oracle (real images)", "measured (spade-legacy)"), ("oracle (real images)", "measured (mmseg-deeplabv3)"),
    ]
    assert list(frame.columns) == [(d, m) for d in ("COCO-Stuff", "ADE20K", "ADE20K-outdoor", "Cityscapes")
                                   for m in ("mIoU", "accu", "FID")]
    assert list(frame.loc[("SPADE", "published"), "COCO-Stuff"]) == ["37.4", "67.9", "22.6"]
    assert list(frame.loc[("CRN", "published"), "Cityscapes"]) == ["52.4", "77.1", "104.7"]
    assert list(frame.loc[("SIMS", "published"), "COCO-Stuff"]) == ["n/a"] * 3
    assert list(frame.loc[("SIMS", "published"), "Cityscapes"]) == ["47.2", "75.5", "49.7"]
    assert list(frame.loc[("SPADE", "measured (mmseg-deeplabv3)"), "COCO-Stuff"]) == \
        ["33.3", "66.0", "not measured (FD-seg: 12.0)"]
    assert list(frame.loc[("SPADE", "measured (spade-legacy)"), "COCO-Stuff"]) == ["not run"] * 3
    # a tiny run never stands in the paper-preset row under the published numbers: it has its own, marked
    assert list(frame.loc[("pix2pix", "measured (spade-legacy)" + TINY_ROW), "Cityscapes"]) == ["40.0", "70.0", "90.0"]
    assert list(frame.loc[("pix2pix", "measured (spade-legacy)"), "Cityscapes"]) == ["not run"] * 3
    assert list(frame.loc[("oracle (real images)", "measured (mmseg-deeplabv3)"), "COCO-Stuff"]) == \
        ["50.0", "75.0", "0.5"]
    assert frame.loc[("CRN", "measured (mmseg-deeplabv3)")].eq("not run").all()


def test_seed000_and_seed002_layouts(tmp_path, published):
    write_run(tmp_path, "celebamask_hq", "adanorm", "paper-1", protocol="celebamask_hq-trained-deeplabv3",
              preset="paper", metrics={"mIoU": 70.123, "accu": 90.0, "FID": 25.5})
    write_run(tmp_path, "coco_stuff", "slnp", "tiny-1", protocol="coco_stuff-spade-legacy",
              metrics={"mIoU": 20.0, "accu": 50.0, "FID": 80.0})
    results = collect_runs(tmp_path)

    celeba = layout(SEED000_TABLE1, table_cells(SEED000_TABLE1, published, results))
    assert list(celeba.columns) == [("CelebAMask-HQ", m) for m in ("FID", "mIoU", "accu")]
    assert list(celeba.index) == [
        ("pix2pixHD", "published"), ("pix2pixHD", "measured (trained-deeplabv3)"),
        ("SPADE", "published"), ("SPADE", "measured (trained-deeplabv3)"),
        ("adaptive normalization", "published"), ("adaptive normalization", "measured (trained-deeplabv3)")]
    assert list(celeba.loc[("SPADE", "published")]) == ["22.78", "76.58", "95.87"]
    assert list(celeba.loc[("adaptive normalization", "measured (trained-deeplabv3)")]) == \
        ["25.50", "70.12", "90.00"]
    assert list(celeba.loc[("pix2pixHD", "measured (trained-deeplabv3)")]) == ["not run"] * 3

    coco = layout(SEED002_TABLE2, table_cells(SEED002_TABLE2, published, results))
    assert list(coco.columns) == [("COCO-Stuff", m) for m in ("mIoU", "PA", "FID")]
    assert list(coco.index) == [
        ("sg2im", "published"), ("text2img", "published"), ("SLNP-GAN", "published"),
        ("SLNP-GAN", "measured (mmseg-deeplabv3)"), ("SLNP-GAN", "measured (spade-legacy)"),
        ("SLNP-GAN", "measured (spade-legacy)" + TINY_ROW)]
    assert list(coco.loc[("text2img", "published")]) == ["29.7", "55.2", "41.6"]
    assert list(coco.loc[("SLNP-GAN", "measured (spade-legacy)" + TINY_ROW)]) == ["20.0", "50.0", "80.0"]
    assert list(coco.loc[("SLNP-GAN", "measured (spade-legacy)")]) == ["not run"] * 3
    assert list(coco.loc[("SLNP-GAN", "measured (mmseg-deeplabv3)")]) == ["not run"] * 3


def test_methods_filter_and_extra_protocol_family(tmp_path, published):
    write_run(tmp_path, "coco_stuff", "spade", "tiny-1", protocol="coco_stuff-trained-deeplabv3",
              metrics={"mIoU": 10.0, "accu": 20.0, "FID": 30.0})
    write_run(tmp_path, "coco_stuff", "crn", "tiny-2", protocol="coco_stuff-spade-legacy",
              metrics={"mIoU": 1.0, "accu": 2.0, "FID": 3.0})
    cells = table_cells(SPADE_TABLE1, published, collect_runs(tmp_path), methods_filter=["spade"])
    frame = layout(SPADE_TABLE1, cells)
    # a protocol outside the table's usual families gets rows of its own, never the legacy/mmseg rows
    assert ("SPADE", "measured (trained-deeplabv3)" + TINY_ROW) in frame.index
    assert list(frame.loc[("SPADE", "measured (trained-deeplabv3)" + TINY_ROW), "COCO-Stuff"]) == \
        ["10.0", "20.0", "30.0"]
    assert list(frame.loc[("SPADE", "measured (spade-legacy)"), "COCO-Stuff"]) == ["not run"] * 3
    assert {r for r, _ in frame.index} == {"SIMS", "SPADE"}  # CRN filtered out; SIMS is published-only
    measured = cells[cells["status"] == "measured"]
    assert set(measured["protocol"]) == {"coco_stuff-trained-deeplabv3"}


def test_preferred_run_is_the_finished_paper_preset(tmp_path, published):
    for run_id, preset, status, miou in (("tiny-1", "tiny", "finished", 1.0), ("paper-2", "paper", "finished", 2.0),
                                         ("paper-3", "paper", "running", 3.0)):
        write_run(tmp_path, "ade20k", "spade", run_id, preset=preset, status=status,
                  protocol="ade20k-spade-legacy", metrics={"mIoU": miou})
    cells = table_cells(SPADE_TABLE1, published, collect_runs(tmp_path))
    hit = cells[(cells["row"] == "SPADE") & (cells["dataset"] == "ade20k") & (cells["metric"] == "mIoU")
                & (cells["source"] == "spade-legacy")].iloc[0]
    assert (hit["text"], hit["run_id"]) == ("2.0", "paper-2")


def test_a_new_published_csv_needs_only_a_spec(tmp_path):
    """A plugin's CSV (extra columns allowed) and a PaperTable naming it: published beside measured."""
    import shutil

    from benchmark.report.tables import PUBLISHED_DIR, PaperTable, write_paper_table

    directory = tmp_path / "published"
    shutil.copytree(PUBLISHED_DIR, directory)
    (directory / "oasis_table1.csv").write_text(
        "paper,table,dataset,method,metric,value,protocol,note\n"
        '"OASIS (2021)",Table 1,ade20k,OASIS,mIoU,48.8,"OASIS: UperNet101",typed by hand\n'
        '"OASIS (2021)",Table 1,ade20k,OASIS,FID,28.3,"OASIS: UperNet101",\n')
    published = load_published(directory)
    assert set(published["file"]) >= {"oasis_table1", "spade_table1"} and "note" in published
    spec = PaperTable(key="oasis_table1", title="OASIS Table 1", published_file="oasis_table1", table="Table 1",
                      datasets=("ade20k",), metrics=("mIoU", "FID"), rows=("OASIS", "SPADE"))
    out = tmp_path / "out"
    write_run(out, "ade20k", "spade", "tiny-1", protocol="ade20k-spade-legacy", metrics={"mIoU": 12.0})
    frame = layout(spec, table_cells(spec, published, collect_runs(out)))
    assert list(frame.loc[("OASIS", "published")]) == ["48.8", "28.3"]
    assert list(frame.loc[("SPADE", "published")]) == ["n/a", "n/a"]
    assert list(frame.loc[("SPADE", "measured (spade-legacy)" + TINY_ROW)]) == ["12.0", "not measured"]
    assert [p.name for p in write_paper_table(out, spec, table_cells(spec, published, collect_runs(out)))] == [
        "oasis_table1.csv", "oasis_table1_cells.csv", "oasis_table1.md", "oasis_table1.tex"]
    (directory / "broken.csv").write_text("paper,table,dataset,method,metric,value,protocol\np,T,d,m,FID,N/A,x\n")
    with pytest.raises(ValueError, match="broken.csv, row 2: value 'N/A' of m FID is not a number"):
        load_published(directory)


# -- per-dataset table -----------------------------------------------------------------------------------

def test_dataset_table_rows_and_files(tmp_path):
    write_run(tmp_path, "synthetic", "slnp", "tiny-b", protocol="synthetic-v1",
              metrics={"mIoU": 40.0, "accu": 80.0, "FD-seg": 9.5},
              overrides=[["optimizer.type", "AMM", "Adam"], ["seed", 0, 1]], seed=1)
    write_run(tmp_path, "synthetic", "spade", "tiny-a", protocol="synthetic-v1",
              metrics={"mIoU": 50.0, "accu": 85.0, "FD-seg": 7.25})
    write_oracle(tmp_path, "synthetic", "synthetic-v1", {"mIoU": 90.0, "accu": 97.0, "FD-seg": 0.1})
    paths = write_dataset_table(tmp_path, "synthetic")
    assert [p.name for p in paths] == ["table.csv", "table_seeds.csv", "table.md", "table.tex"]
    table = pd.read_csv(tmp_path / "synthetic" / "table.csv", keep_default_na=False)
    assert list(table["method"]) == ["SPADE", "SLNP-GAN", "oracle (real images)"]
    assert list(table.columns[:5]) == ["method", "registry_name", "sweep", "variant", "budget"]
    assert set(table["protocol_id"]) == {"synthetic-v1"}
    assert list(table["FD-seg"]) == [7.25, 9.5, 0.1]
    assert "FID" not in table  # measured by no run: no column (null in metrics.json is never 0)
    assert list(table["n_seeds"]) == ["1", "1", ""]
    assert table["variant"][1] == 'optimizer.type="Adam"'  # the seed is a column of its own, not a variant
    assert table["run_dirs"][0] == "runs/synthetic/spade/tiny-a"
    assert list(table["mIoU_rank"]) == ["", "", ""]  # one seed each: no test, no rank
    seeds = pd.read_csv(tmp_path / "synthetic" / "table_seeds.csv", keep_default_na=False)
    assert list(seeds["run_id"]) == ["tiny-a", "tiny-b", ""] and list(seeds["seed"]) == ["0", "1", ""]
    md = (tmp_path / "synthetic" / "table.md").read_text()
    assert "| SPADE | tiny |  | 1 | 50.00 |  | 85.00 |  | 7.25 |  |" in md
    assert "each method at its preset schedule" in md
    assert "FD-seg (lower is better): SPADE, SLNP-GAN: one seed, so no test is possible" in md
    tex = (tmp_path / "synthetic" / "table.tex").read_text()
    assert "\\toprule" in tex and "\\bottomrule" in tex and "synthetic-v1" in tex


# -- Adam vs AMM -----------------------------------------------------------------------------------------

def test_optimizer_pairs_need_configs_equal_but_for_the_optimizer(tmp_path):
    write_run(tmp_path, "coco_stuff", "slnp", "tiny-amm", optimizer=SLNP_OPTIMIZER)
    write_run(tmp_path, "coco_stuff", "slnp", "tiny-adam", optimizer={**SLNP_OPTIMIZER, "type": "Adam"})
    # same optimizer swap but a different learning rate: not the paper's experiment
    write_run(tmp_path, "ade20k", "slnp", "tiny-amm", optimizer=SLNP_OPTIMIZER)
    write_run(tmp_path, "ade20k", "slnp", "tiny-adam", optimizer={**SLNP_OPTIMIZER, "type": "Adam", "lr_G": 1e-3})
    # another method's Adam run never pairs with slnp
    write_run(tmp_path, "ade20k", "spade", "tiny-adam", optimizer={**SLNP_OPTIMIZER, "type": "Adam"})
    pairs = optimizer_pairs(collect_training_runs(tmp_path))
    assert len(pairs) == 1
    pair = pairs[0]
    assert pair.dataset == "coco_stuff"
    assert list(pair.runs) == ["Adam", "AMM"]
    assert ([d.name for d in pair.runs["Adam"]], [d.name for d in pair.runs["AMM"]]) == (["tiny-adam"], ["tiny-amm"])


def test_loss_curves_keep_training_stages_apart(tmp_path):
    run_dir = write_run(tmp_path, "synthetic", "slnp", "tiny-1", overrides=[["optimizer.type", "AMM", "Adam"]])
    pd.DataFrame({"stage": ["noise_prior", "noise_prior", "main", "main"], "iteration": [10, 20, 10, 20],
                  "VAE_rec": [700.0, 650.0, None, None], "VAE_KLD": [50.0, 40.0, None, None],
                  "G_GAN0": [None, None, 2.0, 1.0], "D_real0": [None, None, 0.7, 0.6], "lr_G": 1e-4,
                  "it_per_s": 3.0}).to_csv(run_dir / "train_log.csv", index=False)
    fig = loss_curves(collect_training_runs(tmp_path), "synthetic")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title().split("\n") for ax in panels] == [
        ["SLNP-GAN (tiny-1, seed 0), noise_prior", 'optimizer.type="Adam"'],
        ["SLNP-GAN (tiny-1, seed 0), main", 'optimizer.type="Adam"']]
    assert [line.get_label() for line in panels[0].lines] == ["VAE: VAE_rec + VAE_KLD"]
    assert [line.get_label() for line in panels[1].lines] == ["G: G_GAN0", "D: D_real0"]
    # one style per network in every panel: solid G, dashed D, dotted VAE
    assert [line.get_linestyle() for line in [*panels[0].lines, *panels[1].lines]] == [":", "-", "--"]
    assert list(panels[0].lines[0].get_ydata()) == [750.0, 690.0]  # summed terms, moving average of 1


# -- the whole report ------------------------------------------------------------------------------------

def build_fake_results(out: Path) -> None:
    """``--sweep optimizer.type=Adam,AMM`` of slnp and a spade run, two seeds each, on a tiny folder dataset,
    evaluated (with learning curves and cost records), plus an oracle."""
    data = folder_data_config(out / "data")
    stems = ("s00", "s01", "s02")
    common = {"dataset": "folder", "data": data, "log_rows": 30, "stems": stems,
              "protocol": "folder-trained-deeplabv3",
              "compute": {"iterations": 300, "images_seen": 300, "train_s": 4.5, "gflops_per_iter": 0.8,
                          "gflops_per_iter_by_stage": {"main": 0.8}, "tflops_total": 0.24, "params_G_M": 0.9,
                          "peak_mem_mb": 600.0, "peak_mem_kind": "cpu_rss"}}
    experiments = (("slnp", "amm", {**SLNP_OPTIMIZER}, {"optimizer.type": "AMM"}, 30.0, 0.5),
                   ("slnp", "adam", {**SLNP_OPTIMIZER, "type": "Adam"}, {"optimizer.type": "Adam"}, 25.0, 0.8),
                   ("spade", "spade", None, None, 35.0, 0.7))
    for method, name, optimizer, sweep, miou, level in experiments:
        for seed in (0, 1):
            shift = 2.0 * seed
            curve = pd.DataFrame({"stage": "main", "iteration": [150, 300], "images_seen": [150, 300],
                                  "tflops": [0.12, 0.24], "mIoU": [miou / 2 + shift, miou + shift],
                                  "FD-seg": [8.0 - shift, 40 / miou], "protocol_id": "folder-trained-deeplabv3"})
            overrides = [["optimizer.type", "AMM", "Adam"]] if name == "adam" else []
            write_run(out, method=method, run_id=f"tiny-{name}-s{seed}", optimizer=optimizer, sweep=sweep, seed=seed,
                      metrics={"mIoU": miou + shift, "accu": 2 * miou + shift, "FD-seg": 40 / miou + 0.1 * seed},
                      d_level=level, curve=curve, overrides=[*overrides, ["seed", 0, seed]], **common)
    write_oracle(out, "folder", "folder-trained-deeplabv3", {"mIoU": 80.0, "accu": 90.0, "FD-seg": 0.2})


@pytest.mark.slow
def test_build_report_writes_tables_figures_and_page(tmp_path):
    build_fake_results(tmp_path)
    summary = build_report(tmp_path)
    names = {p.name for p in summary.tables}
    assert {"spade_table1.csv", "spade_table1.md", "spade_table1.tex", "spade_table1_cells.csv",
            "seed000_table1.tex", "seed002_table2.md", "seed002_table3.csv", "table.csv"} <= names
    keys = {f.key for f in summary.figures}
    assert keys == {"losses_folder", "samples_folder", "metrics_folder_folder-trained-deeplabv3",
                    "adam_vs_amm_folder", "learning_curves_folder"}
    for record in summary.figures:
        assert [p.suffix for p in record.paths] == [".png", ".pdf"]
        assert all(p.is_file() and p.stat().st_size > 1000 for p in record.paths)
    skipped = dict(summary.skipped)
    assert "checkpoint" in skipped[f"Multimodal synthesis, folder ({MULTIMODAL_SOURCES})"]
    assert "checkpoint" in skipped["SLNP-GAN attention, folder (Zhang et al. 2020, SLNP-GAN, Fig. 12)"]
    samples = next(f for f in summary.figures if f.key == "samples_folder")
    assert sorted(p.name for p in samples.runs) == ["tiny-amm-s0", "tiny-spade-s0"]  # the preset as shipped

    page = summary.index.read_text()
    assert 'href="runs/folder/spade/tiny-spade-s0/"' in page  # a measured number links to its run
    assert 'href="runs/folder/spade/tiny-spade-s1/"' in page  # ... and every seed is linked
    assert 'href="runs/folder/slnp/tiny-adam-s1/manifest.json"' in page
    # the table shows intervals, ranks, the verdict, cost columns; the figures the new ones
    assert "SLNP-GAN (optimizer.type=AMM)" in page and "36 ± 13" in page  # 35, 37: t(0.975, 1) * sqrt(2) / sqrt(2)
    assert '<td class="rank">' in page and '<ul class="verdict">' in page and "not distinguishable" in page
    assert "<th>GFLOP/it</th>" in page and "<th>train s</th>" in page and "each method at its preset" in page
    assert 'src="figures/learning_curves_folder.png"' in page and "not torch.optim.Adam" in page
    assert page.count("<img ") == len(summary.figures)
    links = re.findall(r'href="([^"#:]+)"', page)
    assert len(links) > 20 and all((tmp_path / link).exists() for link in links), links
    for what, _ in summary.skipped:
        assert what.replace("&", "&amp;") in page


@pytest.mark.slow
def test_a_new_report_removes_the_figures_of_the_last_one(tmp_path):
    build_fake_results(tmp_path)
    stale = [tmp_path / "figures" / name for name in ("metrics_folder_gone-protocol.png", "losses_gone.pdf")]
    kept = tmp_path / "figures" / "my_notes.png"
    for path in [*stale, kept]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"old")
    summary = build_report(tmp_path)
    assert not any(p.exists() for p in stale) and kept.exists()
    assert all(p.exists() for record in summary.figures for p in record.paths)


def test_report_of_an_empty_directory_lists_published_numbers_only(tmp_path):
    summary = build_report(tmp_path)
    assert summary.figures == [] and summary.runs == 0
    table = pd.read_csv(tmp_path / "tables" / "spade_table1.csv")
    assert list(table["source"].unique()) == ["published", "measured (spade-legacy)", "measured (mmseg-deeplabv3)"]
    assert "no evaluated runs yet" in summary.index.read_text()


@pytest.mark.slow
def test_report_of_a_relative_out_directory_links_relative_to_the_page(tmp_path, monkeypatch):
    """`python -m benchmark report` defaults to --out results: links must not repeat that prefix."""
    out = tmp_path / "results"
    build_fake_results(out)
    monkeypatch.chdir(tmp_path)
    build_report(Path("results"))
    html = (out / "index.html").read_text()
    assert 'src="results/' not in html and 'href="results/' not in html
    assert 'src="figures/' in html


# -- plugins ---------------------------------------------------------------------------------------------

@pytest.fixture()
def named_plugin(toy_method, monkeypatch):
    """The toy method registered as a plugin that names itself ``Toy-GAN`` in tables and figures."""
    monkeypatch.setattr(toy_method, "display_name", "Toy-GAN", raising=False)
    return toy_method


def test_a_plugin_prints_its_display_name_and_keeps_its_rows(tmp_path, published, named_plugin):
    write_run(tmp_path, "synthetic", "toy", "tiny-t", protocol="synthetic-v1", metrics={"mIoU": 30.0, "accu": 60.0})
    write_run(tmp_path, "synthetic", "spade", "tiny-s", protocol="synthetic-v1", metrics={"mIoU": 50.0, "accu": 85.0})
    write_dataset_table(tmp_path, "synthetic")
    table = pd.read_csv(tmp_path / "synthetic" / "table.csv", keep_default_na=False)
    assert list(table["method"]) == ["SPADE", "Toy-GAN"]
    assert list(table["registry_name"]) == ["spade", "toy"]
    # a paper table's extra rows map the display name back to the runs of the registry name
    write_run(tmp_path, "coco_stuff", "toy", "tiny-c", protocol="coco_stuff-spade-legacy",
              metrics={"mIoU": 1.5, "accu": 2.5, "FID": 3.5})
    frame = layout(SPADE_TABLE1, table_cells(SPADE_TABLE1, published, collect_runs(tmp_path)))
    assert list(frame.loc[("Toy-GAN", "measured (spade-legacy)" + TINY_ROW), "COCO-Stuff"]) == ["1.5", "2.5", "3.5"]


def test_plugin_colours_are_stable_and_never_a_built_in_methods():
    from benchmark.report.figures.common import METHOD_COLORS, PLUGIN_COLORS, method_color

    assert not set(PLUGIN_COLORS) & set(METHOD_COLORS.values())
    names = ["oasis", "toy", "my_gan", "cc-fpse", "sean", "pix2pixhd_plus"]
    assert all(method_color(n) in PLUGIN_COLORS for n in names)
    assert [method_color(n) for n in names] == [method_color(n) for n in names]
