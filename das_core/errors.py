"""Errors a user can cause. Each carries one sentence naming the problem and the fix.

The app and the CLI catch `DASError` and show `str(err)` instead of a traceback.
"""

__all__ = ["DASError", "DataError", "ConfigError", "CheckpointError"]


class DASError(Exception):
    """Base class of every error a user can cause (bad input, bad option, bad file)."""


class DataError(DASError, ValueError):
    """A data set, file or array cannot be read or has the wrong shape or values."""


class ConfigError(DASError, ValueError):
    """An option is out of range or inconsistent (k > T, unknown sampler name, ...)."""


class CheckpointError(DASError, ValueError):
    """A checkpoint is missing, unsafe, corrupt or made for another model."""
