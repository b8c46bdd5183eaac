"""sisbench-sdm: SDM (Wang et al., "Semantic Image Synthesis via Diffusion Models", 2022) as a SISBench plugin.

The ``sisbench.methods`` entry point registers :class:`sisbench_sdm.sdm.SDM` as ``sdm``; the
``sisbench.configs`` entry point points SISBench at :mod:`sisbench_sdm.configs`.
"""

__version__ = "0.1.0"
