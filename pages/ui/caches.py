"""The caches every session shares: data sets and models are `st.cache_resource` (one object, not
copied), the data-set list, samples and the checkpoint list are `st.cache_data` (keyed by their
arguments). Nothing of a session's upload is cached here (see `pages.ui.upload`)."""

from __future__ import annotations

import json

import streamlit as st

from explorer import catalogue, jobs, methods, samples
from explorer.samples import SampleData
from pages.ui import ROOT

__all__ = ["datasets", "dataset", "sample", "cached_checkpoints", "cached_model", "cached_untrained"]


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
