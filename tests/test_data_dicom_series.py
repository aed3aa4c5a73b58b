"""DICOM series (a folder or a .zip of single-slice files): order, HU, spacing, window meta, bad input.

The studies are made here with pydicom: a shuffled CT series whose slice k holds the value
HU_k = -824 + 100 k (stored raw (HU + 1024) / 2 with RescaleSlope 2, RescaleIntercept -1024), so the
order and the rescale can be read back from every slice. No patient data.
"""

import io
import os
import time
import zipfile

import numpy as np
import pytest
import torch

from das_core.data import SUPPORTED_EXTENSIONS, DataError, load_sequence
from das_core.data import safezip

STEP = 2.5  # mm between slices
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)  # normal = (-1, 0, 0)
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"


def hu(k: int) -> float:
    return -824.0 + 100.0 * k


def slice_bytes(pix: np.ndarray, *, pos=None, inst=None, iop=AXIAL, series="1.2.826.0.1.1", desc="AX HEAD",
                slope=2.0, inter=-1024.0, window=(40, 400), sop=CT_IMAGE, pixels=True, frames=None,
                spacing=(0.7, 0.8)) -> bytes:
    """One single-slice CT DICOM file as bytes (explicit VR little endian, int16 pixels)."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("slice.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = sop, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesInstanceUID, ds.SeriesDescription = "CT", series, desc
    if pixels:
        if pos is not None:
            ds.ImagePositionPatient = [float(v) for v in pos]
            ds.ImageOrientationPatient = list(iop)
        if inst is not None:
            ds.InstanceNumber = int(inst)
        ds.PixelSpacing = [float(v) for v in spacing]
        ds.SliceThickness = 3.0
        ds.RescaleSlope, ds.RescaleIntercept = slope, inter
        if window:
            ds.WindowCenter, ds.WindowWidth = window
        ds.Rows, ds.Columns = pix.shape[-2:]
        if frames:
            ds.NumberOfFrames = frames
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = np.ascontiguousarray(pix.astype("<i2")).tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def ct_series(n: int = 12, hw=(32, 32), iop=AXIAL, seed: int = 0, **kw) -> dict:
    """``{file name: bytes}`` of a shuffled series: file names and InstanceNumbers in a random order."""
    normal = np.cross(iop[:3], iop[3:])
    order = np.random.default_rng(seed).permutation(n)
    files = {}
    for j, k in enumerate(order):
        pix = np.full(hw, (hu(k) + 1024) / 2, np.int16)
        pix[0, 0] = 12  # air: -1000 HU
        pix[-1, -1] = 1112  # bone: +1200 HU
        files[f"IM{j:04d}.dcm"] = slice_bytes(pix, pos=np.array([10.0, -20.0, 30.0]) + k * STEP * normal,
                                              inst=j + 1, iop=iop, **kw)
    return files


def to_folder(files: dict, folder):
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def to_zip(files: dict, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def to_hu(x: torch.Tensor, meta: dict) -> torch.Tensor:
    lo, hi = meta["value_range"]
    return lo + x * (hi - lo)




def test_folder_orders_by_position_and_rescales_to_hu(tmp_path):
    folder = to_folder(ct_series(iop=AXIAL), tmp_path / "series")
    x, m = load_sequence(folder)
    assert x.shape == (12, 1, 32, 32) and x.dtype == torch.float32 and 0 <= float(x.min()) <= float(x.max()) <= 1
    assert m["value_range"] == [-1000.0, 1200.0]
    centre = to_hu(x[:, 0, 16, 16], m)
    assert centre.tolist() == pytest.approx([hu(k) for k in range(12)], abs=0.01)  # position order, in HU
    assert m["order"] == "position" and m["slice_positions"] == pytest.approx(
        [m["slice_positions"][0] + STEP * k for k in range(12)])
    assert m["spacing"] == pytest.approx([STEP, 0.7, 0.8])
    assert m["default_window"] == [40.0, 400.0] and m["window"] is None
    assert (m["kind"], m["modality"], m["series_description"], m["num_slices"]) == ("volume", "CT", "AX HEAD", 12)
    assert m["original_shape"] == [12, 32, 32] and m["original_frames"] == 12 and m["source"] == str(folder)


def test_a_sagittal_series_is_ordered_by_position_and_shown_in_the_display_convention(tmp_path):
    """Sagittal slices (normal -x) ordered by position, then reformatted: the display's columns run R -> L, so
    the stored slice k (at x = -k * STEP) is display column 11 - k."""
    x, m = load_sequence(to_folder(ct_series(iop=SAGITTAL), tmp_path / "series"))
    assert x.shape == (32, 1, 32, 12) and m["order"] == "position" and m["acquired_plane"] == "sagittal"
    assert to_hu(x[16, 0, 16, :], m).tolist() == pytest.approx([hu(11 - c) for c in range(12)], abs=0.01)
    assert m["spacing"] == pytest.approx([0.7, 0.8, STEP]) and m["original_shape"] == [32, 32, 12]
    assert m["stored_shape"] == [12, 32, 32] and m["num_slices"] == 32 and "sagittal series" in m["note"]
    assert m["orientation_labels"] == {"left": "R", "right": "L", "top": "A", "bottom": "P", "first": "I", "last": "S"}


def _plane_series(anatomy: np.ndarray, plane: str, d=(2.5, 0.7, 0.8)) -> dict:
    """One anatomy [slice I->S, row A->P, column R->L] (voxel sizes `d`, mm) as a shuffled DICOM series acquired
    in `plane`, each with its radiological IOP; LPS patient coordinates (x to the left, y posterior, z up)."""
    S, R, C = anatomy.shape
    dz, dy, dx = d
    if plane == "axial":  # rows +y, columns +x, normal +z
        planes = [(anatomy[s], (1, 0, 0, 0, 1, 0), (0.0, 0.0, s * dz), (dy, dx)) for s in range(S)]
    elif plane == "coronal":  # columns +x, rows -z (superior at the top), normal +y
        planes = [(anatomy[::-1, r, :], (1, 0, 0, 0, 0, -1), (0.0, r * dy, (S - 1) * dz), (dz, dx)) for r in range(R)]
    else:  # sagittal: columns +y (anterior on the left), rows -z, normal -x
        planes = [(anatomy[::-1, :, c], (0, 1, 0, 0, 0, -1), (c * dx, 0.0, (S - 1) * dz), (dz, dy)) for c in range(C)]
    order = np.random.default_rng(len(plane)).permutation(len(planes))
    return {f"{plane}{j:03d}.dcm": slice_bytes(np.ascontiguousarray(planes[i][0]), pos=planes[i][2], inst=j + 1,
                                               iop=planes[i][1], spacing=planes[i][3], slope=1.0, inter=0.0,
                                               window=None, desc=plane.upper()) for j, i in enumerate(order)}


@pytest.mark.parametrize("frames", [None, 5])
def test_one_anatomy_acquired_axial_coronal_or_sagittal_and_as_nifti_displays_the_same(tmp_path, frames):
    """The same anatomy as an axial, a coronal and a sagittal DICOM series (each reoriented by its direction
    cosines) and as a NIfTI (its affine honoured): identical tensors, spacing and markers. One window for all
    (without one each is min-max scaled over the slices it read: all of them where the series is reformatted)."""
    nib = pytest.importorskip("nibabel")
    anatomy = np.random.default_rng(3).integers(0, 2000, (6, 9, 11)).astype(np.int16)  # [S, R, C]
    got = {}
    for plane in ("axial", "coronal", "sagittal"):
        got[plane] = load_sequence(to_folder(_plane_series(anatomy, plane), tmp_path / plane), num_frames=frames,
                                  window=(1000.0, 2000.0))
    lps = np.ascontiguousarray(anatomy.transpose(2, 1, 0))  # i -> left, j -> posterior, k -> superior
    nib.save(nib.Nifti1Image(lps, np.diag([-0.8, -0.7, 2.5, 1.0])), str(tmp_path / "lps.nii.gz"))
    got["nifti"] = load_sequence(tmp_path / "lps.nii.gz", num_frames=frames, window=(1000.0, 2000.0))
    x0, m0 = got["axial"]
    assert x0.shape == ((frames or 6), 1, 9, 11)
    for name, (x, m) in got.items():
        assert torch.allclose(x, x0, atol=1e-6), name
        assert m["spacing"] == pytest.approx([2.5, 0.7, 0.8]), name
        assert m["orientation_labels"] == m0["orientation_labels"] and m["frame_indices"] == m0["frame_indices"], name
    assert [got[p][1]["acquired_plane"] for p in ("axial", "coronal", "sagittal")] == ["axial", "coronal", "sagittal"]
    assert got["coronal"][1]["stored_shape"] == [9, 6, 11] and "coronal series" in got["coronal"][1]["note"]


def test_zip_upload_with_options_and_the_app_hu_scale(clean_tmp):
    from explorer import samples

    data = to_zip(ct_series())
    x, m = load_sequence(io.BytesIO(data), filename="study.zip", num_frames=6, size=16, grayscale=False)
    assert x.shape == (6, 3, 16, 16) and m["frame_indices"] == [0, 2, 4, 7, 9, 11]
    assert m["source"] == "study.zip" and m["uploaded"] and m["shape"] == [6, 3, 16, 16]
    xw, _ = load_sequence(data, filename="study.zip", window=(-724, 200))  # slice 1 is -724 HU: the centre
    assert float(xw[1, 0, 16, 16]) == pytest.approx(0.5) and float(xw[0, 0, 16, 16]) == 0.0
    s = samples.load_upload(data, "study.zip", num_frames=8, size=32)
    scale = samples.intensity_scale(s)
    assert s.kind == "volume" and scale.unit == "HU" and (scale.lo, scale.hi) == (-1000.0, 1200.0)
    assert scale.default == (40.0, 400.0)


def test_hu_window_starts_at_the_files_window():
    from streamlit.testing.v1 import AppTest

    def page():
        import streamlit as st

        from explorer.samples import IntensityScale
        from pages.ui.hu_window import hu_window_ui

        st.session_state["window"] = hu_window_ui(IntensityScale(-1000.0, 1200.0, "HU", (-600.0, 1500.0)))

    at = AppTest.from_function(page).run()
    assert (at.slider(key="explore_level_hu").value, at.slider(key="explore_width_hu").value) == (-600.0, 1500.0)
    assert at.session_state["window"] == pytest.approx(((-600 + 1000) / 2200, 1500 / 2200))


def test_zip_path_and_nested_folders(tmp_path):
    files = {f"DICOM/ST0/SE0/{k}": v for k, v in ct_series(n=5).items()}
    files["DICOM/README.txt"] = b"exported by a viewer"
    files["__MACOSX/._IM0000.dcm"] = b"resource fork"
    p = tmp_path / "export.zip"
    p.write_bytes(to_zip(files, zipfile.ZIP_STORED))
    x, m = load_sequence(p)
    assert x.shape == (5, 1, 32, 32) and m["skipped_files"] == 1  # README.txt; __MACOSX is not read at all
    assert to_hu(x[:, 0, 5, 5], m).tolist() == pytest.approx([hu(k) for k in range(5)], abs=0.01)
    to_folder(files, tmp_path / "folder")
    xf, mf = load_sequence(tmp_path / "folder")
    assert torch.equal(xf, x) and mf["skipped_files"] == 1  # README.txt; hidden files and __MACOSX are not read


def test_instance_number_orders_when_positions_are_missing(tmp_path):
    files = {}
    for j, k in enumerate([3, 0, 2, 1]):
        files[f"s{j}.dcm"] = slice_bytes(np.full((8, 8), (hu(k) + 1024) / 2, np.int16), inst=k + 1)
    x, m = load_sequence(to_folder(files, tmp_path / "s"))
    assert m["order"] == "instance number" and m["slice_positions"] is None
    assert x[:, 0, 4, 4].tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1], abs=1e-6)
    assert m["spacing"] == [3.0, 0.7, 0.8]  # SliceThickness when there are no positions


def test_supported_extensions_list_the_new_formats():
    assert {".zip", ".nii", ".nii.gz", ".dcm"} <= set(SUPPORTED_EXTENSIONS)


# --- bad input: one sentence each -----------------------------------------------------------------------------

def _one_sentence(err: DataError) -> str:
    msg = str(err)
    assert msg.replace("e.g. ", "").count(". ") == 0 and msg.endswith(".") and "\n" not in msg, msg
    return msg


def _refused(data: bytes, match: str, **kw) -> str:
    with pytest.raises(DataError, match=match) as e:
        load_sequence(data, filename="study.zip", **kw)
    return _one_sentence(e.value)


def test_two_series_in_one_zip_are_named(clean_tmp):
    files = ct_series(n=4)
    files.update({f"b/{k}": v for k, v in ct_series(n=3, series="1.2.826.0.1.2", desc="COR BONE").items()})
    msg = _refused(to_zip(files), "holds 2 series")
    assert "1.2.826.0.1.1" in msg and "AX HEAD" in msg and "1.2.826.0.1.2" in msg and "COR BONE" in msg
    assert "upload one series" in msg


def test_missing_and_duplicate_slices(clean_tmp):
    files = ct_series()
    by_pos = sorted(files, key=lambda n: load_pos(files[n]))
    gap = {n: v for n, v in files.items() if n != by_pos[5]}
    msg = _refused(to_zip(gap), "missing slices")
    assert "5.00 mm apart" in msg and "2.50 mm" in msg and "complete series" in msg
    dup = dict(files, **{"copy.dcm": files[by_pos[3]]})
    msg = _refused(to_zip(dup), "repeat a position")
    assert "copy.dcm" in msg and "duplicates" in msg


def load_pos(data: bytes) -> float:
    import pydicom

    return float(pydicom.dcmread(io.BytesIO(data)).ImagePositionPatient[2])


def test_slices_of_different_sizes(clean_tmp):
    files = ct_series(n=5)
    files["IM0002.dcm"] = slice_bytes(np.zeros((16, 16), np.int16), pos=(10, -20, 30 + 2 * STEP), inst=3)
    msg = _refused(to_zip(files), "different sizes")
    assert "4 of 32 x 32" in msg and "1 of 16 x 16" in msg and "IM0002.dcm" in msg


def test_different_orientations_and_multi_frame_files(clean_tmp):
    files = ct_series(n=4)
    files["IM0001.dcm"] = slice_bytes(np.zeros((32, 32), np.int16), pos=(0, 0, 0), iop=SAGITTAL, inst=2)
    _refused(to_zip(files), "different orientations")
    cine = {"cine.dcm": slice_bytes(np.zeros((3, 8, 8), np.int16), pos=(0, 0, 0), frames=3)}
    _refused(to_zip(cine), "multi-frame DICOM .3 frames.*on its own")


def test_non_image_dicom_and_zip_without_dicom(clean_tmp):
    report = {"report.dcm": slice_bytes(None, sop=BASIC_TEXT_SR, pixels=False)}
    assert "no PixelData" in _refused(to_zip(report), "no image")
    _refused(to_zip({"notes.txt": b"hello", "vol.npy": b"\x93NUMPY"}), "holds no DICOM files")
    _refused(b"PK\x03\x04 this is not a zip", "not a readable zip")
    files = ct_series(n=4)  # a report next to the images is left out, not an error
    files.update(report)
    x, m = load_sequence(to_zip(files), filename="study.zip")
    assert x.shape[0] == 4 and m["skipped_files"] == 1


@pytest.mark.parametrize("cut", [700, -100], ids=["header", "pixels"])
def test_truncated_slice(clean_tmp, cut):
    files = ct_series(n=4)
    files["IM0001.dcm"] = files["IM0001.dcm"][:cut]
    msg = _refused(to_zip(files), "truncated")
    assert "IM0001.dcm" in msg


def test_unsafe_member_paths_are_refused(clean_tmp):
    files = ct_series(n=3)
    for bad in ("../evil.dcm", "/abs/evil.dcm", "a/../../evil.dcm", "C:/evil.dcm"):
        msg = _refused(to_zip(dict(files, **{bad: files["IM0000.dcm"]})), "unsafe path")
        assert "relative paths" in msg
    assert not (clean_tmp / "evil.dcm").exists() and not (clean_tmp.parent / "evil.dcm").exists()


def test_zip_bomb_declared_size_and_lying_headers(clean_tmp):
    files = ct_series(n=3)
    bomb = dict(files, **{"IM9999.dcm": b"\0" * (4 << 20)})  # 4 MiB of zeros deflate to a few KiB
    data = to_zip(bomb)
    assert len(data) < 64 << 10
    msg = _refused(data, "decode cap", max_decoded_bytes=1 << 20)
    assert "declared unpacked size" in msg
    # headers that understate the size: unpacking stops at the declared size (bad CRC), never at 4 MiB
    lying = _patch_sizes(data, "IM9999.dcm", 1000)
    with pytest.raises(DataError) as e:
        load_sequence(lying, filename="study.zip", max_decoded_bytes=1 << 20)
    assert "not a readable zip" in _one_sentence(e.value) or "decode cap" in str(e.value)


def _patch_sizes(data: bytes, member: str, size: int) -> bytes:
    """The zip with ``member``'s uncompressed size set to ``size`` in its local and central headers."""
    import struct

    buf = bytearray(data)
    name = member.encode()
    i = buf.find(b"PK\x03\x04")
    while i >= 0:  # local headers: size at +22
        n = struct.unpack_from("<H", buf, i + 26)[0]
        if bytes(buf[i + 30:i + 30 + n]) == name:
            struct.pack_into("<I", buf, i + 22, size)
        i = buf.find(b"PK\x03\x04", i + 4)
    i = buf.find(b"PK\x01\x02")
    while i >= 0:  # central directory: size at +24
        n = struct.unpack_from("<H", buf, i + 28)[0]
        if bytes(buf[i + 46:i + 46 + n]) == name:
            struct.pack_into("<I", buf, i + 24, size)
        i = buf.find(b"PK\x01\x02", i + 4)
    return bytes(buf)


