"""On-disk cache of decoded clips, so the second epoch does not decode again.

One entry = one ``.npz`` file holding ``frames`` (uint8 ``(T, C, H, W)``) and ``info`` (a JSON
string). The key hashes the absolute file path, its size and mtime, and the decode options, so
an edited file or a different ``num_frames``/``size``/``grayscale`` gets a new entry.

Writes are atomic: the entry is written to a temporary file in the same folder, flushed and
fsynced, then moved into place with ``os.replace``. A crash mid-write leaves at most a stray
``*.tmp`` file (ignored and cleaned up later), never a half-written entry under the real name.
An entry that cannot be read back (e.g. disk corruption) counts as a miss and is deleted.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..atomic import atomic_write
from .paths import PathLike, default_cache_dir

__all__ = ["ClipCache", "cache_key"]

_VERSION = 1  # bump when the decoded representation changes


def cache_key(path: PathLike, **options: Any) -> str:
    """Hex key for ``path`` (absolute path + size + mtime_ns) and decode ``options``."""
    p = Path(path).resolve()
    st = p.stat()
    payload = {"v": _VERSION, "path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
               "options": {k: options[k] for k in sorted(options)}}
    blob = json.dumps(payload, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:32]


class ClipCache:
    """A folder of decoded clips.

    Args:
        root: cache folder; None -> ``$DAS_CACHE_DIR`` or ``~/.cache/das_explorer``.
            Entries go to ``<root>/clips/``.
    """

    def __init__(self, root: Optional[PathLike] = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.dir = self.root / "clips"

    def path_for(self, key: str) -> Path:
        return self.dir / f"{key}.npz"

    def get(self, key: str) -> Optional[Tuple[np.ndarray, Dict[str, Any]]]:
        """Return ``(frames, info)`` or None on a miss (a corrupt entry is removed)."""
        p = self.path_for(key)
        if not p.is_file():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                frames = np.array(z["frames"])
                info = json.loads(str(z["info"]))
            return frames, info
        except Exception:
            try:
                p.unlink()
            except OSError:
                pass
            return None

    def put(self, key: str, frames: np.ndarray, info: Dict[str, Any]) -> Path:
        """Store an entry atomically (temp file in the same folder, fsync, ``os.replace``)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        final = self.path_for(key)
        with atomic_write(final, "wb") as fh:
            np.savez(fh, frames=np.ascontiguousarray(frames), info=np.array(json.dumps(info, default=str)))
        return final

    def clean_stale_temp(self, older_than_s: float = 3600.0) -> int:
        """Remove ``*.tmp`` leftovers of crashed writes older than ``older_than_s``; returns count."""
        if not self.dir.is_dir():
            return 0
        n = 0
        now = time.time()
        for p in self.dir.glob(".*.tmp"):
            try:
                if now - p.stat().st_mtime > older_than_s:
                    p.unlink()
                    n += 1
            except OSError:
                pass
        return n
