"""Errors a user can cause. Each carries one sentence naming the problem and the fix.

The app and the CLI catch `DASError` and show `str(err)` instead of a traceback.

A full disk is one of them: `DiskFullError` ("No space left on <folder>: free space or choose another
folder."), which `disk_full(err, folder)` makes of an `OSError` with errno ENOSPC/EDQUOT or of torch's
checkpoint writer failing (`RuntimeError: ... unexpected pos ...`, `PytorchStreamWriter failed ...`),
looking through the exception's cause and context too.
"""

import errno as _errno
from pathlib import Path
from typing import Optional, Union

__all__ = ["DASError", "DataError", "ConfigError", "CheckpointError", "DiskFullError", "is_disk_full", "disk_full"]


class DASError(Exception):
    """Base class of every error a user can cause (bad input, bad option, bad file)."""


class DataError(DASError, ValueError):
    """A data set, file or array cannot be read or has the wrong shape or values."""


class ConfigError(DASError, ValueError):
    """An option is out of range or inconsistent (k > T, unknown sampler name, ...)."""


class CheckpointError(DASError, ValueError):
    """A checkpoint is missing, unsafe, corrupt or made for another model."""


class DiskFullError(DASError, OSError):
    """The disk (or the quota) of a folder is full; an `OSError` with errno ENOSPC, so code that tolerates a
    failed write (`except OSError`) still does."""

    def __init__(self, folder: Union[str, Path]):
        self.folder = str(folder)
        super().__init__(_errno.ENOSPC, f"No space left on {self.folder}: free space or choose another folder.")

    def __str__(self) -> str:
        return str(self.strerror)

    def __reduce__(self):  # pickles by its folder (OSError's default would pass (errno, text) to __init__)
        return (type(self), (self.folder,))


_FULL_ERRNOS = {_errno.ENOSPC, getattr(_errno, "EDQUOT", _errno.ENOSPC)}
# what torch's zip writer (PyTorchStreamWriter) raises when a write to the file fails midway
_TORCH_WRITE_FAILURES = ("unexpected pos", "PytorchStreamWriter failed")


def is_disk_full(err: Optional[BaseException]) -> bool:
    """True when `err`, or an exception it was raised from or while handling, says the disk is full."""
    seen = set()
    while err is not None and id(err) not in seen and len(seen) < 16:
        seen.add(id(err))
        if isinstance(err, DiskFullError):
            return True
        if isinstance(err, OSError) and err.errno in _FULL_ERRNOS:
            return True
        if isinstance(err, RuntimeError) and any(s in str(err) for s in _TORCH_WRITE_FAILURES):
            return True
        err = err.__cause__ or err.__context__
    return False


def disk_full(err: BaseException, folder: Union[str, Path]) -> Optional[DiskFullError]:
    """The `DiskFullError` of `folder` when `err` says the disk is full (`err` itself when it already is one
    for any folder), else None."""
    if isinstance(err, DiskFullError):
        return err
    return DiskFullError(folder) if isinstance(err, Exception) and is_disk_full(err) else None
