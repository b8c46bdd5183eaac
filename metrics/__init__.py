"""Metric plugins and the evaluation harness.

Importing this package registers the built-in metrics (``segmentation``, ``fid``, ``kid``,
``precision_recall``, ``fd_seg``, ``lpips_diversity``, ``texture``) and the protocols under ``configs/protocols/``.
The harness itself is
:func:`metrics.evaluate.evaluate` (generated images) and :func:`metrics.evaluate.evaluate_real` (the
oracle row).
"""

from metrics import diversity, fid, protocols, segmentation, texture  # noqa: F401
from metrics.segmenters import legacy  # noqa: F401  (the papers' segmenters and the spade-legacy protocols)
