"""Figures that run a method: the multimodal grid and SLNP-GAN's attention, from untrained checkpointed runs.

The runs are built, not trained: each method at its tiny preset on a 32 x 32 folder dataset, its random
weights saved as the run's checkpoint, which is all :func:`benchmark.pipeline.load_trained` needs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark import checkpoint as ckpt
from benchmark.config import load_config, to_plain
from benchmark.datasets import dataset_info
from benchmark.pipeline import load_trained
from benchmark.report import build_report
from benchmark.report.figures import (
    MULTIMODAL_SOURCES,
    attention_figure,
    collate_samples,
    multimodal_grid,
    style_samples,
    z_samples,
)
from benchmark.report.figures.images import MIN_RELATIVE_SPREAD, SpreadRow, spread, spread_rows
from benchmark.results import collect_training_runs
from benchmark.trainer import build_method
from tests.fixtures_data import write_folder


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report-models")
    root = write_folder(out / "data", {"train": 2, "val": 4}, num_classes=4)
    for name in ("adanorm", "slnp", "pix2pix"):
        # adanorm at the paper preset's xavier(0.02) init and zero padding (its tiny preset uses gain 1 and
        # reflect padding), under which its style encoder barely moves the output at random init while z
        # does: the case the test needs (with reflect padding at gain 0.02 even the label maps' outputs differ
        # by only 0.1 of 255 levels, and neither row is drawn)
        extra = ["model.init_gain=0.02", "model.padding_mode='zeros'"] if name == "adanorm" else []
        cfg = load_config(name, "folder", "tiny", [f"data.root={root}", "data.load_size=32", "data.crop_size=32",
                                                   "data.flip=False", *extra])
        torch.manual_seed(0)
        method = build_method(cfg, dataset_info(cfg["data"]))
        run_dir = out / "runs" / "folder" / name / "tiny-0"
        ckpt.save_checkpoint(run_dir / "checkpoints", method, method.stages[-1], 0, {})
        (run_dir / "config.json").write_text(json.dumps(to_plain(cfg)))
        (run_dir / "manifest.json").write_text(json.dumps({"status": "finished", "preset": "tiny"}))
    return out


@pytest.mark.slow
def test_multimodal_grid_covers_only_methods_whose_draws_differ(out):
    fig, used, note = multimodal_grid(collect_training_runs(out), "folder", "cpu")
    # pix2pix: one image per label map, named in the note; every row drawn prints its measured spread
    assert "pix2pix (one image per label map)" in note
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert labels and all("mean |Δ|" in text and "label maps" in text for text in labels)
    drawn = {(text.split("\n")[0], text.split("\n")[1]) for text in labels}
    # at random init both z rows differ by more than a tenth of the label maps' spread; adanorm's style
    # encoder barely moves its output yet, so its style row is left out with the measurement as reason
    assert drawn == {("adaptive normalization", "z draws"), ("SLNP-GAN", "z draws")}
    assert "adanorm style row (style-guided outputs differ by" in note
    assert sorted(p.parent.name for p in used) == ["adanorm", "slnp"]


class ConstantInZ(torch.nn.Module):
    """A 'multimodal' method whose output depends on the label map only (what a trained generator that
    learned to ignore z does); with ``z_weight`` the noise enters at that strength."""

    multimodal = True

    def __init__(self, z_weight: float = 0.0):
        super().__init__()
        self.z_weight = z_weight

    def generate(self, batch, style=None):
        if style is not None:
            raise ValueError("no style input")
        label = batch["label"].float()[:, None] / 4.0
        image = label.expand(-1, 3, -1, -1) - 0.5
        return (image + self.z_weight * torch.randn_like(image)).clamp(-1, 1)


def test_a_generator_that_ignores_z_gets_no_z_row(out):
    from benchmark.report.figures import evaluation_split

    split = evaluation_split(out / "runs" / "folder" / "slnp" / "tiny-0")
    ignores = spread_rows(ConstantInZ(0.0), split, torch.device("cpu"), None)
    assert [r.kind for r in ignores] == ["z"] and ignores[0].levels == 0.0 and ignores[0].label_levels > 1
    assert not ignores[0].visible
    uses = spread_rows(ConstantInZ(0.5), split, torch.device("cpu"), None)[0]
    assert uses.visible and uses.levels > MIN_RELATIVE_SPREAD * uses.label_levels
    # the rule's edge, and spread() as a plain mean of pairwise absolute differences
    assert SpreadRow("z", [], 1.0, 10.0).visible and not SpreadRow("z", [], 0.99, 10.0).visible
    images = [np.full((2, 2, 3), v, dtype=np.uint8) for v in (0, 10, 40)]
    assert spread(images) == (10 + 40 + 30) / 3


def test_style_images_are_picked_to_differ():
    """Neighbouring evaluation images often share a style; the figure's style images are the most different
    mean colours among images 1..STYLE_SEARCH, from image 1, whatever their order."""
    from benchmark.report.figures import pick_style_images
    from benchmark.report.figures.images import STYLE_SEARCH

    def image(r: float, g: float, b: float) -> dict[str, torch.Tensor]:
        return {"image": torch.tensor([r, g, b]).view(3, 1, 1).expand(3, 4, 4)}

    day = [image(-0.2, 0.0, 0.5 + 0.01 * i) for i in range(40)]   # near-identical blue skies
    split = list(day)
    split[9] = image(0.8, 0.1, -0.3)        # a sunset
    split[20] = image(0.9, 0.9, 0.9)        # snow
    split[STYLE_SEARCH + 1] = image(-1.0, -1.0, -1.0)   # beyond the search: never picked
    # farthest first: snow is farther from the blue sky than the sunset is
    assert pick_style_images(split) == [1, 20, 9]
    assert pick_style_images(split, n=2) == [1, 20]
    assert pick_style_images(split[:3]) == [1, 2]   # fewer candidates than asked: all of them


@pytest.mark.slow
def test_z_draws_differ_and_style_only_where_the_method_takes_one(out):
    from benchmark.report.figures import evaluation_split

    split = evaluation_split(out / "runs" / "folder" / "slnp" / "tiny-0")
    batch = collate_samples([split[0]], torch.device("cpu"))
    styles = torch.stack([split[1]["image"], split[2]["image"]])
    slnp, _, _ = load_trained(out / "runs" / "folder" / "slnp" / "tiny-0", "cpu")
    draws = z_samples(slnp, batch)
    assert len(draws) == 4 and not torch.allclose(draws[0], draws[1])
    assert style_samples(slnp, batch, styles) is None
    adanorm, _, _ = load_trained(out / "runs" / "folder" / "adanorm" / "tiny-0", "cpu")
    styled = style_samples(adanorm, batch, styles)
    assert styled is not None and len(styled) == 2 and styled[0].shape == (3, 32, 32)


@pytest.mark.slow
def test_attention_figure_and_report(out):
    fig, used = attention_figure(collect_training_runs(out), "folder", "cpu")
    assert [p.parent.name for p in used] == ["slnp"]
    titles = [ax.get_title() for ax in fig.axes if ax.get_title().startswith("instance")]
    assert titles and all("class_" in t for t in titles)

    summary = build_report(out, device="cpu")
    keys = {f.key for f in summary.figures}
    assert {"multimodal_folder", "attention_folder"} <= keys
    assert not [what for what, _ in summary.skipped if "attention" in what or "Multimodal" in what]


def test_a_run_this_code_cannot_load_never_stops_the_report(out, tmp_path):
    """A checkpoint of an older architecture (here: the config's width changed under it) is named with
    the reason in the figures it would have been in; the report is still written."""
    import shutil

    other = tmp_path / "other"
    for name in ("slnp", "pix2pix"):
        shutil.copytree(out / "runs" / "folder" / name, other / "runs" / "folder" / name)
    config = other / "runs" / "folder" / "slnp" / "tiny-0" / "config.json"
    cfg = json.loads(config.read_text())
    cfg["model"]["ngf1"] = 2 * cfg["model"]["ngf1"]
    config.write_text(json.dumps(cfg))
    summary = build_report(other, device="cpu")
    skipped = dict(summary.skipped)
    attention = skipped["SLNP-GAN attention, folder (Zhang et al. 2020, SLNP-GAN, Fig. 12)"]
    assert "tiny-0 cannot be loaded by this code (" in attention and "size mismatch" in attention
    assert "slnp (tiny-0 cannot be loaded by this code" in \
        skipped[f"Multimodal synthesis, folder ({MULTIMODAL_SOURCES})"]
    assert summary.index.is_file()
