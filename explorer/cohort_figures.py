"""Plotly figures of the Cohort page (`explorer.cohort` results): per method an items x T heatmap of the
picks, and the share of items on which each frame is picked. Colours and names come from
`explorer.figures.theme` (one colour per method everywhere, one font)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from .cohort import CohortResult
from .figures.theme import _FONT, GREEN, VERMILLION, method_color, method_label

__all__ = ["fig_picks_heatmap", "fig_pick_rate"]

RIGHT, WRONG = GREEN, VERMILLION


def fig_picks_heatmap(result: CohortResult, method: str, rows: Optional[Sequence[int]] = None, *,
                      frame_word: str = "frame") -> go.Figure:
    """Items (rows, in `rows` order) x T: the frames `method` picked on each item, in its colour; a ring
    marks each item's informative frames (where the data set reports them) and a square left of frame 0
    says whether the method was right (green) or wrong (orange), where that is known (else whether it
    kept an informative frame).

    Args:
        result: a `run_cohort` result.
        method: one of its methods.
        rows: row positions in display order (default: item order), e.g. `cohort.order(...)`.
        frame_word: "slice" or "frame" for the axis.
    """
    rows = np.arange(len(result.indices)) if rows is None else np.asarray(rows, dtype=np.int64)
    T = result.num_frames
    z = result.picks[method][rows].astype(np.float32)
    names = [f"#{int(result.indices[r])}" for r in rows]
    labels = [result.label_name(int(result.labels[r])) for r in rows]
    color = method_color(method)
    fig = go.Figure(go.Heatmap(
        z=z, x=list(range(T)), y=names, colorscale=[[0.0, "#f3f3f3"], [1.0, color]], zmin=0, zmax=1,
        showscale=False, xgap=1, ygap=0, customdata=np.array(labels, dtype=object)[:, None].repeat(T, 1),
        hovertemplate=f"item %{{y}} (%{{customdata}})<br>{frame_word} %{{x}}: %{{z:.0f}}<extra></extra>"))
    inf_x, inf_y = [], []
    for name, r in zip(names, rows):
        for t in result.informative[r] or []:
            inf_x.append(int(t))
            inf_y.append(name)
    if inf_x:
        fig.add_trace(go.Scatter(x=inf_x, y=inf_y, mode="markers", name=f"informative {frame_word}",
                                 marker=dict(symbol="circle-open", size=7, color="#000000", line=dict(width=1.5)),
                                 hovertemplate=f"item %{{y}}: informative {frame_word} %{{x}}<extra></extra>"))
    ok = result.correct.get(method)
    what = "right" if ok is not None else "kept an informative " + frame_word
    ok = result.hit.get(method) if ok is None else ok
    if ok is not None:
        ok = ok[rows]
        fig.add_trace(go.Scatter(
            x=[-1.5] * len(rows), y=names, mode="markers", name=what, showlegend=False,
            marker=dict(symbol="square", size=6, color=[RIGHT if v else WRONG for v in ok]),
            customdata=np.where(ok, "yes", "no"), hovertemplate=f"item %{{y}}: {what}: %{{customdata}}<extra></extra>"))
    s = result.summary.get(method, {})
    parts = [f"k={s.get('k')}"]
    for key, short in (("hit_rate", "hit rate"), ("accuracy", "accuracy"), ("balanced_accuracy", "bal. acc")):
        if s.get(key) is not None:
            parts.append(f"{short} {s[key]:.0%}")
    if not result.trained.get(method):
        parts.append("untrained")
    elif not result.meaningful.get(method):
        parts.append("trained on other data")
    height = int(min(720, max(260, 4 * len(rows) + 110)))
    fig.update_layout(
        title=dict(text=f"<b style='color:{color}'>{method_label(method)}</b> · {' · '.join(parts)}", x=0.01,
                   font=dict(size=13)),
        height=height, margin=dict(l=60, r=10, t=40, b=40), font=_FONT, template="plotly_white",
        showlegend=bool(inf_x), legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
        xaxis=dict(title=f"{frame_word} t", range=[-2.2, T - 0.5], tickmode="auto", zeroline=False),
        yaxis=dict(title="item", type="category", autorange="reversed", showticklabels=len(rows) <= 48),
    )
    return fig


def fig_pick_rate(result: CohortResult, methods: Optional[Sequence[str]] = None, *,
                  frame_word: str = "frame") -> go.Figure:
    """Per method, the share of items on which each frame t is picked (the column means of its heatmap),
    with the share of items whose informative frame is t shaded in grey where the data set reports it."""
    T = result.num_frames
    fig = go.Figure()
    first = result.first_informative()
    if result.has_informative and len(first):
        share = np.bincount(first[first >= 0], minlength=T)[:T] / len(first)
        fig.add_trace(go.Bar(x=list(range(T)), y=share, name=f"informative {frame_word}", marker_color="#cccccc",
                             hovertemplate=f"{frame_word} %{{x}}: informative in %{{y:.0%}} of items<extra></extra>"))
    for m in methods or result.methods:
        fig.add_trace(go.Scatter(x=list(range(T)), y=result.summary[m]["mean_picks"], mode="lines+markers",
                                 name=method_label(m), line=dict(color=method_color(m), width=2),
                                 marker=dict(size=4),
                                 hovertemplate=f"{method_label(m)}: {frame_word} %{{x}} picked on %{{y:.0%}}"
                                               f"<extra></extra>"))
    fig.update_layout(
        title=dict(text=f"Share of items on which each {frame_word} is picked", x=0.01, font=dict(size=13)),
        height=360, margin=dict(l=60, r=10, t=40, b=100), font=_FONT, template="plotly_white",
        xaxis=dict(title=f"{frame_word} t"), yaxis=dict(title="share of items", tickformat=".0%", range=[0, 1.05]),
        # below the axis: a row of nine methods above the plot ran into the title
        legend=dict(orientation="h", yanchor="top", y=-0.28, xanchor="left", x=0.0), bargap=0.1,
    )
    return fig
