"""sisbench-oasis: OASIS (Schönfeld et al., ICLR 2021) as a SISBench plugin.

The ``sisbench.methods`` entry point registers :class:`sisbench_oasis.oasis.OASIS` as ``oasis``; the
``sisbench.configs`` entry point points SISBench at :mod:`sisbench_oasis.configs`.
"""

__version__ = "0.1.0"
