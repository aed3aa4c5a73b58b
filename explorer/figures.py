"""Plotly figures and image helpers of the app (and notebooks); the pages only lay them out.

Every method has one colour everywhere (`method_color`), every axis is labelled, and figures are
sized for a 1280x800 window. The methods and their order come from the sampler registry
(`das_core.list_samplers()`, read at each call), so a sampler registered with
`das_core.register_sampler` gets a row, a bar and a colour like the built-in ones.

Image helpers return uint8 numpy arrays (H, W) or (H, W, 3) that `st.image` shows directly.
"""

from __future__ import annotations

import base64
import functools
import io
import os
import tempfile
from typing import Iterable, Mapping, Optional, Sequence

import imageio.v2 as imageio
import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from das_core import list_samplers
from das_core.samplers import sampler_class
from das_core.export.draw import apply_window
from das_core.export.settings import EXTRA_COLORS, METHOD_COLORS

__all__ = [
    "METHOD_COLORS", "EXTRA_COLORS", "method_order", "method_color", "method_label",
    "to_uint8", "frame_image", "montage", "strip", "upscale", "cine_mp4", "png_data_uri", "cine_plan",
    "CINE_MAX_SIZE", "CINE_MAX_FRAMES", "CINE_MAX_PIXELS", "CINE_MIN_SIZE", "fig_cine",
    "fig_feature_curves", "fig_orthogonal", "fig_timeline", "fig_attention", "fig_matrix",
    "fig_dps_logits", "fig_adps_steps", "fig_confidence", "fig_training_curves",
    "fig_metric_vs_ratio", "fig_speed", "fig_tau_sweep",
]

# Colour-blind-safe (Okabe-Ito), one per built-in method on every page and in the exports; DAS gets the
# strongest colour. Registered samplers without one take EXTRA_COLORS by their position among such
# samplers in list_samplers(), so the colour is stable. One table: das_core.export.settings.
UNKNOWN_COLOR = "#333333"
INFORMATIVE_COLOR = "rgba(0, 158, 115, 0.15)"
_FONT = dict(family="Inter, Arial, sans-serif", size=12)
_MARGIN = dict(l=60, r=20, t=40, b=45)


def method_order() -> list[str]:
    """The registered sampler names in registration order (full ... das, then users' samplers)."""
    return list_samplers()


def method_color(method: str) -> str:
    """The method's colour: Okabe-Ito for the built-ins, EXTRA_COLORS for other registered samplers."""
    name = str(method).lower()
    if name in METHOD_COLORS:
        return METHOD_COLORS[name]
    others = [m for m in list_samplers() if m not in METHOD_COLORS]
    return EXTRA_COLORS[others.index(name) % len(EXTRA_COLORS)] if name in others else UNKNOWN_COLOR


def method_label(method: str) -> str:
    """The sampler's display name (its class's `label`, e.g. "DAS"); the string itself when unregistered."""
    name = str(method).lower()
    return sampler_class(name).display_name() if name in list_samplers() else str(method)


def _order_key(method: str) -> int:
    order = method_order()
    return order.index(method) if method in order else len(order)


_AXIS = dict(gridcolor="#eeeeee", zeroline=False, showline=True, linecolor="#cccccc")


def _title(text: str) -> dict:
    return {"text": text, "x": 0.0, "xanchor": "left", "font": {"size": 14}}


def _layout_spec(title: str, height: int, margin: Optional[dict] = None, xaxis: Optional[dict] = None,
                 yaxis: Optional[dict] = None, **extra) -> dict:
    """`_layout`'s layout as a plain dict, for the figures built with `_trusted_figure`."""
    return {"title": _title(title), "height": height, "margin": dict(margin or _MARGIN), "font": dict(_FONT),
            "plot_bgcolor": "white", "xaxis": {**(xaxis or {}), **_AXIS}, "yaxis": {**(yaxis or {}), **_AXIS},
            **extra}


def _trusted_figure(spec: dict) -> go.Figure:
    """`go.Figure(spec)` without plotly's property validation, for a spec this module wrote: the figures Compare
    rebuilds when a control moves (validation took 9-26 ms a figure on a quiet machine; the soft matrix took
    75 ms in the server's profile while the browser drew the page; about 1 ms each this way).
    tests/test_app_lib.py checks each such figure equals its validated construction.
    With a plotly that lacks the private `_validate` switch, the validated construction."""
    try:
        return go.Figure(spec, _validate=False)
    except TypeError:  # pragma: no cover - other plotly versions
        return go.Figure(spec)


def _colorscale(name: str) -> list:
    """A named plotly colour scale as the [[position, colour], ...] list its validator produces."""
    return [list(p) for p in _validated_colorscale(name)]


@functools.lru_cache(maxsize=32)
def _validated_colorscale(name: str) -> tuple:
    return go.Heatmap(colorscale=name).colorscale


def _informative_shapes(informative: Optional[Iterable[int]]) -> list[dict]:
    """`_shade_informative`'s bands as shape dicts."""
    return [{"type": "rect", "x0": t - 0.5, "x1": t + 0.5, "xref": "x", "y0": 0, "y1": 1, "yref": "y domain",
             "fillcolor": INFORMATIVE_COLOR, "line": {"width": 0}, "layer": "below"}
            for t in sorted(set(int(i) for i in informative or []))]


