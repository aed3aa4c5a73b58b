"""Pillow + numpy drawing of the export's images: frames, the pick strip under each cine frame, the
picked-frame rows of picks.png and the attention-over-time heatmap. No matplotlib, no plotly.

Every function returns a uint8 RGB array (H, W, 3).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .picks import SampleRun
from .study import Study

__all__ = ["hex_rgb", "apply_window", "frame_rgb", "fit_frame", "CineCanvas", "cine_frame", "picks_image", "attention_image", "viridis",
           "pad_to_multiple", "PickRow"]

WHITE, INK, MUTED, EMPTY = (255, 255, 255), (33, 33, 33), (110, 110, 110), (228, 228, 228)
INFORMATIVE = (0, 158, 115)
_LABEL_W = 230  # pixels of the label column of the strips
_ROW_H, _ROW_GAP = 13, 3
_RING = 4  # pixels of each method's ring around a picked frame

# viridis at 9 evenly spaced stops (matplotlib's values), interpolated linearly
_VIRIDIS = np.array([(68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141), (39, 173, 129),
                     (92, 200, 99), (170, 220, 50), (253, 231, 37)], dtype=np.float64)


@lru_cache(maxsize=4)
def _font(size: int = 13):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def hex_rgb(color: str) -> tuple[int, int, int]:
    """"#rrggbb" -> (r, g, b)."""
    c = color.lstrip("#")
    return tuple(int(c[i:i + 2], 16) for i in (0, 2, 4))


def viridis(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (any shape) -> uint8 RGB (..., 3) on the viridis scale (NaN -> light grey)."""
    v = np.asarray(values, dtype=np.float64)
    nan = ~np.isfinite(v)
    pos = np.clip(np.nan_to_num(v), 0, 1) * (len(_VIRIDIS) - 1)
    lo = np.minimum(pos.astype(int), len(_VIRIDIS) - 2)
    w = (pos - lo)[..., None]
    rgb = _VIRIDIS[lo] * (1 - w) + _VIRIDIS[lo + 1] * w
    rgb[nan] = EMPTY
    return (rgb + 0.5).astype(np.uint8)


def apply_window(a: np.ndarray, window=None) -> np.ndarray:
    """Values on the [0, 1] scale through the window (level, width) of that scale: level - width/2 ..
    level + width/2 become 0..1 (not clipped); None returns `a` as it is. The app's viewer and the export
    window alike through this."""
    if window is None:
        return a
    level, width = float(window[0]), max(float(window[1]), 1e-6)
    return (a - (level - width / 2.0)) / width


def frame_rgb(frame, window=None) -> np.ndarray:
    """One frame (C, H, W) in [0, 1] (torch or numpy) -> uint8 RGB (H, W, 3).

    `window` = (level, width) on the same [0, 1] scale (the viewer's window/level, see `apply_window`),
    clipped to black..white; None shows [0, 1] as it is."""
    a = np.asarray(frame.detach().cpu() if hasattr(frame, "detach") else frame, dtype=np.float32)
    a = a[0] if a.shape[0] == 1 else np.moveaxis(a[:3], 0, -1)  # (H, W) or (H, W, 3)
    a = (np.clip(apply_window(a, window), 0, 1) * 255 + 0.5).astype(np.uint8)
    return np.repeat(a[..., None], 3, axis=-1) if a.ndim == 2 else a


def fit_frame(img: np.ndarray, min_size: int, max_size: int) -> np.ndarray:
    """Upscale a small frame by a whole factor (nearest, crisp pixels) to >= `min_size` on its longest
    side, or shrink a large one to <= `max_size` (Lanczos), keeping its aspect."""
    h, w = img.shape[:2]
    side = max(h, w)
    if side < min_size:
        f = int(np.ceil(min_size / side))
        return np.repeat(np.repeat(img, f, axis=0), f, axis=1)
    if side > max_size:
        s = max_size / side
        size = (max(1, round(w * s)), max(1, round(h * s)))
        return np.asarray(Image.fromarray(img).resize(size, Image.LANCZOS))
    return img


