"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every file the project writes that a crash could leave half-written (checkpoints, run JSON files,
decoded-clip cache entries) goes through `atomic_write`.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator, Union

__all__ = ["atomic_write", "atomic_path"]

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_write(path: Union[str, Path], mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside `path`; on success fsync it and `os.replace` it onto `path`.

    On any exception (or a kill mid-write) the temporary file is removed (or left as a `.*.tmp`
    file that no reader opens) and `path` keeps its previous content.

    Args:
        path: the final file.
        mode: "wb" or "w".
    """
    path = Path(path)
    with _replacing(path, f".{path.name}.", ".tmp") as tmp:  # `.*.tmp`: what the clip cache cleans up
        with open(tmp, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


@contextmanager
def atomic_path(path: Union[str, Path]) -> Iterator[Path]:
    """A temporary path beside `path` (same suffix, so writers that pick a format by it work) for a
    writer that takes a file name (ffmpeg); on success it is moved onto `path` (the rename made
    durable), on failure removed.

    Args:
        path: the final file.
    """
    path = Path(path)
    with _replacing(path, f".{path.stem}.", f".tmp{path.suffix}") as tmp:
        yield tmp


@contextmanager
def _replacing(path: Path, prefix: str, suffix: str) -> Iterator[Path]:
    """A fresh temporary file beside `path` that replaces it on success and is removed on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
