"""``python -m benchmark``: list, config, train, generate, run, evaluate, report, data, segmenter, bench."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmark import evaluation
from benchmark.user_error import UserError

DEFAULT_OUT = Path("results")


class CLIError(UserError):
    """A user error: printed as one sentence, exit status 2."""


# -- helpers -----------------------------------------------------------------------------------------

def _registry_names(kind: str) -> list[str]:
    from benchmark import registry

    return getattr(registry, kind).names()


def _check_name(kind: str, name: str) -> str:
    from benchmark import registry

    reg = getattr(registry, kind)
    if name not in reg:
        label = reg.kind
        raise CLIError(f"unknown {label} {name!r}; valid {label}s: {', '.join(reg.names())}")
    return name


def _methods_arg(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise CLIError("--methods is empty; give a comma-separated list such as spade,slnp")
    return [_check_name("METHODS", n) for n in names]


def _data_config(args: argparse.Namespace, root: Path | None) -> dict:
    """The ``data`` section of ``--dataset`` at ``--preset`` with ``--set data.*`` and the root applied."""
    from benchmark.config import load_data_config

    _check_name("DATASETS", args.dataset)
    overrides = list(args.set or [])
    if root:
        overrides.append(f"data.root={str(root)!r}")
    return load_data_config(args.dataset, args.preset, overrides, config_dirs=getattr(args, "config_dir", None) or ())


#: options that must be whole numbers >= 1 (flag -> attribute); checked before any command runs
POSITIVE_OPTIONS = {"--iters": "iters", "--stop-after": "stop_after", "--num-images": "num_images",
                    "--eval-every": "eval_every", "--num-samples": "num_samples",
                    "--jobs": "jobs"}


def _check_counts(args: argparse.Namespace) -> None:
    for flag, attr in POSITIVE_OPTIONS.items():
        value = getattr(args, attr, None)
        if value is not None and value < 1:
            raise CLIError(f"{flag} must be a positive whole number, got {value}")
    seed = getattr(args, "seed", None)
    if seed is not None and seed < 0:
        raise CLIError(f"--seed must be a whole number >= 0, got {seed}")


def _option_keys(args: argparse.Namespace) -> dict[str, str]:
    """Config keys the command line sets through options other than --sweep (key -> option)."""
    keys = {}
    for item in args.set or []:
        keys[item.split("=", 1)[0].strip()] = "--set"
    if getattr(args, "iters", None) is not None:
        keys["train.iters"] = "--iters"
    if getattr(args, "amp", None):
        keys["train.amp"] = "--amp"
    if getattr(args, "data_root", None):
        keys["data.root"] = "--data-root"
    if getattr(args, "seed", None) is not None or getattr(args, "seeds", None) is not None:
        keys["seed"] = "--seed/--seeds"
    return keys


#: commands whose configs train: their batch size is checked against the training split while resolving
TRAINING_COMMANDS = ("train", "run", "bench")


def _config(args: argparse.Namespace, method: str, *, seed: int | None = None, extra: Sequence[str] = ()):
    """The resolved config of ``method`` from the command line; ``seed`` (else ``--seed``) and ``extra``
    overrides (a sweep's values) come last."""
    from benchmark.config import load_config

    _check_name("DATASETS", args.dataset)
    overrides = list(args.set or [])
    if getattr(args, "iters", None) is not None:
        overrides.append(f"train.iters={args.iters}")
    if getattr(args, "amp", None):
        overrides.append(f"train.amp={args.amp!r}")
    if getattr(args, "data_root", None):
        overrides.append(f"data.root={str(args.data_root)!r}")
    seed = getattr(args, "seed", None) if seed is None else seed
    if seed is not None:
        overrides.append(f"seed={seed}")
    cfg = load_config(method, args.dataset, args.preset, [*overrides, *extra], extra_files=args.config or (),
                      config_dirs=getattr(args, "config_dir", None) or ())
    if getattr(args, "iters", None) is not None:
        # --iters applies to every stage of a multi-stage method
        for stage in cfg["train"].get("stages", {}).values():
            if isinstance(stage, dict) and "iters" in stage:
                stage["iters"] = min(stage["iters"], args.iters)
    if "budget" not in cfg:  # the training budget is part of every config (and its hash); none by default
        cfg["budget"] = None
    from benchmark.validate import check_config

    # every --set type, the schedule, --amp and --device, before anything is built or written
    check_config(cfg, device=getattr(args, "device", None))
    if getattr(args, "command", None) in TRAINING_COMMANDS:  # and the batch against the training split
        from benchmark.pipeline import checked_dataset

        train_images = len(checked_dataset(cfg["data"], "train", train=True))
        check_config(cfg, device=getattr(args, "device", None), split_sizes={"train": train_images})
    return cfg


def _add_config_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config-dir", action="append", type=Path, metavar="DIR",
                   help="a directory of configs searched after the built-in and plugin ones, a later one winning "
                        "(repeatable; also $SISBENCH_CONFIG_PATH); see `config` for where each file came from")


