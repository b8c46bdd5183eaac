"""The exceptions a user can cause; the CLI prints them as one sentence instead of a traceback."""

from __future__ import annotations

from benchmark.checkpoint import CheckpointError
from benchmark.config import ConfigError
from benchmark.registry import RegistryError
from benchmark.trainer import TrainingError


def _user_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [CheckpointError, ConfigError, RegistryError, TrainingError,
                                         FileNotFoundError]
    from benchmark.datasets.check import DataCheckError
    from benchmark.pipeline import RunError

    errors += [DataCheckError, RunError]
    from methods.nn.perceptual import WeightsUnavailableError
    from metrics.base import ProtocolError, WeightsUnavailable

    errors += [ProtocolError, WeightsUnavailable, WeightsUnavailableError]
    return tuple(errors)


USER_ERRORS = _user_errors()
