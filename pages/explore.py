"""Explore: look at one sample: frame scrubber, cine / orthogonal views, window/level, the per-frame
features DAS scores frames with.

The cine is a plotly animation that plays in the browser (Play / Pause / slider, no rerun per frame) with a
marker moving along the inter-frame variance curve; the MP4 of the same cine stays available (the
browser's own player for videos, a download for both kinds)."""

from __future__ import annotations

import streamlit as st

from explorer import figures, samples
from explorer.samples import SampleData
from pages.ui.caches import dataset, sample
from pages.ui.captions import sample_caption
from pages.ui.data_picker import data_sidebar_ui, show_item
from pages.ui.guards import loopback_guard, show_error
from pages.ui.hu_window import hu_window_ui
from pages.ui.keys import Explore as K
from pages.ui.session import remember_window

MONTAGE_N = 16
CINE_CURVE = "inter-frame variance"  # the feature curve the cine's marker moves along


@st.cache_data(show_spinner=False, max_entries=32)
def _cine(_x, key: str, fps: float, window) -> bytes:
    return figures.cine_mp4(_x, fps=fps, window=window)


@st.cache_resource(show_spinner=False, max_entries=8)
def _cine_fig(_x, key: str, fps: float, window, _curve, informative, word: str):
    """The in-browser cine figure, built once per sample, rate and window (building it encodes every frame;
    Streamlit sends an unchanged figure to the browser only once)."""
    return figures.fig_cine(_x, {}, fps=fps, window=window, scores=_curve, informative=informative,
                            frame_word=word, scores_name=CINE_CURVE)


@st.cache_data(show_spinner=False, max_entries=32)
def _curves(_x, key: str) -> dict:
    return samples.feature_curves(_x)