def _seeds_arg(args: argparse.Namespace) -> list[int] | None:
    """``--seeds 0,1,2`` as a list (None when neither --seeds nor --seed is given)."""
    if args.seeds is None:
        return None if args.seed is None else [args.seed]
    if args.seed is not None:
        raise CLIError("--seed and --seeds both choose the seeds; give one of them")
    items = [t.strip() for t in args.seeds.split(",")]
    if not any(items):
        raise CLIError("--seeds is empty; give comma-separated whole numbers such as --seeds 0,1,2")
    seeds = []
    for item in items:
        try:
            seed = int(item)
        except ValueError:
            raise CLIError(f"--seeds {args.seeds!r}: {item!r} is not a whole number; give e.g. --seeds 0,1,2") \
                from None
        if seed < 0:
            raise CLIError(f"--seeds {args.seeds!r}: seeds must be >= 0, got {seed}")
        if seed in seeds:
            raise CLIError(f"--seeds {args.seeds!r} names seed {seed} twice; each seed is one run")
        seeds.append(seed)
    return seeds


def _split_values(text: str) -> list[str]:
    """``"a,b"`` -> ``["a", "b"]``; commas inside brackets or quotes stay (``"[1,2],[3,4]"`` is two values)."""
    parts, current, depth, quote = [], "", 0, None
    for ch in text:
        if quote is None and ch == ",":
            if depth == 0:
                parts.append(current.strip())
                current = ""
                continue
        elif quote is None and ch in "'\"":
            quote = ch
        elif ch == quote:
            quote = None
        elif quote is None and ch in "([{":
            depth += 1
        elif quote is None and ch in ")]}":
            depth -= 1
        current += ch
    parts.append(current.strip())
    return parts


