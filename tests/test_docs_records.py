"""Numbers in the docs come from records: ``report --export-presets`` writes the measured figures of finished
tiny-preset runs into one file, docs/presets.md's tables are generated from it and from the configs, the tiny
presets give a reason for every key that departs from the paper, and nothing measured is typed by hand in the
README or the presets. Also the drift the docs once carried: OASIS's Cityscapes tiny config keeps the tiny
rates, and the SLNP-GAN decisions docs/methods.md records hold in the code."""

from __future__ import annotations

import json
import math
import re
import shutil

import pandas as pd
import pytest
import torch

from benchmark.cli import main
from benchmark.config import load_config
from benchmark.report import presets_doc
from benchmark.report.presets_doc import (
    builtin_methods,
    departures,
    missing_reasons,
    reasons,
    render_measured,
    update,
)
from benchmark.report.presets_export import COLUMNS, ExportError, export_presets, read_records
from benchmark.results import collect_runs
from tests.conftest import ROOT

TINY = ["--dataset", "synthetic", "--set", "data.num_train=16", "--set", "data.num_val=6",
        "--set", "train.batch_size=4", "--set", "model.ngf=8", "--no-progress"]
OASIS_CONFIGS = ROOT / "plugins" / "oasis" / "sisbench_oasis" / "configs"
#: a measured figure typed next to its name: "68.9 mIoU", "mIoU 68.9", "FD-seg 1.6", "~175 s", "438 s", "52 GFLOP"
MEASURED = re.compile(r"\d[\d.,]*\s*(?:mIoU|GFLOPs?\b|s of training|min \d+ s)|"
                      r"(?:mIoU|FD-seg|texture(?:_max)?|checkerboard)\s*(?:of\s*)?[:=]?\s*\d|~?\b\d+(?:\.\d+)?\s*s\b")


def _records(**row: object) -> pd.DataFrame:
    base = {c: None for c in COLUMNS}
    base.update({"method": "spade", "dataset": "synthetic", "preset": "tiny", "variant": "", "seed": 0,
                 "run_id": "tiny-abc", "protocol_id": "synthetic-v1", "protocol_version": 2, "num_images": 100,
                 "mIoU": 70.0, "oracle_mIoU": 80.0, "mIoU_of_oracle": 0.875, "image_metric": "FD-seg",
                 "image_metric_value": 2.0, "iterations": 600, "train_s": 175.0, "gflops_per_iter": 52.0,
                 "hardware": "Test CPU, 2 threads, cpu", "finished": "2026-12-01", "commit": "0123456789"})
    base.update(row)
    return pd.DataFrame([base], columns=list(COLUMNS))


# -- the generated page ----------------------------------------------------------------------------------

def test_docs_presets_md_is_generated_from_the_configs_and_the_record_file():
    assert presets_doc.main(["--check"]) == 0, ("docs/presets.md is stale: run "
                                                "`python -m benchmark.report.presets_doc --write`")
    assert tuple(pd.read_csv(presets_doc.RECORDS).columns) == COLUMNS


def test_a_hand_edit_or_a_new_record_makes_the_check_fail(tmp_path, monkeypatch, capsys):
    doc, records = tmp_path / "presets.md", tmp_path / "presets.csv"
    shutil.copy(presets_doc.DOC, doc)
    shutil.copy(presets_doc.RECORDS, records)
    monkeypatch.setattr(presets_doc, "DOC", doc)
    monkeypatch.setattr(presets_doc, "RECORDS", records)
    assert presets_doc.main(["--check"]) == 0
    # a number typed into the generated table
    doc.write_text(doc.read_text().replace("<!-- BEGIN GENERATED measured -->\n",
                                           "<!-- BEGIN GENERATED measured -->\n| SPADE | 68.9 |\n"))
    assert presets_doc.main(["--check"]) == 1
    assert "measured" in capsys.readouterr().err
    assert presets_doc.main(["--write"]) == 0 and presets_doc.main(["--check"]) == 0
    assert "68.9" not in doc.read_text()
    # a record added to the file: the table must follow it
    records.write_text(_records(mIoU=61.25).to_csv(index=False))
    assert presets_doc.main(["--check"]) == 1
    assert presets_doc.main(["--write"]) == 0
    text = doc.read_text()
    assert "| Park et al. 2019, SPADE | tiny | as shipped | 0 | 61.2 |" in text  # the mean, one seed: no interval
    assert presets_doc.main(["--check"]) == 0
    # a block removed is named
    doc.write_text(text.replace("<!-- BEGIN GENERATED departures:crn -->", ""))
    assert presets_doc.main(["--check"]) == 1
    assert "departures:crn" in capsys.readouterr().err


