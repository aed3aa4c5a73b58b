"""The sidebar's data set / sample picker every data page shares; an uploaded study is one more entry
(`pages.ui.upload`)."""

from __future__ import annotations

import json
from typing import Optional

import streamlit as st

from das_core.data.registry import DEFAULT_FRAME_SIZES
from explorer import samples
from explorer.samples import SampleData
from explorer.text import md
from pages.ui.caches import dataset, datasets, sample
from pages.ui.guards import show_error
from pages.ui.keys import Data
from pages.ui.session import DATA_OPTIONS, KEPT, valid_choice
from pages.ui.upload import forget_study, study, upload_ui

__all__ = ["UPLOAD", "data_sidebar_ui", "picked_dataset", "shown_index", "show_item", "select_sample"]

UPLOAD = "Upload a file…"


def data_sidebar_ui() -> Optional[SampleData]:
    """The shared data set / sample picker in the sidebar. Returns the sample, or None (after an error).

    An uploaded study is one more entry of the picker ("upload: head.zip") and stays selected on every
    page for the session; it is returned at its native resolution (see `study()`).
    """
    sb = st.sidebar
    sb.subheader("Data")
    by_name = {d["name"]: d for d in _dataset_infos(sb)}
    held = study()
    name = _dataset_name_ui(sb, by_name, held)
    if name == UPLOAD:
        return upload_ui()
    if held is not None and name == held.dataset:
        sb.button("Forget this upload", key=Data.FORGET_STUDY, on_click=forget_study, icon=":material/close:",
                  help="Drops the uploaded study from this session (it was never written to disk).")
        return held
    info = by_name[name]
    opts = _data_options_ui(sb, name, info)
    split = _split_ui(sb, info)
    return _sample_ui(sb, name, split, json.dumps(opts, sort_keys=True))


def _dataset_infos(sb) -> list[dict]:
    """The registered data sets' descriptions, or [] after saying in the sidebar that they cannot be listed."""
    try:
        return datasets()
    except Exception as err:  # the data layer is missing or broken: the rest of the app still works
        sb.error(f"The data sets cannot be listed ({md(err)}).")
        return []


def _dataset_name_ui(sb, by_name: dict, held: Optional[SampleData]) -> str:
    """The data set picker: the registered sets, the held upload, then UPLOAD. Returns the chosen name."""
    names = list(by_name) + ([held.dataset] if held is not None else []) + [UPLOAD]
    current = valid_choice(Data.NAME, names, names[0], kept=True)
    return sb.selectbox("Data set", names, key=Data.NAME,
                        format_func=lambda n: f"{n} ({by_name[n]['kind']})" if n in by_name else n,
                        help=by_name.get(current, {}).get("description"))


def _data_options_ui(sb, name: str, info: dict) -> dict:
    """The data set's options, those it lets the user set chosen in an expander (kept per data set)."""
    opts = dict(info["default_options"])
    chosen = st.session_state.setdefault(DATA_OPTIONS, {}).setdefault(name, {})
    with sb.expander("Data options", expanded=False):
        if "num_frames" in opts:
            opts["num_frames"] = chosen["num_frames"] = int(st.number_input(
                "Frames T", 4, 128, int(chosen.get("num_frames", opts["num_frames"] or 28)),
                key=f"{Data.FRAMES_PREFIX}{name}"))
        if "size" in opts:
            sizes = list(info.get("frame_sizes") or DEFAULT_FRAME_SIZES)  # the data set registry's choices
            cur = int(chosen.get("size", opts["size"] or 28))
            choices = sorted(set(sizes + [int(opts["size"] or 28), cur]))
            opts["size"] = chosen["size"] = int(st.selectbox("Frame size", choices, index=choices.index(cur),
                                                             key=f"{Data.SIZE_PREFIX}{name}"))
        if "filler" in opts:  # the moving-real families: what sits around the real slices
            from das_core.data.embedded import FILLERS

            cur = chosen.get("filler", opts["filler"])
            opts["filler"] = chosen["filler"] = st.selectbox(
                "Filler frames", list(FILLERS), index=list(FILLERS).index(cur), key=f"{Data.FILLER_PREFIX}{name}",
                help="distractors: slices of other volumes of the split; speckle: ultrasound-like noise. The real "
                     "volume's 10 central slices sit at a random offset between them (the sample's informative frames).")
    return opts


def _split_ui(sb, info: dict) -> str:
    """The split picker (its non-empty splits, else "test"). Returns the chosen split."""
    splits = [s for s, n in info["split_sizes"].items() if n] or ["test"]
    split_default = samples.default_split(info["split_sizes"])
    valid_choice(Data.SPLIT, splits, split_default, kept=True)
    return sb.selectbox("Split", splits, key=Data.SPLIT)


def _sample_ui(sb, name: str, split: str, opts_json: str) -> Optional[SampleData]:
    """The sample picker over the split's items. Returns the sample, or None (after an error or for an empty split)."""
    try:
        ds = dataset(name, split, opts_json)
        n = len(ds)
    except Exception as err:
        show_error(err)
        return None
    if n == 0:
        sb.warning("This split is empty.")
        return None
    valid_choice(Data.INDEX, range(n), 0, kept=True)
    index = int(sb.number_input(f"Sample (0..{n - 1})", 0, n - 1, key=Data.INDEX))
    try:
        return sample(name, split, opts_json, index)
    except Exception as err:
        show_error(err)
        return None


def picked_dataset() -> Optional[str]:
    """The data set chosen in the picker (live, else the value kept from an earlier page), or None."""
    return st.session_state.get(Data.NAME, st.session_state.get(KEPT, {}).get(Data.NAME))


def shown_index() -> Optional[int]:
    """The item of the split the picker shows, or None."""
    index = st.session_state.get(Data.INDEX)
    return None if index is None else int(index)


def show_item(index: int) -> None:
    """A callback: show item `index` of the picked split (set before the picker is drawn)."""
    st.session_state[Data.INDEX] = int(index)


def select_sample(name: str, split: str, index: int) -> None:
    """Select item `index` of `name`/`split` in the picker, live and in the backup `keep` restores it from
    (as after a pick in the sidebar), so the next data page opens on it."""
    kept = st.session_state.setdefault(KEPT, {})
    for key, value in ((Data.NAME, name), (Data.SPLIT, split), (Data.INDEX, int(index))):
        st.session_state[key] = kept[key] = value
