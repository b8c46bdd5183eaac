"""docs/methods.md's preset tables are generated from the configs (methods/preset_tables.py): they must
match the configs of today, and a stale value or a missing block must be reported."""

from __future__ import annotations

import pytest

from methods import preset_tables
from methods.preset_tables import DOC, builtin_methods, missing_blocks, render, update


def test_every_builtin_method_has_a_current_preset_table():
    text = DOC.read_text()
    assert set(builtin_methods()) == {"adanorm", "crn", "pix2pix", "pix2pixhd", "slnp", "spade"}
    assert missing_blocks(text) == []
    _, stale = update(text)
    assert stale == [], (f"docs/methods.md: the preset tables of {stale} differ from the configs; "
                         f"run `python -m methods.preset_tables --write`")


def test_a_stale_value_is_reported_and_rewritten(capsys):
    text = DOC.read_text()
    row = "| `model.ngf1` | "
    start = text.index(row, text.index("presets:slnp -->"))
    line = text[start:text.index("\n", start)]
    stale_text = text.replace(line, "| `model.ngf1` | 16 | 64 |")    # what the old prose claimed
    assert stale_text != text
    fixed, stale = update(stale_text)
    assert stale == ["slnp"] and fixed == text
    # Without its markers a method's table is missing, and --check says which and how to fix it.
    unmarked = text.replace("<!-- BEGIN GENERATED presets:crn -->", "")
    assert missing_blocks(unmarked) == ["crn"]


def test_table_lists_config_values():
    block = render("slnp")
    assert "| `noise_prior.nf` | 16 | 64 |" in block
    assert "`train.stages.noise_prior.iters`" in block and "Parameters, paper preset (ade20k): VAE 31.40 M" in block


@pytest.mark.slow
def test_check_exits_nonzero_on_stale_docs(tmp_path, monkeypatch, capsys):
    doc = tmp_path / "methods.md"
    doc.write_text(DOC.read_text().replace("<!-- BEGIN GENERATED presets:pix2pix -->\n",
                                           "<!-- BEGIN GENERATED presets:pix2pix -->\nhand-written\n"))
    monkeypatch.setattr(preset_tables, "DOC", doc)
    assert preset_tables.main(["--check"]) == 1
    assert "pix2pix" in capsys.readouterr().err
    assert preset_tables.main(["--write"]) == 0
    assert preset_tables.main(["--check"]) == 0
