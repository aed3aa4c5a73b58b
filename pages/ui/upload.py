"""The study a user uploads: decoded once, kept in this session's `st.session_state` only (`session.STUDY`:
other sessions never see it, nothing of it is written to disk), until forgotten or the tab is closed."""

from __future__ import annotations

from typing import Optional

import streamlit as st

from das_core.data.registry import DEFAULT_FRAME_SIZES
from das_core.errors import DASError
from explorer import samples
from explorer.samples import SampleData
from explorer.text import md
from pages.ui.keys import Data
from pages.ui.session import KEPT, STUDY, STUDY_ERROR, keep

__all__ = ["STUDY_SIZES", "study", "forget_study", "upload_ui", "study_input_ui"]

STUDY_SIZES = list(DEFAULT_FRAME_SIZES)  # the frame sizes a model may take a study at


def study() -> Optional[SampleData]:
    """The study uploaded in this session (native resolution), or None. It lives in `st.session_state`
    only: other sessions never see it and nothing of it is written to disk."""
    held = st.session_state.get(STUDY)
    return held["sample"] if held else None


def _on_upload() -> None:
    """The uploader's callback (runs before the page): decode the file once, keep it for the session and
    select it in the picker; a file that cannot be read leaves one sentence for `upload_ui` to show."""
    f = st.session_state.get(Data.UPLOAD_FILE)
    st.session_state.pop(STUDY_ERROR, None)
    if f is None:
        return
    content = f.getvalue()
    try:
        s = samples.load_study(content, f.name)
    except Exception as err:
        st.session_state[STUDY_ERROR] = str(err) if isinstance(err, DASError) else \
            f"{f.name} could not be read ({type(err).__name__}: {err})."
        return
    st.session_state[STUDY] = {"name": f.name, "sample": s}
    st.session_state[Data.NAME] = s.dataset


def forget_study() -> None:
    """Drop the session's study; the picker goes back to its first data set."""
    st.session_state.pop(STUDY, None)
    st.session_state.pop(STUDY_ERROR, None)
    st.session_state[KEPT] = {k: v for k, v in st.session_state.get(KEPT, {}).items() if k != Data.NAME}
    st.session_state.pop(Data.NAME, None)


def upload_ui() -> Optional[SampleData]:
    """File uploader; the file stays in memory for this session (nothing is written to disk by the app).
    A file read well becomes the session's study and the picker's selection (see `_on_upload`), so this
    returns None: the page shows the study on the rerun."""
    sb = st.sidebar
    types = samples.upload_types()  # every suffix of das_core.data's reader registry (and "gz" for "nii.gz")
    sb.file_uploader("Volume (.npy/.npz/.nii/.nii.gz), video (mp4/avi/mov/gif), DICOM (.dcm) or a .zip of "
                     "one DICOM series", type=types, key=Data.UPLOAD_FILE, on_change=_on_upload,
                     help="Accepted: " + ", ".join("." + t for t in types) + ".")
    err = st.session_state.get(STUDY_ERROR)
    if err:
        st.error(md(err))  # the sentence quotes the upload's name (and what the reader found in it)
        return None
    st.info("Upload a file in the sidebar to explore it. It stays in this browser session only, on every "
            "page, until you forget it or close the tab.")
    return None


def study_input_ui(native: SampleData) -> tuple[int, int]:
    """The T and frame size the Compare page's models take an uploaded study at (the viewer keeps it
    native). Returns (num_frames, size)."""
    sb = st.sidebar
    T, _, H, _ = native.x.shape
    for key in (Data.STUDY_FRAMES, Data.STUDY_SIZE):
        keep(key)
        st.session_state.setdefault(key, 28)
    with sb.expander("Model input (the study is resampled for the models)", expanded=True):
        st.caption(f"The study: {T} {samples.frame_word(native.kind)}s of {H}×{native.x.shape[-1]}.")
        frames = int(st.number_input("Resample to T frames", 4, 128, key=Data.STUDY_FRAMES))
        size = int(st.selectbox("Frame size", STUDY_SIZES, key=Data.STUDY_SIZE))
    return frames, size
