"""Layout helpers and caches shared by the pages (`explorer` computes, this only lays out and caches).

Cache policy: models and data sets are `st.cache_resource` (shared, not copied); samples, uploads
and derived arrays are `st.cache_data` (keyed by their arguments).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Optional

import streamlit as st

from das_core.errors import DASError
from explorer import samples
from explorer.samples import SampleData

ROOT = Path(__file__).resolve().parents[1]
UPLOAD = "Upload a file…"
# Widget keys whose values must survive a visit to a page that does not draw them.
PERSIST_KEYS = ("ds_name", "ds_split", "ds_index")
# The data options chosen per data set ({name: {"num_frames": 12, ...}}): a plain session key, which
# Streamlit never drops, so one data set's T and frame size neither leak into another's nor get lost.
DATA_OPTIONS = "_ds_options"


def persist_widget_state() -> None:
    """Streamlit drops a widget's value when a page without that widget runs; re-assigning keeps it."""
    for k in PERSIST_KEYS:
        if k in st.session_state:
            st.session_state[k] = st.session_state[k]


def show_error(err: BaseException) -> None:
    """One clear sentence, never a traceback."""
    st.error(str(err) if isinstance(err, DASError) else f"Something went wrong: {type(err).__name__}: {err}")


@st.cache_data(show_spinner=False, ttl=600)
def datasets() -> list[dict]:
    return samples.app_datasets()


@st.cache_resource(show_spinner=False, max_entries=8)
def dataset(name: str, split: str, options_json: str):
    return samples.open_dataset(name, split, json.loads(options_json))


@st.cache_data(show_spinner=False, max_entries=64)
def sample(name: str, split: str, options_json: str, index: int) -> SampleData:
    s = samples.sample_from(dataset(name, split, options_json), index)
    s.key = f"{name}|{split}|{options_json}|{index}"
    return s


@st.cache_data(show_spinner=False, max_entries=4)
def upload(content: bytes, filename: str, options_json: str) -> SampleData:
    s = samples.load_upload(content, filename, **json.loads(options_json))
    s.key = f"upload|{filename}|{hashlib.sha1(content).hexdigest()}|{options_json}"
    return s


def data_sidebar_ui() -> Optional[SampleData]:
    """The shared data set / sample picker in the sidebar. Returns the sample, or None (after an error)."""
    sb = st.sidebar
    sb.subheader("Data")
    try:
        infos = datasets()
    except Exception as err:  # the data layer is missing or broken: the rest of the app still works
        sb.error(f"The data sets cannot be listed ({err}).")
        infos = []
    by_name = {d["name"]: d for d in infos}
    names = list(by_name) + [UPLOAD]
    if st.session_state.get("ds_name") not in names:
        st.session_state["ds_name"] = names[0]
    name = sb.selectbox("Data set", names, key="ds_name",
                        format_func=lambda n: n if n == UPLOAD else f"{n} ({by_name[n]['kind']})",
                        help=by_name.get(st.session_state.get("ds_name"), {}).get("description"))
    if name == UPLOAD:
        return upload_ui()
    info = by_name[name]
    opts = dict(info["default_options"])
    chosen = st.session_state.setdefault(DATA_OPTIONS, {}).setdefault(name, {})
    with sb.expander("Data options", expanded=False):
        if "num_frames" in opts:
            opts["num_frames"] = chosen["num_frames"] = int(st.number_input(
                "Frames T", 4, 128, int(chosen.get("num_frames", opts["num_frames"] or 28)), key=f"ds_frames:{name}"))
        if "size" in opts:
            sizes = [28, 64] if "mnist" in name else [28, 32, 48, 64, 96, 128]
            cur = int(chosen.get("size", opts["size"] or 28))
            choices = sorted(set(sizes + [int(opts["size"] or 28), cur]))
            opts["size"] = chosen["size"] = int(st.selectbox("Frame size", choices, index=choices.index(cur),
                                                             key=f"ds_size:{name}"))
    splits = [s for s, n in info["split_sizes"].items() if n] or ["test"]
    split_default = samples.default_split(info["split_sizes"])
    if st.session_state.get("ds_split") not in splits:
        st.session_state["ds_split"] = split_default
    split = sb.selectbox("Split", splits, key="ds_split")
    opts_json = json.dumps(opts, sort_keys=True)
    try:
        ds = dataset(name, split, opts_json)
        n = len(ds)
    except Exception as err:
        show_error(err)
        return None
    if n == 0:
        sb.warning("This split is empty.")
        return None
    if int(st.session_state.get("ds_index", 0)) >= n:
        st.session_state["ds_index"] = 0
    index = int(sb.number_input(f"Sample (0..{n - 1})", 0, n - 1, key="ds_index"))
    st.session_state["_ds_key"] = (name, split, opts_json)
    try:
        return sample(name, split, opts_json, index)
    except Exception as err:
        show_error(err)
        return None


