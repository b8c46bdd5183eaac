"""The embedded synthetic dataset: deterministic, textured, multi-class, cached once and atomically."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.datasets import build_dataset, dataset_info, synthetic
from benchmark.datasets.synthetic import CLASS_NAMES, cache_dir, ensure_generated, generate_sample


def small_cfg(tmp_path, **extra) -> dict:
    return dict(type="synthetic", root=str(tmp_path), render_size=32, num_train=3, num_val=2, **extra)


def resolved(cfg: dict) -> dict:
    return synthetic.SyntheticDataset.resolve_cfg(cfg)


def test_same_seed_gives_identical_files(tmp_path):
    a = ensure_generated(resolved(small_cfg(tmp_path / "a")))
    b = ensure_generated(resolved(small_cfg(tmp_path / "b")))
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == 2 * (3 + 2) + 2  # images and labels of both splits, dataset.json, generator.json
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_different_seeds_and_splits_differ():
    lab0, img0 = generate_sample(0, "train", 0, 32)
    lab1, img1 = generate_sample(1, "train", 0, 32)
    lab_val, _ = generate_sample(0, "val", 0, 32)
    assert not np.array_equal(img0, img1) and not np.array_equal(lab0, lab1)
    assert not np.array_equal(lab0, lab_val)


def test_images_are_textured_layouts_of_several_classes():
    per_class_std: dict[int, list[float]] = {}
    for i in range(24):
        lab, img = generate_sample(0, "train", i, 64)
        classes = np.unique(lab)
        assert len(classes) >= 3, f"image {i} has only classes {classes}"
        assert (lab[0] == synthetic.SKY).mean() + (lab[0] == synthetic.CLOUD).mean() > 0.5  # sky on top
        for c in classes:
            mask = lab == c
            if mask.sum() >= 40:
                per_class_std.setdefault(int(c), []).append(float(img[mask].astype(float).std(axis=0).mean()))
    assert len(per_class_std) == len(CLASS_NAMES)  # every class occurs
    for c, stds in per_class_std.items():
        # a flat colour per class has std ~3 (sensor noise); texture and lighting give far more
        assert np.median(stds) > 8, f"{CLASS_NAMES[c]} is nearly flat: median std {np.median(stds):.1f}"


def test_one_layout_has_many_renderings():
    """The style draws are independent of the layout draws' outcome: the same class looks different
    across images (here: mean sky colour varies)."""
    skies = []
    for i in range(12):
        lab, img = generate_sample(0, "train", i, 32)
        skies.append(img[lab == synthetic.SKY].mean(axis=0))
    assert np.std(np.array(skies), axis=0).max() > 15


def test_dataset_reads_back_through_folder_code(tmp_path):
    cfg = small_cfg(tmp_path, load_size=36, crop_size=32)
    ds = build_dataset(cfg, "val")
    assert len(ds) == 2 and ds.root == cache_dir(resolved(cfg)) and ds.root.parent == tmp_path
    assert ds.info == dataset_info(cfg) and ds.info.class_names == CLASS_NAMES
    lab, img = generate_sample(0, "val", 1, 32)
    sample = ds[1]
    assert np.array_equal(sample["label"].numpy(), lab)
    assert np.array_equal(np.round((sample["image"].numpy().transpose(1, 2, 0) + 1) * 127.5), img)


def test_cache_is_reused_and_keyed_by_parameters(tmp_path, monkeypatch):
    cfg = small_cfg(tmp_path)
    build_dataset(cfg, "train")
    monkeypatch.setattr(synthetic, "generate_sample", lambda *a: pytest.fail("regenerated a cached dataset"))
    build_dataset(cfg, "train")
    assert cache_dir(resolved(cfg)) != cache_dir(resolved({**cfg, "generator_seed": 1}))
    assert cache_dir(resolved(cfg)) != cache_dir(resolved({**cfg, "num_train": 4}))
    assert cache_dir(resolved(cfg)) == cache_dir(resolved({**cfg, "seed": 5}))  # augmentation only


def test_env_cache_location(tmp_path, monkeypatch):
    monkeypatch.setenv("SISBENCH_CACHE", str(tmp_path / "env"))
    cfg = resolved(dict(type="synthetic", render_size=32, num_train=1, num_val=1))
    assert cache_dir(cfg).parent == tmp_path / "env" / "synthetic"


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    real = synthetic.generate_sample

    def failing(seed, split, index, size):
        if split == "val":
            raise KeyboardInterrupt
        return real(seed, split, index, size)

    monkeypatch.setattr(synthetic, "generate_sample", failing)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(small_cfg(tmp_path), "train")
    assert list(tmp_path.iterdir()) == []


GOLDEN_DIGEST = "9ed06c42d6b0ab5d7ab77ac51c7224ca58d5e2743b304c03cde277269861f0a5"
_FINGERPRINT = """
import hashlib
import numpy as np
from benchmark.datasets import synthetic as s
h = hashlib.sha256()
for split, i in (("train", 0), ("train", 1), ("train", 2), ("val", 0)):
    lab, img = s.generate_sample(0, split, i, 48)
    h.update(lab.tobytes()); h.update(img.tobytes())
rng = np.random.default_rng(7)
x = np.linspace(-50, 50, 1001)
floats = [s.noise(rng, 48, 3, 3), s.noise1d(rng, 48, 3), s._blur(rng.random((20, 20)), 0.9), s._exp(-x * x / 100),
          s._sin(x), s._upsample(rng.random((4, 6)), 33, 17)]
for f in floats:
    h.update(np.ascontiguousarray(f, dtype=np.float64).tobytes())
print(h.hexdigest())
"""


@pytest.mark.slow
def test_generation_is_bit_identical_under_every_simd_and_blas_dispatch():
    """The shipped synthetic-v1 segmenter scores these pixels on every machine, so generation must not
    depend on the CPU: numpy's SIMD dispatch (AVX-512 vs AVX2 vs SSE) and OpenBLAS's kernel choice are
    varied here, and the float internals as well as the bytes must not change. The digest is pinned too,
    so any other machine (CI) checks itself against this one."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(synthetic.__file__).resolve().parents[2]
    variants = [{}, {"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"},
                {"NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR", "OPENBLAS_CORETYPE": "Nehalem"},
                {"OPENBLAS_CORETYPE": "Sandybridge"}, {"OPENBLAS_CORETYPE": "SkylakeX"}]
    digests = set()
    for extra in variants:
        env = {**os.environ, "OMP_NUM_THREADS": "1", **extra}
        out = subprocess.run([sys.executable, "-c", _FINGERPRINT], capture_output=True, text=True, env=env,
                             cwd=root, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1, f"generation depends on the CPU dispatch: {digests}"
    # generator version 3 on an AMD EPYC (AVX-512) machine, numpy 2.4.6
    assert digests == {GOLDEN_DIGEST}


def test_deterministic_helpers_match_numpy_and_scipy():
    from scipy.ndimage import gaussian_filter

    x = np.linspace(-700, 700, 20001)
    assert np.max(np.abs(synthetic._exp(x) / np.exp(x) - 1)) < 1e-13
    x = np.linspace(-1e4, 1e4, 200001)
    assert np.max(np.abs(synthetic._sin(x) - np.sin(x))) < 2e-12
    img = (np.random.default_rng(0).random((40, 30)) > 0.5).astype(np.float64)
    for sigma in (0.6, 1.3):
        assert np.max(np.abs(synthetic._blur(img, sigma) - gaussian_filter(img, sigma))) < 1e-14
