"""Read ``.npy`` files and ``.npz`` members within the decode budget, never unpickling.

The npy header (``numpy.lib.format``) gives the shape and dtype, so the decoded size is known and
checked against the budget (``budget.check_budget``) before the array is allocated; the data is
then read a bounded chunk at a time into that array, so a forged header or a deflated ``.npz``
member that inflates far beyond its file size never takes more than the header promised.
Refused with one sentence: object (pickled) arrays, strings and other non-numeric dtypes,
complex numbers, members that are not ``.npy`` arrays, truncated data.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO, Dict, Iterable, Optional

import numpy as np

from das_core.errors import DataError

from .budget import check_budget, decode_budget, format_bytes, read_exact

__all__ = ["read_npy", "npz_members", "read_npz_member", "load_array_file", "FLOAT_COPY", "DEFAULT_KEYS"]

FLOAT_COPY = 4  # bytes per value of the float32 copy every volume is normalised into
DEFAULT_KEYS = ("image", "images", "volume", "vol", "data", "arr_0")
_MAX_HEADER = 10000  # numpy's own default limit on an npy header
# what a broken zip member or npy header raises (DataError, also a ValueError, is re-raised first)
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError, ValueError,
                SyntaxError, TypeError)


def _check_dtype(dtype: np.dtype, what: str) -> None:
    if dtype.hasobject:
        raise DataError(f"{what} holds Python objects (a pickled array), which are never loaded; save a numeric "
                        f"array with numpy.save.")
    if np.issubdtype(dtype, np.complexfloating):
        raise DataError(f"{what} holds complex numbers ({dtype}); save the magnitude (numpy.abs) or the real "
                        f"part as a real-valued array.")
    if not (np.issubdtype(dtype, np.number) or dtype == bool):
        raise DataError(f"{what} holds {dtype} values, not numbers; save a numeric array.")


def read_npy(fp: BinaryIO, what: str, budget: int, *, available: Optional[int] = None,
             extra_per_value: int = FLOAT_COPY) -> np.ndarray:
    """Read one npy array from ``fp`` after checking its header against the budget.

    Args:
        fp: a binary stream at the start of the npy data (a file or a zip member).
        what: how messages name it (file, and member for a ``.npz``).
        budget: the decode cap in bytes.
        available: the stream's total size in bytes when known (a truncated file is then refused
            before allocating).
        extra_per_value: bytes per value added to the estimate (the float32 copy; 0 for none).

    Returns:
        The array, in its stored dtype.
    """
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp, max_header_size=_MAX_HEADER)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp, max_header_size=_MAX_HEADER)
        else:
            raise ValueError(f"npy format version {version}")
    except DataError:
        raise
    except _READ_ERRORS as e:
        raise DataError(f"{what} is not a readable .npy array ({type(e).__name__} in its header: it may be "
                        f"truncated or not made by numpy); save it again with numpy.save.") from None
    _check_dtype(dtype, what)
    count = math.prod(int(s) for s in shape)
    nbytes = count * dtype.itemsize
    check_budget(what, count * (dtype.itemsize + extra_per_value), budget,
                 f"shape {tuple(shape)} of {dtype}" + (" plus its float32 copy" if extra_per_value else ""))
    start = fp.tell() if available is not None else 0
    if available is not None and available - start < nbytes:
        raise DataError(f"{what} holds {format_bytes(max(available - start, 0))} of data but its header declares "
                        f"{format_bytes(nbytes)}, so it is truncated; save or upload the complete file again.")
    arr = np.empty(count, dtype=dtype)
    try:
        read_exact(fp, memoryview(arr.view(np.uint8)), what)
    except DataError:
        raise
    except _READ_ERRORS as e:
        raise DataError(f"{what} cannot be read to the end ({type(e).__name__}), so it is truncated or corrupt; "
                        f"save it again with numpy.save.") from None
    try:
        return arr.reshape(shape, order="F" if fortran else "C")
    except ValueError:  # numpy refuses a shape whose non-zero sides multiply past its index range, even when empty
        raise DataError(f"{what} declares shape {tuple(shape)}, which numpy cannot hold; save it again with "
                        f"numpy.save.") from None


def npz_members(zf: zipfile.ZipFile) -> Dict[str, zipfile.ZipInfo]:
    """``{key: ZipInfo}`` of an open ``.npz``: keys are member names without ``.npy`` (as numpy names them).

    Members that do not end in ``.npy`` keep their full name (and are refused when read).
    """
    out: Dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        if info.is_dir():
            continue
        key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        out[key] = info
    return out


def read_npz_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, budget: int, *,
                    extra_per_value: int = FLOAT_COPY) -> np.ndarray:
    """One member of an open ``.npz`` as an array, within the budget (see ``read_npy``).

    Args:
        zf: the open zip file.
        info: the member.
        name: the ``.npz`` file name for messages.
        budget: the decode cap in bytes.
        extra_per_value: bytes per value added to the estimate (0 for labels).
    """
    what = f"{name} member {info.filename!r}"
    if not info.filename.endswith(".npy"):
        raise DataError(f"{what} is not a .npy array; save the file with numpy.savez so every member is an array.")
    try:
        with zf.open(info) as fp:
            return read_npy(fp, what, budget, extra_per_value=extra_per_value)
    except DataError:
        raise
    except _READ_ERRORS as e:
        raise DataError(f"{what} cannot be read ({type(e).__name__}: the file may be truncated, encrypted or "
                        f"corrupt); save it again with numpy.savez.") from None


def _pick_key(name: str, keys: Iterable[str], key: Optional[str]) -> str:
    keys = list(keys)
    if not keys:
        raise DataError(f"{name} holds no arrays; save a volume with numpy.savez(file, volume=...).")
    if key is None:
        if len(keys) == 1:
            return keys[0]
        key = next((k for k in DEFAULT_KEYS if k in keys), None)
        if key is None:
            raise DataError(f"{name} holds several arrays {keys}; pass key=<name> to choose one.")
    if key not in keys:
        raise DataError(f"{name} has no array {key!r} (it has {keys}); pass one of those as key.")
    return key


def load_array_file(path: Path, key: Optional[str] = None, max_decoded_bytes: Optional[int] = None) -> np.ndarray:
    """Read a ``.npy`` or ``.npz`` file (no pickles) within the decode budget.

    Args:
        path: the file.
        key: array name inside a ``.npz``; default: the only array, or the first of
            ``image``, ``images``, ``volume``, ``vol``, ``data``, ``arr_0``.
        max_decoded_bytes: the decode cap in bytes (default ``$DAS_DECODE_BUDGET_MB`` or 1024 MiB);
            the stored array plus its float32 copy must fit.
    """
    path = Path(path)
    name = path.name
    budget = decode_budget(max_decoded_bytes)
    size = path.stat().st_size
    if size == 0:
        raise DataError(f"{name} is empty (0 bytes); save the array again with numpy.save.")
    with open(path, "rb") as fh:
        head = fh.read(6)
        fh.seek(0)
        if head == b"\x93NUMPY":
            return read_npy(fh, name, budget, available=size)
        if not head.startswith(b"PK"):
            raise DataError(f"{name} is not a .npy or .npz file (it starts with neither the numpy nor the zip "
                            f"signature); save it again with numpy.save or numpy.savez.")
        try:
            zf = zipfile.ZipFile(fh)
        except _READ_ERRORS as e:
            raise DataError(f"{name} is not a readable .npz file ({type(e).__name__}: it may be truncated); save "
                            f"it again with numpy.savez.") from None
        with zf:
            members = npz_members(zf)
            k = _pick_key(name, members, key)
            return read_npz_member(zf, members[k], name, budget)
