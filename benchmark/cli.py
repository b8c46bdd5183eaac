"""``python -m benchmark``: list, config, train, generate, run, evaluate, report, data, segmenter, bench."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmark import evaluation

DEFAULT_OUT = Path("results")


class CLIError(Exception):
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
    return load_data_config(args.dataset, args.preset, overrides)


def _config(args: argparse.Namespace, method: str):
    from benchmark.config import load_config

    _check_name("DATASETS", args.dataset)
    overrides = list(args.set or [])
    if getattr(args, "iters", None) is not None:
        overrides.append(f"train.iters={args.iters}")
    if getattr(args, "amp", None):
        overrides.append(f"train.amp={args.amp!r}")
    if getattr(args, "data_root", None):
        overrides.append(f"data.root={str(args.data_root)!r}")
    if getattr(args, "seed", None) is not None:
        overrides.append(f"seed={args.seed}")
    cfg = load_config(method, args.dataset, args.preset, overrides, extra_files=args.config or ())
    if getattr(args, "iters", None) is not None:
        # --iters applies to every stage of a multi-stage method
        for stage in cfg["train"].get("stages", {}).values():
            if isinstance(stage, dict) and "iters" in stage:
                stage["iters"] = min(stage["iters"], args.iters)
    return cfg


def _add_common(p: argparse.ArgumentParser, *, method: bool = True, methods: bool = False) -> None:
    if method:
        p.add_argument("--method", required=True, help="method name (see `list`)")
    if methods:
        p.add_argument("--methods", required=True, type=str, help="comma-separated method names")
    p.add_argument("--dataset", default="synthetic", help="dataset name (see `list`); default: synthetic")
    p.add_argument("--preset", default="tiny", choices=("tiny", "paper"),
                   help="tiny: CPU-sized (default); paper: the published architecture and schedule")
    p.add_argument("--config", action="append", type=Path, metavar="FILE",
                   help="an extra config file merged after the preset's (repeatable), e.g. a variant")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one config key (repeatable)")
    p.add_argument("--data-root", type=Path, help="dataset root directory (sets data.root)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output root (default: results/)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--seed", type=int, default=None, help="random seed (sets seed)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


# -- commands ----------------------------------------------------------------------------------------

def cmd_list(args: argparse.Namespace) -> int:
    from benchmark import registry

    registry.load_builtins()
    for title, reg in (("methods", registry.METHODS), ("datasets", registry.DATASETS),
                       ("metrics", registry.METRICS), ("protocols", registry.PROTOCOLS)):
        print(f"{title}:")
        entries = reg.entries()
        width = max((len(e.name) for e in entries), default=0)
        for e in entries:
            src = "" if e.source == "built-in" else f"  [{e.source}]"
            print(f"  {e.name:<{width}}  {e.description}{src}")
        if not entries:
            print("  (none)")
    if registry.PLUGIN_ERRORS:
        print("plugins that failed to load:")
        for source, err in registry.PLUGIN_ERRORS.items():
            print(f"  {source}: {err}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from mmengine.config import Config

    from benchmark.config import to_plain

    cfg = _config(args, _check_name("METHODS", args.method))
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

    method_name = _check_name("METHODS", args.method)
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
    from benchmark import pipeline, runs

    names = _methods_arg(args.methods)
    configs = {m: _config(args, m) for m in names}  # every config resolves before anything trains
    first = next(iter(configs.values()))
    for cfg in configs.values():  # every dataset split is readable before anything trains
        pipeline.checked_dataset(cfg["data"], "train", train=True)
    # ... and the protocol can score it (a segmenter the protocol trains itself is trained now)
    ready = evaluation.preflight(first["data"], args.dataset, protocol=args.protocol, **_eval_options(args))
    if ready["fallback"]:
        print(f"[{ready['protocol']}] no FID: {ready['fallback']['reason']} -> reporting FD-seg instead")
    for name, cfg in configs.items():
        t0 = time.time()
        outcome = pipeline.train_run(cfg, args.out, resume=None, device=args.device, argv=sys.argv,
                                     progress=not args.no_progress)
        if outcome.reused:
            print(f"[{name}] reusing the finished run {outcome.run_dir}")
        else:
            print(f"[{name}] trained in {outcome.seconds:.1f} s -> {outcome.run_dir}")
        images = outcome.run_dir / "images"
        if not images.is_dir():
            method, cfg_run, _ = pipeline.load_trained(outcome.run_dir, args.device)
            n = pipeline.generate_split(method, cfg_run, images, num_images=args.num_images,
                                        progress=not args.no_progress)
            runs.update_manifest(outcome.run_dir, generated_images=n)
            print(f"[{name}] generated {n} images -> {images}")
        pid = evaluation.protocol_id(args.dataset, args.protocol)
        target = evaluation.metrics_path(outcome.run_dir, args.dataset, pid)
        if target.is_file() and outcome.reused:
            print(f"[{name}] reusing {target}")
        else:
            record = evaluation.evaluate_run(outcome.run_dir, protocol=pid, **_eval_options(args))
            print(f"[{name}] {evaluation.format_record(record)}")
        print(f"[{name}] done in {time.time() - t0:.1f} s")
    oracle = evaluation.evaluate_oracle(args.out, first["data"], args.dataset, protocol=args.protocol,
                                        **_eval_options(args))
    print(f"[oracle] {evaluation.format_record(oracle)}")
    _report(args.out, args.dataset)
    return 0


def _eval_options(args: argparse.Namespace) -> dict:
    return {"device": args.device, "inception_weights": args.inception_weights,
            "segmenter_checkpoint": args.segmenter_checkpoint, "num_images": args.num_images,
            "seed": args.seed}


def _report(out: Path, dataset: str | None) -> None:
    from benchmark.report import build_report, write_dataset_table

    if dataset is not None:
        for path in write_dataset_table(out, dataset):
            if path.suffix == ".md":
                print(path.read_text())
    summary = build_report(out)
    for line in summary.lines():
        print(line)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from benchmark import pipeline, runs
    from benchmark.config import to_plain

    _check_name("DATASETS", args.dataset)
    options = _eval_options(args)
    if args.images:
        data_cfg = _data_config(args, args.data_root)
        record, path = evaluation.evaluate_folder(args.images, data_cfg, args.dataset, protocol=args.protocol,
                                                  **options)
        print(evaluation.format_record(record))
        print(f"wrote {path}")
        return 0
    source = Path(args.checkpoint or args.official_checkpoint)
    if args.checkpoint and (source / "config.json").is_file():
        run_dir = source
    else:
        if not args.method:
            raise CLIError("--method is needed with a checkpoint file (which method's networks it holds)")
        cfg = _config(args, _check_name("METHODS", args.method))
        if not source.is_file():
            raise CLIError(f"{source}: no such checkpoint file")
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
                             versions=runs.library_versions())
        if not (run_dir / "images").is_dir():
            n = pipeline.generate_split(method, cfg, run_dir / "images", num_images=args.num_images,
                                        progress=not args.no_progress)
            print(f"generated {n} images -> {run_dir / 'images'}")
    if not (run_dir / "images").is_dir():
        method, cfg_run, _ = pipeline.load_trained(run_dir, args.device)
        pipeline.generate_split(method, cfg_run, run_dir / "images", num_images=args.num_images,
                                progress=not args.no_progress)
    record = evaluation.evaluate_run(run_dir, protocol=args.protocol, **options)
    print(evaluation.format_record(record))
    if args.oracle:
        cfg_run = runs.load_run_config(run_dir)
        oracle = evaluation.evaluate_oracle(args.out, cfg_run["data"], args.dataset, protocol=args.protocol,
                                            **options)
        print(evaluation.format_record(oracle))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    _report(args.out, None)
    return 0


def cmd_segmenter(args: argparse.Namespace) -> int:
    from metrics.segmenters.train import train_for_protocol

    data_cfg = _data_config(args, args.data_root)
    pid = evaluation.protocol_id(args.dataset, args.protocol)
    t0 = time.time()
    weights = train_for_protocol(pid, data_cfg, cache_dir=evaluation.cache_root(), device=args.device or "cpu",
                                 log_every=0 if args.no_progress else 50)
    record = json.loads(weights.with_name("segmenter.json").read_text())
    print(f"segmenter for {pid}: {weights} (sha256 {record['sha256'][:12]}), real-image val mIoU "
          f"{100 * record['val_mIoU']:.1f}, accu {100 * record['val_accu']:.1f}, {time.time() - t0:.0f} s")
    return 0


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
                   help="local Inception weights for FID (pytorch-fid's pt_inception-2015-12-05 .pth)")
    p.add_argument("--segmenter-checkpoint", type=Path, default=None,
                   help="local checkpoint of the protocol's segmentation network")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark",
                                     description="SISBench: train, generate and evaluate semantic image "
                                                 "synthesis methods under one harness.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list methods, datasets, metrics and protocols")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("config", help="print the resolved config of a method on a dataset")
    _add_common(p)
    p.add_argument("--iters", type=int, default=None)
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("train", help="train one method")
    _add_common(p)
    p.add_argument("--iters", type=int, default=None,
                   help="training iterations (sets train.iters; caps each stage of multi-stage methods)")
    p.add_argument("--amp", choices=("off", "bf16", "fp16"), default=None, help="mixed precision")
    p.add_argument("--resume", action="store_true", help="continue an unfinished run from its last checkpoint")
    p.add_argument("--stop-after", type=int, default=None,
                   help="train at most N iterations in this call, checkpoint, and stop (resume later)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("generate", help="generate images with a trained or official checkpoint")
    _add_common(p)
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
    p.add_argument("--iters", type=int, default=None,
                   help="training iterations (sets train.iters; caps each stage of multi-stage methods)")
    p.add_argument("--amp", choices=("off", "bf16", "fp16"), default=None)
    p.add_argument("--num-images", type=int, default=None, help="evaluation images (default: the whole split)")
    _add_eval_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("evaluate", help="score generated images, a run or an official checkpoint under a protocol")
    _add_common(p, method=False)
    p.add_argument("--method", default=None, help="the method a checkpoint file belongs to")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", type=Path, help="a folder of generated <stem>.png for the evaluation split")
    src.add_argument("--checkpoint", type=Path, help="a run directory (or a .safetensors file with --method)")
    src.add_argument("--official-checkpoint", type=Path, help="an official latest_net_G.pth (with --method)")
    p.add_argument("--num-images", type=int, default=None, help="evaluate the first N images (recorded)")
    p.add_argument("--oracle", action="store_true", help="also score the real images (the oracle row)")
    _add_eval_options(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("report", help="the papers' tables, figures and index.html from every run under --out")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output root (default: results/)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("segmenter", help="segmentation networks of the protocols")
    ssub = p.add_subparsers(dest="segmenter_command", required=True)
    q = ssub.add_parser("train", help="train (or reuse) the segmenter a protocol trains on the real images")
    q.add_argument("--dataset", default="synthetic")
    q.add_argument("--protocol", default=None, help="protocol id (default: the dataset's default protocol)")
    q.add_argument("--preset", default="tiny", choices=("tiny", "paper"))
    q.add_argument("--set", action="append", metavar="KEY=VALUE")
    q.add_argument("--data-root", type=Path, default=None)
    q.add_argument("--device", default=None)
    q.add_argument("--no-progress", action="store_true")
    q.set_defaults(func=cmd_segmenter)

    p = sub.add_parser("data", help="dataset tools")
    dsub = p.add_subparsers(dest="data_command", required=True)
    q = dsub.add_parser("check", help="validate a dataset tree and print counts and a class histogram")
    q.add_argument("--dataset", required=True)
    q.add_argument("--root", "--data-root", dest="root", type=Path, default=None,
                   help="dataset root directory (sets data.root)")
    q.add_argument("--preset", default="tiny", choices=("tiny", "paper"))
    q.add_argument("--set", action="append", metavar="KEY=VALUE")
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

    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; checkpoints and results written so far are intact", file=sys.stderr)
        return 130