def upload_ui() -> Optional[SampleData]:
    """File uploader; the file stays in memory for this session (nothing is written to disk by the app)."""
    sb = st.sidebar
    # "gz" too: some browsers' file pickers match only the last suffix of "nii.gz"; other .gz files are
    # refused by the reader with one sentence
    f = sb.file_uploader("Volume (.npy/.npz/.nii/.nii.gz), video (mp4/avi/mov/gif), DICOM (.dcm) or a .zip of "
                         "one DICOM series",
                         type=["npy", "npz", "nii", "nii.gz", "gz", "mp4", "avi", "mov", "gif", "dcm", "zip"],
                         key="upload_file")
    frames = int(sb.number_input("Resample to T frames", 4, 128, 28, key="upload_frames"))
    size = int(sb.selectbox("Frame size", [28, 64, 96, 128], key="upload_size"))
    if f is None:
        st.info("Upload a file in the sidebar to explore it. It stays in this browser session only.")
        return None
    try:
        return upload(f.getvalue(), f.name, json.dumps({"num_frames": frames, "size": size}))
    except Exception as err:
        show_error(err)
        return None


def sample_caption(s: SampleData) -> str:
    T, C, H, W = s.x.shape
    word = samples.frame_word(s.kind)
    parts = [f"**{s.dataset}**", f"{s.kind}", f"T={T} {word}s of {C}×{H}×{W}"]
    shape = s.meta.get("original_shape")
    if isinstance(shape, (list, tuple)) and len(shape) >= 3 and list(shape[-3:]) != [T, H, W]:
        parts.append("original " + "×".join(str(int(v)) for v in shape))
    original = s.meta.get("original_frames")
    if isinstance(original, int) and original != T:  # say it when frames were resampled, above all when repeated
        parts.append(f"resampled from {original} {word}{'s' if original != 1 else ''}"
                     + (" (repeated)" if original < T else ""))
    if s.label_name is not None:
        parts.append(f"label **{s.label_name}**")
    src = s.meta.get("source")
    if src and src != "synthetic":
        parts.append(f"source `{Path(str(src)).name}`")
    if s.meta.get("fps"):
        parts.append(f"{float(s.meta['fps']):.0f} fps")
    if s.informative:
        parts.append(f"informative {samples.frame_word(s.kind)}(s) {', '.join(map(str, s.informative))}")
    return " · ".join(parts)


def _apply_preset(scale) -> None:
    level, width = samples.CT_PRESETS.get(st.session_state.get("explore_preset"), (None, None))
    if level is not None:
        st.session_state["explore_level_hu"], st.session_state["explore_width_hu"] = level, width


def hu_window_ui(scale) -> tuple[float, float]:
    """Window level / width in Hounsfield units with CT presets; returns the window on the [0, 1] values.
    Starts at the file's own window (`scale.default`, e.g. a DICOM's WindowCenter/WindowWidth), else 40 / 400."""
    lo, hi = int(scale.lo), int(scale.hi)
    level0, width0 = getattr(scale, "default", None) or (40.0, 400.0)
    st.session_state.setdefault("explore_level_hu", float(min(max(level0, lo), hi)))
    st.session_state.setdefault("explore_width_hu", float(min(max(width0, 10.0), hi - lo)))
    st.segmented_control("CT window", list(samples.CT_PRESETS), key="explore_preset", on_change=_apply_preset,
                         args=(scale,), help="Presets as CT viewers offer them (level / width in HU).")
    c1, c2 = st.columns(2)
    level = c1.slider("Window level (HU)", float(lo), float(hi), step=10.0, key="explore_level_hu")
    width = c2.slider("Window width (HU)", 10.0, float(hi - lo), step=10.0, key="explore_width_hu")
    return scale.to_unit_window(level, width)


class Timer:
    """Measures a block; the pages show the figure as a small caption (render time)."""

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        return False
