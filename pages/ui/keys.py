"""Every widget and session-state key of the app, in one place: one class per page, and `Data` for the
sidebar's data picker that Explore and Compare share (`pages.ui.data_picker`, `pages.ui.upload`).

The strings are the widgets' identities: the AppTests and browser tests address widgets by them
(`at.pills(key="cmp_heads")`, `.st-key-cmp_cine_fig`), so a value here never changes; code uses the
names. A key of one page that another page sets goes through a function of the owner
(`pages.ui.data_picker.select_sample`, `choose_compare_das` below), never through its string.
A `*_PREFIX` key is completed per item (a data set's name, a run's name, a method).

The plain session keys the pages share (kept widget values, data options per data set, the display
window, the uploaded study) are in `pages.ui.session`.
"""

from __future__ import annotations

from typing import Final

import streamlit as st

__all__ = ["Data", "Explore", "Compare", "Cohort", "Train", "Results", "choose_compare_das"]


class Data:
    """The sidebar's data set / sample picker and the upload (every data page)."""

    NAME: Final = "ds_name"  # selectbox: the data set (an upload's "upload: <file>", or "Upload a file…")
    SPLIT: Final = "ds_split"  # selectbox: the split
    INDEX: Final = "ds_index"  # number_input: the item of the split
    FRAMES_PREFIX: Final = "ds_frames:"  # + data set: number_input, its T
    SIZE_PREFIX: Final = "ds_size:"  # + data set: selectbox, its frame size
    FILLER_PREFIX: Final = "ds_filler:"  # + data set: selectbox, its filler frames
    UPLOAD_FILE: Final = "upload_file"  # file_uploader
    FORGET_STUDY: Final = "study_forget"  # button: drop the uploaded study
    STUDY_FRAMES: Final = "study_frames"  # number_input: the T the models take an upload at
    STUDY_SIZE: Final = "study_size"  # selectbox: the frame size the models take an upload at


class Explore:
    """pages/explore.py (and its CT window, pages/ui/hu_window.py)."""

    MONTAGE: Final = "explore_montage"  # toggle: the montage of samples
    MONTAGE_CLASS: Final = "explore_montage_class"  # segmented_control: the montage's class
    PICK_PREFIX: Final = "pick_"  # + item index: the montage's "Show" button
    FRAME: Final = "explore_t"  # slider: the frame shown
    LEVEL: Final = "explore_level"  # slider: window level on [0, 1]
    WIDTH: Final = "explore_width"  # slider: window width on [0, 1]
    PRESET: Final = "explore_preset"  # segmented_control: CT window preset
    LEVEL_HU: Final = "explore_level_hu"  # slider: window level in HU
    WIDTH_HU: Final = "explore_width_hu"  # slider: window width in HU
    SPEED: Final = "explore_speed"  # select_slider: a video's cine speed
    FPS: Final = "explore_fps"  # select_slider: a volume's cine rate
    CINE_FIG: Final = "explore_cine"  # plotly_chart: the cine
    CINE_MP4: Final = "explore_cine_mp4"  # download_button: the cine as an MP4
    TABS_VIDEO: Final = "explore_tab_video"  # tabs: cine / MP4 player
    TABS_VOLUME: Final = "explore_tab_volume"  # tabs: orthogonal views / cine
    ROW_Y: Final = "explore_y"  # slider: the coronal row
    COLUMN_X: Final = "explore_x"  # slider: the sagittal column
    ORTHO_FIG: Final = "ortho"  # plotly_chart: the orthogonal views
    FEATURES_FIG: Final = "features"  # plotly_chart: the per-frame feature curves


