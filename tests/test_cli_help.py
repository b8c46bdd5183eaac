"""The help: every option of every subcommand says what it does; --version; the usage line names the program."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from benchmark import cli


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))
        else:
            yield path, action


def test_every_option_of_every_subcommand_has_a_help_text():
    actions = list(_walk(cli.build_parser()))
    commands = {path for path, _ in actions}
    assert {("train",), ("evaluate",), ("segmenter", "train"), ("data", "check"), ("config",), ("run",)} <= commands
    missing = [f"{' '.join(path) or '(top)'} {'/'.join(a.option_strings) or a.dest}" for path, a in actions
               if not (a.help or "").strip() or a.help == argparse.SUPPRESS and a.option_strings != ["-h", "--help"]]
    assert not missing, missing


def test_the_options_the_issue_named_say_what_they_do():
    parser = cli.build_parser()
    found = {(path, opt): a.help for path, a in _walk(parser) for opt in a.option_strings}
    assert "train.iters" in found[(("config",), "--iters")]
    assert "train.amp" in found[(("run",), "--amp")]
    assert "capped at the training split" in found[(("segmenter", "train"), "--batch-size")]
    assert "windows" in found[(("segmenter", "train"), "--crop")]
    assert "folder the images are written to" in found[(("generate",), "--out")]
    assert "DIR.metrics.<protocol>.json" in found[(("evaluate",), "--images")]
    assert "seeds" in found[(("evaluate",), "--name")]


def test_version_and_generate_without_out(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.split()[-1][0].isdigit()
    with pytest.raises(SystemExit) as exc:
        cli.main(["generate", "--method", "spade", "--checkpoint", "x"])
    assert exc.value.code == 2 and "--out" in capsys.readouterr().err


def test_the_usage_line_names_the_console_script(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/sisbench", "--help"])
    assert cli.build_parser().format_usage().startswith("usage: sisbench ")
    monkeypatch.setattr(sys, "argv", ["/x/benchmark/__main__.py"])
    assert cli.build_parser().format_usage().startswith("usage: python -m benchmark ")


@pytest.mark.slow
def test_the_console_script_prints_its_own_name():
    from pathlib import Path

    script = Path(sys.executable).with_name("sisbench")
    if not script.is_file():
        pytest.skip("the sisbench console script is not installed in this environment")
    out = subprocess.run([str(script), "train", "--help"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("usage: sisbench train ")
