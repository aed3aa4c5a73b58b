"""Layout helpers and caches shared by the pages (`explorer` computes, this only lays out and caches).

Cache policy: models and data sets are `st.cache_resource` (shared, not copied); samples and derived
arrays are `st.cache_data` (keyed by their arguments). An uploaded study is decoded once and kept in
this session's `st.session_state` only (`STUDY`), never in a cache other sessions could reach.

Also here: `loopback_guard`, which stops a server started on another address than loopback (a network goes
through the login proxy of `explorer.network`).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Optional

import streamlit as st

from das_core.errors import DASError
from explorer import auth, catalogue, jobs, methods, samples
from explorer.samples import SampleData
from explorer.text import md, md_error

ROOT = Path(__file__).resolve().parents[1]
methods.use_app_threads()  # once per server process: half the cores for torch (see explorer.methods.app_threads)
UPLOAD = "Upload a file…"
# Widget keys whose values must survive a page switch and a visit to a page that does not draw them;
# their last values are kept in the plain session key KEPT (see `keep`).
# The display window (level, width on the [0, 1] values) last chosen on Explore, per study:
# {"key": sample key, "window": (level, width)}; the Compare page's export draws the study in it.
DISPLAY_WINDOW = "_display_window"
PERSIST_KEYS = ("ds_name", "ds_split", "ds_index", "study_frames", "study_size")
KEPT = "_kept_widgets"
# The data options chosen per data set ({name: {"num_frames": 12, ...}}): a plain session key, which
# Streamlit never drops, so one data set's T and frame size neither leak into another's nor get lost.
DATA_OPTIONS = "_ds_options"
# The study uploaded in this session: {"name": file name, "sample": the decoded study, native resolution}
# (a plain session key: it survives every page; it is never written to disk). STUDY_ERROR: the sentence
# saying why the last upload could not be read.
STUDY, STUDY_ERROR = "_study", "_study_error"
STUDY_SIZES = [28, 32, 48, 64, 96, 128]


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


def loopback_guard() -> None:
    """Streamlit serves this app on loopback only (`explorer.serve`; a network goes through the login proxy of
    `explorer.network`). Started on another address anyway (a `streamlit run --server.address` flag), the app
    shows one sentence instead of any page and stops the server. app.py calls it; every page calls it too
    (Streamlit runs a page without app.py when the first request after the server starts names that page)."""
    from streamlit.runtime import Runtime

    address = st.get_option("server.address")
    if auth.is_loopback(address) or not Runtime.exists() or type(Runtime.instance()) is not Runtime:
        return  # loopback, or not a real server (AppTest's runtime is a stand-in)
    st.error(f"This app only listens on loopback, not on {address or 'every interface'!r}: the server is "
             "stopping. To serve on a network run `make run HOST=0.0.0.0`, which puts a login in front of it.")
    threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
    st.stop()


def signed_in_user() -> Optional[str]:
    """The user the login gate let in (`X-Das-User`, set by Caddy from the gate's answer on every request behind
    `make run HOST=...`), or None on loopback without a login."""
    try:
        user = st.context.headers.get("X-Das-User")
    except Exception:  # noqa: BLE001 - no request context (AppTest)
        return None
    return str(user) if user else None


def show_error(err: BaseException) -> None:
    """One clear sentence, never a traceback; escaped (`explorer.text.md`): a reader's error may quote a file
    name, a zip member or a tag value."""
    st.error(md_error(err))


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
    s.source = (name, split, options_json)
    return s


def data_sidebar_ui() -> Optional[SampleData]:
    """The shared data set / sample picker in the sidebar. Returns the sample, or None (after an error).

    An uploaded study is one more entry of the picker ("upload: head.zip") and stays selected on every
    page for the session; it is returned at its native resolution (see `study()`).
    """
    sb = st.sidebar
    sb.subheader("Data")
    try:
        infos = datasets()
    except Exception as err:  # the data layer is missing or broken: the rest of the app still works
        sb.error(f"The data sets cannot be listed ({md(err)}).")
        infos = []
    by_name = {d["name"]: d for d in infos}
    held = study()
    names = list(by_name) + ([held.dataset] if held is not None else []) + [UPLOAD]
    keep("ds_name")
    if st.session_state.get("ds_name") not in names:
        st.session_state["ds_name"] = names[0]
    name = sb.selectbox("Data set", names, key="ds_name",
                        format_func=lambda n: f"{n} ({by_name[n]['kind']})" if n in by_name else n,
                        help=by_name.get(st.session_state.get("ds_name"), {}).get("description"))
    if name == UPLOAD:
        return upload_ui()
    if held is not None and name == held.dataset:
        sb.button("Forget this upload", key="study_forget", on_click=forget_study, icon=":material/close:",
                  help="Drops the uploaded study from this session (it was never written to disk).")
        return held
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
        if "filler" in opts:  # the moving-real families: what sits around the real slices
            from das_core.data.embedded import FILLERS

            cur = chosen.get("filler", opts["filler"])
            opts["filler"] = chosen["filler"] = st.selectbox(
                "Filler frames", list(FILLERS), index=list(FILLERS).index(cur), key=f"ds_filler:{name}",
                help="distractors: slices of other volumes of the split; speckle: ultrasound-like noise. The real "
                     "volume's 10 central slices sit at a random offset between them (the sample's informative frames).")
    splits = [s for s, n in info["split_sizes"].items() if n] or ["test"]
    split_default = samples.default_split(info["split_sizes"])
    keep("ds_split")
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
    keep("ds_index")
    if int(st.session_state.get("ds_index", 0)) >= n:
        st.session_state["ds_index"] = 0
    index = int(sb.number_input(f"Sample (0..{n - 1})", 0, n - 1, key="ds_index"))
    st.session_state["_ds_key"] = (name, split, opts_json)
    try:
        return sample(name, split, opts_json, index)
    except Exception as err:
        show_error(err)
        return None


def study() -> Optional[SampleData]:
    """The study uploaded in this session (native resolution), or None. It lives in `st.session_state`
    only: other sessions never see it and nothing of it is written to disk."""
    held = st.session_state.get(STUDY)
    return held["sample"] if held else None


def _on_upload() -> None:
    """The uploader's callback (runs before the page): decode the file once, keep it for the session and
    select it in the picker; a file that cannot be read leaves one sentence for `upload_ui` to show."""
    f = st.session_state.get("upload_file")
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
    st.session_state["ds_name"] = s.dataset


def forget_study() -> None:
    """Drop the session's study; the picker goes back to its first data set."""
    st.session_state.pop(STUDY, None)
    st.session_state.pop(STUDY_ERROR, None)
    st.session_state[KEPT] = {k: v for k, v in st.session_state.get(KEPT, {}).items() if k != "ds_name"}
    st.session_state.pop("ds_name", None)


