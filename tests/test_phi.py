"""PHI and injection: no export carries what a DICOM says about the patient or the file, and the pages show
text quoted from a file as text, never as Markdown or HTML.

A CT series is made here with pydicom carrying a hostile SeriesDescription (a remote image, an HTML tag,
bold), a PatientName, ID, birth date, institution and accession number, in a folder and under file names
that hold the patient's name. The export (from the file, as the CLI does, and from the app's upload) must
not hold any of them in any byte of any file; picks.json's study keys are exactly `EXPORT_META_KEYS`.

Fast: 6 slices of 16 x 16, one small shipped checkpoint (small_cnn); the AppTests run the Explore page only.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from das_core.data import DataError, load_sequence
from das_core.export import ARTEFACTS, ExportSettings, export_study
from das_core.export.study import EXPORT_META_KEYS, FILE_STUDY, Study, export_meta, safe_options
from explorer.text import WORD_JOINER, md, md_error

REPO = Path(__file__).resolve().parents[1]
DAS = str(REPO / "checkpoints" / "synthetic-volumes-das.pt")
# the hostile description is longer than LO's 64 characters, as an attacker's file may be
pytestmark = pytest.mark.filterwarnings("ignore:The value length:UserWarning")

DESCRIPTION = "![x](http://127.0.0.1:9/pixel.png) <img src=x onerror=alert(1)> **bold**"
SERIES_UID = "1.2.826.0.1.3680043.99.424242"
STUDY_UID = "1.2.826.0.1.3680043.99.515151"
PATIENT = {"PatientName": "QUARTERMAINE^ZEBULON", "PatientID": "PID-4417-2291", "PatientBirthDate": "19610203",
           "InstitutionName": "Hospital of Saint Vignette", "AccessionNumber": "ACC88123X",
           "ReferringPhysicianName": "OSTRAVEC^MILDRED"}
PATIENT_DIR = "QUARTERMAINE_ZEBULON_19610203"  # a source folder named after the patient
FILE_STEM = "Zebulon_Quartermaine_CT"  # and the slices' file names

# what no exported byte may hold (compared case-insensitively)
FORBIDDEN = [DESCRIPTION, "pixel.png", "127.0.0.1:9", "onerror", "**bold**", SERIES_UID, STUDY_UID,
             "QUARTERMAINE", "ZEBULON", "PID-4417-2291", "19610203", "Saint Vignette", "ACC88123X", "OSTRAVEC",
             "MILDRED", PATIENT_DIR, FILE_STEM]


def _slice(k: int, n: int, desc: str = DESCRIPTION, series: str = SERIES_UID) -> bytes:
    """Slice k of n (explicit VR little endian CT, int16) with the patient's tags and the hostile description."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(f"{FILE_STEM}_{k}.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesInstanceUID, ds.StudyInstanceUID, ds.SeriesDescription = "CT", series, STUDY_UID, desc
    for tag, value in PATIENT.items():
        setattr(ds, tag, value)
    ds.ImagePositionPatient = [0.0, 0.0, 2.5 * k]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.InstanceNumber = k + 1
    ds.PixelSpacing, ds.SliceThickness = [0.7, 0.8], 2.5
    ds.RescaleSlope, ds.RescaleIntercept = 1.0, -1024.0
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.Rows = ds.Columns = 16
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    pix = np.full((16, 16), 900 + 40 * k, np.int16)
    pix[4:8, 4:8] = 1500
    ds.PixelData = np.ascontiguousarray(pix.astype("<i2")).tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _series(n: int = 6, **kw) -> dict:
    return {f"{FILE_STEM}_{k:03d}.dcm": _slice(k, n, **kw) for k in range(n)}


