"""End-to-end tests in a real browser (Playwright + Debian chromium) against `streamlit run app.py`.

Every page opens and renders without an exception; moving tau0 changes DAS's soft matrix; a
1-epoch run on tiny data finishes; a corrupt upload shows one error. Screenshots of each page
(1280x800) go to test-artifacts/screenshots/ and docs/screenshots/.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
TIMINGS = Path(__file__).resolve().parents[2] / "test-artifacts" / "timings.json"


def record(name: str, seconds) -> None:
    """Add one interaction timing (seconds, measured in the browser; or a list of them) to
    test-artifacts/timings.json."""
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(TIMINGS.read_text()) if TIMINGS.is_file() else {}
    data[name] = [round(v, 3) for v in seconds] if isinstance(seconds, (list, tuple)) else round(seconds, 3)
    TIMINGS.write_text(json.dumps(data, indent=2) + "\n")


FRAME = '[data-testid="stMain"] [data-testid="stImage"] img'  # Explore's frame of the sample
WARM_LOADS = 3
STEPS = ("ArrowLeft", "ArrowLeft", "ArrowRight", "ArrowRight")  # tau0 1.0 -> 0.7 -> 0.5, then back


def load_explore(page, url: str) -> tuple[float, float]:
    """Open Explore; returns (first paint, complete) in seconds from the navigation: first paint when the
    sample's frame image is drawn (title, sidebar, caption and sliders come before it), complete when the
    feature curves (the last chart) are drawn and the script run has ended."""
    t0 = time.perf_counter()
    page.goto(url + "/")
    page.wait_for_function(f"() => {{ const im = document.querySelector('{FRAME}'); "
                           "return im && im.complete && im.naturalWidth > 0; }", timeout=60_000)
    first = time.perf_counter() - t0
    page.wait_for_selector(".st-key-features .js-plotly-plot", timeout=60_000)
    page.wait_for_selector(IDLE, timeout=60_000)
    return first, time.perf_counter() - t0


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def settle(page, selector: str | None = None, timeout: float = 60_000) -> None:
    """Wait for the script run to end (and for `selector` when given)."""
    if selector:
        page.wait_for_selector(selector, timeout=timeout)
    page.wait_for_selector(IDLE, timeout=timeout)
    page.wait_for_timeout(300)
    page.wait_for_selector(IDLE, timeout=timeout)


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]').first.inner_text()


def plot_data(page, key: str):
    return page.evaluate(
        "k => { const el = document.querySelector('.st-key-' + k + ' .js-plotly-plot');"
        " return el && el.data ? JSON.stringify(el.data[0].z) : null; }", key)


def heatmap_image(page, key: str):
    """The drawn heatmap of chart `key` (the data URI of the image plotly paints it into)."""
    return page.evaluate("k => document.querySelector('.st-key-' + k + ' .hm image')?.getAttribute('href') || null", key)


def wait_redrawn(page, key: str, old_z, old_image) -> None:
    """Wait until chart `key` has new data and its heatmap has been painted again: the data alone changes
    before plotly has drawn it (70-100 ms earlier on this machine)."""
    page.wait_for_function(
        "([k, oldZ, oldImg]) => { const el = document.querySelector('.st-key-' + k + ' .js-plotly-plot');"
        " const im = document.querySelector('.st-key-' + k + ' .hm image');"
        " return el && el.data && JSON.stringify(el.data[0].z) !== oldZ && im && im.getAttribute('href') !== oldImg; }",
        arg=[key, old_z, old_image], timeout=30_000)


def test_pages_open_and_screenshots(app_server, page, shot):
    # cold: the server's first session, the browser's cache empty
    first, complete = load_explore(page, app_server.url)
    record("server_start_s", app_server.start_seconds)
    record("explore_first_paint_cold_s", first)
    record("explore_complete_cold_s", complete)
    # warm: the server has served the page, the browser has its files (a user opening it again)
    warm = [load_explore(page, app_server.url) for _ in range(WARM_LOADS)]
    record("explore_first_paint_warm_s", _median([w[0] for w in warm]))
    record("explore_complete_warm_s", _median([w[1] for w in warm]))
    print(f"server healthy after {app_server.start_seconds:.1f} s; Explore cold: frame {first:.2f} s, complete "
          f"{complete:.2f} s; warm: frame {[round(w[0], 2) for w in warm]} s, complete {[round(w[1], 2) for w in warm]} s")
    settle(page)
    no_exception(page)
    assert page.get_by_text("not for diagnosis").count() >= 1
    shot(page, "explore")

    t0 = time.perf_counter()
    page.goto(app_server.url + "/compare")
    settle(page, ".st-key-cmp_soft .js-plotly-plot")
    record("compare_open_s", time.perf_counter() - t0)
    no_exception(page)
    page.mouse.move(800, 500)
    page.mouse.wheel(0, 300)
    page.wait_for_timeout(400)
    shot(page, "compare")

    page.goto(app_server.url + "/train")
    settle(page, '[data-testid="stForm"]')
    no_exception(page)
    shot(page, "train")

    page.goto(app_server.url + "/results")
    settle(page, "h1")
    if page.get_by_text("Mean ± std over seeds").count():  # bench results exist: wait for table and chart
        settle(page, '[data-testid="stDataFrame"] canvas')
        settle(page, ".js-plotly-plot")
        page.wait_for_timeout(800)
    no_exception(page)
    assert page.get_by_text("Benchmark").count() >= 1
    shot(page, "results")


def test_tau0_changes_soft_matrix(app_server, page):
    page.goto(app_server.url + "/compare")
    settle(page, ".st-key-cmp_soft .js-plotly-plot")
    soft0, hard0 = plot_data(page, "cmp_soft"), plot_data(page, "cmp_hard")
    assert soft0 and hard0
    thumb = page.locator('.st-key-cmp_tau0 input[type="range"]')
    steps = []
    for key in STEPS:  # two new tau0 values, then back to ones already shown
        old, old_image = plot_data(page, "cmp_soft"), heatmap_image(page, "cmp_soft")
        thumb.focus()
        t0 = time.perf_counter()
        thumb.press(key)
        wait_redrawn(page, "cmp_soft", old, old_image)
        steps.append(time.perf_counter() - t0)
        settle(page)
        if len(steps) == 1:
            assert plot_data(page, "cmp_soft") != soft0, "tau0 must change the soft matrix"
            assert plot_data(page, "cmp_hard") == hard0, "deterministic hard picks must not depend on tau0"
    record("tau0_steps_s", steps)
    record("tau0_step_s", _median(steps))
    server = page.get_by_text("Rendered in").first.inner_text()
    print(f"soft matrix redrawn {[round(v, 3) for v in steps]} s after each tau0 step (browser round trip); "
          f"server: {server[:40]}")
    no_exception(page)
    assert plot_data(page, "cmp_soft") == soft0, "back at tau0 = 1.0 the soft matrix is the first one again"
    assert page.get_by_text("deterministic picks (independent of tau0)").count() >= 1
    toggles = []
    for head in ("h1", "h2", "h2", "h1"):  # switch heads 1 and 2 off, then on again
        old, old_image = plot_data(page, "cmp_attention"), heatmap_image(page, "cmp_attention")
        t0 = time.perf_counter()
        page.locator(".st-key-cmp_heads button", has_text=head).first.click()
        wait_redrawn(page, "cmp_attention", old, old_image)
        toggles.append(time.perf_counter() - t0)
        settle(page)
        no_exception(page)
    record("head_toggles_s", toggles)
    record("head_toggle_s", _median(toggles))


def test_training_run_finishes(app_server, page):
    page.goto(app_server.url + "/train")
    settle(page, '[data-testid="stForm"]')
    page.locator(".st-key-tr_epochs input").fill("1")
    page.get_by_text("Quick-run limits").click()
    page.locator(".st-key-tr_maxb input").fill("2")
    page.locator(".st-key-tr_maxe input").fill("2")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_selector('[data-testid="stAlertContentSuccess"]', timeout=30_000)
    deadline = time.time() + 150
    state = None
    while time.time() < deadline:
        runs = sorted(p for p in app_server.runs.iterdir() if p.is_dir())
        if runs:
            state = json.loads((runs[-1] / "status.json").read_text()).get("state")
            if state in ("finished", "failed", "stopped"):
                break
        time.sleep(1)
    assert state == "finished", (runs[-1] / "train.log").read_text()[-2000:] if runs else "no run folder"
    # the page polls the run folders: the run's detail line turns to "finished"
    page.locator('[data-testid="stMarkdownContainer"]', has_text="finished").first.wait_for(timeout=30_000)
    no_exception(page)
    page.goto(app_server.url + "/compare")
    settle(page, ".st-key-cmp_das")
    page.locator(".st-key-cmp_das").click()
    assert page.get_by_text("trained here").count() >= 1, "a finished run is offered on the Compare page"
    page.keyboard.press("Escape")


def test_corrupt_upload_shows_error(app_server, page, tmp_path, shot):
    page.goto(app_server.url + "/")
    settle(page, ".st-key-ds_name")
    page.locator(".st-key-ds_name").click()
    page.get_by_role("option", name="Upload a file…").click()
    page.wait_for_selector('[data-testid="stFileUploaderDropzoneInput"]', state="attached", timeout=60_000)
    settle(page)
    bad = tmp_path / "broken.npy"
    bad.write_bytes(b"this is not a numpy file" * 10)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(bad))
    page.wait_for_selector('[data-testid="stAlertContentError"]', timeout=30_000)
    settle(page)
    no_exception(page)
    text = page.locator('[data-testid="stAlertContentError"]').first.inner_text()
    assert "broken.npy" in text and "Traceback" not in text
    shot(page, "upload-error", docs=False)
