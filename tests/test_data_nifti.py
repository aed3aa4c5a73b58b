"""NIfTI volumes (.nii / .nii.gz): slicing, scl_slope/inter, orientation, spacing, 4D, bad files.

The volumes are made here with nibabel: slice k of a (6, 5, 4) int16 volume holds k, stored with
scl_slope 2 and scl_inter -1024 (so slice k is 2 k - 1024 after scaling), and voxel (i=1, j=4, k=2) is
a marker whose place in the output checks the display layout. No patient data.
"""

import gzip
import io

import numpy as np
import pytest
import torch

from das_core.data import DataError, load_sequence

nib = pytest.importorskip("nibabel")

X, Y, Z = 6, 5, 4
ZOOMS = (0.8, 0.7, 2.5)


def volume(marker: int = 500) -> np.ndarray:
    vol = np.zeros((X, Y, Z), np.int16)
    for k in range(Z):
        vol[:, :, k] = k
    vol[1, 4, 2] = marker
    return vol


def write_nifti(path, vol=None, affine=None, slope=2.0, inter=-1024.0, cal=None):
    vol = volume() if vol is None else vol
    img = nib.Nifti1Image(vol, np.diag(list(ZOOMS) + [1.0]) if affine is None else affine)
    img.header.set_slope_inter(slope, inter)
    if cal:
        img.header["cal_min"], img.header["cal_max"] = cal
    nib.save(img, str(path))
    return path


def to_units(x: torch.Tensor, meta: dict) -> torch.Tensor:
    lo, hi = meta["value_range"]
    return lo + x * (hi - lo)




@pytest.mark.parametrize("name", ["ct.nii", "ct.nii.gz", "CT.NII.GZ"])
def test_slices_scaling_spacing_and_orientation(tmp_path, name):
    x, m = load_sequence(write_nifti(tmp_path / name))
    assert x.shape == (Z, 1, Y, X) and x.dtype == torch.float32  # RAS: slices along k (S), rows j (A), columns i (R)
    assert m["value_range"] == [-1024.0, 2 * 500 - 1024.0]  # scl_slope / scl_inter applied
    units = to_units(x, m)
    assert units[:, 0, 2, 3].tolist() == pytest.approx([2 * k - 1024 for k in range(Z)], abs=1e-3)
    # voxel (i=1, j=4, k=2): anterior-most row at the top (row 0), i=1 near the patient's left, so near the image's
    # right (column X - 1 - 1 = 4): the radiological display a DICOM series has
    assert float(units[2, 0, 0, X - 2]) == pytest.approx(-24.0)
    assert m["orientation"] == "RAS" and m["spacing"] == pytest.approx([2.5, 0.7, 0.8])
    assert (m["kind"], m["original_shape"], m["volumes"], m["num_slices"]) == ("volume", [Z, Y, X], 1, Z)
    assert m["stored_shape"] == [X, Y, Z]
    assert m["orientation_labels"] == {"left": "R", "right": "L", "top": "A", "bottom": "P", "first": "I", "last": "S"}
    assert m["default_window"] is None and m["window"] is None


def test_the_same_anatomy_stored_ras_lps_or_permuted_displays_the_same(tmp_path):
    """The affine is honoured: one anatomy stored RAS, LPS (i and j reversed) and with its axes permuted gives
    the same slices, spacing and markers."""
    ras = np.random.default_rng(0).integers(0, 1000, (X, Y, Z)).astype(np.int16)
    zooms = np.diag(list(ZOOMS) + [1.0])
    x_ras, m_ras = load_sequence(write_nifti(tmp_path / "ras.nii", ras, zooms, slope=1.0, inter=0.0))
    lps = np.ascontiguousarray(ras[::-1, ::-1, :])
    x_lps, m_lps = load_sequence(write_nifti(tmp_path / "lps.nii", lps, np.diag([-ZOOMS[0], -ZOOMS[1], ZOOMS[2], 1.0]),
                                             slope=1.0, inter=0.0))
    perm = np.ascontiguousarray(ras.transpose(2, 0, 1))  # stored (k, i, j): i->S, j->R, k->A
    aff = np.zeros((4, 4))
    aff[2, 0], aff[0, 1], aff[1, 2], aff[3, 3] = ZOOMS[2], ZOOMS[0], ZOOMS[1], 1.0
    x_perm, m_perm = load_sequence(write_nifti(tmp_path / "perm.nii", perm, aff, slope=1.0, inter=0.0))
    assert m_lps["orientation"] == "LPS" and m_perm["orientation"] == "SRA"
    for x, m in ((x_lps, m_lps), (x_perm, m_perm)):
        assert torch.equal(x, x_ras)
        assert m["spacing"] == pytest.approx(m_ras["spacing"]) and m["orientation_labels"] == m_ras["orientation_labels"]
    # and the display is the radiological one: row 0 is the most anterior j, column 0 the patient's right (max i)
    assert torch.equal(x_ras[:, 0], torch.from_numpy((ras[::-1, ::-1, :].transpose(2, 1, 0) - ras.min())
                                                     / float(ras.max() - ras.min())).float())


