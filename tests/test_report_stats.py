"""Seeds, intervals, ranks, verdicts, protocol keys, budgets, sweeps, cost columns and the figures drawn
from them, on run directories in the contract's shape (see tests/test_report.py) with metrics records
written by the evaluation code. Every statistic is checked against scipy.stats computed here directly.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from scipy import stats

from benchmark.report import build_report
from benchmark.report.dataset_tables import dataset_table, write_dataset_table
from benchmark.report.figures import learning_curves, metric_bars, optimizer_comparison, optimizer_pairs
from benchmark.report.stats import ranks, t_half_width, welch_p
from benchmark.report.tables import SPADE_TABLE1, layout, load_published, table_cells
from benchmark.results import collect_runs, collect_training_runs
from tests.test_report import SLNP_OPTIMIZER, write_oracle, write_run

# three experiments built so that A > B is significant, B ~ C and A ~ C are not (C is spread wide)
A, B, C = [50.0, 51.0, 49.0], [40.0, 41.0, 39.5], [30.0, 45.0, 55.0]
COMPUTE = {"iterations": 200, "images_seen": 200, "train_s": 12.5, "gflops_per_iter": 3.25,
           "gflops_per_iter_by_stage": {"main": 3.25}, "tflops_total": 0.65, "params_G_M": 1.5,
           "peak_mem_mb": 812.0, "peak_mem_kind": "cpu_rss"}


def scipy_half_width(values: list[float]) -> float:
    """The 95% t interval's half-width straight from scipy.stats.t.interval and sem."""
    lo, hi = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    return (hi - lo) / 2


def write_seeds(out, method, values, *, dataset="synthetic", protocol="synthetic-v1", metric="mIoU",
                sweep=None, budget=None, compute=None, extra=None, tag=None, **kwargs):
    """One run per value (seed 0, 1, ...) of one experiment; ``extra``: further metrics per seed."""
    tag = tag or "-".join(f"{v}" for v in (sweep or {}).values()) or "base"
    tag += f"-{budget['kind']}" if budget else ""
    dirs = []
    for seed, value in enumerate(values):
        metrics = {metric: value, **{k: v[seed] for k, v in (extra or {}).items()}}
        dirs.append(write_run(out, dataset, method, f"tiny-{tag}-s{seed}", protocol=protocol, metrics=metrics,
                              seed=seed, sweep=sweep, budget=budget, compute=compute, **kwargs))
    return dirs


# -- the statistics themselves ---------------------------------------------------------------------------

def test_t_interval_and_welch_p_are_scipys():
    for values in (A, B, C, [1.0, 2.0], [3.3, 3.1, 2.9, 3.6, 3.0]):
        assert t_half_width(values) == pytest.approx(scipy_half_width(values), rel=1e-12)
    # by hand for n = 3: t_{0.975,2} = 4.3027 (every t table), s = 1 for A
    assert t_half_width(A) == pytest.approx(4.3027 * 1.0 / math.sqrt(3), rel=1e-4)
    assert math.isnan(t_half_width([1.0]))
    assert welch_p(A, C) == stats.ttest_ind(A, C, equal_var=False).pvalue
    # Welch's statistic and Welch-Satterthwaite degrees of freedom, written out
    va, vb = np.var(A, ddof=1) / 3, np.var(B, ddof=1) / 3
    t = (np.mean(A) - np.mean(B)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 2)
    assert welch_p(A, B) == pytest.approx(2 * stats.t.sf(abs(t), df), rel=1e-10)
    assert math.isnan(welch_p([1.0], A))


def test_rank_rule_on_a_constructed_case():
    p_ab, p_bc, p_ac = (stats.ttest_ind(x, y, equal_var=False).pvalue for x, y in ((A, B), (B, C), (A, C)))
    assert p_ab < 0.05 < p_bc and p_ac > 0.05  # the construction: A > B significant, B ~ C, A ~ C
    block = pd.DataFrame({"method": ["a", "b", "c", "oracle", "d"], "n_seeds": [3, 3, 3, math.nan, 1],
                          "mIoU": [np.mean(A), np.mean(B), np.mean(C), 90.0, 60.0],
                          "mIoU_values": [tuple(A), tuple(B), tuple(C), (90.0,), (60.0,)]})
    # rank = 1 + number significantly better: B is beaten by A only; C by nobody (A ~ C); the oracle and
    # the one-seed entry are not ranked
    assert list(ranks(block, "mIoU")) == [1, 2, 1, pd.NA, pd.NA]
    # lower is better: the same numbers as FD-seg turn the order around
    fd = block.rename(columns={"mIoU": "FD-seg", "mIoU_values": "FD-seg_values"})
    assert list(ranks(fd, "FD-seg")) == [2, 1, 1, pd.NA, pd.NA]


