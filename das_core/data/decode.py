"""Decode one video file (mp4/avi/mov/mpeg/gif, ...) into a ``(T, C, H, W)`` uint8 tensor.

Uses imageio v3: the ``FFMPEG`` plugin (imageio-ffmpeg's bundled ffmpeg) for movies and the
``pillow`` plugin for GIFs. Frames are resized one chunk at a time while decoding, so a long
full-HD clip never sits in memory at full size when ``size`` is given.

Guards: empty files, files that fail to decode (truncated/corrupt), zero-frame clips, a wall
clock ``timeout_s`` checked after every frame, a ``max_frames`` cap and a ``max_bytes`` cap on
the frames kept; each raises ``DataError`` naming the file. The ffmpeg process is always closed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from das_core.errors import DataError

from .arrays import SizeLike, frames_to_sequence, parse_size, resample_indices

__all__ = ["VIDEO_EXTENSIONS", "IMAGE_EXTENSIONS", "decode_video", "is_video_file", "to_uint8"]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mpeg", ".mpg", ".m4v", ".mkv", ".webm", ".wmv", ".gif")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

_CHUNK = 16  # frames converted/resized at a time


def is_video_file(path: Path) -> bool:
    """True for a supported video container (case-insensitive extension)."""
    return path.suffix.lower() in VIDEO_EXTENSIONS


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float [0, 1] -> uint8 0..255 (rounded)."""
    return (x.clamp(0, 1) * 255.0).round_().to(torch.uint8)


def _fps_from_meta(meta: Dict[str, Any], is_gif: bool) -> Optional[float]:
    if is_gif:
        d = meta.get("duration")
        if isinstance(d, (int, float)) and d > 0:
            return float(1000.0 / d)
        return None
    fps = meta.get("fps")
    if isinstance(fps, (int, float)) and np.isfinite(fps) and fps > 0:
        return float(fps)
    return None


def decode_video(path: Path, num_frames: Optional[int] = None, size: SizeLike = None,
                 grayscale: bool = True, timeout_s: float = 120.0, max_frames: int = 20000,
                 max_bytes: int = 1 << 30) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """Decode ``path`` and resample it to ``num_frames`` frames of ``size``.

    Args:
        path: the video file.
        num_frames: T; frames ``round(linspace(0, n-1, T))`` of the n decoded frames (short clips
            repeat frames); None keeps all n.
        size: output ``(H, W)`` or int; None keeps the native size.
        grayscale: True -> C = 1, False -> C = 3 (RGB).
        timeout_s: give up (DataError) when decoding takes longer than this.
        max_frames: give up when the clip has more frames than this.
        max_bytes: give up when the kept frames would exceed this many bytes (pass ``size``).

    Returns:
        ``(frames, info)``: uint8 tensor ``(T, C, H, W)`` and a dict with ``original_frames``,
        ``fps``, ``original_size`` (H, W), ``frame_indices``.
    """
    import imageio.v3 as iio

    path = Path(path)
    name = path.name
    if not path.is_file():
        raise DataError(f"video file {str(path)!r} does not exist; check the path.")
    if path.stat().st_size == 0:
        raise DataError(f"{name} is empty (0 bytes); replace it with a complete video file.")
    if not is_video_file(path):
        raise DataError(f"{name} has an unsupported extension {path.suffix!r}; use one of "
                        f"{', '.join(VIDEO_EXTENSIONS)}.")
    hw = parse_size(size)
    is_gif = path.suffix.lower() == ".gif"
    plugin_kw: Dict[str, Any] = {"plugin": "pillow", "mode": "RGB"} if is_gif else {"plugin": "FFMPEG"}

    fps: Optional[float] = None
    try:
        fps = _fps_from_meta(iio.immeta(path, **({"plugin": "pillow"} if is_gif else plugin_kw)), is_gif)
    except Exception:
        fps = None  # a real decoding problem is reported below

    kept: List[torch.Tensor] = []
    pending: List[np.ndarray] = []
    n = 0
    kept_bytes = 0
    orig_size: Optional[Tuple[int, int]] = None
    start = time.monotonic()

    def flush() -> None:
        nonlocal kept_bytes
        if pending:
            t = to_uint8(frames_to_sequence(np.stack(pending), grayscale, hw))  # (n, C, h, w)
            kept.append(t)
            kept_bytes += t.numel()
            pending.clear()
            if kept_bytes > max_bytes:
                raise DataError(f"{name} is too large to hold in memory at its native size; pass a "
                                f"smaller size (e.g. size=128) or fewer frames.")

    gen = None
    try:
        gen = iio.imiter(path, **plugin_kw)
        for frame in gen:
            if orig_size is None:
                orig_size = (int(frame.shape[0]), int(frame.shape[1]))
            pending.append(np.asarray(frame))
            n += 1
            if len(pending) >= _CHUNK:
                flush()
            if n > max_frames:
                raise DataError(f"{name} has more than {max_frames} frames; trim the clip or raise max_frames.")
            if time.monotonic() - start > timeout_s:
                raise DataError(f"decoding {name} took longer than {timeout_s:.0f} s; the file may be "
                                f"damaged, re-encode it (e.g. ffmpeg -i in out.mp4) or raise decode_timeout.")
        flush()
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{name} could not be decoded ({type(e).__name__}), so it is probably truncated "
                        f"or corrupt; re-export or re-download the file.") from None
    finally:
        if gen is not None and hasattr(gen, "close"):
            try:
                gen.close()
            except Exception:
                pass
    if n == 0:
        raise DataError(f"{name} decodes to zero frames; replace it with a clip that has at least one frame.")
    allf = torch.cat(kept, 0)  # (n, C, H, W) uint8
    idx = resample_indices(n, num_frames)
    out = allf[torch.from_numpy(idx)].contiguous()
    info = {"original_frames": n, "fps": fps, "original_size": list(orig_size or out.shape[-2:]),
            "frame_indices": idx.tolist()}
    return out, info