def pad_to_multiple(img: np.ndarray, m: int = 16) -> np.ndarray:
    """Pad (white, bottom/right) to a multiple of `m` pixels on each side (H.264 wants multiples of 16)."""
    h, w = img.shape[:2]
    H, W = -(-h // m) * m, -(-w // m) * m
    if (H, W) == (h, w):
        return img
    out = np.full((H, W, 3), 255, np.uint8)
    out[:h, :w] = img
    return out


def _text_w(draw: ImageDraw.ImageDraw, text: str, size: int = 13) -> int:
    return int(draw.textlength(text, font=_font(size)))


def _fit_text(draw: ImageDraw.ImageDraw, text: str, width: int, size: int = 12) -> str:
    """`text` cut (with an ellipsis) to fit `width` pixels."""
    if _text_w(draw, text, size) <= width:
        return text
    while text and _text_w(draw, text + "…", size) > width:
        text = text[:-1]
    return text + "…"


class PickRow:
    """One method's row in the cine strip: its label, colour and the study frames it picked."""

    def __init__(self, r: SampleRun):
        self.name = r.label
        stem = r.source[:-3] if r.source.endswith(".pt") else r.source
        self.label = f"{r.label} · {stem}"
        self.color = hex_rgb(r.color)
        self.frames = set(r.frames)


class CineCanvas:
    """The cine's layout, its fixed part (labels and the pick strip) drawn once; `frame(t)` adds frame t.

    Layout: a header ("slice t of T" and the names of the methods that picked it, in their colours),
    the frame framed by one ring per method that picked it, then a strip with one row per method over
    every frame (picked frames in the method's colour; frame t outlined).

    Args:
        study: the study (all its frames share one size).
        rows: one `PickRow` per method, in report order.
        min_size, max_size: see `fit_frame`.
        window: the display window (level, width) of the frames (see `frame_rgb`).
    """

    header, pad = 24, 8

    def __init__(self, study: Study, rows: Sequence[PickRow], *, min_size: int = 256, max_size: int = 768,
                 window=None):
        self.study, self.rows = study, list(rows)
        self.min_size, self.max_size, self.window = min_size, max_size, window
        h, w = fit_frame(frame_rgb(study.x[0], window), min_size, max_size).shape[:2]
        ring = _RING * max(1, len(self.rows))
        self.W = max(w + 2 * ring + 16, 640)
        self.left, self.top = (self.W - w) // 2, self.header + ring
        self.strip_top = self.header + h + 2 * ring + self.pad + 3
        strip_rows: list = ([("informative", INK, INFORMATIVE, set(study.informative))] if study.informative else [])
        strip_rows += [(r.label, r.color, r.color, r.frames) for r in self.rows]
        self.strip_bottom = self.strip_top + len(strip_rows) * (_ROW_H + _ROW_GAP) - _ROW_GAP
        self.H = self.strip_bottom + 10
        T, x0 = study.num_frames, self.pad
        cells = self.W - 2 * self.pad - _LABEL_W
        self.edges = [x0 + _LABEL_W + (t * cells) // T for t in range(T + 1)]
        self._base = Image.new("RGB", (self.W, self.H), WHITE)
        draw = ImageDraw.Draw(self._base)
        gap = 1 if cells >= 2 * T else 0
        for j, (label, ink, color, picked) in enumerate(strip_rows):
            y = self.strip_top + j * (_ROW_H + _ROW_GAP)
            draw.text((x0, y - 1), _fit_text(draw, label, _LABEL_W - 8), fill=ink, font=_font(12))
            for t in range(T):
                a, b = self.edges[t], max(self.edges[t] + 1, self.edges[t + 1] - gap)
                draw.rectangle([a, y, b - 1, y + _ROW_H - 1], fill=color if t in picked else EMPTY)

    def frame(self, t: int) -> np.ndarray:
        """Frame t of the study on the canvas, uint8 RGB (H, W, 3)."""
        canvas = self._base.copy()
        draw = ImageDraw.Draw(canvas)
        T = self.study.num_frames
        draw.text((self.pad, 5), f"{self.study.frame_word} {t} of {T} (0..{T - 1})", fill=INK, font=_font(13))
        pickers = [r for r in self.rows if t in r.frames]
        x = self.W - self.pad
        for r in reversed(pickers):  # right-aligned: "picked by" then the names in their colours
            x -= _text_w(draw, r.name, 13) + 8
            draw.text((x, 5), r.name, fill=r.color, font=_font(13))
        if pickers:
            x -= _text_w(draw, "picked by", 13) + 8
            draw.text((x, 5), "picked by", fill=MUTED, font=_font(13))
        img = fit_frame(frame_rgb(self.study.x[t], self.window), self.min_size, self.max_size)  # (h, w, 3)
        h, w = img.shape[:2]
        for j, r in enumerate(pickers):  # nested rings, first method innermost
            o = _RING * (j + 1)
            draw.rectangle([self.left - o, self.top - o, self.left + w + o - 1, self.top + h + o - 1], outline=r.color,
                           width=_RING)
        canvas.paste(Image.fromarray(img), (self.left, self.top))
        a, b = self.edges[t], max(self.edges[t] + 1, self.edges[t + 1])
        draw.rectangle([a - 2, self.strip_top - 3, b + 1, self.strip_bottom + 2], outline=INK, width=2)
        return np.asarray(canvas)


def cine_frame(study: Study, t: int, rows: Sequence[PickRow], *, min_size: int = 256,
               max_size: int = 768) -> np.ndarray:
    """Frame t of the cine (see `CineCanvas`; build one `CineCanvas` to draw many frames).

    Args:
        study: the study.
        t: the frame.
        rows: one `PickRow` per method, in report order.
        min_size, max_size: see `fit_frame`.
    """
    return CineCanvas(study, rows, min_size=min_size, max_size=max_size).frame(t)


def picks_image(study: Study, results: Sequence[SampleRun], *, tile: int = 72, per_row: int = 14,
                window=None) -> np.ndarray:
    """picks.png: one labelled row per method with the study frames it picked (each framed in its
    colour, its frame number under it), wrapped after `per_row` frames.

    Args:
        study: the study.
        results: the methods' picks, in report order.
        tile: the longest side of each frame in pixels.
        per_row: frames per row before wrapping.
        window: the display window (level, width) of the frames (see `frame_rgb`).
    """
    gap, cap, label_w = 6, 16, 190
    cell_w, cell_h = tile + gap, tile + cap + gap
    lines = [max(1, -(-r.k // per_row)) for r in results]
    H = 10 + sum(n * cell_h + 10 for n in lines)
    W = label_w + min(per_row, max([r.k for r in results] + [1])) * cell_w + 10
    canvas = Image.new("RGB", (W, H), WHITE)
    draw = ImageDraw.Draw(canvas)
    y = 10
    for r, n in zip(results, lines):
        color = hex_rgb(r.color)
        draw.text((8, y + 4), _fit_text(draw, r.label, label_w - 16, 15), fill=color, font=_font(15))
        draw.text((8, y + 24), _fit_text(draw, r.source, label_w - 16), fill=MUTED, font=_font(12))
        draw.text((8, y + 40), f"k = {r.k} of T = {len(r.frame_map)}", fill=MUTED, font=_font(12))
        for j, f in enumerate(r.frames):
            row, col = divmod(j, per_row)
            img = frame_rgb(study.x[f], window)
            s = tile / max(img.shape[:2])
            size = (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s)))
            resample = Image.NEAREST if s >= 1 else Image.LANCZOS
            im = Image.fromarray(img).resize(size, resample)
            x0, y0 = label_w + col * cell_w, y + row * cell_h
            draw.rectangle([x0 - 2, y0 - 2, x0 + size[0] + 1, y0 + size[1] + 1], fill=color)
            canvas.paste(im, (x0, y0))
            text = str(f)
            draw.text((x0 + (size[0] - _text_w(draw, text, 12)) // 2, y0 + size[1] + 2), text, fill=INK,
                      font=_font(12))
        y += n * cell_h + 10
        draw.line([0, y - 5, W, y - 5], fill=EMPTY)
    return np.asarray(canvas)


def attention_image(results: Sequence[SampleRun], frame_word: str = "frame", *,
                    cell: int = 0) -> Optional[np.ndarray]:
    """Attention over time: per method with per-frame scores, a heatmap of score per frame (columns,
    the model's T frames) per head (rows; one row for a sampler with one score per frame), each block
    min-max scaled on the viridis scale, its picks marked under it in the method's colour.
    None when no method has scores.

    Args:
        results: the methods' picks (those without scores are left out).
        frame_word: "slice" or "frame" for the axis.
        cell: pixels per frame (0: fit about 760 pixels).
    """
    blocks = [r for r in results if r.head_scores is not None or r.scores is not None]
    if not blocks:
        return None
    label_w, row_h, title_h, axis_h, mark_h = 90, 16, 22, 20, 12
    T_max = max(len(r.frame_map) for r in blocks)
    c = cell or max(2, min(28, 760 // T_max))
    heights = []
    for r in blocks:
        n = r.head_scores.shape[0] if r.head_scores is not None else 1
        heights.append(title_h + n * row_h + mark_h + axis_h + 8)
    W = label_w + T_max * c + 20
    canvas = Image.new("RGB", (W, sum(heights) + 24), WHITE)
    draw = ImageDraw.Draw(canvas)
    y = 4
    for r, bh in zip(blocks, heights):
        z = r.head_scores if r.head_scores is not None else r.scores[None]  # (H, T)
        z = np.asarray(z, dtype=np.float64)
        T = z.shape[1]
        lo, hi = float(np.nanmin(z)), float(np.nanmax(z))
        norm = (z - lo) / (hi - lo) if hi > lo else np.full_like(z, 0.5)
        what = "attention per head" if r.head_scores is not None else "score per frame"
        draw.text((4, y + 3), f"{r.label} · {r.source}: {what} (scale {lo:.3g} .. {hi:.3g})",
                  fill=hex_rgb(r.color),
                  font=_font(13))
        top = y + title_h
        heat = np.repeat(np.repeat(viridis(norm), row_h, axis=0), c, axis=1)  # (H * row_h, T * c, 3)
        canvas.paste(Image.fromarray(heat), (label_w, top))
        for h in range(z.shape[0]):
            name = f"head {h}" if r.head_scores is not None else "score"
            draw.text((6, top + h * row_h + 1), name, fill=INK, font=_font(12))
        marks = top + z.shape[0] * row_h + 2
        draw.text((6, marks - 2), "picked", fill=MUTED, font=_font(11))
        for f in r.indices:
            cx = label_w + f * c + c // 2
            draw.polygon([(cx, marks), (cx - 4, marks + 8), (cx + 4, marks + 8)], fill=hex_rgb(r.color))
        axis = marks + mark_h
        step = max(1, int(np.ceil(T / max(1, (T * c) // 40))))
        for t in range(0, T, step):
            draw.text((label_w + t * c + c // 2 - _text_w(draw, str(t), 11) // 2, axis), str(t), fill=MUTED,
                      font=_font(11))
        y += bh
    draw.text((label_w, y + 2), f"model's {frame_word} index (the study resampled to each model's T)", fill=MUTED,
              font=_font(12))
    return np.asarray(canvas)
