"""The report page in a real headless Chromium: it renders, its tables are there, every figure loads.

The page's own script marks each ``<img>`` with ``data-loaded="yes"|"no"`` (``naturalWidth > 0`` after the
load event) and counts them in ``#image-check``; the DOM Chromium dumps after loading is parsed here.
Chromium comes from the system packages (``apt-get install -y chromium``). Under CI (``CI`` set) a missing
browser fails the test; elsewhere it is skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from benchmark.report import build_report
from tests.test_report import build_fake_results

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--virtual-time-budget=10000")


def find_browser() -> str:
    """The Chromium binary; fails under CI when there is none, else skips."""
    found = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if found is None:
        message = "no Chromium on PATH (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run the browser test")
        pytest.skip(message)
    return found


def run_browser(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=180, check=False)


class DomSummary(HTMLParser):
    """The tables, images and image-check status of a dumped DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.check: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table":
            self.tables.append(attributes.get("id") or "")
        elif tag == "img":
            self.images.append(attributes)
        elif attributes.get("id") == "image-check":
            self.check = attributes


def dump_dom(browser: str, page: Path, profile: Path) -> DomSummary:
    result = run_browser(browser, profile, "--dump-dom", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    summary = DomSummary()
    summary.feed(result.stdout)
    return summary


@pytest.mark.slow
def test_report_page_renders_with_tables_and_loaded_images(tmp_path):
    browser = find_browser()
    out = tmp_path / "out"
    build_fake_results(out)
    report = build_report(out)

    dom = dump_dom(browser, report.index, tmp_path / "profile-1")
    assert {"table-spade_table1", "table-seed000_table1", "table-seed002_table2", "table-seed002_table3",
            "dataset-folder-1"} <= set(dom.tables)
    assert len(dom.images) == len(report.figures) >= 5  # with the learning curves
    assert [img["data-loaded"] for img in dom.images] == ["yes"] * len(dom.images), dom.images
    assert (dom.check.get("data-total"), dom.check.get("data-broken")) == (str(len(dom.images)), "0")

    screenshot = tmp_path / "page.png"
    result = run_browser(browser, tmp_path / "profile-2", f"--screenshot={screenshot}", "--window-size=1400,2400",
                         report.index.as_uri())
    assert result.returncode == 0 and screenshot.stat().st_size > 10_000, result.stderr[-2000:]

    # the check can fail: a figure file gone is reported as broken, not silently passed
    report.figures[0].png.unlink()
    dom = dump_dom(browser, report.index, tmp_path / "profile-3")
    assert dom.check.get("data-broken") == "1"
    broken = [img["src"] for img in dom.images if img["data-loaded"] == "no"]
    assert broken == [report.figures[0].png.relative_to(out).as_posix()]

