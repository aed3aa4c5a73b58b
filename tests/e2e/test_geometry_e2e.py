"""One anatomy, four files, one display (a real browser): an axial and a sagittal DICOM series (.zip), and a
NIfTI stored LPS and one stored RAS, each uploaded through the sidebar. Explore must draw the same axial frame,
the same axial, coronal and sagittal views (the heatmaps' pixels) and the same R/L/A/P/S/I markers for all four,
and say that the sagittal series is shown as axial reformats."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from test_app_e2e import FRAME, no_exception, settle  # noqa: E402
from test_clinician_e2e import LONG, upload  # noqa: E402
from test_data_dicom_series import _plane_series, to_zip  # noqa: E402

pytestmark = pytest.mark.e2e

ORTHO = ".st-key-ortho .js-plotly-plot"


def _views(page) -> dict:
    """The orthogonal figure as drawn: each view's pixels and the markers written at the edges."""
    return json.loads(page.evaluate(
        "s => { const el = document.querySelector(s); if (!el || !el.data) return null;"
        " return JSON.stringify({z: el.data.filter(d => d.type === 'heatmap').map(d => d.z),"
        " markers: (el.layout.annotations || []).map(a => a.text).filter(t => t && t.startsWith('<b>'))}); }",
        ORTHO))


def _frame_png(page) -> bytes:
    src = page.locator(FRAME).first.get_attribute("src")
    return page.request.get(src if src.startswith("http") else page.url.split("/", 3)[0] + "//" +
                            page.url.split("/", 3)[2] + src).body()


def test_lps_ras_and_dicom_series_of_one_anatomy_display_the_same(app_server, page, tmp_path):
    nib = pytest.importorskip("nibabel")
    pytest.importorskip("pydicom")
    anatomy = np.random.default_rng(5).integers(0, 2000, (12, 20, 24)).astype(np.int16)  # [S, R, C]
    files = {}
    for plane in ("axial", "sagittal"):
        files[plane] = tmp_path / f"{plane}.zip"
        files[plane].write_bytes(to_zip(_plane_series(anatomy, plane)))
    lps = np.ascontiguousarray(anatomy.transpose(2, 1, 0))  # i -> left, j -> posterior, k -> superior
    files["lps"] = tmp_path / "lps.nii.gz"
    nib.save(nib.Nifti1Image(lps, np.diag([-0.8, -0.7, 2.5, 1.0])), str(files["lps"]))
    files["ras"] = tmp_path / "ras.nii.gz"
    nib.save(nib.Nifti1Image(np.ascontiguousarray(lps[::-1, ::-1, :]), np.diag([0.8, 0.7, 2.5, 1.0])),
             str(files["ras"]))

    page.goto(app_server.url + "/")
    settle(page, ".st-key-ds_name", timeout=LONG)
    seen = {}
    for name, path in files.items():
        upload(page, path)
        settle(page, ORTHO, timeout=LONG)
        no_exception(page)
        page.mouse.move(5, 5)
        seen[name] = (_views(page), _frame_png(page))
        if name == "sagittal":
            assert page.get_by_text("acquired sagittal: shown as axial slices reformatted").count() >= 1
        assert page.get_by_text("T=12 slices of 1×20×24").count() >= 1, name  # the display's own shape
    views, frame = seen["axial"]
    assert len(views["z"]) == 3 and sorted(set(views["markers"])) == sorted(
        {"<b>R</b>", "<b>L</b>", "<b>A</b>", "<b>P</b>", "<b>S</b>", "<b>I</b>"})
    for name, (v, f) in seen.items():
        assert v["z"] == views["z"], f"{name}: its orthogonal views differ from the axial DICOM series'"
        assert v["markers"] == views["markers"], name
        assert f == frame, f"{name}: its axial frame differs from the axial DICOM series'"