def _layout(fig: go.Figure, title: str = "", height: int = 300, **kw) -> go.Figure:
    fig.update_layout(title=_title(title), height=height, margin=kw.pop("margin", _MARGIN), font=_FONT,
                      plot_bgcolor="white", **kw)
    # No named template: resolving one costs ~70 ms per figure on a busy 2-core machine, and
    # Streamlit's own chart theme styles the rest.
    fig.update_xaxes(**_AXIS)  # every x and y axis, subplots' included
    fig.update_yaxes(**_AXIS)
    return fig


# ----------------------------------------------------------------------------- images

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


def _hex_to_rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    return tuple(int(c[i:i + 2], 16) for i in (0, 2, 4))


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


# ----------------------------------------------------------------------------- cine (plays in the browser)

# What one cine figure carries, so that it stays a few MB (PNG frames, base64) whatever the sequence:
CINE_MAX_SIZE = 192  # longest side of each frame, pixels (larger frames are shrunk, box filter)
CINE_MAX_FRAMES = 200  # frames of the animation: a longer sequence plays every step-th frame (+ the picked ones)
CINE_MAX_PIXELS = 3_000_000  # all frames together: long sequences shrink their frames further (>= 32 px)
CINE_MIN_SIZE = 128  # smaller frames are enlarged (nearest neighbour) to at least this, so the browser keeps them sharp


