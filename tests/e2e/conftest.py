"""Fixtures of the browser tests: a real `streamlit run app.py` server and a headless chromium page.

The server is started as `make run` starts it (`python -m explorer.serve`, which preloads the app's imports),
on a free port with a private runs folder (DAS_APP_RUNS) so the tests never touch
the user's runs; it is killed at the end. Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM);
the tests skip with the reason when it or playwright is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "screenshots"
DOCS_SHOTS = REPO / "docs" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 800}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """Base URL of a running app; yields once /_stcore/health answers."""
    port = _free_port()
    runs = tmp_path_factory.mktemp("app-runs")
    env = dict(os.environ, DAS_APP_RUNS=str(runs), PYTHONUNBUFFERED="1")
    log = open(tmp_path_factory.mktemp("server") / "streamlit.log", "wb")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "explorer.serve", "--server.port", str(port),
         "--server.headless", "true", "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=str(REPO), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"streamlit did not start (see {log.name})")
            time.sleep(0.2)
        app_server.start_seconds = time.perf_counter() - t0
        yield SimpleServer(url, runs, time.perf_counter() - t0)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        ARTIFACTS.parent.mkdir(parents=True, exist_ok=True)  # the server's log beside the screenshots
        shutil.copyfile(log.name, ARTIFACTS.parent / "streamlit.log")


class SimpleServer:
    def __init__(self, url: str, runs: Path, start_seconds: float):
        self.url, self.runs, self.start_seconds = url, runs, start_seconds


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip(f"chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    exe = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    ctx.close()


@pytest.fixture
def shot():
    """save_screenshot(page, name, docs=True) -> path."""
    return save_screenshot


def save_screenshot(page, name: str, docs: bool = True) -> Path:
    """Screenshot to test-artifacts/screenshots/<name>.png, copied to docs/screenshots/ for the README."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    if docs:
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SHOTS / f"{name}.png")
    return path
