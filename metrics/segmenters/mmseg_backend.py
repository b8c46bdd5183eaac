"""Segmenter kind ``mmseg``: any mmsegmentation config + checkpoint, run through mmseg itself.

Needs the ``seg`` extra (mmcv 2.1 with compiled ops, mmsegmentation 1.2.2), imported only when this kind
is used. The checkpoint is read with ``torch.load(weights_only=True)`` and its state dict handed to the
model, so mmengine's loader (which unpickles arbitrary objects) never runs and safe loading stays on.

Images go through the config's own test pipeline (``LoadImageFromNDArray`` in place of the file loader),
data preprocessor and ``test_step``: exactly what ``mmseg.apis.inference_model`` does for a BGR array.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from metrics.base import resolve_weights
from metrics.segmenters import Segmenter, SegmenterSpec

SEG_EXTRA_HINT = ("the `mmseg` segmenter kind needs the `seg` extra: pip install 'sisbench[seg]' (mmcv 2.1.0 "
                  "built with ops, mmsegmentation 1.2.2); the `mmseg-builtin` kind runs the DeepLabV3 zoo "
                  "checkpoints without it")


def require_mmseg() -> Any:
    """Import mmseg, or fail with one sentence saying how to install it."""
    try:
        import mmseg
        import mmseg.apis  # noqa: F401  (imports mmcv.ops: fails without compiled mmcv)
    except ImportError as exc:
        raise ImportError(f"{SEG_EXTRA_HINT} ({exc})") from None
    return mmseg


class MMSegSegmenter(Segmenter):
    """An mmseg ``EncoderDecoder`` behind the :class:`Segmenter` interface."""

    def __init__(self, config: str | os.PathLike | Any, state_dict: dict[str, Tensor] | None = None, *,
                 checkpoint_hash: str | None = None, device: torch.device | str = "cpu"):
        super().__init__()
        require_mmseg()
        from mmengine.config import Config
        from mmengine.dataset import Compose
        from mmseg.apis import init_model

        cfg = Config.fromfile(str(config)) if isinstance(config, (str, os.PathLike)) else copy.deepcopy(config)
        self.model = init_model(cfg, checkpoint=None, device=str(device))
        if state_dict is not None:
            self.model.load_state_dict(state_dict, strict=True)
        self.model.eval()
        pipeline = copy.deepcopy(self.model.cfg.test_pipeline)
        pipeline = [t for t in pipeline if t["type"] != "LoadAnnotations"]
        pipeline[0] = dict(type="LoadImageFromNDArray")
        self.pipeline = Compose(pipeline)
        self.num_classes = int(self.model.decode_head.num_classes)
        self.checkpoint_hash = checkpoint_hash
        self.config_name = Path(str(config)).stem if isinstance(config, (str, os.PathLike)) else "config"

    def _batch(self, images: Tensor) -> dict[str, Any]:
        # mmseg reads BGR uint8 files; its data preprocessor (bgr_to_rgb=True) turns them back into RGB
        arrays = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        arrays = arrays.permute(0, 2, 3, 1).flip(-1).cpu().numpy()
        data: dict[str, list] = {"inputs": [], "data_samples": []}
        for arr in arrays:
            item = self.pipeline(dict(img=np.ascontiguousarray(arr)))
            data["inputs"].append(item["inputs"])
            data["data_samples"].append(item["data_samples"])
        return data

    @torch.no_grad()
    def logits(self, images: Tensor) -> Tensor:
        """mmseg's ``seg_logits`` ``[B, C, H, W]`` (at the input size)."""
        samples = self.model.test_step(self._batch(images))
        return torch.stack([s.seg_logits.data for s in samples]).to(images.device)

    @torch.no_grad()
    def predict(self, images: Tensor) -> Tensor:
        samples = self.model.test_step(self._batch(images))
        return torch.stack([s.pred_sem_seg.data[0] for s in samples]).long().to(images.device)

    @torch.no_grad()
    def features(self, images: Tensor) -> Tensor:
        """Decode-head features before the classifier (``_forward_feature``), spatially averaged."""
        data = self.model.data_preprocessor(self._batch(images), False)
        feats = self.model.decode_head._forward_feature(self.model.extract_feat(data["inputs"]))
        return feats.mean(dim=(2, 3)).to(images.device)

    def describe(self) -> dict[str, Any]:
        import mmseg

        return {**super().describe(), "config": self.config_name, "mmseg": mmseg.__version__}


def build_mmseg_segmenter(spec: SegmenterSpec, *, num_classes: int, checkpoint: Path | None = None,
                          cache_dir: str | os.PathLike | None = None, device: torch.device | str = "cpu",
                          **_: Any) -> MMSegSegmenter:
    """Segmenter kind ``mmseg``: ``spec.name`` is the mmseg config file, ``spec.checkpoint`` its weights."""
    from metrics.segmenters.deeplabv3 import read_checkpoint

    require_mmseg()
    source = checkpoint or spec.checkpoint
    path, digest = resolve_weights(source, url=None, sha256=spec.sha256,
                                   cache_dir=None if cache_dir is None else Path(cache_dir) / "checkpoints",
                                   what=f"mmseg checkpoint for {spec.name}",
                                   fix="pass --segmenter-checkpoint PATH (config key protocol.segmenter_checkpoint)")
    return MMSegSegmenter(spec.name, read_checkpoint(path), checkpoint_hash=digest, device=device)
