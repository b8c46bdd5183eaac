"""``python -m benchmark bench``: per-method training/generation speed and per-metric images/s, as CSVs."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from benchmark.cli import main


@pytest.mark.slow
def test_bench_writes_method_and_metric_rows(tmp_path, offline, capsys):
    out = tmp_path / "results"
    rc = main(["bench", "--methods", "spade,pix2pix", "--dataset", "synthetic", "--steps", "1", "--warmup", "0",
               "--set", "data.num_train=8", "--set", "data.num_val=4", "--set", "train.batch_size=2",
               "--set", "model.ngf=8", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out

    train = pd.read_csv(out / "bench" / "train_synthetic_tiny.csv")
    assert list(train["method"]) == ["spade", "pix2pix"]
    for col in ("train_it_per_s", "train_images_per_s", "generate_images_per_s", "peak_memory_mb"):
        assert (train[col] > 0).all(), col
    assert list(train["train_images_per_s"]) == pytest.approx(list(2 * train["train_it_per_s"]))
    assert (train["torch"] == torch.__version__).all()
    assert (train["cuda"] == train["device"].str.startswith("cuda")).all()

    metrics = pd.read_csv(out / "bench" / "metrics_synthetic_synthetic-v1.csv", keep_default_na=False)
    assert list(metrics.columns[:6]) == ["metric", "images_per_s", "device", "batch_size", "status", "reason"]
    rows = metrics.set_index("metric")
    assert {"segmentation", "fd_seg", "fid"} <= set(rows.index)
    for name in ("segmentation", "fd_seg"):
        assert rows.loc[name, "status"] == "ok" and float(rows.loc[name, "images_per_s"]) > 0
        # the synthetic protocol's segmenter ships with SISBench: its own network is timed
        assert rows.loc[name, "weights"] == "protocol"
        assert rows.loc[name, "reason"] == ""
        assert f"metric {name}: " in printed
    assert rows.loc["fid", "status"] == "unavailable" and rows.loc["fid", "images_per_s"] == ""
    assert "Inception" in rows.loc["fid", "reason"] and "--inception-weights" in rows.loc["fid", "reason"]
    assert "metric fid: unavailable" in printed


@pytest.mark.slow
def test_bench_unknown_method_is_one_sentence(tmp_path, capsys):
    rc = main(["bench", "--methods", "spade,nope", "--dataset", "synthetic", "--out", str(tmp_path)])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert "nope" in err and "\n" not in err and err.startswith("error: ")
    assert not (tmp_path / "bench").exists()


@pytest.mark.slow
def test_bench_refuses_bad_arguments_before_running_anything(tmp_path, capsys):
    common = ["bench", "--methods", "spade", "--dataset", "synthetic", "--out", str(tmp_path)]
    assert main([*common, "--protocol", "cityscapes-mmseg-deeplabv3"]) == 2
    assert "cityscapes" in capsys.readouterr().err
    assert main([*common, "--steps", "0"]) == 2
    assert "--steps" in capsys.readouterr().err
    assert not (tmp_path / "bench").exists()


def test_bench_parser_has_metric_options():
    from benchmark.cli import build_parser

    args = build_parser().parse_args(["bench", "--methods", "spade", "--no-metrics", "--protocol", "synthetic-v1",
                                      "--inception-weights", "w.pth", "--segmenter-checkpoint", "s.safetensors"])
    assert args.no_metrics and args.protocol == "synthetic-v1"
    assert str(args.inception_weights) == "w.pth" and str(args.segmenter_checkpoint) == "s.safetensors"
