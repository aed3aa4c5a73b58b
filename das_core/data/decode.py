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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

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


@dataclass(frozen=True)
class _Plan:
    """What one ``decode_video`` call asks for: the file's name, output size, channels, T and the byte cap."""

    name: str
    hw: Optional[Tuple[int, int]]  # output (H, W); None keeps the native size
    grayscale: bool
    num_frames: Optional[int]
    budget: int

    @property
    def channels(self) -> int:
        """C of the output: 1 for gray, 3 for RGB."""
        return 1 if self.grayscale else 3

    def out_bytes(self, frames: int, h: int, w: int) -> int:
        """Bytes of the float32 output: T (or ``frames``) frames of the output size (or ``h`` x ``w``)."""
        oh, ow = self.hw or (h, w)
        return (self.num_frames or frames) * self.channels * oh * ow * 4  # the float32 output


def _gif_budget_check(*, path: Path, plan: _Plan) -> Callable[[], None]:
    """Read the GIF's header now; return the check of its canvas x frames against the budget."""
    gn, gh, gw = _gif_canvas(path, plan.name)
    oh, ow = plan.hw or (gh, gw)
    gif_est = gn * gh * gw * 3 + gn * plan.channels * oh * ow + plan.out_bytes(gn, gh, gw)

    def ready() -> None:
        check_budget(plan.name, gif_est, plan.budget, f"{gn} frames composited on a {gw} x {gh} canvas, kept and "
                     f"converted to float32")
    return ready


def _movie_budget_check(*, plan: _Plan, info: Dict[str, Any]) -> Callable[[], None]:
    """Return the check of a movie's metadata (``info`` as ``_ffmpeg_frames`` fills it) against the budget."""
    def ready() -> None:
        est = info.get("frames_estimate")
        sh, sw = info["source_size"]
        if est:
            oh, ow = plan.hw or (sh, sw)
            check_budget(plan.name, est * plan.channels * oh * ow + plan.out_bytes(est, sh, sw), plan.budget,
                         f"about {est} frames of {ow} x {oh} by its metadata, kept and converted to float32")
    return ready


class _FrameStore:
    """Collects decoded ``(H, W, C)`` frames as converted uint8 chunks, checking the budget after each chunk."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.kept: List[torch.Tensor] = []  # each (k, C, h, w) uint8
        self.pending: List[np.ndarray] = []  # each (H, W, C) uint8, not converted yet
        self.n = 0  # frames added so far
        self.kept_bytes = 0
        self.orig_size: Optional[Tuple[int, int]] = None  # (H, W) of the first frame
        self.chunk = _CHUNK

    def add(self, frame: np.ndarray) -> None:
        """Queue one ``(H, W, C)`` frame; convert the queue once it holds a chunk."""
        if self.orig_size is None:
            self.orig_size = (int(frame.shape[0]), int(frame.shape[1]))
            self.chunk = max(1, min(_CHUNK, _CHUNK_BYTES // max(1, frame.size * 4)))
        self.pending.append(frame)
        self.n += 1
        if len(self.pending) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        """Convert the queued frames to a uint8 chunk; DataError when kept plus output pass the budget."""
        if self.pending:
            plan = self.plan
            t = to_uint8(frames_to_sequence(np.stack(self.pending), plan.grayscale, plan.hw))  # (n, C, h, w)
            self.kept.append(t)
            self.kept_bytes += t.numel()
            self.pending.clear()
            total = self.kept_bytes + plan.out_bytes(self.n, *self.orig_size)
            if total > plan.budget:
                check_budget(plan.name, total, plan.budget, f"more than {self.n} frames kept and converted to "
                             f"float32, found while decoding; pass a smaller size (e.g. size=128) or fewer frames")


def _consume(frames: Iterator[np.ndarray], *, store: _FrameStore, max_frames: int, timeout_s: float,
             start: float) -> None:
    """Feed every frame into ``store``; DataError past ``max_frames`` or ``timeout_s`` after ``start``."""
    name = store.plan.name
    for frame in frames:
        store.add(frame)
        if store.n > max_frames:
            raise DataError(f"{name} has more than {max_frames} frames; trim the clip or raise max_frames.")
        if time.monotonic() - start > timeout_s:
            raise DataError(f"decoding {name} took longer than {timeout_s:.0f} s; the file may be "
                            f"damaged, re-encode it (e.g. ffmpeg -i in out.mp4) or raise decode_timeout.")
    store.flush()


def _consume_guarded(frames: Iterator[np.ndarray], *, store: _FrameStore, max_frames: int, timeout_s: float,
                     start: float) -> None:
    """``_consume`` with every failure turned into a DataError naming the file; ``frames`` is always closed."""
    name = store.plan.name
    try:
        _consume(frames, store=store, max_frames=max_frames, timeout_s=timeout_s, start=start)
    except DataError:
        raise
    except MemoryError:
        raise DataError(f"{name} ran out of memory after {store.n} decoded frames ({format_bytes(store.kept_bytes)} "
                        f"kept); lower the decode cap (max_decoded_bytes= or DAS_DECODE_BUDGET_MB) or pass a smaller "
                        f"size=.") from None
    except Exception as e:
        raise DataError(f"{name} could not be decoded ({type(e).__name__}), so it is probably truncated "
                        f"or corrupt; re-export or re-download the file.") from None
    finally:
        frames.close()


def _resampled(store: _FrameStore, *, info: Dict[str, Any], num_frames: Optional[int]
               ) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """The ``(T, C, H, W)`` uint8 frames ``num_frames`` picks from a non-empty ``store``, and the info dict."""
    allf = torch.cat(store.kept, 0)  # (n, C, H, W) uint8
    idx = resample_indices(store.n, num_frames)
    out = allf[torch.from_numpy(idx)].contiguous()  # (T, C, H, W) uint8
    src = info.get("source_size") or list(store.orig_size or out.shape[-2:])
    return out, {"original_frames": store.n, "fps": info["fps"], "original_size": list(src),
                 "frame_indices": idx.tolist()}


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
    plan = _Plan(name=name, hw=hw, grayscale=grayscale, num_frames=num_frames, budget=budget)
    is_gif = path.suffix.lower() == ".gif"
    info: Dict[str, Any] = {"fps": None}
    start = time.monotonic()
    info["ready"] = _gif_budget_check(path=path, plan=plan) if is_gif else _movie_budget_check(plan=plan, info=info)
    frames = _gif_frames(path, info) if is_gif else _ffmpeg_frames(path, hw, grayscale, info)
    store = _FrameStore(plan)
    _consume_guarded(frames, store=store, max_frames=max_frames, timeout_s=timeout_s, start=start)
    if store.n == 0:
        raise DataError(f"{name} decodes to zero frames; replace it with a clip that has at least one frame.")
    return _resampled(store, info=info, num_frames=num_frames)

