"""results/published/sdm_table1.csv against SDM's Table 1 (FID and LPIPS, typed here from the paper, arXiv
2207.00050: CelebAMask-HQ, Cityscapes, ADE20K, COCO-Stuff, as printed)."""

from __future__ import annotations

import pytest

TABLE1 = {"celebamask_hq": (18.8, 0.422), "cityscapes": (42.1, 0.362), "ade20k": (27.5, 0.524),
          "coco_stuff": (15.9, 0.518)}


@pytest.fixture(scope="module")
def published():
    try:
        from benchmark.report.tables import PUBLISHED_DIR, load_published
    except ImportError:  # pragma: no cover - an older sisbench
        pytest.skip("this sisbench has no published-numbers loader")
    if not (PUBLISHED_DIR / "sdm_table1.csv").is_file():
        pytest.skip(f"{PUBLISHED_DIR} holds no sdm_table1.csv (an installed sisbench without the checkout's results)")
    return load_published()


def test_sdm_published_numbers_are_the_papers(published):
    rows = published[published["file"] == "sdm_table1"]
    got = {(r.dataset, r.metric): r.value for r in rows.itertuples()}
    expected = {}
    for dataset, (fid, lpips) in TABLE1.items():
        expected[(dataset, "FID")] = fid
        expected[(dataset, "LPIPS")] = lpips
    assert got == expected
    assert set(rows["method"]) == {"SDM"} and set(rows["table"]) == {"Table 1"}
    assert rows["protocol"].str.contains("1,000 DDPM steps").all()
    assert rows[rows["dataset"] == "cityscapes"]["protocol"].str.contains("512x256").all()
