"""The cine: a sequence that plays in the browser as a plotly animation (no rerun per frame), with a timeline
row per method under the frame, an optional score line, and Play / Pause buttons and a slider. `cine_plan`
decides which frames it carries and at what size under the CINE_* caps, so the figure stays a few MB;
`fig_cine` lays out the rows and the controls, the `_cine_*` helpers build each part.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional, Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from .images import png_data_uri, to_uint8, upscale
from .theme import BLUE, ROW_TICK_COLOR, _layout, _shade_informative, method_color, method_label

__all__ = ["CINE_MAX_SIZE", "CINE_MAX_FRAMES", "CINE_MAX_PIXELS", "CINE_MIN_SIZE", "cine_plan", "fig_cine"]

# What one cine figure carries, so that it stays a few MB (PNG frames, base64) whatever the sequence:
CINE_MAX_SIZE = 192  # longest side of each frame, pixels (larger frames are shrunk, box filter)
CINE_MAX_FRAMES = 200  # frames of the animation: a longer sequence plays every step-th frame (+ the picked ones)
CINE_MAX_PIXELS = 3_000_000  # all frames together: long sequences shrink their frames further (>= 32 px)
CINE_MIN_SIZE = 128  # smaller frames are enlarged (nearest neighbour) to at least this, so the browser keeps them sharp


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



_MARKER_LINE = dict(color="#222222", width=2)  # the current-frame marker on the timeline and the score line


def _cine_marker(t: int, lo: float, hi: float) -> dict:
    return dict(x=[t, t], y=[lo, hi])


def _cine_image(x, t: int, window, h: int, w: int) -> dict:
    """Frame t as the cine's layout image, shrunk (box) to h x w, small frames enlarged to CINE_MIN_SIZE.

    A layout image, not a go.Image trace: plotly re-creates an image trace's <image> on every animation frame
    and leaves it empty until the PNG loads (a visible flicker); a layout image keeps its element and takes a
    data URI at once. Small frames are enlarged here (nearest), the browser would blur them.
    """
    H, W = int(x.shape[2]), int(x.shape[3])
    img = to_uint8(x[int(t)], window)
    if img.shape[:2] != (h, w):
        img = np.asarray(Image.fromarray(img).resize((w, h), Image.Resampling.BOX))
    return dict(source=png_data_uri(upscale(img, CINE_MIN_SIZE)), xref="x", yref="y", x=0, y=H, sizex=W, sizey=H,
                xanchor="left", yanchor="top", sizing="stretch", layer="above")


def _cine_subplots(n: int, timeline_row: bool, score_row: bool) -> tuple[go.Figure, int, int]:
    """(figure with the frame's row, the timeline's and the score's, rows, plot height in px)."""
    img_px, tl_px, sc_px, gap_px = 340, 30 * max(1, n) + 30, 110, 55
    rows_px = [img_px] + ([tl_px] if timeline_row else []) + ([sc_px] if score_row else [])
    plot_px = sum(rows_px) + gap_px * (len(rows_px) - 1)
    fig = make_subplots(rows=len(rows_px), cols=1, row_heights=[r / sum(rows_px) for r in rows_px],
                        vertical_spacing=gap_px / plot_px)
    return fig, len(rows_px), plot_px


def _cine_timeline(fig: go.Figure, picks: Mapping[str, Sequence[int]], T: int, t0: int, frame_word: str,
                   informative: Optional[Iterable[int]], row: int) -> list[int]:
    """The timeline row: one row per method of `picks`, the current-frame marker and (with picks) the rings
    on the methods that picked it. Returns the indices of the traces an animation frame updates."""
    methods = list(picks)
    n = len(methods)
    traces = []
    tl_lo, tl_hi = -0.6, max(1, n) - 0.4
    for r, m in enumerate(methods):
        fig.add_trace(go.Scatter(x=list(range(T)), y=[r] * T, mode="markers", hoverinfo="skip", showlegend=False,
                                 marker=dict(size=6, color=ROW_TICK_COLOR, symbol="line-ns-open")), row, 1)
        fig.add_trace(go.Scatter(
            x=picks[m], y=[r] * len(picks[m]), mode="markers", name=method_label(m), showlegend=False,
            marker=dict(size=11, color=method_color(m), symbol="square", line=dict(width=1, color="white")),
            hovertemplate=f"{method_label(m)}: {frame_word} %{{x}}<extra></extra>"), row, 1)
    fig.add_trace(go.Scatter(**_cine_marker(t0, tl_lo, tl_hi), mode="lines", line=_MARKER_LINE, hoverinfo="skip",
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
    return traces


def _cine_scores(fig: go.Figure, scores: Sequence[float], T: int, t0: int, scores_name: str, frame_word: str,
                 informative: Optional[Iterable[int]], row: int) -> int:
    """The score row: `scores` as a line and the current-frame marker. Returns the marker's trace index."""
    y = np.asarray(scores, dtype=np.float64).reshape(-1)[:T]
    finite = y[np.isfinite(y)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    pad = 0.08 * (hi - lo) if hi > lo else 0.5
    fig.add_trace(go.Scatter(x=list(range(len(y))), y=y, mode="lines", name=scores_name, showlegend=False,
                             line=dict(color=method_color("das") if "das" in scores_name.lower() else BLUE, width=2),
                             hovertemplate=f"{scores_name}<br>{frame_word} %{{x}}: %{{y:.4g}}<extra></extra>"),
                  row, 1)
    fig.add_trace(go.Scatter(**_cine_marker(t0, lo - pad, hi + pad), mode="lines", line=_MARKER_LINE,
                             hoverinfo="skip", showlegend=False, name="current"), row, 1)
    fig.update_yaxes(title_text=scores_name, range=[lo - pad, hi + pad], row=row, col=1, title_font=dict(size=11))
    _shade_informative(fig, informative, row=row, col=1)
    return len(fig.data) - 1


def _cine_frames(x, shown: Sequence[int], picks: Mapping[str, Sequence[int]], traces: list[int], *,
                 timeline_row: bool, score_row: bool, window, h: int, w: int, frame_word: str) -> list[go.Frame]:
    """One animation frame per shown t, carrying only what changes: the markers and rings (`traces`), the
    frame's PNG and the title."""
    methods = list(picks)
    T = int(x.shape[0])
    frames = []
    for t in shown:
        data = []
        if timeline_row:
            data.append(go.Scatter(x=[t, t]))
            if methods:
                who = _picked_by(t, picks)
                data.append(go.Scatter(x=[t] * len(who), y=[methods.index(m) for m in who]))
        if score_row:
            data.append(go.Scatter(x=[t, t]))
        frames.append(go.Frame(name=str(t), data=data, traces=traces,
                               layout=dict(title_text=_cine_title(t, picks, frame_word, T),
                                           images=[_cine_image(x, t, window, h, w)])))
    return frames


def _cine_controls(shown: Sequence[int], fps: float, step: int, frame_word: str) -> dict:
    """The Play / Pause buttons (each kept frame shown step / fps seconds) and the slider, as layout keys."""
    duration = 1000.0 * step / max(float(fps), 1e-3)
    play = dict(frame=dict(duration=duration, redraw=True), transition=dict(duration=0), fromcurrent=True,
                mode="immediate")
    pause = dict(frame=dict(duration=0, redraw=False), transition=dict(duration=0), mode="immediate")
    return dict(
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
    )


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
    128 x 128 sequence is 2.5 MB of JSON for uniform noise (PNG's worst case), far less for real images. A
    longer sequence shows each kept frame step / fps seconds, so the cine keeps its real pace.
    """
    picks = {str(m): sorted({int(i) for i in idx}) for m, idx in (picks or {}).items()}
    T, _, H, W = (int(v) for v in x.shape)
    shown, h, w = cine_plan(T, H, W, [t for idx in picks.values() for t in idx], max_size, max_frames, max_pixels)
    step = max(1, int(np.ceil(T / max(1, int(max_frames)))))
    score_row = scores is not None
    timeline_row = len(picks) > 0 or not score_row  # a bare frame axis when there is nothing else to show
    fig, last, plot_px = _cine_subplots(len(picks), timeline_row, score_row)
    t0 = shown[0]
    fig.update_xaxes(visible=False, constrain="domain", range=[0, W], row=1, col=1)
    fig.update_yaxes(visible=False, scaleanchor="x", constrain="domain", range=[0, H], row=1, col=1)
    traces = []  # indices of the traces a frame updates
    if timeline_row:
        traces += _cine_timeline(fig, picks, T, t0, frame_word, informative, row=2)
    if score_row:
        traces.append(_cine_scores(fig, scores, T, t0, scores_name, frame_word, informative, row=last))
    for r in range(2, last + 1):
        fig.update_xaxes(range=[-0.7, T - 0.3], dtick=max(1, T // 14), row=r, col=1,
                         showticklabels=r == last, matches="x2" if r > 2 else None)
    fig.update_xaxes(title_text=f"{frame_word} index t", row=last, col=1)
    fig.frames = _cine_frames(x, shown, picks, traces, timeline_row=timeline_row, score_row=score_row,
                              window=window, h=h, w=w, frame_word=frame_word)
    fig.update_layout(**_cine_controls(shown, fps, step, frame_word), meta=dict(fps=float(fps), step=step,
                      frame_size=[h, w]), images=[_cine_image(x, t0, window, h, w)])
    fig = _layout(fig, _cine_title(t0, picks, frame_word, T), height=plot_px + 50 + 130,
                  margin=dict(l=110, r=20, t=50, b=130))
    fig.update_xaxes(showline=False, row=1, col=1)
    fig.update_yaxes(showline=False, row=1, col=1)
    return fig
