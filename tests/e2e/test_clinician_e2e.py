"""End-to-end walk of the clinician demo in a real browser (Playwright + Debian chromium).

Explore: upload a DICOM series .zip (pydicom, shuffled, rescale tags) and a NIfTI .nii.gz (nibabel) through
the sidebar uploader. Compare: the samplers run on the upload; the cine plays (its title changes); the
Grad-CAM overlays appear; the export's MP4 has one frame per slice of the study itself (not of the models'
resampled copy) and the report names the upload. Cohort: "Run all methods" on 16 items draws the heatmaps. Screenshots: compare-cine,
compare-gradcam and cohort (test-artifacts/screenshots/ and docs/screenshots/).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from test_app_e2e import no_exception, record, settle  # noqa: E402
from test_data_dicom_series import ct_series, to_zip  # noqa: E402

pytestmark = pytest.mark.e2e

UPLOADER = '[data-testid="stFileUploaderDropzoneInput"]'
LONG = 90_000  # ms: generous but bounded waits for a script run


def nav(page, title: str) -> None:
    """Go to a page through the sidebar (same session, so the upload stays; page.goto would start a new one)."""
    page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()


def upload(page, path: Path) -> None:
    """Pick "Upload a file…" in the sidebar picker and upload `path`; wait until the picker shows it."""
    page.locator(".st-key-ds_name").click()
    page.get_by_role("option", name="Upload a file…").click()
    page.wait_for_selector(UPLOADER, state="attached", timeout=LONG)
    settle(page)
    page.locator(UPLOADER).set_input_files(str(path))
    page.wait_for_function(
        "name => { const el = document.querySelector('.st-key-ds_name');"
        " return !!el && (el.textContent + ' ' + Array.from(el.querySelectorAll('input')).map(i => i.value)"
        ".join(' ')).includes('upload: ' + name); }", arg=path.name, timeout=LONG)
    settle(page)
    no_exception(page)


def picker(page) -> str:
    """What the sidebar's data set picker shows (its text and its inputs' values)."""
    return page.evaluate(
        "() => { const el = document.querySelector('.st-key-ds_name');"
        " return el.textContent + ' ' + Array.from(el.querySelectorAll('input')).map(i => i.value).join(' '); }")


def scroll_top(page, selector: str) -> None:
    """Scroll so that `selector`'s top is at the top of the window (for the screenshots); mouse out of plots."""
    page.evaluate("s => document.querySelector(s).scrollIntoView({block: 'start'})", selector)
    page.mouse.move(5, 5)
    page.wait_for_timeout(400)


def toggle(page, key: str) -> None:
    page.locator(f".st-key-{key} label").first.click()


def cine_title(page) -> str:
    return page.evaluate(
        "() => { const el = document.querySelector('.st-key-cmp_cine_fig .js-plotly-plot');"
        " if (!el) return null; const t = el.querySelector('.gtitle');"
        " return (t && t.textContent) || (el.layout && el.layout.title && el.layout.title.text) || null; }")