def test_zip_members_are_inflated_in_bounded_chunks():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.bin", b"\0" * (3 << 20))
    with zipfile.ZipFile(buf) as zf:
        with pytest.raises(safezip._OverBudget) as e:
            safezip._read_member(zf, zf.getinfo("big.bin"), room=1 << 20)
    assert e.value.got <= 2 << 20  # stopped within one chunk of the room left


def test_decoded_size_over_the_cap(clean_tmp):
    msg = _refused(to_zip(ct_series(n=12)), "decode cap", max_decoded_bytes=100_000)
    assert "12 slices of 32 x 32" in msg


def test_upload_errors_leave_no_files(clean_tmp):
    for data in (to_zip(ct_series(n=3)), b"garbage"):
        try:
            load_sequence(data, filename="x.zip")
        except DataError:
            pass
    # clean_tmp checks that the temp folder and the cwd are empty


@pytest.mark.slow
def test_a_100_slice_512_series_loads_fast(tmp_path):
    files = ct_series(n=100, hw=(512, 512))
    folder = to_folder(files, tmp_path / "big")
    data = to_zip(files)
    t0 = time.perf_counter()
    x, m = load_sequence(folder)
    t_folder = time.perf_counter() - t0
    t0 = time.perf_counter()
    xz, _ = load_sequence(data, filename="big.zip")
    t_zip = time.perf_counter() - t0
    print(f"100 x 512 x 512 int16 series: folder {t_folder:.2f} s, zip upload {t_zip:.2f} s "
          f"({os.cpu_count()} CPUs)")
    assert x.shape == (100, 1, 512, 512) and torch.equal(x, xz)
    assert t_folder < 5.0 and t_zip < 5.0