def montage_ui(s: SampleData) -> None:
    """A grid of the first samples of the split (of one class, when chosen); a button under each picks it."""
    if s.source is None or s.is_upload:
        return
    name, split, opts_json = s.source
    # A toggle, not an expander: a collapsed expander still builds its 16 images and buttons, which
    # cost seconds of the first page's load in the browser.
    if not st.toggle("Choose a sample from a montage", key=K.MONTAGE):
        return
    with st.container(border=True):
        ds = dataset(name, split, opts_json)
        labels, classes = getattr(ds, "labels", None), list(getattr(ds, "classes", None) or [])
        shown = list(range(len(ds)))
        if labels is not None and len(classes) > 1:  # the first items of a split are often one class
            chosen = st.segmented_control("Class", classes, key=K.MONTAGE_CLASS,
                                          help="Show the first samples of one class.")
            if chosen is not None:
                shown = [i for i, y in enumerate(labels) if classes[int(y)] == chosen]
        cols = st.columns(8)
        for j, i in enumerate(shown[:MONTAGE_N]):
            si = sample(name, split, opts_json, i)
            with cols[j % 8]:
                st.image(figures.upscale(figures.to_uint8(si.x[si.x.shape[0] // 2]), 96), width="stretch",
                         caption=f"#{i} {si.label_name or ''}", output_format="PNG")
                st.button("Show", key=f"{K.PICK_PREFIX}{i}", on_click=show_item, args=(i,), width="stretch")


def viewer_ui(s: SampleData) -> tuple[int, tuple[float, float] | None]:
    """Frame scrubber + window/level; returns (frame index, window or None)."""
    T = s.x.shape[0]
    word = samples.frame_word(s.kind)
    t = st.slider(f"{word.capitalize()} t", 0, T - 1, min(T // 2, T - 1), key=K.FRAME)
    window = None
    scale = samples.intensity_scale(s) if s.kind == "volume" else None
    if scale is not None and scale.unit == "HU":
        return t, hu_window_ui(scale)
    if s.kind == "volume":
        lvl0, wid0 = samples.window_defaults(s.x)
        c1, c2 = st.columns(2)
        level = c1.slider("Window level", 0.0, 1.0, round(float(lvl0), 2), 0.01, key=K.LEVEL,
                          help="Centre of the displayed intensity range (window/level, as for CT).")
        width = c2.slider("Window width", 0.02, 1.0, round(min(1.0, max(0.02, float(wid0))), 2), 0.01,
                          key=K.WIDTH, help="Width of the displayed intensity range.")
        window = (level, width)
    return t, window


def video_rate_ui(s: SampleData) -> float:
    """The video's own frame rate (its fps, per frame kept of the original clip) times the chosen speed."""
    speed = st.select_slider("Cine speed", [0.25, 0.5, 1.0, 2.0], value=1.0, key=K.SPEED,
                             format_func=lambda v: f"{v}×")
    return samples.video_fps(s, speed) or samples.DEFAULT_CINE_RATE * speed


def cine_ui(s: SampleData, window, fps: float, curves: dict) -> None:
    """The cine that plays in the page (plotly animation: Play / Pause / slider, no rerun while it plays), a
    marker moving along the inter-frame variance curve, and the same cine as an MP4 download."""
    word = samples.frame_word(s.kind)
    T = s.x.shape[0]
    informative = tuple(s.informative) if s.informative else None
    fig = _cine_fig(s.x, s.key, float(fps), tuple(window) if window is not None else None,
                    curves.get(CINE_CURVE), informative, word)
    st.plotly_chart(fig, width="stretch", key=K.CINE_FIG, config={"displayModeBar": False})
    shown = len(fig.frames)
    c1, c2 = st.columns([3, 1.3], vertical_alignment="center")
    c1.caption(f"{T} {word}s at {fps:.3g} {word}s/s: ▶ Play, ❚❚ Pause, drag the slider to scrub; it plays in the "
               f"browser." + (f" Long sequence: {shown} of the {T} {word}s are in the cine." if shown < T else ""))
    c2.download_button("MP4", data=lambda: _cine(s.x, s.key, float(fps), window), file_name=f"cine-{word}s.mp4",
                       mime="video/mp4", key=K.CINE_MP4, on_click="ignore", icon=":material/download:",
                       help="The same cine as an MP4 for a video player or slides.")


def main() -> None:
    loopback_guard()  # a session's first request may run this page without app.py
    st.title("Explore")
    s = data_sidebar_ui()
    if s is None:
        return
    st.markdown(sample_caption(s))
    montage_ui(s)
    word = samples.frame_word(s.kind)
    left, right = st.columns([2, 3], gap="large")
    with left:
        t, window = viewer_ui(s)
        remember_window(s, window)  # the Compare page's export draws the study in the same window
        # PNG: lossless (Streamlit's "auto" sends a frame without alpha as a JPEG, re-encoded on every rerun)
        st.image(figures.frame_image(s.x, t, window, min_size=320), width="content", output_format="PNG",
                 caption=f"{word} {t} of {s.x.shape[0]}" + (" · informative" if s.informative and t in s.informative else ""))
    curves = _curves(s.x, s.key)
    with right:
        try:
            # Stateful tabs: only the open tab is built (the cine encodes every frame, the MP4 runs ffmpeg).
            if s.kind == "video":
                rate = video_rate_ui(s)
                cine_tab, mp4_tab = st.tabs(["Cine", "MP4 player"], key=K.TABS_VIDEO, on_change="rerun")
                if cine_tab.open:
                    with cine_tab:
                        cine_ui(s, window, rate, curves)
                if mp4_tab.open:
                    with mp4_tab:
                        st.video(_cine(s.x, s.key, rate, window), format="video/mp4", loop=True)
                        st.caption(f"the same cine as an MP4 at {rate:.1f} frames/s: pause, seek and loop with the "
                                   f"player's controls")
            else:
                ortho_tab, cine_tab = st.tabs(["Orthogonal views", "Cine"], key=K.TABS_VOLUME,
                                              on_change="rerun")
                if ortho_tab.open:
                    with ortho_tab:
                        H, W = s.x.shape[-2:]
                        c1, c2 = st.columns(2)
                        y = c1.slider("Row y (coronal)", 0, H - 1, H // 2, key=K.ROW_Y)
                        xc = c2.slider("Column x (sagittal)", 0, W - 1, W // 2, key=K.COLUMN_X)
                        st.markdown("**Orthogonal views** through the crosshair (t, y, x)")
                        st.plotly_chart(figures.fig_orthogonal(s.x, t, y, xc, window, samples.display_aspect(s),
                                                               s.meta.get("orientation_labels")),
                                        width="stretch", key=K.ORTHO_FIG)
                        if not s.meta.get("orientation_labels"):
                            st.caption("No orientation markers: this file does not say how it lies in the patient "
                                       "(no affine or ImageOrientationPatient).")
                if cine_tab.open:
                    with cine_tab:
                        rate = st.select_slider("Cine rate", samples.CINE_RATES, value=samples.DEFAULT_CINE_RATE, key=K.FPS,
                                                format_func=lambda v: f"{v} {word}s/s",
                                                help="A volume has no frame rate of its own: choose one.")
                        cine_ui(s, window, rate, curves)
        except Exception as err:
            show_error(err)
    st.plotly_chart(figures.fig_feature_curves(curves, current=t, informative=s.informative, frame_word=word),
                    width="stretch", key=K.FEATURES_FIG)
    st.caption("Inter-frame variance: how much frame t differs from frame t−1 (temporal dynamics); Sobel: "
               "edge strength (boundaries); Laplacian max: fine structure such as small blobs. Each curve is "
               "min-max scaled; hover for raw values." + (" Green band: the informative frame(s)." if s.informative else ""))


main()
