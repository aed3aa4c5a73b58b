"""The Train page's figures of training runs (metrics.jsonl rows): one metric per epoch across runs
(`fig_runs_overlay`) and one run's losses and validation metrics (`fig_training_curves`); `CURVE_LABELS`
names each metric in words.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .theme import BLUE, GREEN, ORANGE, PURPLE, VERMILLION, _layout

__all__ = ["CURVE_LABELS", "fig_runs_overlay", "fig_training_curves"]

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
    for key, color, dash in (("train_loss", BLUE, "solid"), ("val_loss", VERMILLION, "dash")):
        ys = [r.get(key) for r in metrics]
        if any(v is not None for v in ys):
            fig.add_trace(go.Scatter(x=ep, y=ys, name=CURVE_LABELS[key], mode="lines+markers",
                                     line=dict(color=color, dash=dash)), 1, 1)
    for key, color in (("val_auc", GREEN), ("val_balanced_accuracy", PURPLE), ("val_accuracy", ORANGE)):
        ys = [r.get(key) for r in metrics]
        if any(v is not None for v in ys):
            fig.add_trace(go.Scatter(x=ep, y=ys, name=CURVE_LABELS[key], mode="lines+markers",
                                     line=dict(color=color)), 1, 2)
    fig.update_xaxes(title_text="epoch", dtick=1)
    fig.update_yaxes(title_text="cross-entropy", row=1, col=1)
    fig.update_yaxes(title_text="score", range=[0, 1.02], row=1, col=2)
    return _layout(fig, title, height=300, legend=dict(orientation="h", y=-0.3, x=0))