def test_a_dicom_series_and_its_nifti_stored_lps_or_ras_display_the_same(tmp_path):
    """One anatomy as an axial DICOM series (LPS patient coordinates), as a NIfTI stored LPS and as one stored
    RAS: the same slices, spacing and edge markers (R on the image's left, A at the top, I at the first slice)."""
    nib = pytest.importorskip("nibabel")
    S, R, C = 6, 10, 12
    anatomy = np.random.default_rng(1).integers(0, 2000, (S, R, C)).astype(np.int16)  # [slice, row, column]
    files = {f"IM{s:03d}.dcm": slice_bytes(anatomy[s], pos=[0.0, 0.0, s * STEP], inst=s + 1, slope=1.0, inter=0.0,
                                           window=None) for s in np.random.default_rng(2).permutation(S)}
    x_dcm, m_dcm = load_sequence(to_folder(files, tmp_path / "series"))
    lps = np.ascontiguousarray(anatomy.transpose(2, 1, 0))  # i -> patient left, j -> posterior, k -> superior
    nib.save(nib.Nifti1Image(lps, np.diag([-0.8, -0.7, STEP, 1.0])), str(tmp_path / "lps.nii.gz"))
    ras = np.ascontiguousarray(lps[::-1, ::-1, :])  # i -> right... stored the other way round
    nib.save(nib.Nifti1Image(ras, np.diag([0.8, 0.7, STEP, 1.0])), str(tmp_path / "ras.nii.gz"))
    labels = {"left": "R", "right": "L", "top": "A", "bottom": "P", "first": "I", "last": "S"}
    assert m_dcm["orientation_labels"] == labels
    for name in ("lps.nii.gz", "ras.nii.gz"):
        x, m = load_sequence(tmp_path / name)
        assert torch.allclose(x, x_dcm, atol=1e-6), name
        assert m["orientation_labels"] == labels and m["spacing"] == pytest.approx(m_dcm["spacing"]), name


