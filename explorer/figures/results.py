"""The Results page's figures of the benchmark: a metric (mean +- std over seeds) against the sampling ratio,
one line per method (`fig_metric_vs_ratio`; bars via `_metric_bars` when the set ran at one ratio only), and
the speed tables as horizontal bars (`fig_speed`), methods in registry order.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import plotly.graph_objects as go

from .theme import _layout, _order_key, method_color, method_label

__all__ = ["fig_metric_vs_ratio", "fig_speed"]


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
