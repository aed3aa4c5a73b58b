"""Decode one video file (mp4/avi/mov/mpeg/gif, ...) into a ``(T, C, H, W)`` uint8 tensor.

Movies go through imageio-ffmpeg's ``read_frames`` (the ffmpeg binary imageio's ``FFMPEG``
plugin uses), one ffmpeg process that reports the metadata (fps) and streams the frames. When
``size`` is given ffmpeg scales every frame itself (``-s WxH -sws_flags area``: area averaging,
whole frame, aspect not kept) and converts to gray (``-pix_fmt gray``, the luma plane) or
``rgb24``; that is 3-8x faster than piping full-size frames into Python. GIFs go through
imageio v3's ``pillow`` plugin and are resized with torch area interpolation, a chunk at a time.
So a long full-HD clip never sits in memory at full size.

Guards: empty files, files that fail to decode (truncated/corrupt), zero-frame clips, a wall
clock ``timeout_s`` checked after every frame, a ``max_frames`` cap, and the decode budget
(``budget``): a GIF's canvas x frames (every frame is composited at canvas size) and a movie's
frames x size from ffmpeg's metadata are checked before decoding, and the frames kept plus the
float32 output are checked again while decoding (metadata may lie); frames are converted a few
at a time (at most ~64 MiB of float32 per step). Each raises ``DataError`` naming the file. The
ffmpeg process is always closed.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch

from das_core.errors import DataError

from .arrays import SizeLike, frames_to_sequence, parse_size, resample_indices
from .budget import check_budget, decode_budget, format_bytes
from .paths import require_file

__all__ = ["VIDEO_EXTENSIONS", "IMAGE_EXTENSIONS", "decode_video", "is_video_file", "to_uint8"]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mpeg", ".mpg", ".m4v", ".mkv", ".webm", ".wmv", ".gif")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

_CHUNK = 16  # frames converted/resized at a time, at most
_CHUNK_BYTES = 64 << 20  # ... and at most this much float32 per step


def is_video_file(path: Path) -> bool:
    """True for a supported video container (case-insensitive extension)."""
    return path.suffix.lower() in VIDEO_EXTENSIONS


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float [0, 1] -> uint8 0..255 (rounded)."""
    return (x.clamp(0, 1) * 255.0).round_().to(torch.uint8)


class _DropResizeNotice(logging.Filter):
    """imageio-ffmpeg warns whenever the output size differs from the source: that is intended here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "different from the source frame size" not in record.getMessage()


_FILTER = _DropResizeNotice()


def _quiet_imageio_ffmpeg() -> None:
    lg = logging.getLogger("imageio_ffmpeg")
    if _FILTER not in lg.filters:
        lg.addFilter(_FILTER)


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


def _ffmpeg_frames(path: Path, hw: Optional[Tuple[int, int]], grayscale: bool, info: Dict[str, Any]) -> Iterator[np.ndarray]:
    """Yield ``(H, W, C)`` uint8 frames from ffmpeg; fills ``info`` with fps and the source size."""
    import imageio_ffmpeg

    _quiet_imageio_ffmpeg()
    c = 1 if grayscale else 3
    out_params = ["-s", f"{hw[1]}x{hw[0]}", "-sws_flags", "area"] if hw is not None else []  # ffmpeg: W x H
    gen = imageio_ffmpeg.read_frames(str(path), pix_fmt="gray" if grayscale else "rgb24", bits_per_pixel=8 * c,
                                     output_params=out_params)
    try:
        meta = next(gen)
        info["fps"] = _fps_from_meta(meta, False)
        info["source_size"] = [int(meta["source_size"][1]), int(meta["source_size"][0])]
        w, h = (int(v) for v in meta["size"])
        dur = meta.get("duration")
        if info["fps"] and isinstance(dur, (int, float)) and np.isfinite(dur) and dur > 0:
            info["frames_estimate"] = int(np.ceil(dur * info["fps"]))
        info["ready"]()  # the budget check, before any frame is decoded
        for buf in gen:
            yield np.frombuffer(buf, np.uint8).reshape(h, w, c)
    finally:
        gen.close()  # terminates ffmpeg


def _gif_canvas(path: Path, name: str) -> Tuple[int, int, int]:
    """``(frames, height, width)`` of a GIF from its header, without decoding its frames."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
            return int(getattr(im, "n_frames", 1)), int(h), int(w)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as e:
        raise DataError(f"{name} could not be read as a GIF ({type(e).__name__}), so it is probably truncated or "
                        f"corrupt; re-export or re-download the file.") from None


def _gif_frames(path: Path, info: Dict[str, Any]) -> Iterator[np.ndarray]:
    import imageio.v3 as iio

    info["ready"]()
    try:
        info["fps"] = _fps_from_meta(iio.immeta(path, plugin="pillow"), True)
    except Exception:
        info["fps"] = None  # a real decoding problem is reported by imiter below
    gen = iio.imiter(path, plugin="pillow", mode="RGB")
    try:
        for frame in gen:
            yield np.asarray(frame)
    finally:
        if hasattr(gen, "close"):
            gen.close()


