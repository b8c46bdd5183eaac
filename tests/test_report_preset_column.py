"""Rows that name what they are: every table the report writes (csv, md, tex, HTML) has a preset column, a
run of a preset other than the paper's never stands in the row under the published numbers unmarked, and
titles, captions and figures name methods by their papers, never by seed numbers."""

from __future__ import annotations

import re
from html import escape

import pandas as pd

from benchmark.report import build_report
from benchmark.report.tables import (
    CITATIONS,
    NON_PAPER_ROW,
    PAPER_TABLES,
    SPADE_TABLE1,
    cited_name,
    join_source,
    source_label,
    split_source,
)
from tests.test_report import write_oracle, write_run

TINY_ROW = NON_PAPER_ROW.format(preset="tiny")


def _runs(out):
    # the same method and protocol at both presets, beside SPADE's published Table 1
    write_run(out, "coco_stuff", "spade", "paper-1", preset="paper", protocol="coco_stuff-spade-legacy",
              metrics={"mIoU": 36.0, "accu": 66.0, "FID": 25.0})
    write_run(out, "coco_stuff", "spade", "tiny-1", preset="tiny", protocol="coco_stuff-spade-legacy",
              metrics={"mIoU": 12.3, "accu": 40.0, "FID": 90.0})
    write_oracle(out, "coco_stuff", "coco_stuff-spade-legacy", {"mIoU": 45.0, "accu": 70.0})
    write_run(out, "synthetic", "slnp", "tiny-s", preset="tiny", protocol="synthetic-v1",
              metrics={"mIoU": 50.0, "accu": 80.0, "FD-seg": 3.0})
    write_oracle(out, "synthetic", "synthetic-v1", {"mIoU": 80.0, "accu": 90.0})


def test_sources_round_trip_and_label_the_preset():
    assert split_source(join_source("spade-legacy", "v1", "tiny")) == ("spade-legacy", "v1", "tiny")
    assert source_label("spade-legacy") == "measured (spade-legacy)"
    assert source_label("spade-legacy @tiny") == f"measured (spade-legacy), {TINY_ROW}"
    assert TINY_ROW == "SISBench tiny preset, not the paper's schedule"
    assert cited_name("adanorm") == "Xu & Tan 2022, adaptive normalization"
    assert cited_name("slnp") == "Zhang et al. 2020, SLNP-GAN"
    assert set(CITATIONS) == {"crn", "pix2pix", "pix2pixhd", "spade", "adanorm", "slnp"}


def test_every_written_table_has_a_preset_column_and_marks_tiny_rows(tmp_path):
    _runs(tmp_path)
    summary = build_report(tmp_path)
    assert not summary.problems

    # the paper table: published rows "the paper's", the paper-preset run in the plain row, the tiny run apart
    table = pd.read_csv(tmp_path / "tables" / "spade_table1.csv", keep_default_na=False)
    assert list(table.columns[:3]) == ["method", "source", "preset"]
    spade = table[table["method"] == "SPADE"].set_index("source")
    assert spade.loc["published", "preset"] == "the paper's"
    assert spade.loc["measured (spade-legacy)", "preset"] == "paper"
    assert spade.loc["measured (spade-legacy)", "COCO-Stuff mIoU"] == "36.0"
    tiny = spade.loc[f"measured (spade-legacy), {TINY_ROW}"]
    assert (tiny["preset"], tiny["COCO-Stuff mIoU"]) == ("tiny", "12.3")
    oracle = table[table["method"] == "oracle (real images)"]
    assert set(oracle["preset"]) == {"-"}
    cells = pd.read_csv(tmp_path / "tables" / "spade_table1_cells.csv", keep_default_na=False)
    assert set(cells.loc[cells["text"] == "12.3", "preset"]) == {"tiny"}
    md = (tmp_path / "tables" / "spade_table1.md").read_text()
    assert "| method | source | preset |" in md
    assert f"| SPADE | measured (spade-legacy), {TINY_ROW} | tiny | 12.3 |" in md
    assert any(TINY_ROW in line and "not comparable with the published numbers" in line
               for line in md.splitlines())
    tex = (tmp_path / "tables" / "spade_table1.tex").read_text()
    assert "method & source & preset" in tex and "& tiny & 12.3" in tex

    # the dataset tables: a preset column in every format
    for dataset, preset in (("coco_stuff", {"paper", "tiny"}), ("synthetic", {"tiny"})):
        csv = pd.read_csv(tmp_path / dataset / "table.csv", keep_default_na=False)
        assert "preset" in csv.columns and set(csv.loc[csv["registry_name"] != "oracle", "preset"]) == preset
        seeds = pd.read_csv(tmp_path / dataset / "table_seeds.csv", keep_default_na=False)
        assert set(seeds.loc[seeds["registry_name"] != "oracle", "preset"]) == preset
        assert "| method | preset | n |" in (tmp_path / dataset / "table.md").read_text()
        assert "method & preset & n" in (tmp_path / dataset / "table.tex").read_text()
    coco = pd.read_csv(tmp_path / "coco_stuff" / "table.csv", keep_default_na=False)
    # two presets of one method are two rows told apart by the preset column, not by a config id
    assert sorted(coco.loc[coco["registry_name"] == "spade", "method"]) == ["SPADE", "SPADE"]

    html = (tmp_path / "index.html").read_text()
    assert '<th rowspan="2">preset</th>' in html and "<th>preset</th>" in html
    assert escape(f"measured (spade-legacy), {TINY_ROW}") in html


def test_titles_and_figures_name_methods_by_their_papers(tmp_path):
    _runs(tmp_path)
    summary = build_report(tmp_path)
    titles = [spec.title for spec in PAPER_TABLES] + [f.title for f in summary.figures] + \
        [what for what, _ in summary.skipped]
    assert not [t for t in titles if re.search(r"seed 0\d\d", t, re.I)]
    assert SPADE_TABLE1.title.startswith("Park et al. 2019, SPADE")
    assert {spec.title.split(":")[0] for spec in PAPER_TABLES} == {
        "Park et al. 2019, SPADE", "Xu & Tan 2022, adaptive normalization", "Zhang et al. 2020, SLNP-GAN"}
    html = (tmp_path / "index.html").read_text()
    assert not re.search(r"seed 0\d\d", html, re.I)
