"""The CT window: level / width in Hounsfield units with the presets CT viewers offer."""

from __future__ import annotations

import streamlit as st

from explorer import samples
from pages.ui.keys import Explore

__all__ = ["hu_window_ui"]


def _apply_preset(scale) -> None:
    """The preset control's callback: a chosen preset sets the level and width sliders (none chosen: kept)."""
    level, width = samples.CT_PRESETS.get(st.session_state.get(Explore.PRESET), (None, None))
    if level is not None:
        st.session_state[Explore.LEVEL_HU], st.session_state[Explore.WIDTH_HU] = level, width


def hu_window_ui(scale) -> tuple[float, float]:
    """Window level / width in Hounsfield units with CT presets; returns the window on the [0, 1] values.
    Starts at the file's own window (`scale.default`, e.g. a DICOM's WindowCenter/WindowWidth), else 40 / 400."""
    lo, hi = int(scale.lo), int(scale.hi)
    level0, width0 = getattr(scale, "default", None) or (40.0, 400.0)
    st.session_state.setdefault(Explore.LEVEL_HU, float(min(max(level0, lo), hi)))
    st.session_state.setdefault(Explore.WIDTH_HU, float(min(max(width0, 10.0), hi - lo)))
    st.segmented_control("CT window", list(samples.CT_PRESETS), key=Explore.PRESET, on_change=_apply_preset,
                         args=(scale,), help="Presets as CT viewers offer them (level / width in HU).")
    c1, c2 = st.columns(2)
    level = c1.slider("Window level (HU)", float(lo), float(hi), step=10.0, key=Explore.LEVEL_HU)
    width = c2.slider("Window width (HU)", 10.0, float(hi - lo), step=10.0, key=Explore.WIDTH_HU)
    return scale.to_unit_window(level, width)