# -- the dataset table -----------------------------------------------------------------------------------

def test_table_means_intervals_ranks_and_verdicts(tmp_path):
    fd = {"FD-seg": [4.0, 4.5, 5.0]}
    write_seeds(tmp_path, "slnp", A, extra=fd, compute=COMPUTE)
    write_seeds(tmp_path, "spade", B, extra={"FD-seg": [4.1, 4.3, 4.8]}, compute={**COMPUTE, "iterations": 300,
                                                                                 "train_s": 20.0})
    write_seeds(tmp_path, "pix2pix", C, extra={"FD-seg": [6.0, 3.0, 5.5]}, compute=COMPUTE)
    write_oracle(tmp_path, "synthetic", "synthetic-v1", {"mIoU": 90.0, "FD-seg": 0.0})
    paths = write_dataset_table(tmp_path, "synthetic")
    table = pd.read_csv(paths[0])
    rows = table.set_index("method")
    assert list(table["method"]) == ["pix2pix", "SPADE", "SLNP-GAN", "oracle (real images)"]
    for name, values in (("SLNP-GAN", A), ("SPADE", B), ("pix2pix", C)):
        assert rows.loc[name, "n_seeds"] == 3 and rows.loc[name, "seeds"] == "0, 1, 2"
        assert rows.loc[name, "mIoU"] == pytest.approx(np.mean(values), rel=1e-12)
        assert rows.loc[name, "mIoU_ci95"] == pytest.approx(scipy_half_width(values), rel=1e-9)
        assert rows.loc[name, "ci95_method"] == "t over seeds"
    assert (rows.loc["SLNP-GAN", "mIoU_rank"], rows.loc["SPADE", "mIoU_rank"], rows.loc["pix2pix", "mIoU_rank"]) \
        == (1, 2, 1)
    assert math.isnan(rows.loc["oracle (real images)", "mIoU_rank"])
    # cost columns come from the manifests' compute record, averaged over seeds
    assert rows.loc["SPADE", "iterations"] == 300 and rows.loc["SPADE", "train_s"] == 20.0
    assert (rows.loc["SLNP-GAN", "gflops_per_iter"], rows.loc["SLNP-GAN", "params_G_M"],
            rows.loc["SLNP-GAN", "peak_mem_mb"], rows.loc["SLNP-GAN", "images_seen"]) == (3.25, 1.5, 812.0, 200)
    seeds = pd.read_csv(paths[1])
    assert len(seeds) == 10 and list(seeds[seeds["registry_name"] == "spade"]["mIoU"]) == B

    md = paths[2].read_text()
    half = scipy_half_width(A)
    assert f"| SLNP-GAN | tiny | 3 | {np.mean(A):.1f} ± {half:.1f} | 1 |" in md  # 50.0 ± 2.5
    p_ab, p_ac, p_bc = (stats.ttest_ind(x, y, equal_var=False).pvalue for x, y in ((A, B), (A, C), (B, C)))
    assert p_ab < 0.001 and "SLNP-GAN > SPADE on mIoU, p < 0.001" in md
    assert f"SLNP-GAN and pix2pix are not distinguishable on mIoU with 3 seeds (p = {p_ac:.2g})" in md
    assert f"pix2pix and SPADE are not distinguishable on mIoU with 3 seeds (p = {p_bc:.2g})" in md
    p_fd = stats.ttest_ind([4.1, 4.3, 4.8], [4.0, 4.5, 5.0], equal_var=False).pvalue
    assert f"SPADE and SLNP-GAN are not distinguishable on FD-seg with 3 seeds (p = {p_fd:.2g})" in md
    assert "iterations differ: pix2pix 200, SPADE 300, SLNP-GAN 200" in md
    assert "± is the 95% Student t interval over seeds" in md and "bootstrap" not in md
    assert "| iterations | images seen | train s | GFLOP/it | TFLOP | params G (M) | peak MB (cpu_rss) |" in md
    assert "measured on: Test CPU @ 2.0GHz, 2 threads, cpu" in md
    tex = paths[3].read_text()
    assert f"SLNP-GAN & tiny & 3 & {np.mean(A):.1f} $\\pm$ {half:.1f} & 1 &" in tex
    assert "SLNP-GAN \\textgreater{} SPADE on mIoU, p \\textless{} 0.001" in tex


