"""The Explore page's figures of one sequence: the per-frame feature curves DAS scores frames with
(`fig_feature_curves`, each scaled to [0, 1]) and the axial / coronal / sagittal views of a volume through
a crosshair (`fig_orthogonal`, with the reader's patient-direction letters at the edges).
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .images import to_uint8
from .theme import CURVE_PALETTE, _layout, _shade_informative

__all__ = ["fig_feature_curves", "fig_orthogonal"]


def fig_feature_curves(curves: Mapping[str, Sequence[float]], current: Optional[int] = None,
                       informative: Optional[Iterable[int]] = None, frame_word: str = "frame") -> go.Figure:
    """Per-frame feature curves (each scaled to [0, 1] so they share one axis)."""
    fig = go.Figure()
    palette = CURVE_PALETTE
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
