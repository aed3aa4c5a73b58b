"""The file-reader registry: which reader `load_sequence` uses for a file, by its suffix.

In the style of the data set registry (`registry.register_dataset`) and the sampler registry: one
decorator adds a reader for some suffixes, and everything that needs to know which files can be read
(`load_sequence`, `SUPPORTED_EXTENSIONS`, the app's uploader) reads this table. A new format joins in
one function:

    @register_reader(suffixes=(".vol",), kind="volume")
    def read_vol(path, options):             # options: a ReadOptions (num_frames, size, window, ...)
        return np.fromfile(path, np.uint8).reshape(16, 32, 32)

A reader returns either a numpy array, which is then read exactly as the contents of a ``.npy``
(normalised to [0, 1], a 3D volume sliced along ``options.axis``, resampled to ``num_frames`` and
resized to ``size``, within the decode budget), or ``(x (T, C, H, W) float in [0, 1], meta dict)``
having done all that itself. Its ``kind`` ("volume", "video", or "auto" where the file says, as a
DICOM cine does) becomes ``meta["kind"]`` when the reader leaves it out.

Look-up is by the longest registered suffix the name ends with (``scan.nii.gz`` is NIfTI, not gzip),
case-insensitive; a file with no registered suffix is offered to the readers that can recognise their
format by content (``sniff=``: DICOM's ``DICM`` preamble); a folder goes to the reader registered with
``folders=True`` (a DICOM series).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

from das_core.errors import ConfigError

__all__ = ["Reader", "ReadOptions", "READERS", "register_reader", "unregister_reader", "reader_for", "sniff_reader",
           "folder_reader", "supported_extensions", "READER_KINDS", "LiveTuple"]

READER_KINDS = ("volume", "video", "auto")


@dataclass(frozen=True)
class ReadOptions:
    """What `load_sequence` was asked for, as a reader gets it (see `load_sequence` for each).

    Attributes:
        window: ``(center, width)`` intensity window, or None (min-max normalisation).
        axis: slicing axis of a 3D array.
        num_frames: frames to resample to (None keeps all).
        size: frame size, int or ``(H, W)``, or None (native).
        grayscale: C = 1 for colour input.
        key: array name inside a file holding several.
        decode_timeout: seconds allowed for decoding.
        max_decoded_bytes: the decode cap in bytes (already resolved: an int).
    """

    window: Optional[Tuple[float, float]] = None
    axis: int = 0
    num_frames: Optional[int] = None
    size: Any = None
    grayscale: bool = True
    key: Optional[str] = None
    decode_timeout: float = 120.0
    max_decoded_bytes: int = 1 << 30


@dataclass(frozen=True)
class Reader:
    """One registered reader.

    Attributes:
        name: a short name (default: the function's name).
        suffixes: the lower-case file suffixes it reads, with their dot (".npy", ".nii.gz").
        kind: "volume", "video", or "auto" (the file says which: the reader sets ``meta["kind"]``).
        read: ``read(path, options: ReadOptions)`` -> a numpy array, or ``(x, meta)``.
        sniff: ``sniff(path) -> bool``: recognises the format by content, for files without a known suffix.
        folders: it reads a folder (a DICOM series).
    """

    name: str
    suffixes: Tuple[str, ...]
    kind: str
    read: Callable[..., Any]
    sniff: Optional[Callable[[Path], bool]] = None
    folders: bool = False


# name -> reader, in registration order (the built-in ones: das_core.data.sequence)
READERS: Dict[str, Reader] = {}


def _same_function(a: Callable, b: Callable) -> bool:
    """True for the same definition run twice (a notebook cell, a reloaded module)."""
    return a is b or (getattr(a, "__module__", None), getattr(a, "__qualname__", None)) == \
        (getattr(b, "__module__", None), getattr(b, "__qualname__", None))


def _suffix(s: Any) -> str:
    s = str(s).strip().lower()
    if not s.startswith("."):
        s = "." + s
    if len(s) < 2 or any(c in s for c in "/\\\0 *?"):
        raise ConfigError(f"{s!r} is not a file suffix; register suffixes such as '.npy' or '.nii.gz'.")
    return s


def register_reader(suffixes: Sequence = (), *, kind: str, name: Optional[str] = None,
                    sniff: Optional[Callable[[Path], bool]] = None, folders: bool = False):
    """Function decorator: `load_sequence` reads files ending in `suffixes` with the decorated function.

    Args:
        suffixes: e.g. ``(".npy", ".npz")`` (case-insensitive; the dot may be left out).
        kind: "volume", "video", or "auto" where the file says which (the reader sets ``meta["kind"]``).
        name: the reader's name (default: the function's ``__name__``).
        sniff: ``sniff(path) -> bool`` recognising the format by content (files without a registered suffix).
        folders: the reader also reads a folder.

    A suffix (or name) another reader holds raises ConfigError naming it; re-running the same definition (a
    notebook) replaces it. `unregister_reader` removes one.
    """
    if isinstance(suffixes, str):
        suffixes = (suffixes,)
    sufs = tuple(dict.fromkeys(_suffix(s) for s in suffixes))
    if kind not in READER_KINDS:
        raise ConfigError(f"A reader's kind is one of {', '.join(READER_KINDS)}, got {kind!r}.")
    if not sufs and sniff is None and not folders:
        raise ConfigError("A reader needs suffixes=('.ext',), a sniff= test or folders=True, or no file reaches it.")

    def wrap(fn: Callable) -> Callable:
        if not callable(fn):
            raise ConfigError(f"register_reader decorates a function read(path, options), got {fn!r}.")
        key = str(name or getattr(fn, "__name__", "")).strip()
        if not key:
            raise ConfigError("A registered reader needs a name: @register_reader(..., name='my-format').")
        old = READERS.get(key)
        if old is not None and not _same_function(old.read, fn):
            raise ConfigError(f"A reader named {key!r} is already registered; choose another name.")
        for other in READERS.values():
            if other.name == key:
                continue
            taken = sorted(set(sufs) & set(other.suffixes))
            if taken:
                raise ConfigError(f"The suffix {taken[0]!r} is already read by the {other.name!r} reader; "
                                  f"unregister_reader({other.name!r}) first or choose another suffix.")
            if folders and other.folders:
                raise ConfigError(f"Folders are already read by the {other.name!r} reader; unregister it first.")
        READERS[key] = Reader(key, sufs, kind, fn, sniff, bool(folders))
        return fn

    return wrap


def unregister_reader(name: str) -> Optional[Reader]:
    """Remove the reader `name`; returns it (None when there was none)."""
    return READERS.pop(str(name), None)


def reader_for(filename: Any) -> Optional[Reader]:
    """The reader of the longest registered suffix `filename` ends with (case-insensitive), or None."""
    low = Path(str(filename)).name.lower()
    best: Optional[Reader] = None
    best_len = 0
    for r in READERS.values():
        for s in r.suffixes:
            if len(s) > best_len and len(low) > len(s) and low.endswith(s):
                best, best_len = r, len(s)
    return best


def sniff_reader(path: Path) -> Optional[Reader]:
    """The first reader (in registration order) whose ``sniff`` recognises the file, or None."""
    for r in READERS.values():
        if r.sniff is not None and r.sniff(path):
            return r
    return None


def folder_reader() -> Optional[Reader]:
    """The reader registered for folders, or None."""
    return next((r for r in READERS.values() if r.folders), None)


def supported_extensions() -> Tuple[str, ...]:
    """Every registered suffix, in registration order (".npy", ".npz", ".mp4", ...)."""
    return tuple(s for r in READERS.values() for s in r.suffixes)


class LiveTuple(Sequence):
    """A read-only sequence that reads a registry each time it is used: a module constant (``DATASET_NAMES``,
    ``SUPPORTED_EXTENSIONS``) that still shows what was registered after it was imported."""

    def __init__(self, read: Callable[[], tuple]):
        self._read = read

    def __getitem__(self, i):
        return self._read()[i]

    def __len__(self) -> int:
        return len(self._read())

    def __iter__(self):
        return iter(self._read())

    def __contains__(self, item) -> bool:
        return item in self._read()

    def __eq__(self, other) -> bool:
        return isinstance(other, (tuple, list, Sequence)) and tuple(self) == tuple(other)

    def __hash__(self):
        return hash(self._read())

    def __add__(self, other):
        return self._read() + tuple(other)

    def __radd__(self, other):
        return tuple(other) + self._read()

    def __repr__(self) -> str:
        return repr(self._read())