def _sweep_args(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """``--sweep KEY=V1,V2`` (repeatable) as ``[(key, [value text, ...])]``; values parse like ``--set``."""
    from benchmark.config import parse_override

    sweeps: list[tuple[str, list[str]]] = []
    taken = _option_keys(args)
    for item in args.sweep or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CLIError(f"--sweep {item!r} is not of the form KEY=V1,V2,... (e.g. --sweep optimizer.type=Adam,AMM)")
        values = _split_values(raw)
        if not all(values):
            raise CLIError(f"--sweep {item!r} has an empty value; give KEY=V1,V2,... (e.g. --sweep "
                           f"optimizer.type=Adam,AMM)")
        parsed = [repr(parse_override(f"{key}={v}")[1]) for v in values]
        if len(set(parsed)) != len(parsed):
            raise CLIError(f"--sweep {item!r} names a value twice; each value is one run")
        if key == "seed":
            raise CLIError("--sweep seed: give the seeds with --seeds (e.g. --seeds 0,1,2); every other key "
                           "can be swept")
        if key in taken:
            raise CLIError(f"--sweep {key} and {taken[key]} both set {key}; give it with one of them")
        if key in dict(sweeps):
            raise CLIError(f"--sweep {key} is given twice; list all its values in one --sweep {key}=V1,V2,...")
        if key == "budget" or key.startswith("budget."):
            raise CLIError("--sweep cannot set the budget; run once per --budget")
        sweeps.append((key, values))
    return sweeps


def _plan_request(args: argparse.Namespace, names: list[str], seeds: list[int] | None,
                  sweeps: list[tuple[str, list[str]]], budget: Any = None) -> Any:
    """What ``run`` asks for as :class:`benchmark.experiment.plan.PlanRequest` (configs resolve like ``train``'s)."""
    from benchmark.experiment.plan import PlanRequest

    return PlanRequest(methods=names, dataset=args.dataset, seeds=seeds, sweeps=sweeps, budget=budget,
                       resolve=lambda name, seed, extra: _config(args, name, seed=seed, extra=extra),
                       show_seed=seeds is not None and len(seeds) > 1, device=args.device, check=False)


def _add_common(p: argparse.ArgumentParser, *, method: bool = True, methods: bool = False) -> None:
    if method:
        p.add_argument("--method", required=True, help="method name (see `list`)")
    if methods:
        p.add_argument("--methods", required=True, type=str, help="comma-separated method names")
    p.add_argument("--dataset", default="synthetic", help="dataset name (see `list`); default: synthetic")
    p.add_argument("--preset", default="tiny", choices=("tiny", "paper"),
                   help="tiny: CPU-sized (default); paper: the published architecture and schedule")
    p.add_argument("--config", action="append", type=Path, metavar="FILE",
                   help="an extra config file merged after the preset's (repeatable), e.g. a variant; a path, "
                        "or a path in the config tree such as pix2pixhd/variants/pix2pixhd_cityscapes_1024p.py")
    _add_config_dir(p)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one config key (repeatable)")
    p.add_argument("--data-root", type=Path, help="dataset root directory (sets data.root)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output root (default: results/)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--seed", type=int, default=None, help="random seed (sets seed)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


# -- commands ----------------------------------------------------------------------------------------

def cmd_list(args: argparse.Namespace) -> int:
    from benchmark import registry
    from benchmark.config import config_search_path, missing_preset

    registry.load_builtins()
    search = config_search_path(args.config_dir or ())
    for title, reg in (("methods", registry.METHODS), ("datasets", registry.DATASETS),
                       ("metrics", registry.METRICS), ("protocols", registry.PROTOCOLS)):
        print(f"{title}:")
        entries = reg.entries()
        width = max((len(e.name) for e in entries), default=0)
        for e in entries:
            src = "" if e.source == "built-in" else f"  [{e.source}]"
            print(f"  {e.name:<{width}}  {e.description}{src}")
            if reg is registry.METHODS and (why := missing_preset(e.name, search)):
                print(f"  {'':<{width}}  ! {why}")
        if not entries:
            print("  (none)")
    print("config search path (a later layer wins for a file of the same relative path):")
    for i, layer in enumerate(search.layers, 1):
        origin = f"  [{layer.origin}]" if layer.origin else ""
        print(f"  {i}. {layer}{origin}")
    for rel, winner, replaced in search.shadowed():
        print(f"  {rel}: {winner.label} replaces {', '.join(layer.label for layer in replaced)}")
    problems = {**registry.PLUGIN_ERRORS, **search.problems}
    if problems:
        print("plugins that failed to load:")
        for source, err in problems.items():
            print(f"  {source}: {err}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from mmengine.config import Config

    from benchmark.config import format_provenance, to_plain

    cfg = _config(args, _check_name("METHODS", args.method))
    # the provenance as comments: the output stays a valid config file
    print("\n".join(f"# {line}" for line in format_provenance(cfg)))
    print(Config(to_plain(cfg)).pretty_text)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from benchmark.pipeline import train_run

    cfg = _config(args, _check_name("METHODS", args.method))
    outcome = train_run(cfg, args.out, resume=args.resume, device=args.device, argv=sys.argv,
                        progress=not args.no_progress, stop_after=args.stop_after)
    if outcome.reused:
        print(f"{args.method}: reusing the finished run {outcome.run_dir} (same config hash)")
    elif not outcome.completed:
        print(f"{args.method}: stopped after {args.stop_after} iterations; continue with --resume "
              f"-> {outcome.run_dir}")
    else:
        print(f"{args.method}: trained in {outcome.seconds:.1f} s -> {outcome.run_dir}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from benchmark import pipeline
    from benchmark.validate import check_checkpoint_path, check_official_loader

    method_name = _check_name("METHODS", args.method)
    check_checkpoint_path(Path(args.checkpoint or args.official_checkpoint), official=bool(args.official_checkpoint))
    if args.official_checkpoint:
        check_official_loader(method_name)
    cfg = _config(args, method_name)
    if args.official_checkpoint:
        from benchmark.datasets import dataset_info
        from benchmark.registry import METHODS

        info = dataset_info(cfg["data"])
        method = METHODS.get(method_name).from_official(str(args.official_checkpoint), cfg, info)
        method = method.to(pipeline.pick_device(args.device, pipeline.DistInfo())).eval()
    else:
        ckpt_path = Path(args.checkpoint)
        if (ckpt_path / "config.json").is_file():
            method, cfg, _ = pipeline.load_trained(ckpt_path, args.device)
        else:
            method, _ = pipeline.load_method_from_weights(cfg, ckpt_path, args.device)
    style = None
    if args.style:
        from benchmark.style import load_style_image

        style = load_style_image(args.style, cfg["data"])
    t0 = time.time()
    try:
        n = pipeline.generate_split(method, cfg, args.out, split=args.split, num_images=args.num_images,
                                    num_samples=args.num_samples, style=style, progress=not args.no_progress)
    except ValueError as exc:
        if style is None:
            raise
        # the method's own sentence, e.g. "SLNP-GAN has no style input; vary z for different images"
        raise CLIError(f"--style {args.style}: {exc}") from exc
    if args.save_attention:
        if not hasattr(method, "attention_maps"):
            raise CLIError(f"--save-attention: method {method_name!r} has no attention maps")
        from benchmark.attention import save_attention

        save_attention(method, cfg, args.out.with_name(args.out.name + "_attention"), num_images=args.num_images or 8)
    print(f"wrote {n} images to {args.out} in {time.time() - t0:.1f} s")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from benchmark.compute import Budget
    from benchmark.experiment.collect import collect
    from benchmark.experiment.execute import FAILED, PENDING
    from benchmark.experiment.executors import get_executor
    from benchmark.experiment.plan import RunOptions, format_plan, make_plan

    names = _methods_arg(args.methods)
    seeds = _seeds_arg(args)
    sweeps = _sweep_args(args)
    budget = Budget.parse(args.budget) if args.budget else None
    if budget is not None and args.iters is not None:
        raise CLIError("--budget and --iters both set how long to train; give one of them")
    if args.jobs is not None and args.executor == "inline":
        raise CLIError(f"--jobs {args.jobs} runs several runs at once: give it with --executor local (inline "
                       f"runs one at a time)")
    executor = get_executor(args.executor, **{k: v for k, v in vars(args).items() if k != "func"})
    options = RunOptions(out=args.out, protocol=evaluation.protocol_id(args.dataset, args.protocol),
                         device=args.device, num_images=args.num_images,
                         inception_weights=args.inception_weights, segmenter_checkpoint=args.segmenter_checkpoint,
                         lpips_weights=args.lpips_weights, progress=not args.no_progress,
                         threads=executor.threads_per_run(),
                         curve={"every": args.eval_every} if args.eval_every else None, argv=list(sys.argv),
                         executor=executor.describe(), seed=seeds[0] if seeds else None, wait=not args.no_wait)
    # every check that can refuse the command happens here, before anything trains or is written
    plan = make_plan(_plan_request(args, names, seeds, sweeps, budget), options)
    if args.dry_run:
        print(format_plan(plan))
        return 0
    executor.check(plan, options)
    if len(plan) > 1:
        print(f"[run] {len(plan)} runs: " + "; ".join(p.label for p in plan))
    results = executor.run(plan, options)
    collect(args.out, args.dataset, options, plan)
    failed = [r for r in results if r.status == FAILED]
    pending = [r for r in results if r.status == PENDING]
    for r in pending:
        print(f"[{r.label}] pending ({r.run_id}): {r.message}")
    for r in failed:
        print(f"[{r.label}] failed ({r.run_id}): {r.message}" + (f" (log: {r.log})" if r.log else ""),
              file=sys.stderr)
    if failed:
        print(f"error: {len(failed)} of {len(results)} runs failed ({', '.join(r.label for r in failed)}); "
              f"see each run's log above", file=sys.stderr)
        return 1
    return 0


def _eval_options(args: argparse.Namespace, seed: int | None = None) -> dict:
    """The evaluation harness's options; ``seed``: the run's (else ``--seed``)."""
    return {"device": args.device, "inception_weights": args.inception_weights,
            "segmenter_checkpoint": args.segmenter_checkpoint, "num_images": args.num_images,
            "seed": args.seed if seed is None else seed, "lpips_weights": args.lpips_weights}


def _report(out: Path, dataset: str | None) -> None:
    from benchmark.experiment.collect import report

    report(out, dataset)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from benchmark import pipeline, runs
    from benchmark.config import to_plain
    from benchmark.validate import check_checkpoint_path, check_official_loader

    _check_name("DATASETS", args.dataset)
    if args.num_images is not None and args.num_images < 2:
        raise CLIError(f"--num-images {args.num_images}: the metrics need at least 2 evaluation images; give "
                       f"--num-images 2 or more, or leave it out to score the protocol's whole split")
    options = _eval_options(args)
    if args.name and not args.images:
        raise CLIError("--name names a folder of external images; give it with --images DIR")
    if args.images:
        return _evaluate_images(args, options)
    source = Path(args.checkpoint or args.official_checkpoint)
    method = None  # built here from a weights file (official or ours); else the run's own, loaded when needed
    check_checkpoint_path(source, official=bool(args.official_checkpoint))
    if args.checkpoint and (source / "config.json").is_file():
        run_dir = source
    else:
        if not args.method:
            raise CLIError("--method is needed with a checkpoint file (which method's networks it holds)")
        if args.official_checkpoint:
            check_official_loader(_check_name("METHODS", args.method))
        cfg = _config(args, _check_name("METHODS", args.method))
        if source.is_dir():  # a checkpoints/ folder (or a directory holding one) without the run's config.json
            from benchmark.checkpoint import resolve_weights

            source = resolve_weights(source)
        if args.official_checkpoint:
            from benchmark.datasets import dataset_info
            from benchmark.registry import METHODS

            info = dataset_info(cfg["data"])
            method = METHODS.get(args.method).from_official(str(source), cfg, info)
            method = method.to(pipeline.pick_device(args.device, pipeline.DistInfo())).eval()
            kind = "official"
        else:
            method, _ = pipeline.load_method_from_weights(cfg, source, args.device)
            kind = "checkpoint"
        run_dir = evaluation.official_run_dir(args.out, args.dataset, args.method, source)
        run_dir = run_dir.with_name(run_dir.name.replace("official", kind))
        run_dir.mkdir(parents=True, exist_ok=True)
        from benchmark.io import atomic_write_json

        atomic_write_json(run_dir / "config.json", to_plain(cfg))
        runs.update_manifest(run_dir, kind=kind, method=args.method, dataset=args.dataset, preset=cfg["preset"],
                             checkpoint=str(source.resolve()), status="finished",
                             versions=runs.library_versions(),
                             hardware=runs.hardware(pipeline.pick_device(args.device, pipeline.DistInfo())))
        if not (run_dir / "images").is_dir():
            n = pipeline.generate_split(method, cfg, run_dir / "images", num_images=args.num_images,
                                        progress=not args.no_progress)
            print(f"generated {n} images -> {run_dir / 'images'}")
    if not (run_dir / "images").is_dir():
        method, cfg_run, _ = pipeline.load_trained(run_dir, args.device)
        pipeline.generate_split(method, cfg_run, run_dir / "images", num_images=args.num_images,
                                progress=not args.no_progress)
    record = evaluation.evaluate_run(run_dir, protocol=args.protocol, method=method, **options)
    print(evaluation.format_record(record))
    if args.oracle:
        cfg_run = runs.load_run_config(run_dir)
        oracle = evaluation.evaluate_oracle(args.out, cfg_run["data"], args.dataset, protocol=args.protocol,
                                            **options)
        print(evaluation.format_record(oracle))
    return 0


def _evaluate_images(args: argparse.Namespace, options: dict) -> int:
    """``evaluate --images DIR [--name NAME]``: a folder of images made elsewhere, under the dataset's protocol;
    with --name a run of its own (a row of the tables and the report), else a record beside the folder."""
    data_cfg = _data_config(args, args.data_root)
    if args.name:
        record, path = evaluation.evaluate_external(args.images, data_cfg, args.dataset, args.name, args.out,
                                                    protocol=args.protocol, preset=args.preset, **options)
        print(evaluation.format_record(record))
        print(f"wrote {path} (external images from {args.images}, seed {_runs_seed(path)}); "
              f"`python -m benchmark report --out {args.out}` shows them beside the trained methods")
        return 0
    record, path = evaluation.evaluate_folder(args.images, data_cfg, args.dataset, protocol=args.protocol, **options)
    print(evaluation.format_record(record))
    print(f"wrote {path} (no table reads it: add --name NAME to file the folder as a run of its own)")
    return 0


def _runs_seed(metrics_file: Path) -> object:
    from benchmark import runs

    return runs.read_manifest(metrics_file.parent).get("seed")


def cmd_report(args: argparse.Namespace) -> int:
    from benchmark.experiment.jobs import pending_report

    if args.export_presets is not None:  # checked before the report writes anything
        from benchmark.report.presets_export import read_records

        read_records(args.export_presets)
    _report(args.out, None)
    if args.export_presets is not None:
        from benchmark.report.presets_doc import write_measured
        from benchmark.report.presets_export import describe, export_presets, measured_rows

        records = export_presets(args.out, args.export_presets)
        print(describe(records, args.export_presets, len(measured_rows(args.out))))
        doc = args.export_presets.with_name("presets.md")
        if write_measured(doc, records):
            print(f"rewrote the measured table of {doc}")
    for line in pending_report(args.out):  # submitted cluster jobs not finished yet, or failed, with their logs
        print(line)
    return 0


def cmd_segmenter(args: argparse.Namespace) -> int:
    from metrics.segmenters.train import (
        WEAK_ORACLE_MIOU,
        compare_with_shipped,
        format_comparison,
        oracle_warning,
        shipped_checkpoint,
        train_for_protocol,
    )

    for flag, value in (("--iters", args.iters), ("--batch-size", args.batch_size), ("--crop", args.crop)):
        if value is not None and value < 1:
            raise CLIError(f"{flag} must be a positive whole number, got {value}")
    data_cfg = _data_config(args, args.data_root)
    pid = evaluation.protocol_id(args.dataset, args.protocol)
    _check_protocol_dataset(pid, data_cfg)
    t0 = time.time()
    try:
        weights = train_for_protocol(pid, data_cfg, cache_dir=evaluation.cache_root(), device=args.device or "cpu",
                                     progress=not args.no_progress, iters=args.iters, batch_size=args.batch_size,
                                     crop=args.crop)
    except ValueError as exc:
        raise CLIError(f"segmenter train --protocol {pid}: {exc}") from exc
    record = json.loads(weights.with_name("segmenter.json").read_text())
    training = record["training"]
    batch = record.get("batch_size_used", training["batch_size"])
    capped = f" (capped at the {record['train_images']} training images)" if batch < training["batch_size"] else ""
    print(f"segmenter for {pid}: {weights} (sha256 {record['sha256'][:12]}), {training['iters']} iterations, "
          f"batch {batch}{capped}" + (f", crop {training['crop']}" if training.get("crop") else "")
          + f", {record.get('train_seconds', 0):.0f} s training ({time.time() - t0:.0f} s in all)")
    if record.get("val_mIoU") is None:
        print(f"oracle: not measured ({record.get('oracle_reason', 'no real validation images')})")
    else:
        warning = oracle_warning(record["val_mIoU"])
        print(f"oracle (its real-image val mIoU, the ceiling of every method's mIoU under {pid}): "
              f"mIoU {100 * record['val_mIoU']:.1f}, accu {100 * record['val_accu']:.1f}"
              + ("" if warning else f" (at least {WEAK_ORACLE_MIOU:.0f}: strong enough to rank methods)"))
        if warning is not None:
            print(warning)
    shipped = shipped_checkpoint(pid)
    if shipped is not None:  # the protocol evaluates with the network SISBench ships: how close is this copy?
        print(format_comparison(compare_with_shipped(weights, shipped, data_cfg, device=args.device or "cpu")))
    else:
        print(f"evaluation under {pid} now uses this segmenter; its sha256 is recorded with every score")
    return 0


def _check_protocol_dataset(pid: str, data_cfg: dict) -> None:
    """Refuse a protocol of another dataset in one sentence."""
    from metrics.protocols import get_protocol

    wanted = get_protocol(pid).dataset
    if wanted != data_cfg.get("type"):
        raise CLIError(f"protocol {pid} is for dataset {wanted!r}, not {data_cfg.get('type')!r}; pick one of the "
                       f"dataset's protocols (see `list`)")


def cmd_data(args: argparse.Namespace) -> int:
    from benchmark.datasets.check import DataCheckError, check_dataset

    data_cfg = _data_config(args, args.root)
    report = check_dataset(data_cfg)
    if report.fatal:  # no root, no known layout, a split missing: a one-sentence user error, not a report
        raise DataCheckError(report.fatal, report.dataset)
    print(report.format())
    return 0 if report.ok else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from benchmark.bench import bench_metrics, run_bench

    names = _methods_arg(args.methods)
    if args.steps < 1 or args.warmup < 0:
        raise CLIError(f"--steps must be at least 1 and --warmup at least 0, got {args.steps} and {args.warmup}")
    configs = {m: _config(args, m) for m in names}
    protocol = None if args.no_metrics else evaluation.protocol_id(args.dataset, args.protocol)
    if protocol is not None:
        from metrics.protocols import get_protocol

        if get_protocol(protocol).dataset != args.dataset:
            raise CLIError(f"protocol {protocol} is for dataset {get_protocol(protocol).dataset!r}, "
                           f"not {args.dataset!r}; pick one of the dataset's protocols (see `list`)")
    path = run_bench(configs, args.out, steps=args.steps, warmup=args.warmup, device=args.device)
    print(f"wrote {path}")
    if protocol is not None:
        path = bench_metrics(protocol, configs[names[0]]["data"], args.out, device=args.device,
                             cache_dir=evaluation.cache_root(), inception_weights=args.inception_weights,
                             segmenter_checkpoint=args.segmenter_checkpoint)
        print(f"wrote {path}")
    return 0


# -- parser ------------------------------------------------------------------------------------------

def _add_eval_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--protocol", default=None, help="evaluation protocol id (default: the dataset's; see `list`)")
    p.add_argument("--inception-weights", type=Path, default=None,
                   help="local Inception weights for FID (torch-fidelity's weights-inception-2015-12-05-6726825d.pth)")
    p.add_argument("--segmenter-checkpoint", type=Path, default=None,
                   help="local checkpoint of the protocol's segmentation network")
    p.add_argument("--lpips-weights", type=Path, default=None,
                   help="local LPIPS backbone weights (torchvision's alexnet-owt-7be5be79.pth) for LPIPS diversity")


def _add_slurm_options(p: argparse.ArgumentParser) -> None:
    """The options of ``run --executor slurm`` (benchmark.experiment.executors.slurm)."""
    g = p.add_argument_group("--executor slurm", "one SLURM job array per command, one run per task (submitit)")
    g.add_argument("--partition", default=None, help="the SLURM partition (default: the cluster's default one)")
    g.add_argument("--gpus-per-run", type=int, default=0, metavar="N",
                   help="GPUs per run (default 0); a run on N > 1 GPUs is one DDP job of N tasks (see --tasks-per-run)")
    g.add_argument("--cpus-per-run", type=int, default=1, metavar="N",
                   help="CPU cores per run (default 1), divided between its tasks; a CPU run trains with as many "
                        "threads, recorded in its run id")
    g.add_argument("--tasks-per-run", type=int, default=None, metavar="N",
                   help="processes per run, one DDP job (default: one per GPU, else 1); e.g. 2 on CPU for gloo DDP")
    g.add_argument("--mem-per-run", type=float, default=None, metavar="GB",
                   help="memory per run in GB (default: the partition's default)")
    g.add_argument("--time-limit", type=int, default=60, metavar="MIN",
                   help="time limit per job in minutes (default 60); a run that reaches it checkpoints, is "
                        "requeued and resumes where it stopped")
    g.add_argument("--array-parallelism", type=int, default=None, metavar="N",
                   help="at most N tasks of the array at once (default: all)")
    g.add_argument("--sbatch", action="append", default=None, metavar="KEY=VALUE",
                   help="any other sbatch parameter, passed through (repeatable), e.g. --sbatch account=vision "
                        "--sbatch qos=high; KEY alone for a flag such as exclusive")


def _prog() -> str:
    """The usage line's program: ``sisbench`` when run as the console script, else ``python -m benchmark``."""
    return "sisbench" if Path(sys.argv[0]).name in ("sisbench", "sisbench.exe") else "python -m benchmark"


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("sisbench")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=_prog(),
                                     description="SISBench: train, generate and evaluate semantic image "
                                                 "synthesis methods under one harness.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}",
                        help="print the installed SISBench version and exit")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list methods, datasets, metrics, protocols and the config search path")
    _add_config_dir(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("config", help="print the resolved config of a method on a dataset, and which file (and "
                                      "which layer of the config search path) each part came from")
    _add_common(p)
    p.add_argument("--iters", type=int, default=None,
                   help="training iterations (sets train.iters; caps each stage of multi-stage methods), as train")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("train", help="train one method")
    _add_common(p)
    p.add_argument("--iters", type=int, default=None,
                   help="training iterations (sets train.iters; caps each stage of multi-stage methods)")
    p.add_argument("--amp", choices=("off", "bf16", "fp16"), default=None,
                   help="mixed precision (sets train.amp; default: the preset's)")
    p.add_argument("--resume", action="store_true", help="continue an unfinished run from its last checkpoint")
    p.add_argument("--stop-after", type=int, default=None,
                   help="train at most N iterations in this call, checkpoint, and stop (resume later)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("generate", help="generate images with a trained or official checkpoint")
    _add_common(p)
    for action in p._actions:  # here --out is the image folder, not the output root
        if action.dest == "out":
            action.required, action.metavar = True, "DIR"
            action.help = ("the folder the images are written to, one <label map stem>.png each (new or empty, "
                           "or one SISBench wrote before)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="a run directory or a .safetensors file")
    src.add_argument("--official-checkpoint", type=Path, help="an official latest_net_G.pth")
    p.add_argument("--num-samples", type=int, default=1, help="images per label map (multimodal methods)")
    p.add_argument("--num-images", type=int, default=None, help="label maps to use (default: the whole split)")
    p.add_argument("--split", default=None, help="dataset split (default: the dataset's evaluation split)")
    p.add_argument("--style", type=Path, default=None, help="style image (or directory) for style-guided methods")
    p.add_argument("--save-attention", action="store_true", help="also save attention maps (slnp)")
    p.set_defaults(func=cmd_generate, out=None)

    p = sub.add_parser("run", help="train (or reuse), generate and evaluate several methods")
    _add_common(p, method=False, methods=True)
    p.add_argument("--seeds", default=None, metavar="S1,S2,...",
                   help="train and evaluate every method once per seed (each seed its own run), e.g. 0,1,2")
    p.add_argument("--sweep", action="append", metavar="KEY=V1,V2,...",
                   help="one run per value of a config key, everything else identical (repeatable: the "
                        "cross product); values parse like --set, e.g. --sweep optimizer.type=Adam,AMM")
    p.add_argument("--iters", type=int, default=None,
                   help="training iterations (sets train.iters; caps each stage of multi-stage methods)")
    p.add_argument("--budget", default=None, metavar="images=N|tflops=X",
                   help="the same training budget for every method: N training images, or X measured "
                        "training TFLOPs; each method's stage iterations are scaled by one factor to spend it")
    p.add_argument("--eval-every", type=int, default=None, metavar="K",
                   help="also evaluate every K iterations while training: <run>/curve.csv (learning curves)")
    p.add_argument("--amp", choices=("off", "bf16", "fp16"), default=None,
                   help="mixed precision of every run (sets train.amp; default: the preset's)")
    p.add_argument("--num-images", type=int, default=None, help="evaluation images (default: the whole split)")
    _add_eval_options(p)
    p.add_argument("--executor", default="inline", choices=("inline", "local", "slurm"),
                   help="where the runs execute: inline (default: one after the other in this process), local "
                        "(--jobs N at once, each in its own process, CPU threads divided between them), slurm "
                        "(a SLURM job array through submitit)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="with --executor local: runs at once (default 1); each trains with cpus // N threads, "
                        "recorded in its run id")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (method, seed, sweep, preset, run id, state, iterations) after every "
                        "check, and exit without training or writing anything")
    p.add_argument("--no-wait", action="store_true",
                   help="do not wait: with slurm, submit, print the job ids and return; here, leave a run "
                        "another process is training to it and list it as pending")
    _add_slurm_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("evaluate", help="score generated images, a run or an official checkpoint under a protocol")
    _add_common(p, method=False)
    p.add_argument("--method", default=None, help="the method a checkpoint file belongs to")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", type=Path, metavar="DIR",
                     help="a folder of images made elsewhere, one <stem>.png per label map of the evaluation split "
                          "(the label map's file name); with --name it becomes a run of its own, "
                          "<out>/runs/<dataset>/<NAME>/ext-<sha>/, shown in the tables and the report; without "
                          "--name the record is written beside the folder as DIR.metrics.<protocol>.json, which no "
                          "table reads")
    src.add_argument("--checkpoint", type=Path, help="a run directory (or a .safetensors file with --method)")
    src.add_argument("--official-checkpoint", type=Path, help="an official latest_net_G.pth (with --method)")
    p.add_argument("--num-images", type=int, default=None, help="evaluate the first N images (recorded)")
    p.add_argument("--oracle", action="store_true", help="also score the real images (the oracle row)")
    p.add_argument("--name", default=None,
                   help="with --images: the row name of the folder (e.g. pix2pixhd-official); several folders "
                        "under one name are its seeds (--seed numbers them, default: in the order filed)")
    _add_eval_options(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("report", help="the papers' tables, figures and index.html from every run under --out")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output root (default: results/)")
    p.add_argument("--export-presets", type=Path, default=None, metavar="CSV",
                   help="also merge the measured figures of every finished tiny-preset run into CSV (e.g. "
                        "docs/presets.csv) and re-render the measured table of the presets.md beside it")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("segmenter", help="segmentation networks of the protocols")
    ssub = p.add_subparsers(dest="segmenter_command", required=True)
    q = ssub.add_parser("train", help="train (or reuse) the segmenter a protocol trains on the real images, and "
                                      "print its real-image val mIoU (the oracle)")
    q.add_argument("--dataset", default="synthetic", help="dataset name (see `list`); default: synthetic")
    q.add_argument("--protocol", default=None,
                   help="protocol id (default: the dataset's default protocol); <dataset>-trained-deeplabv3-cpu "
                        "trains a small network in minutes on a CPU, <dataset>-trained-deeplabv3 the full "
                        "DeepLabV3 R50 (GPU hours)")
    q.add_argument("--iters", type=int, default=None,
                   help="training iterations (default: the protocol's: 600 for the CPU recipe, 40000 for the full)")
    q.add_argument("--batch-size", type=int, default=None,
                   help="images per step (default: the protocol's 16); capped at the training split's size")
    q.add_argument("--crop", type=int, default=None, metavar="PX",
                   help="train on random PX x PX windows of the training images (default: whole images as the "
                        "preset loads them); evaluation always sees whole images")
    q.add_argument("--preset", default="tiny", choices=("tiny", "paper"),
                   help="the dataset preset whose image size the segmenter trains and evaluates at (tiny: 64 px, "
                        "default; paper: the published size); use the preset your runs use")
    q.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one data config key, e.g. data.num_classes=12 (repeatable)")
    q.add_argument("--data-root", type=Path, default=None, help="dataset root directory (sets data.root)")
    q.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cpu)")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_config_dir(q)
    q.set_defaults(func=cmd_segmenter)

    p = sub.add_parser("data", help="dataset tools")
    dsub = p.add_subparsers(dest="data_command", required=True)
    q = dsub.add_parser("check", help="validate a dataset tree: counts, class histogram, each split's state and "
                                      "which commands and metrics it allows")
    q.add_argument("--dataset", required=True, help="dataset name (see `list`), e.g. folder for your own data")
    q.add_argument("--root", "--data-root", dest="root", type=Path, default=None,
                   help="dataset root directory (sets data.root)")
    q.add_argument("--preset", default="tiny", choices=("tiny", "paper"),
                   help="the preset whose data settings are checked (tiny: default; paper)")
    q.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one data config key, e.g. data.num_classes=12 (repeatable)")
    _add_config_dir(q)
    q.set_defaults(func=cmd_data)

    p = sub.add_parser("bench", help="training it/s, images/s and peak memory per method; images/s per metric")
    _add_common(p, method=False, methods=True)
    p.add_argument("--steps", type=int, default=10, help="timed training steps per method")
    p.add_argument("--warmup", type=int, default=2, help="untimed warm-up steps")
    p.add_argument("--no-metrics", action="store_true", help="skip the images/s of the protocol's metrics")
    _add_eval_options(p)
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "generate" and args.out is None:
        parser.error("generate needs --out DIR")
    from benchmark.errors import USER_ERRORS

    evaluation.SAID.clear()  # one-sentence notices (offline FID) are said once per command
    try:
        _check_counts(args)
        return int(args.func(args) or 0)
    except (UserError, *USER_ERRORS) as exc:  # CLIError, ConfigError, RunError, ... and a few library errors
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; checkpoints and results written so far are intact", file=sys.stderr)
        return 130
