"""SISBench: a comparative benchmark suite for semantic image synthesis."""

__version__ = "0.1.0"
