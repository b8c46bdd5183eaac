"""SDM's configs, found by SISBench through the ``sisbench.configs`` entry point: this package's directory
holds ``sdm/sdm_<preset>.py``, ``sdm/sdm_<dataset>.py`` and ``_base_/methods/sdm.py``."""