def _zip(files: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(f"{PATIENT_DIR}/{name}", data)
    return buf.getvalue()


def _leaks(files: dict, extra=()) -> list:
    """(file, token) for every forbidden token found in the bytes of an exported file."""
    found = []
    for name, data in files.items():
        low = data.lower()
        for token in [*FORBIDDEN, *extra]:
            if str(token).lower().encode() in low:
                found.append((name, token))
    return found


@pytest.fixture(scope="module")
def series_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("phi") / PATIENT_DIR / "series"
    folder.mkdir(parents=True)
    for name, data in _series().items():
        (folder / name).write_bytes(data)
    return folder


def test_the_reader_sees_what_the_export_must_leave_out(series_folder):
    """The study does carry the description and UID (so the export tests below mean something)."""
    _, meta = load_sequence(series_folder)
    assert meta["series_description"] == DESCRIPTION and meta["series_uid"] == SERIES_UID
    assert PATIENT_DIR in meta["source"]


def test_file_export_holds_no_phi_description_uid_path_or_file_name(series_folder, tmp_path):
    out = tmp_path / "out"
    written = export_study([DAS], series_folder, out, settings=ExportSettings(threads=1))
    assert set(written) == set(ARTEFACTS)
    files = {p.name: p.read_bytes() for p in out.iterdir()}  # every file in the folder, not only the listed ones
    assert set(files) >= set(ARTEFACTS)
    assert _leaks(files, [str(series_folder), str(series_folder.parent)]) == []

    doc = json.loads(files["picks.json"])
    assert set(doc["input"]) == set(EXPORT_META_KEYS)  # the allowlist is exactly what is written
    inp = doc["input"]
    assert inp["name"] == FILE_STUDY and inp["source"] == "file" and inp["kind"] == "volume"
    assert inp["modality"] == "CT" and inp["original_frames"] == 6
    assert [inp["shape"][i] for i in (0, 2, 3)] == [6, 16, 16]  # colour is kept for display (C = 1 or 3)
    assert inp["spacing"] == pytest.approx([2.5, 0.7, 0.8]) and inp["default_window"] == [40.0, 400.0]
    assert all("checkpoint_path" not in m for m in doc["methods"])
    assert doc["methods"][0]["checkpoint"] == "synthetic-volumes-das.pt"  # the model is named by its file
    page = files["report.html"].decode()
    assert FILE_STUDY in page and "synthetic-volumes-das.pt" in page and str(REPO) not in page


def test_app_export_of_an_upload_holds_no_phi_nor_the_upload_name(tmp_path):
    """The Compare page's export of an uploaded zip named after the patient: the upload is "uploaded study"."""
    from das_core import load_model
    from explorer import exports, samples

    upload_name = f"{FILE_STEM}_{PATIENT_DIR}.zip"
    s = samples.load_study(_zip(_series()), upload_name)
    assert s.meta["series_description"] == DESCRIPTION  # what the page holds in memory
    models = {"das": SimpleNamespace(model=load_model(DAS), path=DAS, trained=True, source="shipped")}
    files = exports.export_bytes(s, models, ExportSettings(threads=1, focus="das"))
    assert set(files) == set(ARTEFACTS)
    assert _leaks(files, [upload_name]) == []
    doc = json.loads(files["picks.json"])
    assert set(doc["input"]) == set(EXPORT_META_KEYS)
    assert doc["input"]["name"] == exports.UPLOAD_LABEL and doc["input"]["dataset"] is None
    assert doc["input"]["modality"] == "CT"


def test_app_export_of_a_data_set_item_names_the_data_set_and_index():
    from explorer import exports, samples

    s = samples.SampleData(x=torch.rand(8, 1, 12, 12), y=1, classes=["square", "ring"],
                           meta={"informative_frames": [3], "source": "/data/QUARTERMAINE/item.npy"},
                           dataset="synthetic-volumes", key='synthetic-volumes|test|{"size": 12}|5',
                           source=("synthetic-volumes", "test", '{"size": 12}'))
    meta = export_meta(exports.study_of(s))
    assert meta["name"] == "synthetic-volumes test #5" and (meta["split"], meta["index"]) == ("test", 5)
    assert meta["dataset_options"] == {"size": 12} and meta["label"] == "ring" and meta["informative_frames"] == [3]
    assert "QUARTERMAINE" not in json.dumps(meta)


def test_export_meta_is_built_from_the_allowlist_only():
    """Whatever a reader put in meta, only the allowlisted keys come out, each checked."""
    hostile = {"source": f"/data/{PATIENT_DIR}/x.zip", "series_description": DESCRIPTION, "series_uid": SERIES_UID,
               "relative_path": f"{PATIENT_DIR}/clip.mp4", "note": f"{FILE_STEM}.nii holds 2 volumes",
               "skipped_files": 3, "PatientName": PATIENT["PatientName"], "uploaded": True,
               "modality": "<img src=x onerror=alert(1)>", "orientation": "RAS<script>",
               "orientation_labels": {"left": "R", "right": "<b>L</b>", "top": "A"}, "spacing": [1.0, "x", 2.0],
               "window": [0.5, 0.25], "fps": float("nan"), "dataset_options": {"root": f"/data/{PATIENT_DIR}"},
               "original_frames": 12, "frame_indices": [0, 4, 8], "inverted": "yes"}
    meta = export_meta(Study(x=torch.zeros(3, 1, 4, 4), name=FILE_STUDY, meta=hostile, source="file"))
    assert tuple(meta) == EXPORT_META_KEYS
    assert meta["modality"] is None and meta["orientation"] is None and meta["spacing"] is None
    assert meta["orientation_labels"] == {"left": "R", "top": "A"} and meta["fps"] is None
    assert meta["window"] == [0.5, 0.25] and meta["original_frames"] == 12 and meta["frame_indices"] == [0, 4, 8]
    assert meta["dataset_options"] is None and meta["inverted"] is None  # a file has no data set options
    assert _leaks({"meta": json.dumps(meta).encode()}) == []
    assert safe_options({"root": "/data/x", "cache_dir": "c", "size": 28, "filler": "speckle",
                         "manifest": "m.csv", "label_from": "a/b", "num_frames": 40}) == \
        {"size": 28, "filler": "speckle", "num_frames": 40}


# ---------------------------------------------------------------------------------------------- the pages


def test_md_escapes_markdown_and_html_of_the_description():
    text = md(f"{upload_like()} holds 2 series: {SERIES_UID} ({DESCRIPTION!r}, 3 slices)")
    for construct in ("![", "](", "<img", "**bold**", "http://", "\n"):
        assert construct not in text, construct
    assert "\\!\\[x\\]\\(http\\:" + WORD_JOINER + "//127.0.0.1\\:9/pixel.png\\)" in text
    assert "&lt;img src=x onerror=alert\\(1\\)&gt; \\*\\*bold\\*\\*" in text
    assert md("upload: head.npy") == "upload: head.npy"  # plain sentences read as written
    assert md("1. a\n# b") == "1\\. a \\# b" and md("- x") == "\\- x" and md(":red[x]") == "\\:red\\[x\\]"
    assert md("see www.x.org, a@b.co") == f"see www{WORD_JOINER}.x.org, a@{WORD_JOINER}b.co"
    assert md_error(DataError(f"{DESCRIPTION} could not be read")).startswith("\\!\\[x\\]")
    assert md_error(ValueError("<b>x</b>")) == "Something went wrong: ValueError: &lt;b&gt;x&lt;/b&gt;"


def upload_like() -> str:
    return "![p](x.png) **QUARTERMAINE** <img src=y>.zip"


def _all_text(at) -> list:
    return [e.value for kind in ("error", "warning", "info", "caption", "markdown", "success") for e in getattr(at, kind)
            if isinstance(getattr(e, "value", None), str)]


def _upload(app, name: str, data: bytes):
    at = app.run()
    at.sidebar.selectbox(key="ds_name").set_value("Upload a file…").run()
    at.sidebar.file_uploader(key="upload_file").upload(name, data).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_page_shows_a_reader_error_quoting_the_description_as_text(app):
    """A zip of two series: the reader's sentence names each series' description; the page escapes it."""
    files = _series(3)
    files.update({f"other_{k}.dcm": _slice(k, 3, desc="AX HEAD", series="1.2.826.0.1.3680043.99.7") for k in range(3)})
    at = _upload(app, "two-series.zip", _zip(files))
    assert at.error, _all_text(at)
    err = at.error[0].value
    assert "holds 2 series" in err and "\\!\\[x\\]\\(http\\:" in err and "&lt;img src=x" in err and "\\*\\*bold" in err
    for text in _all_text(at):
        assert "![" not in text and "<img" not in text and "**bold**" not in text, text


def test_page_shows_the_upload_name_escaped(app):
    """The upload's own name stays on its user's screen, as text."""
    buf = io.BytesIO()
    np.save(buf, np.random.default_rng(0).random((6, 16, 16)).astype(np.float32))
    at = _upload(app, upload_like() + ".npy", buf.getvalue())
    assert not at.error, [e.value for e in at.error]
    caption = next(m.value for m in at.markdown if "QUARTERMAINE" in m.value)
    assert "\\!\\[p\\]\\(x.png\\) \\*\\*QUARTERMAINE\\*\\*" in caption and "&lt;img src=y&gt;" in caption
    for text in _all_text(at):
        assert "![" not in text and "<img" not in text and "**QUARTERMAINE**" not in text, text
