"""Seeds into verdicts: means, 95% intervals, ranks and one sentence per metric (scipy.stats throughout).

Decisions:

- an *entry* is one experiment under one protocol: the runs of one config group (the resolved config
  minus ``seed``, :func:`benchmark.results.config_group`) scored under one protocol key
  (:data:`benchmark.results.PROTOCOL_KEY`); finished and unfinished runs are separate entries. Its value
  per metric is the mean over its seeds;
- the interval is the half-width of the 95% Student t interval of that mean, ``t_{0.975, n-1} s / sqrt(n)``
  with ``s`` the sample standard deviation (ddof 1) over the seeds. With one seed there is nothing to
  spread over: the record's own ``ci95`` is used, a bootstrap over the evaluation images, which covers
  the evaluation sample only and not training noise; the table says which (``ci95_method``);
- entries are compared inside a *block*: same dataset, same protocol key, same declared budget; numbers
  of different blocks are never ranked against each other;
- two entries differ significantly on a metric when Welch's t-test over their seeds
  (``scipy.stats.ttest_ind(equal_var=False)``, two-sided) gives p < 0.05. No correction for multiple
  comparisons: each pair is one stated test, and the verdict prints every p-value;
- rank = 1 + the number of entries in the block that are significantly better (higher mIoU / accu /
  LPIPS, lower FID / FD-seg / KID). Entries no test separates share a rank; the rule needs no
  transitivity (A > B significant, B ~ C and A ~ C give A 1, B 2, C 1). An entry with fewer than two
  seeds has no rank and is left out of the tests (no t-test is possible);
- two entries whose seeds have zero variance and equal means are "identical"; zero variance with
  different means is a difference (scipy gives p = 0), as deterministic results are;
- the oracle row (real images) is shown but never ranked.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from benchmark.results import CI_SUFFIX, COMPUTE_KEYS, ORACLE, PROTOCOL_KEY

ALPHA = 0.05
#: +1: higher is better, -1: lower is better; metrics not listed are shown but never ranked
DIRECTIONS = {"mIoU": 1, "accu": 1, "LPIPS": 1, "FID": -1, "FID (unofficial weights)": -1, "FD-seg": -1, "KID": -1}
T_OVER_SEEDS = "t over seeds"
BOOTSTRAP = "bootstrap over images"
BLOCK_KEY = ("dataset", *PROTOCOL_KEY, "budget")


def t_half_width(values: Sequence[float]) -> float:
    """Half-width of the 95% Student t interval of the mean of ``values``; NaN with fewer than two."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if len(x) < 2:
        return math.nan
    return float(stats.t.ppf(1 - ALPHA / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test; NaN when a side has fewer than two values or both sides are
    constant and equal (nothing to test)."""
    a = [v for v in a if not math.isnan(v)]
    b = [v for v in b if not math.isnan(v)]
    if len(a) < 2 or len(b) < 2:
        return math.nan
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def block_id(row: pd.Series | dict[str, Any]) -> str:
    """The block a results row belongs to, as a JSON list of :data:`BLOCK_KEY`'s values."""
    return json.dumps([None if (isinstance(row[k], float) and math.isnan(row[k])) else row[k]
                       for k in BLOCK_KEY], default=str)


def _nanmean(values: Sequence[float]) -> float:
    x = [v for v in values if not math.isnan(v)]
    return float(np.mean(x)) if x else math.nan


def metric_columns(frame: pd.DataFrame, candidates: Sequence[str]) -> list[str]:
    """The metrics of ``candidates`` some row of ``frame`` measured, in that order."""
    return [m for m in candidates if m in frame and frame[m].notna().any()]


def aggregate(results: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per entry (config group x protocol key x budget) of a :func:`benchmark.results.collect_runs`
    frame: ``n_seeds``, ``seeds``, for every metric its mean (column ``M``), interval (``M_ci95``) and
    per-seed values (``M_values``), ``ci95_method``, mean cost columns, and the runs behind it
    (``run_ids``, ``run_dirs``, seed order). Oracle rows stay one entry each."""
    columns = ["block", "kind", "dataset", "method", "group", "sweep", "budget", "overrides", "modified",
               "override_pairs", "preset", "status",
               "finished", *PROTOCOL_KEY, "n_seeds", "seeds", *[c for m in metrics for c in
                                                                (m, f"{m}{CI_SUFFIX}", f"{m}_values")],
               "ci95_method", *COMPUTE_KEYS, "peak_mem_kind", "hardware", "run_ids", "run_dirs"]
    if results.empty:
        return pd.DataFrame(columns=columns)
    frame = results.assign(block=[block_id(r) for _, r in results.iterrows()],
                           _finished=results["status"].fillna("") == "finished")
    entries = []
    keys = ["block", "method", "group", "_finished"]  # an unfinished run is never averaged with finished ones
    for _, runs in frame.groupby(keys, sort=False, dropna=False):
        runs = runs.sort_values(["seed", "run_id"], na_position="last", kind="stable")
        first = runs.iloc[0]
        n = len(runs)
        entry: dict[str, Any] = {k: first[k] for k in ("block", "kind", "dataset", "method", "group", "sweep",
                                                       "budget", "overrides", "modified", "override_pairs", "preset",
                                                       *PROTOCOL_KEY)}
        entry["status"] = "finished" if (runs["status"] == "finished").all() else first["status"]
        entry["finished"] = max((f for f in runs["finished"] if isinstance(f, str)), default=None)
        oracle = first["method"] == ORACLE
        entry["n_seeds"] = math.nan if oracle else n
        entry["seeds"] = "" if oracle else ", ".join(str(int(s)) for s in runs["seed"].dropna())
        methods = set()
        for m in metrics:
            values = [float(v) for v in runs[m]]
            entry[m] = _nanmean(values)
            entry[f"{m}_values"] = tuple(values)
            if n >= 2:
                entry[f"{m}{CI_SUFFIX}"] = t_half_width(values)
                methods.add(T_OVER_SEEDS)
            else:
                boot = first.get(f"{m}{CI_SUFFIX}", math.nan)
                entry[f"{m}{CI_SUFFIX}"] = float(boot) if pd.notna(boot) else math.nan
                if pd.notna(boot):
                    methods.add(f"{BOOTSTRAP}" + (f" ({first['ci95_method']})" if first.get("ci95_method")
                                                  else ""))
        entry["ci95_method"] = "; ".join(sorted(methods))
        for key in COMPUTE_KEYS:
            entry[key] = _nanmean([float(v) for v in runs[key]])
        entry["peak_mem_kind"] = next((k for k in runs["peak_mem_kind"] if isinstance(k, str)), None)
        entry["hardware"] = "; ".join(dict.fromkeys(h for h in runs["hardware"] if isinstance(h, str) and h))
        entry["run_ids"] = tuple(runs["run_id"])
        entry["run_dirs"] = tuple(runs["run_dir"])
        entries.append(entry)
    return pd.DataFrame(entries, columns=columns)


def _better(a: float, b: float, direction: int) -> bool:
    return (a - b) * direction > 0


def ranks(block: pd.DataFrame, metric: str) -> pd.Series:
    """The rank of every entry of one block on ``metric`` (see the module docstring; NA for the oracle,
    entries with fewer than two seeds, metrics without a direction or not measured)."""
    out = pd.Series(pd.NA, index=block.index, dtype="Int64")
    direction = DIRECTIONS.get(metric)
    if direction is None:
        return out
    ranked = [i for i in block.index if block.at[i, "method"] != ORACLE and block.at[i, "n_seeds"] >= 2
              and not math.isnan(block.at[i, metric])]
    for i in ranked:
        beaten_by = 0
        for j in ranked:
            if j == i or not _better(block.at[j, metric], block.at[i, metric], direction):
                continue
            if welch_p(block.at[i, f"{metric}_values"], block.at[j, f"{metric}_values"]) < ALPHA:
                beaten_by += 1
        out[i] = 1 + beaten_by
    return out


def format_p(p: float) -> str:
    """``p = 0.012`` (two significant digits) or ``p < 0.001``."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def _seeds_phrase(na: int, nb: int) -> str:
    return f"{na} seeds" if na == nb else f"{na} and {nb} seeds"


def verdict(block: pd.DataFrame, metric: str, labels: pd.Series) -> str:
    """One line on ``metric`` for one block: every pair of ranked entries, best mean first, as
    ``A > B on M, p = ...`` (``>`` reads "better than"; these first) or ``A and B are not distinguishable
    on M with n seeds (p = ...)``; entries with one seed are named as untestable."""
    direction = DIRECTIONS.get(metric)
    measured = block[(block["method"] != ORACLE) & block[metric].notna()]
    name = metric if direction is None else f"{metric} ({'higher' if direction > 0 else 'lower'} is better)"
    if direction is None:
        return f"{name}: no direction is defined for this metric, so no ranking"
    if len(measured) < 2:
        return f"{name}: fewer than two entries measured it; nothing to compare"
    order = measured.sort_values(metric, ascending=direction < 0, kind="stable").index
    testable = [i for i in order if measured.at[i, "n_seeds"] >= 2]
    single = [i for i in order if measured.at[i, "n_seeds"] < 2]
    clauses, ties = [], []  # the differences first, then the pairs no test separates
    for k, i in enumerate(testable):
        for j in testable[k + 1:]:
            a, b = measured.at[i, f"{metric}_values"], measured.at[j, f"{metric}_values"]
            p = welch_p(a, b)
            seeds = _seeds_phrase(int(measured.at[i, "n_seeds"]), int(measured.at[j, "n_seeds"]))
            if math.isnan(p):
                ties.append(f"{labels[i]} and {labels[j]} are identical on {metric} over {seeds}")
            elif p < ALPHA:
                clauses.append(f"{labels[i]} > {labels[j]} on {metric}, {format_p(p)}")
            else:
                ties.append(f"{labels[i]} and {labels[j]} are not distinguishable on {metric} with {seeds} "
                            f"({format_p(p)})")
    clauses += ties
    if single:
        names = ", ".join(str(labels[i]) for i in single)
        clauses.append(f"{names}: one seed, so no test is possible (train more seeds with --seeds)")
    return f"{name}: " + "; ".join(clauses)
