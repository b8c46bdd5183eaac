"""Learning curves: ``run --eval-every K`` scores a run every K iterations while it trains.

``<run_dir>/curve.csv`` has one row per evaluation: ``stage, iteration, images_seen, tflops``, every
metric of the run's protocol (mIoU and accu in percent, FD-seg, FID, ... as in ``metrics.json``),
``protocol_id`` and ``eval_s``.

Decisions:

- **What is scored**: the evaluation split generated in memory exactly as ``run`` generates ``images/``
  (same seed, batch size and 8-bit quantisation as the PNGs), with the EMA weights where the run keeps
  EMA, scored by :func:`metrics.evaluate.evaluate` under the run's protocol and options. So the row at the
  last iteration equals ``metrics.json`` for methods without a post-training fit (pix2pixHD's feature
  clusters are fitted after the last iteration). The trainer restores every RNG state, the weights and the
  train mode afterwards: a run trains the same with and without a curve.
- **When**: every K iterations of the method's last stage and at its last iteration. Earlier stages are
  pre-training that cannot produce the final images (SLNP-GAN's noise prior trains the VAE alone, G0 and
  G1 are untouched), so they have no rows; their images and compute count in ``images_seen`` and
  ``tflops``, which are cumulative over all stages (TFLOPs from the run's measured GFLOPs per iteration).
  ``iteration`` is the stage's own iteration.
- **Point estimates**: a curve row has no bootstrap interval (resamples=0; on 100 synthetic images the
  bootstrap takes 8x the scoring itself) and no LPIPS diversity (that needs K samples per label map);
  ``metrics.json`` at the end of the run has both.
- **Not in the config hash**: the curve does not change the weights, so the same run with and without a
  curve is one run (one row in the tables, not two). The cadence is fixed when a run starts (recorded in
  the manifest under ``curve``): a finished run without that curve cannot get one afterwards (the
  intermediate weights are gone), and ``run`` says so before anything trains, naming the directory to
  delete; resuming a run under another cadence is refused the same way.
- **Resume-safe**: rows are kept in memory and the file rewritten atomically after each evaluation; a
  resumed run keeps only the rows up to its checkpoint (rows after it are evaluated again).
- The evaluation time is kept out of the run's ``train_s`` and recorded as the curve's ``eval_s``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark import compute, evaluation, runs
from benchmark.generation import generated_images
from benchmark.trainer import TrainLog
from methods.base import Method

CURVE = "curve.csv"


@dataclass(frozen=True)
class CurveSpec:
    """What ``--eval-every`` asks for: the cadence, the protocol and the evaluation options."""

    every: int
    protocol: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"eval_every": self.every, "protocol": self.protocol}


def check_curve(run_dir: Path, spec: CurveSpec | None) -> None:
    """Refuse (:class:`runs.RunError`) to reuse or continue a run whose learning curve cannot be ``spec``'s.

    Called for finished runs and for runs that would resume from a checkpoint; a new run takes any spec."""
    manifest = runs.read_manifest(run_dir)
    recorded = manifest.get("curve")
    finished = runs.is_finished(run_dir)
    if spec is None:
        if recorded and not finished:
            raise runs.RunError(f"{run_dir} was started with a learning curve every {recorded['eval_every']} "
                                f"iterations; continue it with `run --eval-every {recorded['eval_every']} "
                                f"--protocol {recorded['protocol']}` (or delete the directory to start over)")
        return
    same = bool(recorded) and all(recorded.get(k) == v for k, v in spec.to_dict().items())
    if same and (not finished or (Path(run_dir) / CURVE).is_file()):
        return
    if same:
        raise runs.RunError(f"{Path(run_dir) / CURVE} is missing and cannot be recomputed after training; delete "
                            f"{run_dir} to retrain it with the curve, or drop --eval-every")
    if not recorded:
        state = "finished" if finished else "was started"
        raise runs.RunError(f"{run_dir} {state} without a learning curve, which cannot be added afterwards; "
                            f"delete that directory to {'re' if finished else ''}train it with --eval-every "
                            f"{spec.every}, or drop --eval-every")
    raise runs.RunError(f"{run_dir} has a learning curve every {recorded['eval_every']} iterations under "
                        f"{recorded['protocol']}, not every {spec.every} under {spec.protocol}; pass "
                        f"--eval-every {recorded['eval_every']} --protocol {recorded['protocol']}, or delete "
                        f"that directory to retrain it")


class LearningCurve:
    """The trainer's evaluator for one run (see the module docstring)."""

    def __init__(self, spec: CurveSpec, cfg: Mapping[str, Any], run_dir: Path, *,
                 iterations: Mapping[str, int], gflops: Mapping[str, float], world_size: int = 1,
                 resume_at: tuple[str, int] | None = None):
        self.spec, self.cfg = spec, cfg
        self.iterations, self.gflops, self.world_size = dict(iterations), dict(gflops), world_size
        self.stages = tuple(iterations)
        path = Path(run_dir) / CURVE
        if resume_at is None:
            path.unlink(missing_ok=True)  # a fresh start: rows of an earlier attempt are not this run's
        self.log = TrainLog(path, resume_at, self.stages)
        self.seconds = 0.0

    def due(self, stage: str, iteration: int, total: int) -> bool:
        return stage == self.stages[-1] and (iteration % self.spec.every == 0 or iteration == total)

    def __call__(self, method: Method, stage: str, iteration: int) -> str:
        from metrics.evaluate import evaluate
        from metrics.protocols import get_protocol

        t0 = time.time()
        protocol = get_protocol(self.spec.protocol)
        options = evaluation._harness_kwargs(self.spec.options)  # the options `run` evaluates the run with
        limit = options["num_images"] if options["num_images"] is not None else protocol.num_images
        images = list(generated_images(method, self.cfg, split=protocol.split, num_images=limit,
                                       progress=False))
        result = evaluate(protocol, generated=images, data_cfg=self.cfg["data"], resamples=0, progress=False,
                          **options)
        record = evaluation.to_record(result, kind="curve", method=self.cfg["method"],
                                      dataset=self.cfg["dataset"], preset=self.cfg.get("preset"), run_id=None)
        seen, tflops = compute.cumulative(self.iterations, self.gflops, stage, iteration,
                                          images_per_iter=compute.images_per_iteration(self.cfg, self.world_size),
                                          world_size=self.world_size)
        seconds = time.time() - t0
        self.seconds += seconds
        self.log.append({"stage": stage, "iteration": iteration, "images_seen": seen, "tflops": tflops,
                         **record["metrics"], "protocol_id": protocol.id, "eval_s": round(seconds, 2)})
        return f"[curve] {stage} {iteration}: {evaluation.format_record(record)} ({seconds:.1f} s)"
