"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every file the project writes that a crash could leave half-written (checkpoints, run JSON files,
decoded-clip cache entries) goes through `atomic_write`; a folder written as a whole (an export) goes
through `atomic_dir`. A write that fails because the disk is full raises `DiskFullError` ("No space left
on <folder>: free space or choose another folder."), with the temporary file or folder removed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator, Union

from .errors import disk_full

__all__ = ["atomic_write", "atomic_path", "atomic_dir", "write_csv"]

_UMASK = os.umask(0)
os.umask(_UMASK)


def write_csv(path: Union[str, Path], fields: list, rows: list) -> None:
    """Write `rows` (dicts) under the header `fields` to `path` atomically, "\\n"-terminated; keys a row has
    beyond `fields` are left out, fields a row lacks are empty."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    with atomic_write(path, "w") as fh:
        fh.write(buf.getvalue())


@contextmanager
def atomic_write(path: Union[str, Path], mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside `path`; on success fsync it and `os.replace` it onto `path`.

    On any exception (or a kill mid-write) the temporary file is removed (or left as a `.*.tmp`
    file that no reader opens) and `path` keeps its previous content; a full disk (ENOSPC, or torch's
    writer failing on it) raises `DiskFullError` naming `path`'s folder.

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


def _raise_disk_full(err: BaseException, folder: Path) -> None:
    full = disk_full(err, folder)
    if full is not None and full is not err:
        raise full from err


def _fsync_dir(folder: Path) -> None:
    try:  # make a rename durable
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


@contextmanager
def _replacing(path: Path, prefix: str, suffix: str) -> Iterator[Path]:
    """A fresh temporary file beside `path` that replaces it on success and is removed on failure."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
        os.close(fd)
    except OSError as err:
        _raise_disk_full(err, path.parent)
        raise
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        _raise_disk_full(err, path.parent)
        raise
    _fsync_dir(path.parent)


@contextmanager
def atomic_dir(path: Union[str, Path]) -> Iterator[Path]:
    """A fresh temporary folder beside `path` (`.<name>.*.tmp`) to write into; on success it is renamed
    whole onto `path` (a folder already there is replaced: renamed aside, then removed), on failure it
    is removed with everything in it and `path` is left as it was.

    Args:
        path: the final folder.

    Raises:
        DiskFullError: the disk is full (naming `path`'s folder); the temporary folder is gone.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as err:
        _raise_disk_full(err, path.parent)
        raise
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes 0700 folders
        _rename_dir_onto(tmp, path)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        _raise_disk_full(err, path.parent)
        raise
    _fsync_dir(path.parent)


def _rename_dir_onto(src: Path, dst: Path) -> None:
    """Rename folder `src` to `dst`: at once where `dst` is missing or empty, else by moving `dst` aside first
    (and back when the second rename fails)."""
    try:
        os.rename(src, dst)  # rename(2) replaces an empty folder
        return
    except OSError:
        if not dst.is_dir():
            raise
    old = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=".old", dir=dst.parent))
    os.rename(dst, old)  # onto the empty folder just made
    try:
        os.rename(src, dst)
    except BaseException:
        os.rename(old, dst)
        raise
    shutil.rmtree(old, ignore_errors=True)