def test_clinician_demo(app_server, page, tmp_path, shot):
    t_start = time.perf_counter()
    imageio = pytest.importorskip("imageio")
    nib = pytest.importorskip("nibabel")
    pytest.importorskip("pydicom")

    # the studies: a shuffled 24-slice CT series of 64x64 (HU rescale tags) and a 20-slice NIfTI volume
    dcm_zip = tmp_path / "head_ct.zip"
    dcm_zip.write_bytes(to_zip(ct_series(24, hw=(64, 64))))
    vol = np.random.default_rng(0).normal(0, 1, (48, 48, 20)).astype(np.float32)
    vol[16:32, 16:32, 8:12] += 4.0  # a bright block in a few slices
    nii = tmp_path / "brain_mr.nii.gz"
    nib.save(nib.Nifti1Image(vol, np.diag([1.0, 1.0, 2.0, 1.0])), str(nii))

    # 1. Explore: upload both through the sidebar
    page.goto(app_server.url + "/")
    settle(page, ".st-key-ds_name", timeout=LONG)
    t0 = time.perf_counter()
    upload(page, dcm_zip)
    record("upload_dicom_zip_s", time.perf_counter() - t0)
    assert "upload: head_ct.zip" in picker(page)
    assert page.get_by_text("T=24 slices of 1×64×64").count() >= 1  # the series read in order, all 24 slices
    t0 = time.perf_counter()
    upload(page, nii)
    record("upload_nifti_s", time.perf_counter() - t0)
    assert "upload: brain_mr.nii.gz" in picker(page)

    # 2. Compare: the samplers run on the upload
    t0 = time.perf_counter()
    nav(page, "Compare")
    settle(page, ".st-key-cmp_timeline .js-plotly-plot", timeout=LONG)
    record("compare_upload_s", time.perf_counter() - t0)
    no_exception(page)
    assert page.get_by_text("Upload a file in the sidebar").count() == 0
    caption = page.get_by_text("The models see the upload resampled to").first.inner_text()
    native_T = int(re.search(r"at its native (\d+) ×", caption).group(1))

    # 3. the cine: Play changes the frame in the title
    toggle(page, "cmp_cine")
    settle(page, ".st-key-cmp_cine_fig .js-plotly-plot", timeout=LONG)
    no_exception(page)
    page.locator(".st-key-cmp_cine_fig").scroll_into_view_if_needed()
    before = cine_title(page)
    assert before, "the cine figure has a title"
    page.locator(".st-key-cmp_cine_fig g.updatemenu-button").first.click()
    t0 = time.perf_counter()
    # Play must move the cine: the title changes. How fast is a timing (recorded), not a pass/fail bound: a
    # 3 s bound here failed on a machine loaded by parallel trainings while the cine itself worked.
    page.wait_for_function(
        "before => { const el = document.querySelector('.st-key-cmp_cine_fig .js-plotly-plot');"
        " const t = el && el.querySelector('.gtitle'); const now = (t && t.textContent) || null;"
        " return !!now && now !== before; }", arg=before, timeout=LONG)
    record("cine_first_frame_s", time.perf_counter() - t0)
    page.wait_for_timeout(600)
    scroll_top(page, ".st-key-cmp_cine")
    shot(page, "compare-cine")

    # 4. Grad-CAM overlays
    images_before = page.locator('[data-testid="stImage"]').count()
    t0 = time.perf_counter()
    toggle(page, "cmp_cam")
    settle(page, ".st-key-cmp_cam_kind", timeout=LONG)
    page.wait_for_function(f"() => document.querySelectorAll('[data-testid=\"stImage\"]').length > {images_before}",
                           timeout=LONG)
    settle(page)
    record("gradcam_s", time.perf_counter() - t0)
    no_exception(page)
    scroll_top(page, ".st-key-cmp_cam")
    shot(page, "compare-gradcam")

    # 5. Export: build, then download the MP4 and the report
    page.get_by_text("Export this comparison").first.click()
    build = page.locator(".st-key-cmp_export_build button")
    build.wait_for(timeout=LONG)
    settle(page)  # no script run in flight when the button is clicked
    t0 = time.perf_counter()
    build.click()
    page.get_by_role("button", name="MP4 with picks").wait_for(timeout=LONG)
    settle(page)
    record("export_build_s", time.perf_counter() - t0)
    no_exception(page)
    with page.expect_download(timeout=LONG) as dl:
        page.get_by_role("button", name="MP4 with picks").click()
    mp4 = tmp_path / "sequence.mp4"
    dl.value.save_as(str(mp4))
    with page.expect_download(timeout=LONG) as dl:
        page.get_by_role("button", name="Report (HTML)").click()
    report = tmp_path / "report.html"
    dl.value.save_as(str(report))
    reader = imageio.get_reader(str(mp4), format="FFMPEG")
    try:
        frames = reader.count_frames()
    finally:
        reader.close()
    assert frames == native_T, f"the MP4 has {frames} frames, the study {native_T} slices"
    html = report.read_text(encoding="utf-8")
    assert len(html) > 500 and "uploaded study" in html and "brain_mr" not in html  # no file name (PHI) in exports
    # it names the model behind each method: for an upload no checkpoint was trained on its data, so Compare
    # (and the report) use untrained models unless "All data sets" picks one
    assert "untrained" in html and "DAS" in html
    assert "not for diagnosis" in html

    # 6. Cohort: run all methods on 16 items
    nav(page, "Cohort")
    settle(page, ".st-key-coh_n", timeout=LONG)
    no_exception(page)
    n_input = page.locator(".st-key-coh_n input")
    n_input.fill("16")
    n_input.press("Enter")
    settle(page)
    t0 = time.perf_counter()
    page.locator(".st-key-coh_run button").click()
    settle(page, '[class*="st-key-coh_heat_"] .js-plotly-plot', timeout=120_000)
    record("cohort_16_items_s", time.perf_counter() - t0)
    no_exception(page)
    scroll_top(page, '[class*="st-key-coh_heat_"]')
    shot(page, "cohort")
    record("clinician_demo_total_s", time.perf_counter() - t_start)