def test_one_seed_uses_the_records_bootstrap_interval_and_says_so(tmp_path):
    write_run(tmp_path, "synthetic", "spade", "tiny-1", protocol="synthetic-v1",
              metrics={"mIoU": 38.74, "FD-seg": 4.39}, ci95={"mIoU": 2.13, "FD-seg": 0.35})
    write_run(tmp_path, "synthetic", "slnp", "tiny-2", protocol="synthetic-v1", metrics={"mIoU": 51.1})
    table = dataset_table(collect_runs(tmp_path), "synthetic", tmp_path)
    spade = table.table.set_index("method").loc["SPADE"]
    assert (spade["n_seeds"], spade["mIoU_ci95"], spade["FD-seg_ci95"]) == (1, 2.13, 0.35)
    assert spade["ci95_method"].startswith("bootstrap over images")
    assert pd.isna(spade["mIoU_rank"])
    paths = write_dataset_table(tmp_path, "synthetic")
    md = paths[2].read_text()
    assert "| SPADE | tiny | 1 | 38.7 ± 2.1 † |  | 4.39 ± 0.35 † |  |" in md
    assert "| SLNP-GAN | tiny | 1 | 51.10 |  | not measured |  |" in md  # no interval recorded: none invented
    assert "bootstrap 95% interval over the evaluation images (one seed)" in md
    assert "SPADE, SLNP-GAN: one seed, so no test is possible" in md or \
        "SLNP-GAN, SPADE: one seed, so no test is possible" in md


def test_rows_of_different_protocol_keys_are_never_merged(tmp_path, published):
    """Seeds of one experiment whose records differ in protocol version, --num-images or segmenter hash
    stay apart (never averaged, never ranked together), in the dataset table and the paper tables."""
    common = {"protocol": "coco_stuff-spade-legacy", "model": {"ngf": 64}, "preset": "paper"}
    write_run(tmp_path, "coco_stuff", "spade", "paper-s0", seed=0, metrics={"mIoU": 30.0}, **common)
    write_run(tmp_path, "coco_stuff", "spade", "paper-s1", seed=1, metrics={"mIoU": 32.0}, **common)
    write_run(tmp_path, "coco_stuff", "spade", "paper-s2", seed=2, metrics={"mIoU": 80.0},
              segmenter_sha256="ab" * 32, **common)
    write_run(tmp_path, "coco_stuff", "spade", "paper-s3", seed=3, metrics={"mIoU": 70.0}, num_images=50, **common)
    write_run(tmp_path, "coco_stuff", "spade", "paper-s4", seed=4, metrics={"mIoU": 60.0}, version=0, **common)
    results = collect_runs(tmp_path)
    assert len(results) == 5
    table = dataset_table(results, "coco_stuff", tmp_path)
    assert len(table.blocks) == 4
    rows = table.table
    assert sorted(rows["n_seeds"]) == [1, 1, 1, 2]
    both = rows[rows["n_seeds"] == 2].iloc[0]
    assert both["mIoU"] == pytest.approx(31.0) and both["runs"] == "paper-s0 paper-s1"
    titles = [b.title for b in table.blocks]
    assert any("segmenter abababababab" in t for t in titles)
    assert any("50 images (set by --num-images)" in t for t in titles)
    assert any("protocol coco_stuff-spade-legacy v0" in t for t in titles)

    frame = layout(SPADE_TABLE1, table_cells(SPADE_TABLE1, published, results))
    spade = {source: list(frame.loc[("SPADE", source), "COCO-Stuff"]) for source in
             [s for r, s in frame.index if r == "SPADE"]}
    assert spade["measured (spade-legacy)"][0] == "31.0 ± 12.7"  # the two seeds under the current key
    assert spade["measured (spade-legacy; segmenter abababab)"][0] == "80.0"
    assert spade["measured (spade-legacy; 50 images (--num-images))"][0] == "70.0"
    assert spade["measured (spade-legacy; v0)"][0] == "60.0"
    assert f"{scipy_half_width([30.0, 32.0]):.1f}" == "12.7"


