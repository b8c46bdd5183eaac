"""The metric package's own exception, below every metric module so that each can raise it."""

from __future__ import annotations


class ProtocolError(ValueError):
    """A protocol cannot score this data (another dataset's protocol, labels outside its mapping)."""
