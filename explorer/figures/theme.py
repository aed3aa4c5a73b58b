"""The look every figure shares: the palette (one colour per method, read from the sampler registry and
das_core.export.settings, and the Okabe-Ito curve colours), the font, margins and axes, and the layout helpers
the figure modules build on (`_layout` styles a validated figure, `_layout_spec` + `_trusted_figure` build one
from a plain dict without validation, `_informative_shapes` / `_shade_informative` band informative frames).
"""

from __future__ import annotations

import functools
from typing import Iterable, Optional

import plotly.graph_objects as go

from das_core import list_samplers
from das_core.samplers import sampler_class
from das_core.export.settings import EXTRA_COLORS, METHOD_COLORS

__all__ = [
    "METHOD_COLORS", "EXTRA_COLORS", "UNKNOWN_COLOR", "INFORMATIVE_COLOR", "BLUE", "VERMILLION", "GREEN", "PURPLE",
    "ORANGE", "SKY", "CURVE_PALETTE", "ROW_TICK_COLOR", "method_order", "method_color", "method_label",
]

# Colour-blind-safe (Okabe-Ito), one per built-in method on every page and in the exports; DAS gets the
# strongest colour. Registered samplers without one take EXTRA_COLORS by their position among such
# samplers in list_samplers(), so the colour is stable. One table: das_core.export.settings.
UNKNOWN_COLOR = "#333333"
INFORMATIVE_COLOR = "rgba(0, 158, 115, 0.15)"
# The Okabe-Ito colours of curves that are not methods (features, losses, validation metrics, right / wrong).
BLUE, VERMILLION, GREEN, PURPLE, ORANGE, SKY = "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"
CURVE_PALETTE = (BLUE, VERMILLION, GREEN, PURPLE, ORANGE, SKY)
ROW_TICK_COLOR = "#e6e6e6"  # the grey tick at every frame of a timeline row
_FONT = dict(family="Inter, Arial, sans-serif", size=12)
_MARGIN = dict(l=60, r=20, t=40, b=45)
_AXIS = dict(gridcolor="#eeeeee", zeroline=False, showline=True, linecolor="#cccccc")


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


def _hex_to_rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    return tuple(int(c[i:i + 2], 16) for i in (0, 2, 4))


def _title(text: str) -> dict:
    return {"text": text, "x": 0.0, "xanchor": "left", "font": {"size": 14}}


def _layout_spec(title: str, height: int, margin: Optional[dict] = None, xaxis: Optional[dict] = None,
                 yaxis: Optional[dict] = None, **extra) -> dict:
    """`_layout`'s layout as a plain dict, for the figures built with `_trusted_figure`."""
    return {"title": _title(title), "height": height, "margin": dict(margin or _MARGIN), "font": dict(_FONT),
            "plot_bgcolor": "white", "xaxis": {**(xaxis or {}), **_AXIS}, "yaxis": {**(yaxis or {}), **_AXIS},
            **extra}


def _trusted_figure(spec: dict) -> go.Figure:
    """`go.Figure(spec)` without plotly's property validation, for a spec this package wrote: the figures Compare
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


def _shade_informative(fig: go.Figure, informative: Optional[Iterable[int]], row=None, col=None) -> None:
    """Band each informative frame t (synthetic data) in green, below the traces (of subplot row, col)."""
    if not informative:
        return
    for t in sorted(set(int(i) for i in informative)):
        kw = dict(row=row, col=col) if row is not None else {}
        fig.add_vrect(x0=t - 0.5, x1=t + 0.5, fillcolor=INFORMATIVE_COLOR, line_width=0, layer="below", **kw)


def _layout(fig: go.Figure, title: str = "", height: int = 300, **kw) -> go.Figure:
    fig.update_layout(title=_title(title), height=height, margin=kw.pop("margin", _MARGIN), font=_FONT,
                      plot_bgcolor="white", **kw)
    # No named template: resolving one costs ~70 ms per figure on a busy 2-core machine, and
    # Streamlit's own chart theme styles the rest.
    fig.update_xaxes(**_AXIS)  # every x and y axis, subplots' included
    fig.update_yaxes(**_AXIS)
    return fig
