"""Where data lives: the shared data folder, DAS_DATA_ROOT, and the decode cache folder.

Search order used by every loader that needs a default root:
    explicit argument > ``$DAS_DATA_ROOT`` (its ``<sub>/`` subfolder, else itself)
    > the nearest ``shared/data/<sub>`` found by walking up from the current directory
    and from this package's folder (this finds ``../shared/data`` next to the checkout).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Optional, Union

from ..errors import DataError

__all__ = ["find_shared_subfolder", "resolve_root", "default_cache_dir", "require_file", "PathLike"]

PathLike = Union[str, "os.PathLike[str]"]


def _ancestors(start: Path) -> Iterable[Path]:
    start = start.resolve()
    yield start
    yield from start.parents


def find_shared_subfolder(sub: str) -> Optional[Path]:
    """Return the nearest ``shared/data/<sub>`` above the cwd or this package, or None.

    Args:
        sub: folder name inside ``shared/data`` (e.g. ``"medmnist3d"``).
    """
    seen = set()
    for start in (Path.cwd(), Path(__file__).parent):
        for d in _ancestors(start):
            if d in seen:
                continue
            seen.add(d)
            cand = d / "shared" / "data" / sub
            if cand.is_dir():
                return cand
    return None


def resolve_root(root: Optional[PathLike], sub: str, env_self: bool = True) -> Optional[Path]:
    """Resolve a data root with the package-wide search order (see module docstring).

    Args:
        root: explicit folder or file; returned as is when given.
        sub: subfolder name looked up under ``$DAS_DATA_ROOT`` and ``shared/data``.
        env_self: accept ``$DAS_DATA_ROOT`` itself when it has no ``sub`` folder.

    Returns:
        The folder, or None when nothing was found.
    """
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("DAS_DATA_ROOT")
    if env:
        base = Path(env).expanduser()
        if (base / sub).is_dir():
            return base / sub
        if env_self and base.is_dir():
            return base
    return find_shared_subfolder(sub)


def default_cache_dir() -> Path:
    """``$DAS_CACHE_DIR`` or ``~/.cache/das_explorer``: where decoded clips are kept."""
    env = os.environ.get("DAS_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "das_explorer"


def require_file(path: PathLike, *, what: str = "", missing_fix: str = "check the path",
                 empty_fix: str = "replace it with a complete file") -> Path:
    """The file as a Path, or a one-sentence DataError when it is missing or empty (0 bytes).

    Args:
        path: the file.
        what: a word for the message ("video file", "DICOM file", ...).
        missing_fix, empty_fix: the fix each message names.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{(what + ' ') if what else ''}{str(path)!r} does not exist; {missing_fix}.")
    if path.stat().st_size == 0:
        raise DataError(f"{path.name} is empty (0 bytes); {empty_fix}.")
    return path