def test_monochrome1_is_shown_inverted(tmp_path):
    """MONOCHROME1: the lowest value is white, as a viewer shows it (and no HU scale is offered on it)."""
    from explorer import samples

    pix = np.arange(64, dtype=np.int16).reshape(8, 8)
    files = {}
    for s in range(3):
        raw = slice_bytes(pix, pos=[0.0, 0.0, s * STEP], inst=s + 1, slope=1.0, inter=0.0, window=None)
        files[f"IM{s}.dcm"] = raw.replace(b"MONOCHROME2", b"MONOCHROME1")
    x, m = load_sequence(to_folder(files, tmp_path / "cr"))
    assert m["photometric"] == "MONOCHROME1" and m["inverted"]
    assert float(x[0, 0, 0, 0]) == pytest.approx(1.0) and float(x[0, 0, -1, -1]) == pytest.approx(0.0)
    s = samples.SampleData(x=x, y=None, classes=None, meta=m)
    assert samples.intensity_scale(s) is None


def test_the_viewer_says_a_sagittal_upload_is_shown_as_axial_reformats():
    from explorer import samples
    from pages.ui.captions import sample_caption

    s = samples.load_upload(to_zip(ct_series(iop=SAGITTAL)), "sag.zip", num_frames=28, size=28)
    text = sample_caption(s)
    assert "acquired sagittal: shown as axial slices reformatted from its 12 sagittal ones" in text
    assert "shown R→L across, A→P down, slices I→S" in text and "spacing 0.7 × 0.8 × 2.5" in text
