"""The preset tables of docs/methods.md, generated from the configs so that they cannot drift from them.

``python -m methods.preset_tables --write`` rewrites, for every built-in method (a directory
``configs/<method>/`` holding ``<method>_tiny.py`` and ``<method>_paper.py``), the block of
docs/methods.md between ``<!-- BEGIN GENERATED presets:<method> -->`` and ``<!-- END GENERATED
presets:<method> -->``; ``--check`` exits 1 naming the stale blocks (tests/test_methods_docs.py runs it).

Decisions:

- each preset is resolved on one reference dataset: ``tiny`` on the embedded ``synthetic`` (the main
  job), ``paper`` on ADE20K (256 px, 150 classes: the dataset both SPADE's and SLNP-GAN's tables use);
- the table lists the method's keys whose values differ between the two presets (what the tiny preset
  changes), then the training keys that define the schedule (iterations, batch, epochs, stages, learning
  rate schedule) whether or not they differ; the data, evaluation and logging cadences are left out;
- parameter counts come from building each network on the ``meta`` device (no memory, no weights
  loaded); perceptual-loss weights are set to "random" for the count, since the VGG is not a trained
  network of the method and its ImageNet file may be absent;
- method-and-dataset files (``configs/<method>/<method>_<dataset>.py``) are named, not expanded.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from benchmark.config import CONFIG_ROOT, PRESETS, load_config
from benchmark.datasets import dataset_class
from benchmark.registry import METHODS
from benchmark.resources import source_checkout

#: docs/methods.md of the checkout (docs do not ship in the wheel: where SISBench runs as an installed wheel,
#: e.g. under tox, the checkout is the working directory)
DOC = (source_checkout() or Path.cwd()) / "docs" / "methods.md"
REFERENCE = {"tiny": "synthetic", "paper": "ade20k"}
#: top-level sections that are not the method's (data, evaluation, provenance, run bookkeeping)
NOT_METHOD = ("data", "eval", "run", "train", "budget", "seed", "method", "dataset", "preset", "_meta_")
#: training keys shown for every method: the schedule
SCHEDULE_KEYS = ("iters", "batch_size", "epochs", "stages", "lr_schedule")
BLOCK = re.compile(r"(<!-- BEGIN GENERATED presets:(?P<method>[\w-]+) -->\n)(?P<body>.*?)"
                   r"(<!-- END GENERATED presets:(?P=method) -->)", re.S)


def builtin_methods(root: Path = CONFIG_ROOT) -> list[str]:
    """Methods with a config directory holding both presets."""
    return sorted(d.name for d in root.iterdir()
                  if d.is_dir() and not d.name.startswith("_")
                  and all((d / f"{d.name}_{p}.py").is_file() for p in PRESETS))


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _resolved(method: str, preset: str) -> dict[str, Any]:
    return load_config(method, REFERENCE[preset], preset).to_dict()


def parameter_counts(method: str, cfg: Mapping[str, Any]) -> dict[str, int]:
    """Parameters of every network of ``method`` built from ``cfg`` on the meta device."""
    cfg = dict(cfg)
    if "vgg_weights" in cfg.get("loss", {}):
        cfg["loss"] = dict(cfg["loss"], vgg_weights="random")
    info = dataset_class(cfg["data"]).data_info(cfg["data"])
    with torch.device("meta"):
        built = METHODS.get(method)(cfg, info)
    return {name: sum(p.numel() for p in getattr(built, name).parameters()) for name in built.networks}


def _count(n: int) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k"


_MISSING = object()


def _cell(value: Any) -> str:
    if value is _MISSING:
        return "-"
    text = repr(value) if isinstance(value, str) else str(value)
    return text.replace("|", "\\|")


def render(method: str) -> str:
    """The generated block of ``method`` (without its marker lines)."""
    cfgs = {p: _resolved(method, p) for p in PRESETS}
    flat = {p: flatten({k: v for k, v in c.items() if k not in NOT_METHOD}) for p, c in cfgs.items()}
    sched = {p: flatten({k: c["train"][k] for k in SCHEDULE_KEYS if k in c["train"]}, "train.")
             for p, c in cfgs.items()}
    keys = sorted(set(flat["tiny"]) | set(flat["paper"]))
    rows = [k for k in keys if flat["tiny"].get(k, _MISSING) != flat["paper"].get(k, _MISSING)]
    rows_sched = sorted(k for k in set(sched["tiny"]) | set(sched["paper"])
                        if sched["tiny"].get(k, {}) != {} or sched["paper"].get(k, {}) != {})
    sizes = {p: "x".join(str(s) for s in dataset_class(c["data"]).data_info(c["data"]).image_size)
             for p, c in cfgs.items()}
    lines = ["Presets, generated from the configs by `python -m methods.preset_tables --write` (checked by "
             "tests/test_methods_docs.py): the keys the tiny preset changes, then the schedule.",
             "",
             f"| key | tiny ({REFERENCE['tiny']}, {sizes['tiny']}) | paper ({REFERENCE['paper']}, {sizes['paper']}) |",
             "|---|---|---|"]
    for k in rows:
        lines.append(f"| `{k}` | {_cell(flat['tiny'].get(k, _MISSING))} | {_cell(flat['paper'].get(k, _MISSING))} |")
    for k in rows_sched:
        lines.append(f"| `{k}` | {_cell(sched['tiny'].get(k, _MISSING))} | {_cell(sched['paper'].get(k, _MISSING))} |")
    lines.append("")
    for p in PRESETS:
        counts = parameter_counts(method, cfgs[p])
        listed = ", ".join(f"{name[3:] if name.startswith('net') else name} {_count(n)}"
                           for name, n in counts.items())
        lines.append(f"Parameters, {p} preset ({REFERENCE[p]}): {listed}.")
    extra = sorted(f.name for f in (CONFIG_ROOT / method).glob(f"{method}_*.py")
                   if f.stem.split("_", 1)[1] not in PRESETS)
    if extra:
        lines += ["", "Dataset-specific settings: " + ", ".join(f"`configs/{method}/{f}`" for f in extra) + "."]
    return "\n".join(lines) + "\n"


def update(text: str) -> tuple[str, list[str]]:
    """``text`` with every generated block re-rendered, and the methods whose block changed."""
    changed: list[str] = []

    def sub(match: re.Match) -> str:
        body = render(match["method"])
        if body != match["body"]:
            changed.append(match["method"])
        return match.group(1) + body + match.group(4)

    return BLOCK.sub(sub, text), changed


def missing_blocks(text: str) -> list[str]:
    present = {m["method"] for m in BLOCK.finditer(text)}
    return [m for m in builtin_methods() if m not in present]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help=f"rewrite the generated blocks of {DOC}")
    mode.add_argument("--check", action="store_true", help="exit 1 if a block is stale or missing")
    args = parser.parse_args(argv)
    text = DOC.read_text()
    new, changed = update(text)
    missing = missing_blocks(text)
    if args.write:
        if new != text:
            from benchmark.io import atomic_write_text

            atomic_write_text(DOC, new)
        print(f"rewrote the preset tables of {', '.join(changed) or 'no method'} in {DOC}")
    elif changed:
        print(f"{DOC}: the preset tables of {', '.join(changed)} differ from the configs; run "
              f"`python -m methods.preset_tables --write`", file=sys.stderr)
    if missing:
        print(f"{DOC} has no generated preset block for {', '.join(missing)}; add the lines "
              f"'<!-- BEGIN GENERATED presets:<method> -->' and '<!-- END GENERATED presets:<method> -->' "
              f"to its section and run `python -m methods.preset_tables --write`", file=sys.stderr)
    return 1 if missing or (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