class Compare:
    """pages/compare.py."""

    SHOW_ALL: Final = "cmp_show_all"  # toggle: list checkpoints of every data set
    DAS: Final = "cmp_das"  # selectbox: the DAS checkpoint (see choose_compare_das)
    DAS_FOR: Final = "cmp_das_for"  # plain: the data set DAS's value was chosen on
    RATIO: Final = "cmp_ratio"  # select_slider: k/T of the untrained models
    TAU0: Final = "cmp_tau0"  # select_slider: DAS's base temperature
    HEADS: Final = "cmp_heads"  # pills: DAS's active heads
    VIEW: Final = "cmp_view"  # radio: soft matrix / stochastic picks
    SEED: Final = "cmp_seed"  # number_input: the Gumbel seed
    GO_CHANGED: Final = "cmp_go_changed"  # button: show an item the controls change
    TIMELINE_FIG: Final = "cmp_timeline"  # plotly_chart: every method's picks
    ENLARGE: Final = "cmp_enlarge"  # selectbox: whose picked frames to enlarge
    SHOW_FOREIGN: Final = "cmp_show_foreign"  # toggle: class probabilities of foreign models
    CONFIDENCE_FIG: Final = "cmp_conf"  # plotly_chart: predictions
    ATTENTION_FIG: Final = "cmp_attention"  # plotly_chart: DAS's head scores
    CINE: Final = "cmp_cine"  # toggle: the cine with the picks
    CINE_FPS: Final = "cmp_cine_fps"  # select_slider: a volume's cine rate
    CINE_FIG: Final = "cmp_cine_fig"  # plotly_chart: the cine
    CAM: Final = "cmp_cam"  # toggle: Grad-CAM maps
    CAM_OF: Final = "cmp_cam_of"  # selectbox: whose picks the maps explain
    CAM_KIND: Final = "cmp_cam_kind"  # segmented_control: the map type
    PRIOR: Final = "cmp_prior"  # toggle: DAS's prior
    PRIOR_FIG: Final = "cmp_prior_fig"  # plotly_chart: own picks against the prior
    SOFT_FIG: Final = "cmp_soft"  # plotly_chart: soft sampling matrix
    HARD_FIG: Final = "cmp_hard"  # plotly_chart: hard sampling matrix
    SHOW_SWEEP: Final = "cmp_show_sweep"  # toggle: the tau0 sweep
    SWEEP_FIG: Final = "cmp_sweep"  # plotly_chart: the tau0 sweep
    DPS_FIG: Final = "cmp_dps"  # plotly_chart: DPS's logits
    ADPS_FIG: Final = "cmp_adps"  # plotly_chart: ADPS's steps
    EXPORT_BUILD: Final = "cmp_export_build"  # button: build the export
    EXPORT_DOWNLOAD_PREFIX: Final = "cmp_export_"  # + file name: download_button
    EXPORT: Final = "_cmp_export"  # plain: {"key": what it was built from, "files": {name: bytes}}


def choose_compare_das(label: str, dataset: str) -> None:
    """Have the Compare page open on the DAS checkpoint `label` for the data set `dataset` (its picker
    keeps a choice only for the data set it was made on)."""
    st.session_state[Compare.DAS], st.session_state[Compare.DAS_FOR] = label, dataset


class Cohort:
    """pages/cohort.py."""

    DATA_SET: Final = "coh_ds"  # selectbox: the data set
    SPLIT: Final = "coh_split"  # selectbox: the split
    ITEMS: Final = "coh_n"  # number_input: the first N items
    DAS: Final = "coh_das"  # selectbox: the DAS checkpoint
    DAS_FOR: Final = "coh_das_for"  # plain: the data set DAS's value was chosen on
    RUN: Final = "coh_run"  # button: run all methods
    SUMMARY: Final = "coh_summary"  # dataframe: per method
    RATE_FIG: Final = "coh_rate"  # plotly_chart: pick rate per frame
    SORT: Final = "coh_sort"  # selectbox: the heatmaps' row order
    METHODS: Final = "coh_methods"  # multiselect: the heatmaps shown
    HEATMAP_PREFIX: Final = "coh_heat_"  # + method: plotly_chart
    OTHER: Final = "coh_other"  # selectbox: the method DAS is set against
    DISAGREE: Final = "coh_disagree"  # dataframe (row selection): the disagreements


class Train:
    """pages/train.py."""

    FORM: Final = "train_form"  # form: the run settings
    DATASET: Final = "tr_dataset"
    METHOD: Final = "tr_method"
    BACKBONE: Final = "tr_backbone"
    EPOCHS: Final = "tr_epochs"
    RATIO: Final = "tr_ratio"
    TAU0: Final = "tr_tau0"
    HEADS: Final = "tr_heads"
    SEED: Final = "tr_seed"
    LR: Final = "tr_lr"
    WARMUP: Final = "tr_warmup"
    OWN_PATH: Final = "tr_own_path"  # text_input: the user's own data
    FRAMES: Final = "tr_frames"  # quick-run limits
    SIZE: Final = "tr_size"
    MAX_BATCHES: Final = "tr_maxb"
    MAX_EXAMPLES: Final = "tr_maxe"
    SELECTED: Final = "tr_selected"  # selectbox: the run shown (set when a run starts)
    STOP_PREFIX: Final = "stop_"  # + run: button
    RESUME_PREFIX: Final = "resume_"  # + run: button
    CURVES_PREFIX: Final = "curves_"  # + run: plotly_chart
    OVERLAY: Final = "tr_overlay"  # multiselect: runs on one chart
    OVERLAY_CURVE: Final = "tr_overlay_key"  # radio: the curve
    OVERLAY_FIG: Final = "tr_overlay_fig"  # plotly_chart


class Results:
    """pages/results.py."""

    GRID: Final = "res_set"  # radio: benchmark grid (backbone)
    RATIO: Final = "res_ratio"  # select_slider: the table's ratio
    METRIC: Final = "res_metric"  # radio
    DATASET: Final = "res_ds"  # selectbox
    RATIO_FIG: Final = "res_ratio_fig"  # plotly_chart
    SPEED_QUANTITY: Final = "res_speed_key"  # selectbox
    SPEED_SIZE: Final = "res_speed_size"  # radio
    SPEED_FIG: Final = "res_speed_fig"  # plotly_chart
