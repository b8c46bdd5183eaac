"""Every method through the command line: run, official checkpoints, style, attention, report, segmenters."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.cli import main
from benchmark.registry import METHODS, PROTOCOLS

DATA = ["--set", "data.num_train=16", "--set", "data.num_val=6", "--set", "train.batch_size=4"]


@pytest.fixture(scope="module")
def all_runs(tmp_path_factory, tiny_segmenter):
    """One `run` of every registered method (2 iterations each), evaluated and reported."""
    out = tmp_path_factory.mktemp("all")
    names = ",".join(n for n in METHODS.names() if n != "toy")
    assert main(["run", "--methods", names, "--dataset", "synthetic", "--iters", "2", "--out", str(out),
                 "--segmenter-checkpoint", tiny_segmenter, "--no-progress", *DATA]) == 0
    return out


def run_dir(out, method):
    (path,) = (out / "runs" / "synthetic" / method).iterdir()
    return path


@pytest.mark.slow
@pytest.mark.parametrize("method", [n for n in METHODS.names() if n != "toy"])
def test_every_method_trains_generates_and_is_evaluated_by_run(all_runs, method):
    path = run_dir(all_runs, method)
    assert json.loads((path / "manifest.json").read_text())["status"] == "finished"
    assert len(list((path / "images").glob("*.png"))) == 6
    record = json.loads((path / "metrics.json").read_text())
    assert record["method"] == method and record["protocol"]["id"] == "synthetic-v1"
    table = (all_runs / "synthetic" / "table.csv").read_text()
    assert path.name in table


@pytest.mark.slow
def test_report_command_rebuilds_the_page(all_runs, capsys):
    (all_runs / "index.html").unlink()
    assert main(["report", "--out", str(all_runs)]) == 0
    assert (all_runs / "index.html").is_file()
    assert "report:" in capsys.readouterr().out
    # with adanorm/slnp present the multimodal and attention figures exist
    assert (all_runs / "figures" / "attention_synthetic.png").is_file()
    assert (all_runs / "figures" / "multimodal_synthetic.png").is_file()


@pytest.mark.slow
def test_style_guided_generation_and_its_errors(all_runs, tmp_path, capsys):
    style_a, style_b = tmp_path / "a.png", tmp_path / "b.png"
    Image.new("RGB", (64, 64), (250, 40, 20)).save(style_a)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(style_b)
    outs = []
    for i, style in enumerate((style_a, style_b, style_a)):
        dest = tmp_path / f"gen_{i}"
        assert main(["generate", "--method", "adanorm", "--checkpoint", str(run_dir(all_runs, "adanorm")),
                     "--style", str(style), "--num-images", "2", "--out", str(dest), "--no-progress", *DATA]) == 0
        outs.append(np.asarray(Image.open(sorted(dest.glob("*.png"))[0]), dtype=np.float32))
    # a style image is encoded deterministically (the encoder's mean): same style, same picture; another
    # style, another picture (barely, after 2 iterations from a 0.02-gain initialisation)
    assert np.array_equal(outs[0], outs[2])
    assert np.abs(outs[0] - outs[1]).max() > 0
    assert main(["generate", "--method", "slnp", "--checkpoint", str(run_dir(all_runs, "slnp")), "--style",
                 str(style_a), "--out", str(tmp_path / "x"), "--no-progress", *DATA]) == 2
    assert "--style" in capsys.readouterr().err and not (tmp_path / "x").exists()
    assert main(["generate", "--method", "adanorm", "--checkpoint", str(run_dir(all_runs, "adanorm")), "--style",
                 str(tmp_path / "missing.png"), "--out", str(tmp_path / "y"), *DATA]) == 2


@pytest.mark.slow
def test_multiple_samples_and_attention_export(all_runs, tmp_path, tiny_segmenter, capsys):
    # the tiny CRN has one output (crn_tiny.py): asking it for three samples is refused in one sentence
    assert main(["generate", "--method", "crn", "--checkpoint", str(run_dir(all_runs, "crn")), "--num-samples", "3",
                 "--num-images", "2", "--out", str(tmp_path / "one"), "--no-progress", *DATA]) == 2
    assert "produces one image per label map; --num-samples must be 1" in capsys.readouterr().err
    # CRN with k = 3 outputs (the paper's diverse variant) writes three images per label map
    crn3 = tmp_path / "crn3"
    assert main(["run", "--methods", "crn", "--dataset", "synthetic", "--iters", "2", "--out", str(crn3),
                 "--segmenter-checkpoint", tiny_segmenter, "--no-progress", "--set", "model.num_outputs=3",
                 *DATA]) == 0
    dest = tmp_path / "crn"
    assert main(["generate", "--method", "crn", "--checkpoint", str(run_dir(crn3, "crn")), "--num-samples", "3",
                 "--set", "model.num_outputs=3", "--num-images", "2", "--out", str(dest), "--no-progress",
                 *DATA]) == 0
    assert len(list(dest.glob("*_2.png"))) == 2 and len(list(dest.glob("*.png"))) == 6
    dest = tmp_path / "slnp"
    assert main(["generate", "--method", "slnp", "--checkpoint", str(run_dir(all_runs, "slnp")), "--num-images", "2",
                 "--save-attention", "--out", str(dest), "--no-progress", *DATA]) == 0
    att = tmp_path / "slnp_attention"
    records = sorted(att.glob("*.npz"))
    assert len(records) == 2 and len(list(att.glob("*.png"))) == 2
    rec = np.load(records[0])
    w, present = rec["weights"], rec["present"]
    np.testing.assert_allclose(w[..., present].sum(-1), 1.0, atol=1e-5)
    assert (w[..., ~present] == 0).all()
    assert main(["generate", "--method", "pix2pix", "--checkpoint", str(run_dir(all_runs, "pix2pix")),
                 "--num-samples", "2", "--out", str(tmp_path / "p"), *DATA]) == 2


@pytest.mark.slow
def test_official_spade_checkpoint_through_generate_and_evaluate(tmp_path, tiny_segmenter, capsys):
    from benchmark.config import load_config
    from benchmark.datasets import build_dataset
    from benchmark.pipeline import fixed_batch
    from benchmark.trainer import build_method

    cfg = load_config("spade", "synthetic", "tiny", ["model.ngf=8", "data.num_train=16", "data.num_val=6"])
    ds = build_dataset(cfg["data"], "val", train=False)
    torch.manual_seed(5)
    method = build_method(cfg, ds.info).eval()
    official = tmp_path / "latest_net_G.pth"
    torch.save(method.netG.state_dict(), official)  # the official checkpoint layout: the generator alone
    dest = tmp_path / "gen"
    args = ["--method", "spade", "--official-checkpoint", str(official), "--set", "model.ngf=8", *DATA]
    assert main(["generate", *args, "--num-images", "2", "--out", str(dest), "--no-progress"]) == 0
    batch = fixed_batch(ds, 2)
    with torch.no_grad():
        expected = method.generate(batch)
    got = torch.from_numpy(np.asarray(Image.open(dest / f"{batch['path'][0].split('/')[-1][:-4]}.png"),
                                      dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1
    torch.testing.assert_close(got, expected[0].clamp(-1, 1), atol=1 / 127.5 + 1e-6, rtol=0)
    out = tmp_path / "results"
    assert main(["evaluate", "--dataset", "synthetic", *args, "--out", str(out), "--segmenter-checkpoint",
                 tiny_segmenter, "--no-progress"]) == 0
    (official_dir,) = (out / "runs" / "synthetic" / "spade").iterdir()
    assert official_dir.name.startswith("official-")
    assert json.loads((official_dir / "manifest.json").read_text())["kind"] == "official"
    record = json.loads((official_dir / "metrics.json").read_text())
    assert record["kind"] == "official"
    # LPIPS diversity is asked of the generator built from the file, not of a run with no checkpoints
    assert record["not_measured"]["LPIPS"].startswith("n/a: spade produces one image per label map")
    # a checkpoint of another shape is refused with the offending keys named
    bad = tmp_path / "bad.pth"
    torch.save({"fc.weight": torch.zeros(1)}, bad)
    assert main(["generate", "--method", "spade", "--official-checkpoint", str(bad), "--out", str(tmp_path / "b"),
                 *DATA]) == 2
    err = capsys.readouterr().err.strip()
    assert "does not fit the network" in err and "fc.weight (1,)" in err and "\n" not in err


@pytest.mark.slow
def test_segmenter_train_then_evaluate_finds_it(tmp_path, monkeypatch, capsys):
    """The trained-segmenter flow: `segmenter train` pins a checkpoint where evaluation looks for it."""
    import dataclasses

    from metrics.protocols import get_protocol

    base = get_protocol("synthetic-v1")
    spec = dataclasses.replace(base.segmenter, options=(("iters", 3), ("batch_size", 4)))
    quick = dataclasses.replace(base, id="synthetic-quick", segmenter=spec)
    PROTOCOLS.add(quick, source="tests")
    monkeypatch.setenv("SISBENCH_CACHE", str(tmp_path / "cache"))
    try:
        assert main(["segmenter", "train", "--dataset", "synthetic", "--protocol", "synthetic-quick",
                     "--no-progress", *DATA[:4]]) == 0
        assert "real-image val mIoU" in capsys.readouterr().out
        out = tmp_path / "r"
        assert main(["run", "--methods", "pix2pix", "--iters", "1", "--protocol", "synthetic-quick", "--out", str(out),
                     "--no-progress", *DATA]) == 0
        (path,) = (out / "runs" / "synthetic" / "pix2pix").iterdir()
        record = json.loads((path / "metrics.synthetic-quick.json").read_text())
        assert record["protocol"]["id"] == "synthetic-quick"
    finally:
        PROTOCOLS.remove("synthetic-quick")


@pytest.mark.slow
def test_run_stops_before_training_when_the_protocol_cannot_score(tmp_path, monkeypatch, capsys):
    """Offline without the protocol's weights: one sentence naming the flag, and nothing trained or written."""
    import urllib.error

    import torch.hub

    from tests.fixtures_data import write_coco_spade

    def offline(url, dst, *args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    tree = write_coco_spade(tmp_path / "coco")
    out = tmp_path / "out"
    assert main(["run", "--methods", "spade", "--dataset", "coco_stuff", "--data-root", str(tree), "--iters", "1",
                 "--set", "train.batch_size=1", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--inception-weights" in err and "\n" not in err  # the first missing piece is named
    assert not (out / "runs").exists()