def test_an_empty_record_file_says_how_to_fill_it():
    text = render_measured(read_records(ROOT / "does-not-exist.csv"))
    assert text.startswith("No recorded runs yet: run `python -m benchmark run --methods")
    assert "`python -m benchmark report --export-presets docs/presets.csv`" in text
    assert not re.search(r"\d\.\d", text)


def test_the_measured_table_is_means_and_t_intervals_over_seeds():
    rows = pd.concat([_records(seed=s, run_id=f"tiny-{s}", mIoU=m, mIoU_of_oracle=m / 80.0,
                               image_metric_value=fd, finished=f"2026-12-0{s + 1}")
                      for s, m, fd in ((0, 70.0, 2.0), (1, 72.0, 2.5), (2, 74.0, 3.0))], ignore_index=True)
    text = render_measured(rows)
    from benchmark.report.stats import t_half_width

    half = t_half_width([70.0, 72.0, 74.0])
    assert f"| 0, 1, 2 | 72.0 ± {half:.1f} | 80.0 | 90% | FD-seg 2.50 ± " in text
    assert "2026-12-01 to 2026-12-03" in text and "Test CPU, 2 threads, cpu" in text


def test_every_key_in_which_tiny_departs_from_paper_has_a_reason():
    missing = {m: missing_reasons(m) for m in builtin_methods()}
    assert not {m: keys for m, keys in missing.items() if keys}, \
        "give each key a '# key: reason' comment in the method's tiny preset (or the tiny schedule)"
    # the table lists what the issue named: loss weights, learning rates, the init gain, CRN's outputs
    keys = {m: {k for k, _, _ in departures(m)} for m in ("spade", "crn", "slnp", "pix2pix")}
    assert {"loss.lambda_vgg", "model.init_gain", "optimizer.lr_D"} <= keys["spade"]
    assert "model.num_outputs" in keys["crn"] and "optimizer.lr_G" in keys["slnp"]
    assert "loss.lambda_l1" in keys["pix2pix"]


def test_reason_comments_are_parsed_with_several_keys_and_continuation_lines(tmp_path, monkeypatch):
    cfg = tmp_path / "m_tiny.py"
    cfg.write_text("# A header line: not a key.\n"
                   "# model.ngf, netD.ndf: narrow, so it runs in minutes\n"
                   "# on two cores.\n"
                   "model = dict(ngf=8)\n"
                   "# train.iters: short.\n"
                   "x = 1\n"
                   "# trailing remark without a key\n")
    found = reasons([cfg])
    assert found["model.ngf"] == found["netD.ndf"] == "narrow, so it runs in minutes on two cores."
    assert found["train.iters"] == "short."
    # a key whose reason is removed is reported
    spade_files = presets_doc._tiny_files("spade")
    stripped = tmp_path / "spade_tiny.py"
    method_file = next(f for f in spade_files if f.name == "spade_tiny.py")
    stripped.write_text("\n".join(line for line in method_file.read_text().splitlines()
                                  if not line.startswith("# optimizer.lr_D:")))
    monkeypatch.setattr(presets_doc, "_tiny_files",
                        lambda m: [stripped if f.name == "spade_tiny.py" else f for f in spade_files])
    assert missing_reasons("spade") == ["optimizer.lr_D"]


def test_no_measured_number_is_typed_in_the_readme_the_presets_page_or_a_preset():
    texts = {name: (ROOT / name).read_text() for name in ("README.md", "docs/protocols.md", "docs/your_data.md",
                                                           "docs/plugins.md")}
    page = (ROOT / "docs" / "presets.md").read_text()
    texts["docs/presets.md"] = presets_doc.BLOCK.sub("", page)  # generated blocks come from records
    for path in sorted(ROOT.glob("configs/*/*_tiny.py")) + sorted(OASIS_CONFIGS.glob("oasis/*.py")):
        texts[str(path.relative_to(ROOT))] = "\n".join(line for line in path.read_text().splitlines()
                                                       if line.lstrip().startswith("#"))
    typed = {name: MEASURED.findall(text) for name, text in texts.items()}
    assert not {name: hits for name, hits in typed.items() if hits}


