"""OASIS's configs, found by SISBench through the ``sisbench.configs`` entry point: this package's directory
holds ``oasis/oasis_<preset>.py``, ``oasis/oasis_<dataset>.py`` and ``_base_/methods/oasis.py``."""
