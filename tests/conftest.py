"""Test-wide settings: small thread count (2-core machines), the shared data folder, and the fixtures several
test files share (an AppTest of the app, a temp folder that must stay empty)."""

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DAS_DATA_ROOT", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real data (../shared/data); tests that need it skip with the reason when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (set DAS_DATA_ROOT to use it)")
    return SHARED_DATA


@pytest.fixture
def app(monkeypatch, tmp_path, request):
    """An AppTest of app.py with empty Streamlit caches and the app's runs under tmp_path. A test module
    sets APP_TIMEOUT (seconds per run, default 60) for slower pages."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from explorer import jobs

    monkeypatch.setattr(jobs, "RUNS_ROOT", tmp_path / "runs" / "app")
    st.cache_data.clear()
    st.cache_resource.clear()
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=getattr(request.module, "APP_TIMEOUT", 60))


@pytest.fixture
def clean_tmp(tmp_path, monkeypatch):
    """Temp files go to tmp_path/tmp and the cwd is tmp_path/cwd; the test checks both stay empty."""
    import tempfile

    (tmp_path / "tmp").mkdir()
    (tmp_path / "cwd").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.chdir(tmp_path / "cwd")
    yield tmp_path
    assert list((tmp_path / "tmp").iterdir()) == [] and list((tmp_path / "cwd").iterdir()) == []