def test_the_pattern_catches_what_the_readme_used_to_type():
    for line in ("| SPADE | 0, 1, 2 | 71.0 ± 6.6 | 86% | FD-seg 2.4", "OASIS row says 68.9 mIoU",
                 "took ~175 s", "438 s for 12 + 6 images", "52 GFLOPs per iteration", "texture_max 1.78"):
        assert MEASURED.search(line), line


# -- the record file from real runs ----------------------------------------------------------------------

@pytest.mark.slow
def test_export_presets_writes_the_runs_figures_and_the_table_follows(tmp_path, tiny_segmenter, capsys):
    out = tmp_path / "results"
    assert main(["run", "--methods", "spade", "--seeds", "0,1", "--iters", "2", "--out", str(out),
                 "--segmenter-checkpoint", tiny_segmenter, *TINY]) == 0
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(presets_doc.DOC, docs / "presets.md")
    target = docs / "presets.csv"
    capsys.readouterr()
    assert main(["report", "--out", str(out), "--export-presets", str(target)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {target}: 2 recorded runs (2 from this results folder; methods: spade)" in printed
    assert f"rewrote the measured table of {docs / 'presets.md'}" in printed

    records = read_records(target)
    results = collect_runs(out)
    assert list(records["seed"]) == [0, 1] and set(records["preset"]) == {"tiny"}
    oracle = results[results["method"] == "oracle"].iloc[0]
    for _, row in records.iterrows():
        run = results[results["run_id"] == row["run_id"]].iloc[0]
        metrics = json.loads((run["run_dir"] / "metrics.json").read_text())["metrics"]
        manifest = json.loads((run["run_dir"] / "manifest.json").read_text())
        assert row["mIoU"] == pytest.approx(metrics["mIoU"], rel=1e-5)
        assert row["oracle_mIoU"] == pytest.approx(oracle["mIoU"], rel=1e-5)
        assert row["mIoU_of_oracle"] == pytest.approx(metrics["mIoU"] / oracle["mIoU"], rel=1e-4)
        assert row["image_metric"] == ("FID" if metrics.get("FID") is not None else "FD-seg")
        assert row["image_metric_value"] == pytest.approx(metrics[row["image_metric"]], rel=1e-5)
        assert row["train_s"] == pytest.approx(manifest["compute"]["train_s"], rel=1e-5)
        assert row["gflops_per_iter"] == pytest.approx(manifest["compute"]["gflops_per_iter"], rel=1e-5)
        assert row["iterations"] == manifest["compute"]["iterations"] == 2
        assert row["finished"] == manifest["finished"][:10]
        sha = (manifest.get("git") or {}).get("commit")
        assert row["commit"] == ("" if not sha else sha[:10] + ("+dirty" if manifest["git"]["dirty"] else ""))
        assert "train.iters=2" in row["variant"]  # not the preset as shipped, and the file says so
        assert row["hardware"]
    # the page's table is the file's
    text = (docs / "presets.md").read_text()
    assert update(text, records, only=["measured"])[1] == []
    mean = records["mIoU"].mean()
    assert f"| Park et al. 2019, SPADE | tiny | {records['variant'].iloc[0]} | 0, 1 | {mean:.1f} ± " in text

    # exporting again from an empty results folder loses nothing already recorded
    assert main(["report", "--out", str(tmp_path / "empty"), "--export-presets", str(target)]) == 0
    assert read_records(target).equals(records)
    # ... and a run exported again replaces its own row instead of adding one
    again = export_presets(out, target)
    assert len(again) == 2 and again.equals(records)

    # a file that is not a record file: one sentence, before the report writes anything; the file unchanged
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    capsys.readouterr()
    assert main(["report", "--out", str(tmp_path / "fresh"), "--export-presets", str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert "other.csv has the columns a, b, not the preset record's" in err and "\n" not in err
    assert "Traceback" not in err
    assert other.read_text() == "a,b\n1,2\n" and not (tmp_path / "fresh" / "index.html").exists()
    assert main(["report", "--out", str(tmp_path / "fresh"), "--export-presets", str(docs)]) == 2
    assert "is a directory; give --export-presets a file name" in capsys.readouterr().err


def test_export_error_is_a_user_error():
    from benchmark.user_error import UserError

    assert issubclass(ExportError, UserError)
    with pytest.raises(ExportError, match="is a directory"):
        read_records(ROOT / "docs")


# -- drift fixed -----------------------------------------------------------------------------------------

def test_oasis_cityscapes_tiny_keeps_the_tiny_rates_and_paper_the_official_ones():
    tiny = load_config("oasis", "cityscapes", "tiny", config_dirs=[OASIS_CONFIGS])
    base = load_config("oasis", "synthetic", "tiny", config_dirs=[OASIS_CONFIGS])
    paper = load_config("oasis", "cityscapes", "paper", config_dirs=[OASIS_CONFIGS])
    assert (tiny["optimizer"]["lr_G"], tiny["optimizer"]["lr_D"]) == (base["optimizer"]["lr_G"],
                                                                     base["optimizer"]["lr_D"]) == (1e-3, 4e-3)
    assert (tiny["model"]["ema_decay"], tiny["train"]["batch_size"]) == (0.99, 4)
    assert tiny["loss"]["lambda_labelmix"] == 5.0 and tiny["loss"]["unweighted_classes"] == [0]
    assert (paper["optimizer"]["lr_G"], paper["optimizer"]["lr_D"], paper["model"]["ema_decay"],
            paper["train"]["batch_size"]) == (4e-4, 4e-4, 0.999, 20)


@pytest.mark.slow  # one train_step
def test_slnp_generator_loss_is_non_saturating_and_d0_scores_at_g0_resolution():
    """docs/methods.md records both: G minimises -log D(G(L)) (not Eq. 18's log(1 - D(G(L)))), and D0 scores
    I0 against the real image area-downsampled to G0's resolution, without upsampling I0."""
    from benchmark.datasets.base import DataInfo
    from benchmark.step import LocalStepContext
    from methods.slnp import SLNPGAN

    torch.manual_seed(0)
    info = DataInfo(name="toy", num_classes=4, ignore_index=255, contain_dontcare_label=True, image_size=(32, 32))
    method = SLNPGAN(load_config("slnp", "synthetic", "tiny").to_dict(), info)
    logits = torch.tensor([-3.0, 0.0, 2.0])
    g = method.gan_loss(logits, True, for_discriminator=False)
    assert float(g) == pytest.approx(float(torch.nn.functional.softplus(-logits).mean()), rel=1e-6)
    saturating = torch.log1p(-torch.sigmoid(logits)).mean()
    assert not math.isclose(float(g), float(saturating), rel_tol=1e-3)
    seen: dict[str, list] = {"netD0": [], "netD1": []}
    for name, shapes in seen.items():
        getattr(method, name).register_forward_pre_hook(lambda m, args, s=shapes: s.append(tuple(args[0].shape)))
    method.on_stage_start("main")
    method.train()
    batch = {"label": torch.randint(0, 4, (2, 32, 32)), "image": torch.rand(2, 3, 32, 32) * 2 - 1}
    opts = method.configure_optimizers("main")
    method.train_step(batch, LocalStepContext(opts, {n: getattr(method, n) for n in method.networks_for("main")},
                                              stage="main"))
    assert {s[-2:] for s in seen["netD0"]} == {(16, 16)} and {s[-2:] for s in seen["netD1"]} == {(32, 32)}


# -- the README as a landing page ------------------------------------------------------------------------

def test_readme_is_a_landing_page_linking_each_reference_page_once():
    readme = (ROOT / "README.md").read_text()
    assert 150 <= len(readme.splitlines()) <= 200
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if "tox" in line and "venv" in line
          and not line.lstrip().startswith("#")]
    assert ci and ci[-1].strip() in readme  # the test command is the one CI runs
    links = re.findall(r"\]\((docs/[^)#]*)\)", readme)
    assert len(links) == len(set(links)), "each reference page is linked once"
    for page in ("docs/presets.md", "docs/protocols.md", "docs/legacy_protocol.md", "docs/architecture.md",
                 "docs/methods.md", "docs/security.md", "docs/your_data.md", "docs/plugins.md", "docs/tuning/"):
        assert page in links and (ROOT / page).exists(), page
    for method in builtin_methods() + ["oasis"]:
        assert (ROOT / "docs" / "tuning" / f"{method}.md").is_file(), method
