"""Evaluation protocols: every registered protocol is well-formed and round-trips through its record; the
required protocols exist; defaults per dataset; segmenter kinds are pluggable."""

from __future__ import annotations

import pytest

from benchmark.registry import DATASETS, METRICS, PROTOCOLS, RegistryError
from metrics.protocols import Protocol, default_protocol, get_protocol
from metrics.segmentation import LABEL_MAPPINGS
from metrics.segmenters import (
    _KINDS,
    Segmenter,
    SegmenterSpec,
    build_segmenter,
    register_segmenter_kind,
    segmenter_kinds,
)
from metrics.segmenters.deeplabv3 import MMSEG_ZOO, DeepLabV3Config, DeepLabV3Segmenter

REAL_DATASETS = ("coco_stuff", "ade20k", "ade20k_outdoor", "cityscapes", "celebamask_hq", "folder")


@pytest.mark.parametrize("name", PROTOCOLS.names())
def test_registered_protocol_is_well_formed(name):
    protocol = PROTOCOLS.get(name)
    assert isinstance(protocol, Protocol) and protocol.id == name
    assert Protocol.from_dict(protocol.to_dict()) == protocol
    assert protocol.dataset in DATASETS, f"{name}: no dataset plugin {protocol.dataset!r}"
    assert protocol.label_mapping in LABEL_MAPPINGS
    for metric in protocol.metrics:
        assert metric in METRICS
    if protocol.segmenter is not None:
        assert protocol.segmenter.kind in segmenter_kinds()
        if protocol.segmenter.kind == "mmseg-builtin":
            zoo = MMSEG_ZOO[protocol.segmenter.name]
            mapped = LABEL_MAPPINGS[protocol.label_mapping].num_classes
            assert zoo.num_classes == mapped, f"{name}: zoo model has {zoo.num_classes} classes, labels {mapped}"
    assert "FID" not in protocol.id and PROTOCOLS.entries()[PROTOCOLS.names().index(name)].description


def test_required_protocols_exist():
    names = set(PROTOCOLS.names())
    assert "synthetic-v1" in names
    for d in ("coco_stuff", "ade20k", "ade20k_outdoor", "cityscapes"):
        assert f"{d}-mmseg-deeplabv3" in names
    for d in REAL_DATASETS:
        assert f"{d}-trained-deeplabv3" in names


def test_synthetic_protocol_ships_its_segmenter_and_falls_back_to_fd_seg():
    from metrics.base import sha256_file
    from metrics.segmenters.train import shipped_checkpoint

    p = get_protocol("synthetic-v1")
    # the network ships inside the package, pinned: it never trains at first use
    assert p.segmenter.kind == "trained" and "auto_train" not in p.segmenter.kwargs
    assert p.segmenter.checkpoint == "builtin:synthetic-v1" and len(p.segmenter.sha256) == 64
    assert sha256_file(shipped_checkpoint(p)) == p.segmenter.sha256
    assert p.fallback_extractor == "fd-seg" and "fd_seg" in p.metrics and p.fid_extractor == "inception-v3-compat"


def test_ade20k_outdoor_uses_the_ade20k_checkpoint():
    assert (get_protocol("ade20k_outdoor-mmseg-deeplabv3").segmenter
            == get_protocol("ade20k-mmseg-deeplabv3").segmenter)
    assert get_protocol("cityscapes-mmseg-deeplabv3").resolution == (256, 512)


def test_default_protocols():
    assert default_protocol("synthetic") == "synthetic-v1"
    # the papers' protocol wherever it is registered (importing metrics registers the legacy ones)
    assert default_protocol("coco_stuff") == "coco_stuff-spade-legacy"
    assert default_protocol("cityscapes") == "cityscapes-spade-legacy"
    assert default_protocol("celebamask_hq") == "celebamask_hq-trained-deeplabv3"
    assert default_protocol("folder") == "folder-trained-deeplabv3-cpu"
    with pytest.raises(ValueError, match="no protocol"):
        default_protocol("no_such_dataset")
    with pytest.raises(RegistryError, match="unknown protocol"):
        get_protocol("no-such-protocol")


def test_invalid_protocols_are_refused():
    base = get_protocol("synthetic-v1").to_dict()
    with pytest.raises(ValueError, match="unknown keys typo"):
        Protocol.from_dict({**base, "typo": 1})
    with pytest.raises(ValueError, match="resize_filter"):
        Protocol.from_dict({**base, "resize_filter": "lanczos3"})
    with pytest.raises(ValueError, match="label mapping"):
        Protocol.from_dict({**base, "label_mapping": "nope"})
    with pytest.raises(ValueError, match="need a segmenter"):
        Protocol.from_dict({**base, "segmenter": None})
    with pytest.raises(ValueError, match="averaging rule 'mean'"):
        Protocol.from_dict({**base, "averaging": "mean"})
    with pytest.raises(RegistryError, match="not an instance of metrics.protocols.Protocol"):
        PROTOCOLS.add(dict(base), name="raw-dict")


def test_segmenter_kinds_are_pluggable():
    built = []

    def factory(spec, **_):  # always a 4-class network
        built.append(spec.name)
        return DeepLabV3Segmenter(DeepLabV3Config(num_classes=4, depth=18, stem_channels=8,
                                                  base_channels=8, head_channels=8, aux_head=False))

    register_segmenter_kind("legacy-test", factory)
    try:
        seg = build_segmenter(SegmenterSpec(kind="legacy-test", name="x"), num_classes=4)
        assert isinstance(seg, Segmenter) and built == ["x"] and not seg.training
        with pytest.raises(ValueError, match="already registered"):
            register_segmenter_kind("legacy-test", factory)
        with pytest.raises(ValueError, match="predicts 4 classes"):
            build_segmenter(SegmenterSpec(kind="legacy-test"), num_classes=5)
    finally:
        _KINDS.pop("legacy-test")
    with pytest.raises(ValueError, match="module:function"):
        register_segmenter_kind("legacy-bad", "no_colon_here")
    with pytest.raises(ValueError, match="unknown segmenter kind 'nope'"):
        build_segmenter(SegmenterSpec(kind="nope"), num_classes=3)
