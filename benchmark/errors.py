"""The exceptions a user can cause; the CLI prints them as one sentence instead of a traceback.

Every SISBench user error derives from :class:`benchmark.user_error.UserError` (ConfigError, RunError,
CheckpointError, TrainingError, DataCheckError, RegistryError, CLIError); :data:`USER_ERRORS` adds the few
exceptions of the metric and network packages and ``FileNotFoundError`` that are printed the same way.
"""

from __future__ import annotations

from benchmark.checkpoint import CheckpointError
from benchmark.config import ConfigError
from benchmark.registry import RegistryError
from benchmark.trainer import TrainingError
from benchmark.user_error import UserError

__all__ = ["USER_ERRORS", "CheckpointError", "ConfigError", "RegistryError", "TrainingError", "UserError"]


def _user_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [UserError, CheckpointError, ConfigError, RegistryError, TrainingError,
                                         FileNotFoundError]
    from benchmark.datasets.check import DataCheckError
    from benchmark.pipeline import RunError

    errors += [DataCheckError, RunError]
    from metrics.base import ProtocolError, WeightsUnavailable

    errors += [ProtocolError, WeightsUnavailable]
    return tuple(errors)


USER_ERRORS = _user_errors()
