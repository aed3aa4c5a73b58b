"""Image helpers: frames of a sequence as uint8 numpy arrays (H, W) or (H, W, 3) that `st.image` shows
directly (`to_uint8` with window/level, `upscale` nearest-neighbour, `frame_image`), tiled (`montage` of
samples, `strip` of picked frames framed in the method's colour), as an H.264 MP4 (`cine_mp4`) or as a PNG
data URI (`png_data_uri`, what the cine's layout images take).
"""

from __future__ import annotations

import base64
import io
import os
import tempfile
from typing import Iterable, Optional, Sequence

import imageio.v2 as imageio
import numpy as np
from PIL import Image

from das_core.export.draw import apply_window

from .theme import _hex_to_rgb, method_color

__all__ = ["to_uint8", "upscale", "frame_image", "montage", "strip", "cine_mp4", "png_data_uri"]

def to_uint8(frame, window: Optional[tuple[float, float]] = None) -> np.ndarray:
    """One frame (C, H, W) or (H, W) in [0, 1] -> uint8 (H, W) or (H, W, 3).

    `window` = (level, width) in the [0, 1] intensity scale of the data (window/level for CT-like
    volumes): values map linearly from level - width/2 .. level + width/2 to 0..255, clipped.
    """
    a = np.asarray(frame.detach().cpu() if hasattr(frame, "detach") else frame, dtype=np.float32)
    if a.ndim == 3:
        a = a[0] if a.shape[0] == 1 else np.moveaxis(a[:3], 0, -1)
    return (np.clip(apply_window(a, window), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def upscale(img: np.ndarray, min_size: int = 160) -> np.ndarray:
    """Nearest-neighbour upscale so small frames (28 x 28) are not blurred by the browser."""
    f = max(1, int(np.ceil(min_size / max(img.shape[0], img.shape[1]))))
    if f == 1:
        return img
    return np.repeat(np.repeat(img, f, axis=0), f, axis=1)


def frame_image(x, t: int, window=None, min_size: int = 256) -> np.ndarray:
    """Frame t of a sequence (T, C, H, W) as an upscaled uint8 image."""
    return upscale(to_uint8(x[int(t)], window), min_size)


def _rgb(img: np.ndarray) -> np.ndarray:
    return np.repeat(img[..., None], 3, axis=-1) if img.ndim == 2 else img


def _tile(images: Sequence[np.ndarray], ncols: int, pad: int, border: Optional[Sequence] = None) -> np.ndarray:
    images = [_rgb(im) for im in images]
    h = max(im.shape[0] for im in images)
    w = max(im.shape[1] for im in images)
    nrows = int(np.ceil(len(images) / ncols))
    out = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, 3), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, ncols)
        y0, x0 = pad + r * (h + pad), pad + c * (w + pad)
        if border is not None and border[i] is not None and pad >= 2:
            out[y0 - 2:y0 + h + 2, x0 - 2:x0 + w + 2] = border[i]
        out[y0:y0 + im.shape[0], x0:x0 + im.shape[1]] = im
    return out


def montage(samples: Sequence, ncols: int = 8, frame: Optional[int] = None, tile: int = 64) -> np.ndarray:
    """One tile per sample (each (T, C, H, W)): its middle frame (or `frame`), for choosing a sample."""
    tiles = []
    for x in samples:
        t = x.shape[0] // 2 if frame is None else min(int(frame), x.shape[0] - 1)
        tiles.append(upscale(to_uint8(x[t]), tile))
    return _tile(tiles, ncols=min(ncols, max(1, len(tiles))), pad=4)


def strip(x, indices: Iterable[int], method: Optional[str] = None, tile: int = 56, max_frames: int = 32,
          window=None) -> np.ndarray:
    """The picked frames of x (T, C, H, W) side by side, framed in the method's colour."""
    idx = [int(i) for i in indices][:max_frames]
    tiles = [upscale(to_uint8(x[i], window), tile) for i in idx]
    color = _hex_to_rgb(method_color(method)) if method else None
    return _tile(tiles, ncols=len(tiles), pad=4, border=[color] * len(tiles))


def cine_mp4(x, fps: float = 8.0, window=None, min_size: int = 192, max_frames: int = 600) -> bytes:
    """An H.264 MP4 (bytes) of a sequence (T, C, H, W): the browser's own player can pause, seek and loop it.

    Encoded with imageio-ffmpeg's bundled ffmpeg in a temporary folder that is removed afterwards.
    """
    T = x.shape[0]
    step = max(1, int(np.ceil(T / max_frames)))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "cine.mp4")
        writer = imageio.get_writer(path, format="FFMPEG", fps=max(0.5, min(float(fps), 60.0)), codec="libx264",
                                    pixelformat="yuv420p", macro_block_size=16, ffmpeg_log_level="error")
        try:
            for t in range(0, T, step):
                writer.append_data(_rgb(frame_image(x, t, window, min_size)))
        finally:
            writer.close()
        with open(path, "rb") as fh:
            return fh.read()


def png_data_uri(img: np.ndarray) -> str:
    """A uint8 image (H, W) or (H, W, 3) as a "data:image/png;base64,..." URI (what go.Image's `source` takes)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG", optimize=False, compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