def decode_video(path: Path, num_frames: Optional[int] = None, size: SizeLike = None,
                 grayscale: bool = True, timeout_s: float = 120.0, max_frames: int = 20000,
                 max_decoded_bytes: Optional[int] = None) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """Decode ``path`` and resample it to ``num_frames`` frames of ``size``.

    Args:
        path: the video file.
        num_frames: T; frames ``round(linspace(0, n-1, T))`` of the n decoded frames (short clips
            repeat frames); None keeps all n.
        size: output ``(H, W)`` or int; None keeps the native size.
        grayscale: True -> C = 1, False -> C = 3 (RGB).
        timeout_s: give up (DataError) when decoding takes longer than this.
        max_frames: give up when the clip has more frames than this.
        max_decoded_bytes: the decode cap in bytes (default ``$DAS_DECODE_BUDGET_MB`` or 1024 MiB):
            a GIF's frames x canvas x 3, and the frames kept (uint8) plus the float32 output of T
            frames, must fit.

    Returns:
        ``(frames, info)``: uint8 tensor ``(T, C, H, W)`` and a dict with ``original_frames``,
        ``fps``, ``original_size`` (H, W), ``frame_indices``.
    """
    path = require_file(path, what="video file", empty_fix="replace it with a complete video file")
    name = path.name
    if not is_video_file(path):
        raise DataError(f"{name} has an unsupported extension {path.suffix!r}; use one of "
                        f"{', '.join(VIDEO_EXTENSIONS)}.")
    hw = parse_size(size)
    budget = decode_budget(max_decoded_bytes)
    c = 1 if grayscale else 3
    is_gif = path.suffix.lower() == ".gif"
    info: Dict[str, Any] = {"fps": None}
    kept: List[torch.Tensor] = []
    pending: List[np.ndarray] = []
    n = 0
    kept_bytes = 0
    orig_size: Optional[Tuple[int, int]] = None
    start = time.monotonic()

    def out_bytes(frames: int, h: int, w: int) -> int:
        oh, ow = hw or (h, w)
        return (num_frames or frames) * c * oh * ow * 4  # the float32 output

    if is_gif:
        gn, gh, gw = _gif_canvas(path, name)
        oh, ow = hw or (gh, gw)
        gif_est = gn * gh * gw * 3 + gn * c * oh * ow + out_bytes(gn, gh, gw)

        def ready() -> None:
            check_budget(name, gif_est, budget, f"{gn} frames composited on a {gw} x {gh} canvas, kept and "
                         f"converted to float32")
    else:
        def ready() -> None:
            est = info.get("frames_estimate")
            sh, sw = info["source_size"]
            if est:
                oh, ow = hw or (sh, sw)
                check_budget(name, est * c * oh * ow + out_bytes(est, sh, sw), budget,
                             f"about {est} frames of {ow} x {oh} by its metadata, kept and converted to float32")
    info["ready"] = ready

    def flush() -> None:
        nonlocal kept_bytes
        if pending:
            t = to_uint8(frames_to_sequence(np.stack(pending), grayscale, hw))  # (n, C, h, w)
            kept.append(t)
            kept_bytes += t.numel()
            pending.clear()
            total = kept_bytes + out_bytes(n, *orig_size)
            if total > budget:
                check_budget(name, total, budget, f"more than {n} frames kept and converted to float32, found "
                             f"while decoding; pass a smaller size (e.g. size=128) or fewer frames")

    frames = _gif_frames(path, info) if is_gif else _ffmpeg_frames(path, hw, grayscale, info)
    chunk = _CHUNK
    try:
        for frame in frames:
            if orig_size is None:
                orig_size = (int(frame.shape[0]), int(frame.shape[1]))
                chunk = max(1, min(_CHUNK, _CHUNK_BYTES // max(1, frame.size * 4)))
            pending.append(frame)
            n += 1
            if len(pending) >= chunk:
                flush()
            if n > max_frames:
                raise DataError(f"{name} has more than {max_frames} frames; trim the clip or raise max_frames.")
            if time.monotonic() - start > timeout_s:
                raise DataError(f"decoding {name} took longer than {timeout_s:.0f} s; the file may be "
                                f"damaged, re-encode it (e.g. ffmpeg -i in out.mp4) or raise decode_timeout.")
        flush()
    except DataError:
        raise
    except MemoryError:
        raise DataError(f"{name} ran out of memory after {n} decoded frames ({format_bytes(kept_bytes)} kept); "
                        f"lower the decode cap (max_decoded_bytes= or DAS_DECODE_BUDGET_MB) or pass a smaller "
                        f"size=.") from None
    except Exception as e:
        raise DataError(f"{name} could not be decoded ({type(e).__name__}), so it is probably truncated "
                        f"or corrupt; re-export or re-download the file.") from None
    finally:
        frames.close()
    if n == 0:
        raise DataError(f"{name} decodes to zero frames; replace it with a clip that has at least one frame.")
    allf = torch.cat(kept, 0)  # (n, C, H, W) uint8
    idx = resample_indices(n, num_frames)
    out = allf[torch.from_numpy(idx)].contiguous()
    src = info.get("source_size") or list(orig_size or out.shape[-2:])
    return out, {"original_frames": n, "fps": info["fps"], "original_size": list(src),
                 "frame_indices": idx.tolist()}