def test_sweeps_group_under_their_method_and_the_budget_is_the_title(tmp_path):
    budget = {"kind": "images", "value": 20000}
    for opt, values in (("Adam", [40.0, 41.0]), ("AMM", [45.0, 47.0])):
        write_seeds(tmp_path, "slnp", values, sweep={"optimizer.type": opt}, budget=budget,
                    optimizer={**SLNP_OPTIMIZER, "type": opt}, compute=COMPUTE)
    write_seeds(tmp_path, "spade", [43.0, 44.0], budget=budget, compute=COMPUTE)
    write_seeds(tmp_path, "spade", [30.0, 31.0], compute=COMPUTE)  # the preset schedule: another block
    table = dataset_table(collect_runs(tmp_path), "synthetic", tmp_path)
    assert table.blocks[0].title.endswith(
        "; each method at its preset schedule (200 iterations each; no budget declared)")
    assert table.blocks[1].title.endswith("; budget: 20,000 training images per method")
    budgeted = table.blocks[1].rows
    assert list(budgeted["method"]) == ["SPADE", "SLNP-GAN (optimizer.type=AMM)", "SLNP-GAN (optimizer.type=Adam)"]
    assert list(budgeted["n_seeds"]) == [2, 2, 2] and set(budgeted["budget"]) == {"images=20000"}
    assert list(budgeted["sweep"])[1:] == ["optimizer.type=AMM", "optimizer.type=Adam"]
    # the preset-schedule SPADE (30.5) is not ranked against the budgeted rows
    assert table.blocks[0].rows["mIoU_rank"].tolist() == [1]


# -- figures ---------------------------------------------------------------------------------------------

def test_metric_bars_draw_the_intervals(tmp_path):
    write_seeds(tmp_path, "slnp", A)
    write_seeds(tmp_path, "spade", B)
    write_oracle(tmp_path, "synthetic", "synthetic-v1", {"mIoU": 90.0})
    table = dataset_table(collect_runs(tmp_path), "synthetic", tmp_path)
    fig, used = metric_bars(table, table.blocks[0])
    ax = fig.axes[0]
    caps = [c for c in ax.collections if c.get_segments()]
    spans = sorted(seg[1][1] - seg[0][1] for coll in caps for seg in coll.get_segments())
    assert spans == pytest.approx(sorted([2 * scipy_half_width(B), 2 * scipy_half_width(A)]), rel=1e-9)
    dots = [line for line in ax.lines if line.get_marker() == "o"]
    assert sorted(np.concatenate([d.get_ydata() for d in dots])) == sorted(A + B)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["SPADE\nn=3, rank 2", "SLNP-GAN\nn=3, rank 1"]
    assert len(used) == 7  # six seeds and the oracle


def curve(images: list[int], miou: list[float], fd: list[float], gflops: float = 3.25) -> pd.DataFrame:
    return pd.DataFrame({"stage": "main", "iteration": images, "images_seen": images,
                         "tflops": [i * gflops * 1e-3 for i in images], "mIoU": miou, "FD-seg": fd,
                         "protocol_id": "synthetic-v1"})