def upload_ui() -> Optional[SampleData]:
    """File uploader; the file stays in memory for this session (nothing is written to disk by the app).
    A file read well becomes the session's study and the picker's selection (see `_on_upload`), so this
    returns None: the page shows the study on the rerun."""
    sb = st.sidebar
    # "gz" too: some browsers' file pickers match only the last suffix of "nii.gz"; other .gz files are
    # refused by the reader with one sentence
    sb.file_uploader("Volume (.npy/.npz/.nii/.nii.gz), video (mp4/avi/mov/gif), DICOM (.dcm) or a .zip of "
                     "one DICOM series",
                     type=["npy", "npz", "nii", "nii.gz", "gz", "mp4", "avi", "mov", "gif", "dcm", "zip"],
                     key="upload_file", on_change=_on_upload)
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
    keep("study_frames")
    keep("study_size")
    st.session_state.setdefault("study_frames", 28)
    st.session_state.setdefault("study_size", 28)
    with sb.expander("Model input (the study is resampled for the models)", expanded=True):
        st.caption(f"The study: {T} {samples.frame_word(native.kind)}s of {H}×{native.x.shape[-1]}.")
        frames = int(st.number_input("Resample to T frames", 4, 128, key="study_frames"))
        size = int(st.selectbox("Frame size", STUDY_SIZES, key="study_size"))
    return frames, size


