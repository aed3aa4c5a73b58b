"""The decode budget: how many bytes one file may decode to, checked before the memory is taken.

Every reader (``.npy``/``.npz`` arrays, the ``npz`` data set, DICOM, GIF and movies) works out
what a file would decode to from its header (npy header shape x dtype, DICOM rows x columns x
frames x bits x samples, GIF canvas x frames, video size x frames), adds the float32 output
(4 bytes per value), and calls ``check_budget`` before decoding. Compressed data (a deflated
``.npz`` member, a deflated DICOM) is inflated in bounded chunks (``bounded_inflate``) and the
read stops as soon as it passes the budget, so a declared size is never trusted alone.

The cap: ``max_decoded_bytes=`` where a reader takes options, else ``$DAS_DECODE_BUDGET_MB``
(MiB), else ``DEFAULT_BUDGET_MB`` = 1024 MiB.
"""

from __future__ import annotations

import os
import zlib
from typing import BinaryIO, Optional

from das_core.errors import DataError

__all__ = ["BUDGET_ENV", "DEFAULT_BUDGET_MB", "decode_budget", "check_budget", "format_bytes", "bounded_inflate",
           "read_exact"]

BUDGET_ENV = "DAS_DECODE_BUDGET_MB"
DEFAULT_BUDGET_MB = 1024
_CHUNK = 1 << 20  # bytes read from a compressed stream at a time


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``; binary units up to TiB (bigger numbers stay in TiB)."""
    n = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024.0
    return f"{n:.1f} TiB"


def decode_budget(max_decoded_bytes: Optional[int] = None) -> int:
    """The cap in bytes: the argument, else ``$DAS_DECODE_BUDGET_MB`` (MiB), else 1024 MiB.

    Args:
        max_decoded_bytes: an explicit cap in bytes (a positive int), or None.
    """
    if max_decoded_bytes is not None:
        try:
            v = int(max_decoded_bytes)
            ok = v >= 1 and v == max_decoded_bytes and not isinstance(max_decoded_bytes, bool)
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise DataError(f"max_decoded_bytes={max_decoded_bytes!r} is not a positive number of bytes; "
                            f"pass e.g. max_decoded_bytes=2**31.")
        return v
    env = os.environ.get(BUDGET_ENV, "").strip()
    if env:
        try:
            mb = float(env)
        except ValueError:
            mb = float("nan")
        if not mb > 0 or mb == float("inf"):
            raise DataError(f"{BUDGET_ENV}={env!r} is not a positive number of MiB; set e.g. {BUDGET_ENV}=2048.")
        return max(1, int(mb * (1 << 20)))
    return DEFAULT_BUDGET_MB << 20


def check_budget(name: str, nbytes: float, budget: int, what: str = "") -> None:
    """Raise a one-sentence DataError when ``nbytes`` (what ``name`` would decode to) exceeds ``budget``.

    Args:
        name: the file name the message names.
        nbytes: the estimated decoded size in bytes.
        budget: the cap in bytes (see ``decode_budget``).
        what: a short description of the estimate, e.g. ``"40 frames of 4000 x 4000 RGB"``.
    """
    if nbytes > budget:
        detail = f" ({what})" if what else ""
        raise DataError(f"{name} would decode to {format_bytes(nbytes)}{detail}, more than the decode cap of "
                        f"{format_bytes(budget)}; raise the cap with max_decoded_bytes= or the environment variable "
                        f"{BUDGET_ENV} (in MiB) if the file is trusted, or use a smaller file.")


def bounded_inflate(fp: BinaryIO, name: str, budget: int, wbits: int = -zlib.MAX_WBITS) -> bytes:
    """Inflate a raw deflate stream read from ``fp`` in chunks, stopping once it passes ``budget`` bytes.

    Args:
        fp: a binary file positioned at the start of the deflated data.
        name: the file name the messages name.
        budget: the most bytes the inflated data may hold.
        wbits: zlib window bits (default raw deflate, as DICOM uses).

    Returns:
        The inflated bytes (at most ``budget``).
    """
    d = zlib.decompressobj(wbits)
    out = bytearray()
    try:
        while True:
            chunk = d.unconsumed_tail or fp.read(_CHUNK)
            if not chunk:
                break
            out += d.decompress(chunk, _CHUNK)
            if len(out) > budget:
                check_budget(name, len(out), budget, "deflated data, inflation stopped there")
            if d.eof:
                break
        out += d.flush()
    except zlib.error:
        raise DataError(f"{name} holds deflated data that cannot be inflated (it is truncated or corrupt); "
                        f"export the file again.") from None
    check_budget(name, len(out), budget, "inflated data")
    return bytes(out)


def read_exact(fp: BinaryIO, buf: memoryview, name: str) -> None:
    """Fill ``buf`` from ``fp`` a bounded chunk at a time; a short read is a one-sentence DataError.

    Args:
        fp: binary file or zip member stream (``readinto`` or ``read``).
        buf: a writable byte view of the destination array.
        name: the file name the message names.
    """
    pos, n = 0, len(buf)
    while pos < n:
        want = min(_CHUNK * 16, n - pos)
        if hasattr(fp, "readinto"):
            got = fp.readinto(buf[pos:pos + want])
        else:
            data = fp.read(want)
            got = len(data)
            buf[pos:pos + got] = data
        if not got:
            raise DataError(f"{name} ends after {format_bytes(pos)} of the {format_bytes(n)} its header declares, "
                            f"so it is truncated; save or upload the complete file again.")
        pos += got
