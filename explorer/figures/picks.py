"""The Compare page's figures of what each method picked and why: the picks per method on a timeline
(`fig_timeline`), DAS's per-head attention (`fig_attention`), a sampling matrix (`fig_matrix`), DPS's static
logits (`fig_dps_logits`), ADPS's pick order (`fig_adps_steps`), each method's confidence (`fig_confidence`)
and what tau0 changes (`fig_tau_sweep`). The ones Compare rebuilds when a control moves are built from a
dict without validation (`_trusted_figure`).
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .theme import (ROW_TICK_COLOR, _colorscale, _informative_shapes, _layout, _layout_spec, _trusted_figure,
                    method_color, method_label)

__all__ = ["fig_timeline", "fig_attention", "fig_matrix", "fig_dps_logits", "fig_adps_steps", "fig_confidence",
           "fig_tau_sweep"]


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
                     "marker": {"size": 6, "color": ROW_TICK_COLOR, "symbol": "line-ns-open"}, "hoverinfo": "skip",
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
