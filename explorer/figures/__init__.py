"""Plotly figures and image helpers of the app (and notebooks); the pages only lay them out.

Every method has one colour everywhere (`method_color`), every axis is labelled, and figures are
sized for a 1280x800 window. The methods and their order come from the sampler registry
(`das_core.list_samplers()`, read at each call), so a sampler registered with
`das_core.register_sampler` gets a row, a bar and a colour like the built-in ones.

Image helpers return uint8 numpy arrays (H, W) or (H, W, 3) that `st.image` shows directly.

One module per family of figures; this package re-exports them all (`figures.fig_timeline`, ...):

    theme       the palette (method colours, labels and order; curve colours), fonts, margins, layout helpers
    images      uint8 frames, upscaling, montage and strip tiles, the MP4 cine, PNG data URIs
    cine        the cine that plays in the browser (`fig_cine`) and its caps (`cine_plan`, CINE_*)
    volumes     Explore: the per-frame feature curves and the orthogonal views of a volume
    picks       Compare: timeline of picks, DAS attention, sampling matrices, DPS / ADPS, confidence, tau0 sweep
    training    Train: metric curves per epoch (one run, or several overlaid)
    results     Results: metric vs sampling ratio, speed bars

The Cohort page's figures live in `explorer.cohort_figures` and take their colours from `theme`.
"""

from __future__ import annotations

from . import theme
from .theme import (EXTRA_COLORS, INFORMATIVE_COLOR, METHOD_COLORS, UNKNOWN_COLOR, method_color, method_label,
                    method_order)
from .images import cine_mp4, frame_image, montage, png_data_uri, strip, to_uint8, upscale
from .cine import CINE_MAX_FRAMES, CINE_MAX_PIXELS, CINE_MAX_SIZE, CINE_MIN_SIZE, cine_plan, fig_cine
from .volumes import fig_feature_curves, fig_orthogonal
from .picks import (fig_adps_steps, fig_attention, fig_confidence, fig_dps_logits, fig_matrix, fig_tau_sweep,
                    fig_timeline)
from .training import CURVE_LABELS, fig_runs_overlay, fig_training_curves
from .results import fig_metric_vs_ratio, fig_speed

# The theme's private helpers that code outside the package reaches through it (tests/test_app_lib.py).
_layout, _trusted_figure = theme._layout, theme._trusted_figure

__all__ = [
    "METHOD_COLORS", "EXTRA_COLORS", "UNKNOWN_COLOR", "INFORMATIVE_COLOR", "method_order", "method_color",
    "method_label", "to_uint8", "frame_image", "montage", "strip", "upscale", "cine_mp4", "png_data_uri",
    "cine_plan", "CINE_MAX_SIZE", "CINE_MAX_FRAMES", "CINE_MAX_PIXELS", "CINE_MIN_SIZE", "fig_cine",
    "fig_feature_curves", "fig_orthogonal", "fig_timeline", "fig_attention", "fig_matrix",
    "fig_dps_logits", "fig_adps_steps", "fig_confidence", "CURVE_LABELS", "fig_runs_overlay",
    "fig_training_curves", "fig_metric_vs_ratio", "fig_speed", "fig_tau_sweep",
]