def sample_caption(s: SampleData) -> str:
    """The sample in one line of Markdown; what comes from the file (its name, labels) is escaped."""
    T, C, H, W = s.x.shape
    word = samples.frame_word(s.kind)
    parts = [f"**{md(s.dataset)}**", f"{md(s.kind)}", f"T={T} {word}s of {C}×{H}×{W}"]
    shape = s.meta.get("original_shape")
    if isinstance(shape, (list, tuple)) and len(shape) >= 3 and list(shape[-3:]) != [T, H, W]:
        parts.append("original " + "×".join(str(int(v)) for v in shape))
    original = s.meta.get("original_frames")
    if isinstance(original, int) and original != T:  # say it when frames were resampled, above all when repeated
        parts.append(f"resampled from {original} {word}{'s' if original != 1 else ''}"
                     + (" (repeated)" if original < T else ""))
    spacing = s.meta.get("spacing")
    if s.kind == "volume" and isinstance(spacing, (list, tuple)) and len(spacing) == 3:
        parts.append("spacing " + " × ".join(f"{float(v):g}" for v in spacing) + " (z × y × x)")
    lab = s.meta.get("orientation_labels")
    if s.kind == "volume" and isinstance(lab, dict) and lab:
        parts.append(f"shown {md(lab.get('left'))}→{md(lab.get('right'))} across, {md(lab.get('top'))}→"
                     f"{md(lab.get('bottom'))} down, {word}s {md(lab.get('first'))}→{md(lab.get('last'))}")
    plane = s.meta.get("acquired_plane")
    if s.kind == "volume" and plane in ("coronal", "sagittal"):
        parts.append(f"acquired {plane}: shown as axial slices reformatted from its "
                     f"{int((s.meta.get('stored_shape') or [0])[0])} {plane} ones (its own plane is an orthogonal view)")
    if s.meta.get("volumes", 1) and int(s.meta.get("volumes") or 1) > 1:
        parts.append(f"the first of its {int(s.meta['volumes'])} volumes")
    if s.meta.get("viewer_frames"):
        parts.append(f"shown at {s.meta['viewer_frames']} evenly spread {word}s (the full study is over the "
                     f"decode cap)")
    if s.label_name is not None:
        parts.append(f"label **{md(s.label_name)}**")
    src = s.meta.get("source")
    if src and src != "synthetic":
        parts.append(f"source {md(Path(str(src)).name)}")  # its own name, on its own user's screen
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


# ------------------------------------------------------------------ models shared by Compare and Cohort

@st.cache_data(show_spinner=False, ttl=5)
def cached_checkpoints() -> list:
    """Shipped checkpoints and the runs' best checkpoints (`explorer.catalogue.list_checkpoints`)."""
    return catalogue.list_checkpoints(ROOT / "checkpoints", [ROOT / "runs", jobs.RUNS_ROOT])


@st.cache_resource(show_spinner=False, max_entries=24)
def cached_model(path: str, mtime: float):
    """A checkpoint's model, loaded once per file version."""
    return catalogue.load_model(path)


@st.cache_resource(show_spinner=False, max_entries=24)
def cached_untrained(method: str, T: int, k: int, num_classes: int, C: int, size: int, heads: int):
    """A freshly initialised (seeded) model, built once per shape."""
    return methods.untrained_model(method, T, k, num_classes=num_classes, in_channels=C, frame_size=size, heads=heads)


def remember_window(s, window) -> None:
    """Keep the window the viewer shows `s` in (None: as read), for the exports of `s`."""
    st.session_state[DISPLAY_WINDOW] = {"key": s.key, "window": tuple(float(v) for v in window) if window else None}


def window_for(s):
    """The window (level, width) last chosen on Explore for `s`, or None (drawn as read)."""
    kept = st.session_state.get(DISPLAY_WINDOW) or {}
    return kept.get("window") if kept.get("key") == s.key else None
