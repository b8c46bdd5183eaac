"""The one base class of every error a user can cause (a bad option, file, config or run directory).

Dependency-free on purpose: every module that raises such an error imports it without pulling in torch or
mmengine. The CLI catches :class:`UserError` and prints its message as one sentence, exit status 2; anything
else is a bug and keeps its traceback. Subclasses keep their historical builtin base too (``ConfigError`` is
still a ``ValueError``), so callers catching the builtin keep working.
"""

from __future__ import annotations


class UserError(Exception):
    """An error the user can fix; ``str(exc)`` is one sentence naming the thing and the fix."""


class ConfigError(UserError, ValueError):
    """A config could not be resolved (unknown preset, missing file, bad override, bad search path).

    Here rather than in :mod:`benchmark.config` so that the modules config loading calls
    (:mod:`benchmark.schedule`) raise it without importing their caller; ``benchmark.config`` re-exports it."""


class WeightsUnavailable(UserError, RuntimeError):
    """A network's weights (a metric's, a segmenter's, a method's VGG) are neither at a local path nor
    downloadable, or are not the expected file; the message names the option that fixes it."""
