"""Session-state keys and the rules that keep their values (plain session keys survive every page;
widget keys need `keep`)."""

from __future__ import annotations

from typing import Any, Collection, Optional

import streamlit as st

from pages.ui.keys import Data

__all__ = ["PERSIST_KEYS", "KEPT", "DATA_OPTIONS", "DISPLAY_WINDOW", "STUDY", "STUDY_ERROR",
           "persist_widget_state", "keep", "valid_choice", "remember_window", "window_for"]

# Widget keys whose values must survive a page switch and a visit to a page that does not draw them;
# their last values are kept in the plain session key KEPT (see `keep`).
PERSIST_KEYS = (Data.NAME, Data.SPLIT, Data.INDEX, Data.STUDY_FRAMES, Data.STUDY_SIZE)
KEPT = "_kept_widgets"
# The data options chosen per data set ({name: {"num_frames": 12, ...}}): a plain session key, which
# Streamlit never drops, so one data set's T and frame size neither leak into another's nor get lost.
DATA_OPTIONS = "_ds_options"
# The display window (level, width on the [0, 1] values) last chosen on Explore, per study:
# {"key": sample key, "window": (level, width)}; the Compare page's export draws the study in it.
DISPLAY_WINDOW = "_display_window"
# The study uploaded in this session: {"name": file name, "sample": the decoded study, native resolution}
# (a plain session key: it survives every page; it is never written to disk). STUDY_ERROR: the sentence
# saying why the last upload could not be read.
STUDY, STUDY_ERROR = "_study", "_study_error"


def persist_widget_state() -> None:
    """Back up the values of PERSIST_KEYS (run by app.py on every run of every page).

    Streamlit drops a widget's value when a page without that widget runs, and a widget remounted
    after a page switch gets a new id whose default shadows the value for that first run; `keep`,
    called just before such a widget is created, puts the backed-up value back."""
    kept = st.session_state.setdefault(KEPT, {})
    for k in PERSIST_KEYS:
        if k in st.session_state:
            kept[k] = st.session_state[k]


def keep(key: str) -> None:
    """Call right before creating the widget `key` (one of PERSIST_KEYS): it shows the value last chosen
    for it on any page of this session (a user's change or a callback's assignment wins)."""
    kept = st.session_state.setdefault(KEPT, {})
    if key in st.session_state:
        kept[key] = st.session_state[key]
    if key in kept:
        st.session_state[key] = kept[key]


def valid_choice(key: str, options: Collection, default: Any, *, kept: bool = False, multi: bool = False,
                 scope: Optional[tuple[str, Any]] = None) -> Any:
    """Call right before creating the widget `key`: if its value is not among `options`, set it to `default`;
    return the value. The one rule that keeps a choice valid when its options change.

    kept: first restore the value last chosen for `key` on any page (`keep`).
    multi: the value is a list of choices (a multiselect): valid when every one is among `options`.
    scope: (plain session key, value): the choice holds only for that value (e.g. the data set it was made
        on); under another, `key` is set to `default` and the scope key to the value."""
    if kept:
        keep(key)
    state = st.session_state
    value = state.get(key)
    valid = (value is not None and set(value) <= set(options)) if multi else value in options
    if not valid or (scope is not None and state.get(scope[0]) != scope[1]):
        state[key] = default
        if scope is not None:
            state[scope[0]] = scope[1]
    return state[key]


def remember_window(s, window) -> None:
    """Keep the window the viewer shows `s` in (None: as read), for the exports of `s`."""
    st.session_state[DISPLAY_WINDOW] = {"key": s.key, "window": tuple(float(v) for v in window) if window else None}


def window_for(s):
    """The window (level, width) last chosen on Explore for `s`, or None (drawn as read)."""
    kept = st.session_state.get(DISPLAY_WINDOW) or {}
    return kept.get("window") if kept.get("key") == s.key else None