def test_orientation_codes_follow_the_affine(tmp_path):
    _, m = load_sequence(write_nifti(tmp_path / "lps.nii", affine=np.diag([-1.0, -1.0, 1.0, 1.0])))
    assert m["orientation"] == "LPS"
    flip = np.array([[0, 0, 1.0, 0], [1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 0, 1]])  # columns: i->A, j->S, k->R
    _, m = load_sequence(write_nifti(tmp_path / "odd.nii", affine=flip))
    assert m["orientation"] == "ASR"


def test_upload_bytes_options_window_and_display_range(clean_tmp, tmp_path):
    p = write_nifti(tmp_path / "brain.nii.gz", cal=(-160.0, 240.0))
    x, m = load_sequence(io.BytesIO(p.read_bytes()), filename="brain.nii.gz", num_frames=3, size=8,
                         grayscale=False)
    assert x.shape == (3, 3, 8, 8) and m["frame_indices"] == [0, 2, 3] and m["source"] == "brain.nii.gz"
    assert m["default_window"] == [40.0, 400.0] and m["uploaded"]
    xw, mw = load_sequence(p.read_bytes(), filename="brain.nii.gz", window=(-1022, 4))  # slice 1 = -1022
    assert float(xw[1, 0, 2, 2]) == pytest.approx(0.5) and mw["window"] == [-1022, 4]


def test_app_upload_reads_nifti_as_a_volume(tmp_path):
    from explorer import samples

    p = write_nifti(tmp_path / "ct.nii.gz", vol=volume(marker=1100), cal=(-160.0, 240.0))
    s = samples.load_upload(p.read_bytes(), "ct.nii.gz", num_frames=4, size=8)
    scale = samples.intensity_scale(s)
    assert s.kind == "volume" and scale.unit == "HU" and scale.default == (40.0, 400.0)


def test_4d_file_loads_its_first_volume_and_says_so(tmp_path):
    vol4 = np.stack([volume(), volume() + 7, volume() + 9], axis=-1)  # (X, Y, Z, 3)
    x, m = load_sequence(write_nifti(tmp_path / "fmri.nii", vol=vol4, slope=1.0, inter=0.0))
    assert x.shape == (Z, 1, Y, X) and m["volumes"] == 3 and m["volume_index"] == 0
    assert "3 volumes" in m["note"] and "first" in m["note"]
    assert m["value_range"] == [0.0, 500.0]  # the first volume only
    assert m["stored_shape"] == [X, Y, Z, 3] and m["original_shape"] == [Z, Y, X]


def test_2d_file_is_one_slice(tmp_path):
    x, m = load_sequence(write_nifti(tmp_path / "slice.nii", vol=volume()[:, :, 2]))
    assert x.shape == (1, 1, Y, X) and m["num_slices"] == 1


@pytest.mark.parametrize("name", ["bad.nii", "bad.nii.gz"])
def test_corrupt_file(clean_tmp, name):
    for data in (b"not a nifti header" * 40, gzip.compress(b"\0" * 400)):
        with pytest.raises(DataError, match="not a readable NIfTI file.*export it again") as e:
            load_sequence(data, filename=name)
        assert "\n" not in str(e.value)


@pytest.mark.parametrize("name", ["cut.nii", "cut.nii.gz"])
def test_truncated_file(tmp_path, name):
    full = write_nifti(tmp_path / ("full_" + name), vol=np.random.default_rng(0).integers(0, 999, (X, Y, Z), np.int16))
    data = full.read_bytes()
    (tmp_path / name).write_bytes(data[:len(data) * 2 // 3])
    with pytest.raises(DataError, match="truncated") as e:
        load_sequence(tmp_path / name)
    assert name in str(e.value) and str(e.value).endswith(".")


def test_header_over_the_decode_cap_is_refused_before_reading(tmp_path):
    hdr = nib.Nifti1Header()
    hdr.set_data_shape((2048, 2048, 2048))
    hdr.set_data_dtype(np.int16)
    data = hdr.binaryblock + b"\0" * 4 + b"\0" * 1000  # a huge declared volume, 1 KB of voxels
    with pytest.raises(DataError, match="decode cap"):
        load_sequence(data, filename="huge.nii")
    with pytest.raises(DataError, match="decode cap"):
        load_sequence(gzip.compress(data), filename="huge.nii.gz")
    with pytest.raises(DataError, match="decode cap"):
        load_sequence(write_nifti(tmp_path / "ok.nii"), max_decoded_bytes=1000)


def test_rgb_voxels_are_refused(tmp_path):
    rgb = np.zeros((X, Y, Z), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    nib.save(nib.Nifti1Image(rgb, np.eye(4)), str(tmp_path / "rgb.nii"))
    with pytest.raises(DataError, match="scalar volume"):
        load_sequence(tmp_path / "rgb.nii")