def test_learning_curves_mean_over_seeds_with_a_t_band(tmp_path):
    points = [10, 20]
    spade = [curve(points, [30.0, 50.0], [6.0, 4.0]), curve(points, [34.0, 52.0], [5.0, 4.5])]
    for seed, c in enumerate(spade):
        write_run(tmp_path, "synthetic", "spade", f"tiny-s{seed}", seed=seed, curve=c)
    write_run(tmp_path, "synthetic", "slnp", "tiny-s0", curve=curve(points, [45.0, 40.0], [3.0, 5.0]))
    fig, used = learning_curves(collect_training_runs(tmp_path), "synthetic", "synthetic-v1")
    assert len(used) == 3
    miou_images, miou_tflops, fd_images, _ = fig.axes  # rows: mIoU, FD-seg; columns: images, TFLOPs
    assert miou_images.get_ylabel() == "mIoU (higher is better)" and fd_images.get_ylabel().startswith("FD-seg")
    lines = {line.get_label(): line for line in miou_images.lines}
    assert set(lines) == {"Zhang et al. 2020, SLNP-GAN (1 seed)", "Park et al. 2019, SPADE (2 seeds)"}
    assert list(lines["Park et al. 2019, SPADE (2 seeds)"].get_ydata()) == [32.0, 51.0]
    assert list(lines["Zhang et al. 2020, SLNP-GAN (1 seed)"].get_ydata()) == [45.0, 40.0]  # the ranking flips: visible
    band = [c for c in miou_images.collections if isinstance(c, PolyCollection)]
    assert len(band) == 1  # only SPADE has several seeds
    ys = band[0].get_paths()[0].vertices[:, 1]
    half = scipy_half_width([30.0, 34.0])
    assert ys.min() == pytest.approx(32.0 - half) and ys.max() == pytest.approx(51.0 + scipy_half_width([50.0, 52.0]))
    assert list(miou_tflops.lines[0].get_xdata()) == pytest.approx([10 * 3.25e-3, 20 * 3.25e-3])
    assert miou_tflops.get_xscale() == "linear"  # both methods' compute within 20x
    write_run(tmp_path, "synthetic", "pix2pix", "tiny-s0", curve=curve(points, [20.0, 25.0], [9.0, 8.0], gflops=0.02))
    fig, _ = learning_curves(collect_training_runs(tmp_path), "synthetic", "synthetic-v1")
    assert fig.axes[1].get_xscale() == "log" and fig.axes[0].get_xscale() == "linear"


@pytest.mark.slow
def test_adam_vs_amm_from_a_sweep_draws_every_seed(tmp_path):
    for opt, level in (("Adam", 0.8), ("AMM", 0.5)):
        for seed in (0, 1):
            write_run(tmp_path, "synthetic", "slnp", f"tiny-{opt}-{seed}", seed=seed, sweep={"optimizer.type": opt},
                      optimizer={**SLNP_OPTIMIZER, "type": opt}, log_rows=30, d_level=level + 0.05 * seed)
    pairs = optimizer_pairs(collect_training_runs(tmp_path))
    assert len(pairs) == 1 and {k: len(v) for k, v in pairs[0].runs.items()} == {"Adam": 2, "AMM": 2}
    fig = optimizer_comparison(pairs[0])
    assert [ax.get_title() for ax in fig.axes] == ["(a) Adam (AMM, alpha = 0), 2 seeds", "(b) AMM, 2 seeds"]
    means = [line for line in fig.axes[1].lines if line.get_label() == "D_fake"]
    assert np.allclose(means[0].get_ydata(), 0.525)  # mean of the two seeds' constant D_fake
    summary = build_report(tmp_path)
    record = next(f for f in summary.figures if f.key == "adam_vs_amm_synthetic")
    assert "AMM's recurrence with alpha = 0 (the paper's Adam), not torch.optim.Adam" in record.caption
    assert len(record.runs) == 4


@pytest.fixture()
def published() -> pd.DataFrame:
    return load_published()


def test_set_variants_of_one_method_are_named_by_what_differs(tmp_path):
    iters = ["train.iters", 1000, 30]
    write_seeds(tmp_path, "slnp", [40.0, 41.0], overrides=[iters], tag="amm")
    write_seeds(tmp_path, "slnp", [30.0, 30.5], overrides=[["optimizer.type", "AMM", "Adam"], iters],
                optimizer={**SLNP_OPTIMIZER, "type": "Adam"}, tag="adam")
    table = dataset_table(collect_runs(tmp_path), "synthetic", tmp_path)
    rows = table.blocks[0].rows
    # train.iters is common to both: only the optimizer names them, the preset's value for the one that kept it
    assert sorted(rows["method"]) == ["SLNP-GAN (optimizer.type=AMM)", "SLNP-GAN (optimizer.type=Adam)"]
    assert sorted(rows["variant"]) == ['optimizer.type="Adam"; train.iters=30', "train.iters=30"]
    # the verdict says the difference first
    assert table.blocks[0].verdicts[0].startswith(
        "mIoU (higher is better): SLNP-GAN (optimizer.type=AMM) > SLNP-GAN (optimizer.type=Adam) on mIoU, p = ")
    # --iters replaced the preset's schedule: the title does not claim the preset's
    assert "each method at its own schedule (--iters)" in table.blocks[0].title