def png_data_uri(img: np.ndarray) -> str:
    """A uint8 image (H, W) or (H, W, 3) as a "data:image/png;base64,..." URI (what go.Image's `source` takes)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG", optimize=False, compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def cine_plan(num_frames: int, height: int, width: int, picks: Iterable[int] = (),
              max_size: int = CINE_MAX_SIZE, max_frames: int = CINE_MAX_FRAMES,
              max_pixels: int = CINE_MAX_PIXELS) -> tuple[list[int], int, int]:
    """(frames shown, height, width) of a cine of a (T, C, H, W) sequence under the caps above.

    Every frame when T <= max_frames, else every step-th frame (step = ceil(T / max_frames)) plus every
    picked frame, so the cine still stops on each pick. Frames keep their aspect ratio and are shrunk (box
    filter) so the longest side is <= max_size and all frames together hold <= max_pixels pixels (never below
    32 px). `fig_cine` then repeats each pixel of frames smaller than CINE_MIN_SIZE (nearest neighbour), which
    PNG compresses well, so the browser does not blur them.
    """
    T = int(num_frames)
    step = max(1, int(np.ceil(T / max(1, int(max_frames)))))
    shown = sorted(set(range(0, T, step)) | {int(t) for t in picks if 0 <= int(t) < T})
    aspect = max(height, width) / max(1, min(height, width))
    side = min(float(max_size), float(np.sqrt(max_pixels / max(1, len(shown)) * aspect)))
    f = min(1.0, max(32.0, side) / max(height, width))
    return shown, max(1, int(round(height * f))), max(1, int(round(width * f)))


def _picked_by(t: int, picks: Mapping[str, Sequence[int]]) -> list[str]:
    return [m for m, idx in picks.items() if int(t) in {int(i) for i in idx}]


def _cine_title(t: int, picks: Mapping[str, Sequence[int]], frame_word: str, T: int) -> str:
    who = _picked_by(t, picks)
    text = f"{frame_word} {int(t)} of {T}"
    if picks:
        text += " · picked by " + ", ".join(method_label(m) for m in who) if who else " · not picked"
    return f"<b>{text}</b>"  # bold as Streamlit draws every chart title, so it does not change when frames play


def fig_cine(x, picks: Optional[Mapping[str, Sequence[int]]] = None, *, fps: float = 8.0, window=None,
             scores: Optional[Sequence[float]] = None, informative: Optional[Iterable[int]] = None,
             frame_word: str = "slice", scores_name: str = "DAS score", max_size: int = CINE_MAX_SIZE,
             max_frames: int = CINE_MAX_FRAMES, max_pixels: int = CINE_MAX_PIXELS) -> go.Figure:
    """A cine of a sequence x (T, C, H, W) that plays in the browser (a plotly animation: no rerun per frame).

    Top: the frame (grayscale, `window` = (level, width) as `to_uint8`; a PNG layout image, which plotly swaps
    without the flicker of an image trace). Below: one timeline row per method of `picks` (method -> picked
    frames, in its colour), then `scores` (T,) as a line when given (named `scores_name`); a marker at the
    current frame moves along both, the methods that picked the current frame get a ring on their row, and
    the title names them ("slice 12 of 40 · picked by DAS, Uniform"). Play / Pause buttons play at `fps`
    frames per second (frame.duration = 1000 / fps, no transition); the slider steps and scrubs. Informative
    frames (synthetic data) are shaded green. The animation's frames are named by their index t and carry
    only what changes (`traces=` the markers and rings; layout: the frame's PNG and the title); the caps
    CINE_MAX_SIZE, CINE_MAX_FRAMES, CINE_MAX_PIXELS (see `cine_plan`) keep the figure a few MB: a 100-frame
    128 x 128 sequence is 2.5 MB of JSON for uniform noise (PNG's worst case), far less for real images. A longer sequence shows each kept frame step / fps seconds, so the cine
    keeps its real pace.
    """
    picks = {str(m): sorted({int(i) for i in idx}) for m, idx in (picks or {}).items()}
    T, _, H, W = (int(v) for v in x.shape)
    shown, h, w = cine_plan(T, H, W, [t for idx in picks.values() for t in idx], max_size, max_frames, max_pixels)
    step = max(1, int(np.ceil(T / max(1, int(max_frames)))))
    methods = list(picks)
    n = len(methods)
    score_row = scores is not None
    timeline_row = n > 0 or not score_row  # a bare frame axis when there is nothing else to show
    img_px, tl_px, sc_px, gap_px = 340, 30 * max(1, n) + 30, 110, 55
    rows_px = [img_px] + ([tl_px] if timeline_row else []) + ([sc_px] if score_row else [])
    plot_px = sum(rows_px) + gap_px * (len(rows_px) - 1)
    fig = make_subplots(rows=len(rows_px), cols=1, row_heights=[r / sum(rows_px) for r in rows_px],
                        vertical_spacing=gap_px / plot_px)

    def frame_image_spec(t: int) -> dict:
        # A layout image, not a go.Image trace: plotly re-creates an image trace's <image> on every animation
        # frame and leaves it empty until the PNG loads (a visible flicker); a layout image keeps its element
        # and takes a data URI at once. Small frames are enlarged here (nearest), the browser would blur them.
        img = to_uint8(x[int(t)], window)
        if img.shape[:2] != (h, w):
            img = np.asarray(Image.fromarray(img).resize((w, h), Image.Resampling.BOX))
        return dict(source=png_data_uri(upscale(img, CINE_MIN_SIZE)), xref="x", yref="y", x=0, y=H, sizex=W, sizey=H,
                    xanchor="left", yanchor="top", sizing="stretch", layer="above")

    t0 = shown[0]
    traces = []  # indices of the traces a frame updates
    fig.update_xaxes(visible=False, constrain="domain", range=[0, W], row=1, col=1)
    fig.update_yaxes(visible=False, scaleanchor="x", constrain="domain", range=[0, H], row=1, col=1)
    marker_line = dict(color="#222222", width=2)

    def marker(t: int, lo: float, hi: float) -> dict:
        return dict(x=[t, t], y=[lo, hi])

    row = 2
    tl_lo, tl_hi = -0.6, max(1, n) - 0.4
    if timeline_row:
        for r, m in enumerate(methods):
            fig.add_trace(go.Scatter(x=list(range(T)), y=[r] * T, mode="markers", hoverinfo="skip", showlegend=False,
                                     marker=dict(size=6, color="#e6e6e6", symbol="line-ns-open")), row, 1)
            fig.add_trace(go.Scatter(
                x=picks[m], y=[r] * len(picks[m]), mode="markers", name=method_label(m), showlegend=False,
                marker=dict(size=11, color=method_color(m), symbol="square", line=dict(width=1, color="white")),
                hovertemplate=f"{method_label(m)}: {frame_word} %{{x}}<extra></extra>"), row, 1)
        fig.add_trace(go.Scatter(**marker(t0, tl_lo, tl_hi), mode="lines", line=marker_line, hoverinfo="skip",
                                 showlegend=False, name="current"), row, 1)
        traces.append(len(fig.data) - 1)
        if n:
            who = _picked_by(t0, picks)
            fig.add_trace(go.Scatter(x=[t0] * len(who), y=[methods.index(m) for m in who], mode="markers",
                                     marker=dict(size=19, symbol="square-open", color="#222222", line=dict(width=2)),
                                     hoverinfo="skip", showlegend=False, name="picked here"), row, 1)
            traces.append(len(fig.data) - 1)
        fig.update_yaxes(tickvals=list(range(n)), ticktext=[method_label(m) for m in methods], range=[tl_hi, tl_lo],
                         showgrid=False, row=row, col=1, visible=n > 0)
        _shade_informative(fig, informative, row=row, col=1)
        row += 1
    if score_row:
        y = np.asarray(scores, dtype=np.float64).reshape(-1)[:T]
        finite = y[np.isfinite(y)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        pad = 0.08 * (hi - lo) if hi > lo else 0.5
        fig.add_trace(go.Scatter(x=list(range(len(y))), y=y, mode="lines", name=scores_name, showlegend=False,
                                 line=dict(color=method_color("das") if "das" in scores_name.lower() else "#0072B2",
                                           width=2),
                                 hovertemplate=f"{scores_name}<br>{frame_word} %{{x}}: %{{y:.4g}}<extra></extra>"),
                      row, 1)
        fig.add_trace(go.Scatter(**marker(t0, lo - pad, hi + pad), mode="lines", line=marker_line, hoverinfo="skip",
                                 showlegend=False, name="current"), row, 1)
        traces.append(len(fig.data) - 1)
        fig.update_yaxes(title_text=scores_name, range=[lo - pad, hi + pad], row=row, col=1,
                         title_font=dict(size=11))
        _shade_informative(fig, informative, row=row, col=1)
    last = len(rows_px)
    for r in range(2, last + 1):
        fig.update_xaxes(range=[-0.7, T - 0.3], dtick=max(1, T // 14), row=r, col=1,
                         showticklabels=r == last, matches="x2" if r > 2 else None)
    fig.update_xaxes(title_text=f"{frame_word} index t", row=last, col=1)

    frames = []
    for t in shown:
        data = []
        if timeline_row:
            data.append(go.Scatter(x=[t, t]))
            if n:
                who = _picked_by(t, picks)
                data.append(go.Scatter(x=[t] * len(who), y=[methods.index(m) for m in who]))
        if score_row:
            data.append(go.Scatter(x=[t, t]))
        frames.append(go.Frame(name=str(t), data=data, traces=traces,
                               layout=dict(title_text=_cine_title(t, picks, frame_word, T),
                                           images=[frame_image_spec(t)])))
    fig.frames = frames

    duration = 1000.0 * step / max(float(fps), 1e-3)
    play = dict(frame=dict(duration=duration, redraw=True), transition=dict(duration=0), fromcurrent=True,
                mode="immediate")
    pause = dict(frame=dict(duration=0, redraw=False), transition=dict(duration=0), mode="immediate")
    fig.update_layout(
        updatemenus=[dict(type="buttons", direction="down", showactive=False, x=0.0, xanchor="right", y=0.0,
                          yanchor="top", pad=dict(t=52, r=12), font=dict(size=11),
                          buttons=[dict(label="▶ Play", method="animate", args=[None, play]),
                                   dict(label="❚❚ Pause", method="animate", args=[[None], pause])])],
        sliders=[dict(active=0, x=0.0, len=1.0, xanchor="left", y=0.0, yanchor="top", pad=dict(t=50, b=0),
                      currentvalue=dict(prefix=f"{frame_word} ", font=dict(size=12, color="#333333")),
                      transition=dict(duration=0),
                      font=dict(size=10, color="#555555" if len(shown) <= 30 else "rgba(0,0,0,0)"),
                      ticklen=3 if len(shown) <= 60 else 0,
                      steps=[dict(label=str(t), method="animate",
                                  args=[[str(t)], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                                       transition=dict(duration=0))]) for t in shown])],
        meta=dict(fps=float(fps), step=step, frame_size=[h, w]),
        images=[frame_image_spec(t0)],
    )
    fig = _layout(fig, _cine_title(t0, picks, frame_word, T), height=plot_px + 50 + 130,
                  margin=dict(l=110, r=20, t=50, b=130))
    fig.update_xaxes(showline=False, row=1, col=1)
    fig.update_yaxes(showline=False, row=1, col=1)
    return fig


# ----------------------------------------------------------------------------- explore

def _shade_informative(fig: go.Figure, informative: Optional[Iterable[int]], row=None, col=None) -> None:
    if not informative:
        return
    for t in sorted(set(int(i) for i in informative)):
        kw = dict(row=row, col=col) if row is not None else {}
        fig.add_vrect(x0=t - 0.5, x1=t + 0.5, fillcolor=INFORMATIVE_COLOR, line_width=0, layer="below", **kw)


def fig_feature_curves(curves: Mapping[str, Sequence[float]], current: Optional[int] = None,
                       informative: Optional[Iterable[int]] = None, frame_word: str = "frame") -> go.Figure:
    """Per-frame feature curves (each scaled to [0, 1] so they share one axis)."""
    fig = go.Figure()
    palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"]
    for i, (name, ys) in enumerate(curves.items()):
        y = np.asarray(ys, dtype=np.float64)
        rng = y.max() - y.min()
        yn = (y - y.min()) / rng if rng > 0 else np.zeros_like(y)
        fig.add_trace(go.Scatter(
            x=np.arange(len(y)), y=yn, mode="lines+markers", name=name, marker=dict(size=4),
            line=dict(color=palette[i % len(palette)], width=2),
            customdata=y, hovertemplate=f"{name}<br>{frame_word} %{{x}}: %{{customdata:.4g}}<extra></extra>",
        ))
    _shade_informative(fig, informative)
    if current is not None:
        fig.add_vline(x=int(current), line=dict(color="#333", dash="dot", width=1))
    fig.update_xaxes(title_text=f"{frame_word} index t")
    fig.update_yaxes(title_text="feature (min-max scaled)", range=[-0.05, 1.05])
    return _layout(fig, "The per-frame features DAS scores frames with", height=300,
                   legend=dict(orientation="h", y=-0.3, x=0))


def fig_orthogonal(volume, t: int, y: int, xcol: int, window=None, aspect: Optional[float] = None,
                   labels: Optional[Mapping[str, str]] = None) -> go.Figure:
    """Axial / coronal / sagittal views of a volume (T, C, H, W) through the crosshair (t, y, x), two to a row
    so that each is about as large as the axial viewer beside it.

    Coronal and sagittal views put slice 0 at the bottom (slices ordered feet to head, as a CT series
    sorted along the patient axis), as radiology viewers do. `aspect` = slice thickness / pixel width of
    the displayed volume (its spacing after resampling); None draws square pixels. `labels` (a reader's
    `meta["orientation_labels"]`: the patient direction at the image's left, right, top and bottom and at
    the first and last slice) are written at each view's edges; None writes none.
    """
    v = np.asarray(volume.detach().cpu() if hasattr(volume, "detach") else volume, dtype=np.float32)
    v = v.mean(axis=1)  # (T, H, W)
    L = dict(labels or {})
    # (title, image, x label, y label, crosshair x, crosshair y, y axis reversed, pixel aspect, edge letters
    # (left, right, top, bottom))
    views = [("axial t=%d" % t, v[t], "x", "y", xcol, y, True, 1.0,
              (L.get("left"), L.get("right"), L.get("top"), L.get("bottom"))),
             ("coronal y=%d" % y, v[:, y, :], "x", "t", xcol, t, False, aspect or 1.0,
              (L.get("left"), L.get("right"), L.get("last"), L.get("first"))),
             ("sagittal x=%d" % xcol, v[:, :, xcol], "y", "t", y, t, False, aspect or 1.0,
              (L.get("top"), L.get("bottom"), L.get("last"), L.get("first")))]
    fig = make_subplots(rows=2, cols=2, subplot_titles=[v_[0] for v_ in views], horizontal_spacing=0.12,
                        vertical_spacing=0.1)
    fig.update_annotations(font=dict(size=12))  # the subplot titles (the markers below get their own font)
    for i, (_, img, xl, yl, cx, cy, reversed_, ratio, edges) in enumerate(views, start=1):
        row, col = (i - 1) // 2 + 1, (i - 1) % 2 + 1
        fig.add_trace(go.Heatmap(z=to_uint8(img, window), colorscale="gray", zmin=0, zmax=255, showscale=False,
                                 hovertemplate=f"{xl} %{{x}}, {yl} %{{y}}: %{{z}}<extra></extra>"), row, col)
        line = dict(color="rgba(255, 200, 0, 0.8)", width=1)
        fig.add_vline(x=cx, line=line, row=row, col=col)
        fig.add_hline(y=cy, line=line, row=row, col=col)
        fig.update_xaxes(title_text=xl, row=row, col=col, constrain="domain")
        fig.update_yaxes(title_text=yl, row=row, col=col, autorange="reversed" if reversed_ else True,
                         scaleanchor=f"x{i if i > 1 else ''}", scaleratio=ratio, constrain="domain")
        ax = "" if i == 1 else str(i)
        for text, (px, py, xa, ya) in zip(edges, ((0.02, 0.5, "left", "middle"), (0.98, 0.5, "right", "middle"),
                                                  (0.5, 0.98, "center", "top"), (0.5, 0.02, "center", "bottom"))):
            if text:
                fig.add_annotation(text=f"<b>{text}</b>", x=px, y=py, xref=f"x{ax} domain", yref=f"y{ax} domain",
                                   xanchor=xa, yanchor=ya, showarrow=False, font=dict(color="#ffd54a", size=14))
    return _layout(fig, "", height=680, margin=dict(l=40, r=10, t=30, b=40))


# ----------------------------------------------------------------------------- compare

def fig_timeline(picks: Mapping[str, Sequence[int]], num_frames: int,
                 informative: Optional[Iterable[int]] = None, frame_word: str = "frame", *,
                 title: Optional[str] = None, color: Optional[str] = None) -> go.Figure:
    """One row per method over t = 0..T-1, its picked frames marked in its colour (built from a dict without
    validation, `_trusted_figure`: Compare rebuilds it when a head toggle changes DAS's picks).

    Args:
        picks: row name (a method, or any label) -> its picked frames.
        num_frames: T.
        informative: frames to band in green.
        frame_word: "slice" or "frame".
        title: the figure's title (default: "Picked frames per method").
        color: one colour for every row (default: each method's own).
    """
    methods = list(picks)
    data = []
    for row, m in enumerate(methods):
        idx = [int(i) for i in picks[m]]
        data.append({"type": "scatter", "x": list(range(num_frames)), "y": [row] * num_frames, "mode": "markers",
                     "marker": {"size": 6, "color": "#e6e6e6", "symbol": "line-ns-open"}, "hoverinfo": "skip",
                     "showlegend": False})
        data.append({"type": "scatter", "x": idx, "y": [row] * len(idx), "mode": "markers", "name": method_label(m),
                     "marker": {"size": 11, "color": color or method_color(m), "symbol": "square",
                                "line": {"width": 1, "color": "white"}},
                     "hovertemplate": f"{method_label(m)}: {frame_word} %{{x}}<extra></extra>", "showlegend": False})
    title = title or "Picked frames per method"
    if informative:
        title += " (green band: informative frames of the synthetic sample)"
    layout = _layout_spec(
        title, 70 + 34 * max(1, len(methods)) + 40, dict(l=110, r=20, t=40, b=45),
        xaxis={"title": {"text": f"{frame_word} index t"}, "range": [-0.7, num_frames - 0.3],
               "dtick": max(1, num_frames // 14)},
        yaxis={"tickvals": list(range(len(methods))), "ticktext": [method_label(m) for m in methods],
               "autorange": "reversed", "title": {"text": ""}})
    shapes = _informative_shapes(informative)
    if shapes:
        layout["shapes"] = shapes
    return _trusted_figure({"data": data, "layout": layout})


def fig_attention(head_scores, active: Optional[Sequence[bool]] = None, picks: Optional[Sequence[int]] = None,
                  frame_word: str = "frame", scale: Optional[tuple[float, float]] = None) -> go.Figure:
    """DAS attention: heads x T heatmap of the per-head base scores (inactive heads shown empty).

    `scale` = (min, max) of the colour scale; pass the all-heads range so toggling heads keeps it. Built from a
    dict without validation (`_trusted_figure`): Compare rebuilds it on every head toggle.
    """
    a = np.asarray(head_scores, dtype=np.float64)  # (H, T)
    H, T = a.shape
    labels = [f"head {h}" + ("" if active is None or active[h] else " (off)") for h in range(H)]
    z = a.copy()
    lo, hi = scale if scale is not None else (float(np.nanmin(a)), float(np.nanmax(a)))
    if active is not None:
        z[[not bool(v) for v in active]] = np.nan
    data = [{"type": "heatmap", "z": z, "x": list(range(T)), "y": labels, "colorscale": _colorscale("Viridis"),
             "zmin": lo, "zmax": hi, "colorbar": {"title": {"text": "score"}, "thickness": 12},
             "hovertemplate": "%{y}, " + frame_word + " %{x}: %{z:.3f}<extra></extra>"}]
    extra = {}
    if picks is not None:  # on a row of their own, never on a head's row
        data.append({"type": "scatter", "x": list(picks), "y": ["picked by DAS"] * len(picks), "mode": "markers",
                     "marker": {"symbol": "triangle-up", "size": 9, "color": method_color("das")},
                     "name": "picked by DAS", "hovertemplate": "picked %{x}<extra></extra>", "showlegend": True})
        # above the plot at the right, clear of the title (left) and the axis title (below)
        extra["legend"] = {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"}
    layout = _layout_spec("DAS attention per head (base scores)", 110 + 36 * H + 45, dict(l=90, r=20, t=60, b=45),
                          xaxis={"title": {"text": f"{frame_word} index t"}},
                          yaxis={"title": {"text": ""}, "autorange": "reversed"}, **extra)
    return _trusted_figure({"data": data, "layout": layout})


def fig_matrix(m, title: str, row_labels: Optional[Sequence[str]] = None, zmax: Optional[float] = None,
               colorscale: str = "Blues", frame_word: str = "frame") -> go.Figure:
    """A sampling matrix (k x T) as a heatmap: rows = selected slots, columns = frames.

    Built from a dict without validation (`_trusted_figure`): Compare rebuilds the soft matrix on every tau0
    step (14 ms validated on a quiet machine, 50-75 ms while the browser drew the page; 1 ms this way).
    """
    a = np.asarray(m, dtype=np.float64)
    k, T = a.shape
    y = list(row_labels) if row_labels is not None else [f"row {j}" for j in range(k)]
    spec = {
        "data": [{
            "type": "heatmap", "z": a, "x": list(range(T)), "y": y, "colorscale": _colorscale(colorscale),
            "zmin": 0, "zmax": zmax if zmax is not None else max(1e-9, float(a.max())),
            "colorbar": {"title": {"text": "weight"}, "thickness": 12},
            "hovertemplate": "%{y}, " + frame_word + " %{x}: %{z:.3f}<extra></extra>",
        }],
        "layout": _layout_spec(title, min(520, 110 + 16 * k), dict(l=90, r=20, t=40, b=45),
                               xaxis={"title": {"text": f"{frame_word} index t"}},
                               yaxis={"title": {"text": "row j (picked frame)"}, "autorange": "reversed",
                                      **({"tickvals": y} if k <= 16 else {})}),
    }
    return _trusted_figure(spec)


def fig_dps_logits(logits: Sequence[float], picks: Sequence[int], frame_word: str = "frame") -> go.Figure:
    """DPS's static logits over T (the same picks for every input), picked frames highlighted."""
    y = np.asarray(logits, dtype=np.float64)
    picked = set(int(i) for i in picks)
    colors = [method_color("dps") if t in picked else "#c7e9df" for t in range(len(y))]
    fig = go.Figure(go.Bar(x=list(range(len(y))), y=y, marker_color=colors,
                           hovertemplate=frame_word + " %{x}: logit %{y:.3f}<extra></extra>"))
    fig.update_xaxes(title_text=f"{frame_word} index t")
    fig.update_yaxes(title_text="logit")
    return _layout(fig, "DPS static logits (dark: picked)", height=260)


def fig_adps_steps(indices: Sequence[int], pick_rank: Sequence[int], num_frames: int,
                   frame_word: str = "frame") -> go.Figure:
    """ADPS's sequential picks: step i (y) picked frame t (x)."""
    order = np.argsort(np.asarray(pick_rank))
    frames = [int(indices[j]) for j in order]
    steps = list(range(len(frames)))
    fig = go.Figure(go.Scatter(x=frames, y=steps, mode="lines+markers+text", text=[str(s) for s in steps],
                               textposition="middle right", textfont=dict(size=9),
                               line=dict(color=method_color("adps"), width=1, dash="dot"),
                               marker=dict(size=9, color=method_color("adps")),
                               hovertemplate="step %{y}: " + frame_word + " %{x}<extra></extra>"))
    fig.update_xaxes(title_text=f"{frame_word} index t", range=[-0.7, num_frames - 0.3])
    fig.update_yaxes(title_text="step (pick order)", autorange="reversed")
    return _layout(fig, "ADPS step-by-step picks", height=300)


def fig_confidence(rows: Sequence[Mapping], true_label: Optional[str]) -> go.Figure:
    """Horizontal bar per method: probability of its predicted class, the class written beside the bar in
    dark text (a wrong prediction is marked ✗ and its bar hatched). Built from a dict without validation
    (`_trusted_figure`): Compare rebuilds it when a head toggle changes DAS's prediction."""
    methods = [r["method"] for r in rows]
    conf = [float(r["confidence"]) for r in rows]
    correct = [r.get("correct") for r in rows]
    text = [("✗ " if ok is False else "") + f"{r['predicted']} ({c:.0%})" for r, c, ok in zip(rows, conf, correct)]
    bar = {"type": "bar", "y": [method_label(m) for m in methods], "x": conf, "text": text, "orientation": "h",
           # inside the bar where it fits (white on the method's colour), else beside it: a long class name
           # next to a full bar was cut at the figure's edge
           "textposition": "auto", "cliponaxis": False, "textfont": {"size": 12},
           "insidetextfont": {"color": "white", "size": 12}, "outsidetextfont": {"color": "#222222", "size": 12},
           "insidetextanchor": "start",
           "marker": {"color": [method_color(m) for m in methods],
                      "pattern": {"shape": ["" if ok in (True, None) else "/" for ok in correct], "fgcolor": "white"}},
           "hovertemplate": "%{y}: %{text}<extra></extra>"}
    title = "Confidence" + (f" (true: {true_label}; ✗ hatched = wrong)" if true_label else "")
    layout = _layout_spec(title, 70 + 30 * max(1, len(rows)), dict(l=110, r=20, t=40, b=45),
                          xaxis={"title": {"text": "P(predicted class)"}, "range": [0, 1.45], "tickformat": ".0%",
                                 "tickvals": [0, 0.5, 1]},
                          yaxis={"autorange": "reversed"})
    return _trusted_figure({"data": [bar], "layout": layout})


def fig_tau_sweep(taus: Sequence[float], entropy: Sequence[float], changed: Optional[Sequence[float]] = None,
                  current: Optional[float] = None) -> go.Figure:
    """How tau0 changes DAS: mean entropy of the soft rows (and share of stochastic picks that change)."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=list(taus), y=list(entropy), mode="lines+markers", name="soft-row entropy",
                             line=dict(color=method_color("das"))), secondary_y=False)
    if changed is not None:
        fig.add_trace(go.Scatter(x=list(taus), y=list(changed), mode="lines+markers",
                                 name="stochastic picks differing from deterministic",
                                 line=dict(color="#555", dash="dot")), secondary_y=True)
        fig.update_yaxes(title_text="share of picks changed", range=[0, 1], secondary_y=True)
    if current is not None:
        fig.add_vline(x=float(current), line=dict(color="#333", dash="dot", width=1))
    fig.update_xaxes(title_text="tau0 (log scale)", type="log", tickvals=[0.03, 0.1, 0.3, 1, 3, 10],
                     ticktext=["0.03", "0.1", "0.3", "1", "3", "10"])
    fig.update_yaxes(title_text="entropy (nats)", secondary_y=False)
    return _layout(fig, "What tau0 changes", height=280, legend=dict(orientation="h", y=-0.35, x=0))


# ----------------------------------------------------------------------------- train / results

CURVE_LABELS = {"train_loss": "training loss", "val_loss": "validation loss", "val_auc": "validation AUC",
                "val_balanced_accuracy": "validation balanced accuracy", "val_accuracy": "validation accuracy"}


def fig_runs_overlay(runs: Mapping[str, Sequence[Mapping]], key: str = "val_auc") -> go.Figure:
    """One line per run of metric `key` per epoch (runs: name -> metrics.jsonl rows)."""
    fig = go.Figure()
    for name, metrics in runs.items():
        ep = [int(r.get("epoch", i)) for i, r in enumerate(metrics)]
        fig.add_trace(go.Scatter(x=ep, y=[r.get(key) for r in metrics], name=name, mode="lines+markers"))
    fig.update_xaxes(title_text="epoch", dtick=1)
    fig.update_yaxes(title_text=CURVE_LABELS.get(key, key))
    return _layout(fig, f"{CURVE_LABELS.get(key, key)} per epoch", height=320,
                   legend=dict(orientation="h", y=-0.3, x=0))


def fig_training_curves(metrics: Sequence[Mapping], title: str = "") -> go.Figure:
    """Loss (left) and validation metrics (right) per epoch from metrics.jsonl rows."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["loss", "validation metrics"], horizontal_spacing=0.12)
    ep = [int(r.get("epoch", i)) for i, r in enumerate(metrics)]
    for key, color, dash in (("train_loss", "#0072B2", "solid"), ("val_loss", "#D55E00", "dash")):
        ys = [r.get(key) for r in metrics]
        if any(v is not None for v in ys):
            fig.add_trace(go.Scatter(x=ep, y=ys, name=CURVE_LABELS[key], mode="lines+markers",
                                     line=dict(color=color, dash=dash)), 1, 1)
    for key, color in (("val_auc", "#009E73"), ("val_balanced_accuracy", "#CC79A7"), ("val_accuracy", "#E69F00")):
        ys = [r.get(key) for r in metrics]
        if any(v is not None for v in ys):
            fig.add_trace(go.Scatter(x=ep, y=ys, name=CURVE_LABELS[key], mode="lines+markers",
                                     line=dict(color=color)), 1, 2)
    fig.update_xaxes(title_text="epoch", dtick=1)
    fig.update_yaxes(title_text="cross-entropy", row=1, col=1)
    fig.update_yaxes(title_text="score", range=[0, 1.02], row=1, col=2)
    return _layout(fig, title, height=300, legend=dict(orientation="h", y=-0.3, x=0))


def _metric_bars(by_method: Mapping[str, list], metric: str, ratio: float, dataset: Optional[str]) -> go.Figure:
    """One bar per method (mean +- std) for a data set run at a single sampling ratio."""
    ms = sorted(by_method, key=_order_key)
    last = [by_method[m][-1] for m in ms]
    fig = go.Figure(go.Bar(
        x=[method_label(m) + (" (all frames)" if m == "full" else "") for m in ms],
        y=[float(r[f"{metric}_mean"]) for r in last],
        error_y=dict(type="data", array=[float(r.get(f"{metric}_std") or 0) for r in last], visible=True),
        marker_color=[method_color(m) for m in ms],
    ))
    fig.update_yaxes(title_text=metric.replace("_", " "), range=[0, 1.02])
    title = f"{metric.replace('_', ' ')} at sampling ratio {ratio:.0%}" + (f" ({dataset})" if dataset else "")
    return _layout(fig, title, height=340)


def fig_metric_vs_ratio(rows: Sequence[Mapping], metric: str = "auc", dataset: Optional[str] = None) -> go.Figure:
    """Metric (mean +- std over seeds) vs sampling ratio, one line per method.

    `rows`: aggregated rows with keys method, ratio, `<metric>_mean`, `<metric>_std`.
    """
    fig = go.Figure()
    by_method: dict[str, list] = {}
    for r in rows:
        if r.get(f"{metric}_mean") is None or r.get("ratio") is None:
            continue
        by_method.setdefault(str(r["method"]), []).append(r)
    others = [float(r["ratio"]) for m, rs in by_method.items() if m != "full" for r in rs]
    if len(set(others)) == 1:  # one ratio: a line chart would stack every method on one point
        return _metric_bars(by_method, metric, others[0], dataset)
    for m in sorted(by_method, key=_order_key):
        rs = sorted(by_method[m], key=lambda r: float(r["ratio"]))
        if m == "full" and others:  # all frames: a reference line across the whole ratio axis
            r = rs[-1]
            y = float(r[f"{metric}_mean"])
            fig.add_trace(go.Scatter(x=[0.0, 1.0], y=[y, y], mode="lines", name=f"{method_label(m)} (all frames)",
                                     line=dict(color=method_color(m), dash="dash")))
            continue
        fig.add_trace(go.Scatter(
            x=[float(r["ratio"]) for r in rs], y=[float(r[f"{metric}_mean"]) for r in rs],
            error_y=dict(type="data", array=[float(r.get(f"{metric}_std") or 0) for r in rs], visible=True),
            mode="lines+markers", name=method_label(m), line=dict(color=method_color(m)),
            marker=dict(color=method_color(m), size=8),
        ))
    fig.update_xaxes(title_text="sampling ratio k / T", tickformat=".0%", range=[0, 1.05])
    fig.update_yaxes(title_text=metric.replace("_", " "), range=[0, 1.02])
    title = f"{metric.replace('_', ' ')} vs sampling ratio" + (f" ({dataset})" if dataset else "")
    return _layout(fig, title, height=340)


def fig_speed(rows: Sequence[Mapping], value_key: str, label: str) -> go.Figure:
    """Horizontal bars, one per method (rows have `method` and `value_key`)."""
    rows = [r for r in rows if r.get(value_key) is not None]
    rows = sorted(rows, key=lambda r: _order_key(r["method"]))
    fig = go.Figure(go.Bar(
        y=[method_label(r["method"]) for r in rows], x=[float(r[value_key]) for r in rows], orientation="h",
        marker_color=[method_color(r["method"]) for r in rows],
        text=[f"{float(r[value_key]):.3g}" for r in rows], textposition="outside", cliponaxis=False,
    ))
    fig.update_xaxes(title_text=label)
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, label, height=80 + 34 * max(1, len(rows)), margin=dict(l=110, r=60, t=40, b=45))
