"""Read the members of a user's ``.zip`` into memory within the decode budget; nothing is extracted to disk.

Checked before anything is inflated: every member name (an absolute path, a drive letter or a ``..``
part is refused, as an extracting tool could write outside its folder), the member count (at most
``MAX_MEMBERS``) and the sum of the declared uncompressed sizes against the budget. Members are then
inflated a bounded chunk at a time and the running total is checked again, so a zip whose headers
understate its sizes (a zip bomb) is stopped at the budget, never after.

Skipped (not read): folders, macOS metadata (``__MACOSX/``, ``._*``, ``.DS_Store``) and other hidden files.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from das_core.errors import DataError

from .budget import check_budget, format_bytes

__all__ = ["read_zip_members", "unsafe_member_name", "MAX_MEMBERS"]

MAX_MEMBERS = 20000  # a CT series has hundreds of slices; tens of thousands is not one series
_CHUNK = 1 << 20  # bytes inflated at a time
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError)


def unsafe_member_name(name: str) -> bool:
    """True for a member name an extractor could write outside its folder: absolute, drive letter or ``..``.

    Args:
        name: the member name as stored in the zip.
    """
    n = name.replace("\\", "/")
    return (n.startswith("/") or bool(re.match(r"^[A-Za-z]:", n)) or "\0" in n
            or any(part == ".." for part in n.split("/")))


def _skipped(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return name.endswith(("/", "\\")) or parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts if p)


class _OverBudget(Exception):
    """A member inflated past the bytes left in the budget (``got`` bytes so far)."""

    def __init__(self, got: int) -> None:
        self.got = got


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, room: int) -> bytes:
    """One member, inflated a chunk at a time; more than ``room`` bytes is refused as past the budget."""
    out = bytearray()
    with zf.open(info) as fh:
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            out += chunk
            if len(out) > room:
                raise _OverBudget(len(out))
    return bytes(out)


def read_zip_members(path: Path, budget: int, keep: Optional[Callable[[str], bool]] = None,
                     shown: Optional[str] = None) -> Tuple[List[Tuple[str, bytes]], int]:
    """Read the members of ``path`` (a zip) into memory, in name order, within ``budget`` bytes in all.

    Args:
        path: the ``.zip`` file.
        budget: the most bytes all members read may inflate to together.
        keep: which member names to read (default: every file that is not skipped, see module docstring).
        shown: how messages name the zip (default its file name).

    Returns:
        ``([(member name, bytes), ...], number of files left out by keep)``.
    """
    name = shown or Path(path).name
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise DataError(f"{name} holds {len(infos)} files, more than the {MAX_MEMBERS} one series may "
                                f"have; zip one series only.")
            bad = [i.filename for i in infos if unsafe_member_name(i.filename)]
            if bad:
                raise DataError(f"{name} holds a file with an unsafe path ({bad[0][:60]!r}: absolute or with "
                                f"'..'), so it is refused; zip the folder again with relative paths.")
            files = [i for i in infos if not i.is_dir() and not _skipped(i.filename)]
            chosen = [i for i in files if keep is None or keep(i.filename)]
            declared = sum(i.file_size for i in chosen)
            check_budget(name, declared, budget, f"the declared unpacked size of {len(chosen)} files")
            out, total = [], 0
            for info in sorted(chosen, key=lambda i: i.filename):
                try:
                    data = _read_member(zf, info, budget - total)
                except _OverBudget as e:
                    check_budget(name, total + e.got, budget, "unpacked so far, though its headers declared "
                                 f"{format_bytes(declared)}; unpacking stopped there")
                    raise
                total += len(data)
                out.append((info.filename, data))
    except DataError:
        raise
    except RuntimeError as e:  # zipfile: "File ... is encrypted, password required for extraction"
        raise DataError(f"{name} is encrypted or cannot be unpacked ({str(e)[:60]}); zip the files again "
                        f"without a password.") from None
    except _ZIP_ERRORS as e:
        raise DataError(f"{name} is not a readable zip file ({type(e).__name__}: it may be truncated or "
                        f"corrupt); zip the files again.") from None
    return out, len(files) - len(chosen)
