"""load_sequence: user volumes, videos and DICOM from paths, bytes and file objects; bad input."""

import io

import numpy as np
import pytest
import torch

from das_core.data import DataError, load_dataset, load_sequence
from das_core.data.dicom import echo_cine_path
from data_fixtures import write_clip, write_dicom


def test_npy_volume_minmax_axis_and_resize(tmp_path):
    vol = np.arange(4 * 6 * 8, dtype=np.int16).reshape(4, 6, 8) - 100
    np.save(tmp_path / "v.npy", vol)
    x, m = load_sequence(tmp_path / "v.npy")
    assert x.shape == (4, 1, 6, 8) and float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert m["original_frames"] == 4 and m["spacing"] is None and m["fps"] is None and m["kind"] == "volume"
    x1, m1 = load_sequence(str(tmp_path / "v.npy"), axis=2, num_frames=3, size=4)
    assert x1.shape == (3, 1, 4, 4) and m1["original_frames"] == 8 and m1["frame_indices"] == [0, 4, 7]


def test_ct_window_in_hu(tmp_path):
    hu = np.full((2, 4, 4), -1000.0, np.float32)
    hu[:, 0, 0] = 40.0
    hu[:, 1, 1] = 500.0
    np.savez(tmp_path / "ct.npz", volume=hu, spacing=np.array([2.5, 0.7, 0.7]))
    x, m = load_sequence(tmp_path / "ct.npz", window=(40, 400))
    assert float(x[0, 0, 0, 0]) == pytest.approx(0.5) and float(x[0, 0, 1, 1]) == 1.0 and float(x[0, 0, 2, 2]) == 0.0
    assert m["spacing"] == [2.5, 0.7, 0.7]


def test_upload_bytes_and_file_objects(tmp_path):
    vol = np.random.default_rng(0).random((5, 8, 8)).astype(np.float32)
    buf = io.BytesIO()
    np.save(buf, vol)
    x, m = load_sequence(io.BytesIO(buf.getvalue()), filename="upload.npy")
    assert x.shape == (5, 1, 8, 8) and m["source"] == "upload.npy" and m["uploaded"]
    clip = write_clip(tmp_path / "c.mp4", n=8).read_bytes()
    xv, mv = load_sequence(clip, filename="my clip (1).mp4", num_frames=4, size=16)
    assert xv.shape == (4, 1, 16, 16) and mv["original_frames"] == 8 and mv["fps"] == pytest.approx(10.0)

    class Upload(io.BytesIO):  # like streamlit's UploadedFile: has .name
        name = "x.gif"

    g = write_clip(tmp_path / "g.gif", n=3).read_bytes()
    xg, _ = load_sequence(Upload(g), grayscale=False)
    assert xg.shape == (3, 3, 32, 48)


def test_temp_folder_is_cleaned_up(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    np.save(tmp_path / "a.npy", np.zeros((2, 3, 3)))
    load_sequence((tmp_path / "a.npy").read_bytes(), filename="a.npy")
    with pytest.raises(DataError):
        load_sequence(b"garbage", filename="b.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]


@pytest.mark.parametrize("arr,match", [
    (np.zeros((4, 4)), "not a volume"),
    (np.zeros((2, 2, 2, 2, 2, 2)), "not a volume"),
    (np.zeros((0, 4, 4)), "empty array"),
    (np.array([[[1.0, np.nan]]]), "NaN or infinite"),
    (np.array([[[1.0, np.inf]]]), "NaN or infinite"),
])
def test_bad_arrays(tmp_path, arr, match):
    np.save(tmp_path / "bad.npy", arr)
    with pytest.raises(DataError, match=match) as e:
        load_sequence(tmp_path / "bad.npy")
    assert "bad.npy" in str(e.value)


def test_bad_files(tmp_path):
    (tmp_path / "e.npy").write_bytes(b"")
    with pytest.raises(DataError, match="e.npy is empty"):
        load_sequence(tmp_path / "e.npy")
    np.save(tmp_path / "t.npy", np.zeros((8, 8, 8)))
    (tmp_path / "t2.npy").write_bytes((tmp_path / "t.npy").read_bytes()[:200])
    with pytest.raises(DataError, match="t2.npy"):
        load_sequence(tmp_path / "t2.npy")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(DataError, match="unsupported type"):
        load_sequence(tmp_path / "x.txt")
    with pytest.raises(DataError, match="filename="):
        load_sequence(b"1234")
    with pytest.raises(DataError, match="does not exist"):
        load_sequence(tmp_path / "missing.mp4")
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 2, 2)), b=np.ones((2, 2, 2)))
    with pytest.raises(DataError, match="key="):
        load_sequence(tmp_path / "two.npz")
    assert load_sequence(tmp_path / "two.npz", key="b")[0].shape == (2, 1, 2, 2)


def test_small_dicom_cine_fps_and_bytes(tmp_path):
    frames = np.stack([np.full((16, 20), 25 * t, np.uint8) for t in range(6)])
    p = write_dicom(tmp_path / "cine.dcm", frames, cine_rate=25)
    x, m = load_sequence(p)
    assert x.shape == (6, 1, 16, 20) and m["fps"] == 25.0 and m["original_frames"] == 6
    assert np.allclose(x[:, 0, 0, 0].numpy() * 255, 25 * np.arange(6), atol=0.01)
    q = write_dicom(tmp_path / "noext", frames, cine_rate=None, frame_time=40.0)
    xq, mq = load_sequence(q.read_bytes(), filename="scan", num_frames=3)  # no extension: DICM preamble
    assert xq.shape == (3, 1, 16, 20) and mq["fps"] == 25.0
    (tmp_path / "cut.dcm").write_bytes(p.read_bytes()[:400])
    with pytest.raises(DataError, match="cut.dcm"):
        load_sequence(tmp_path / "cut.dcm")


@pytest.fixture(scope="module")
def echo_path():
    p = echo_cine_path()
    if p is None:
        pytest.skip("pydicom-data is not installed")
    return p


def test_echo_cine_full(echo_path):
    x, m = load_sequence(echo_path, grayscale=False)
    assert x.shape == (120, 3, 480, 640) and x.dtype == torch.float32
    assert m["original_frames"] == 120 and m["fps"] == pytest.approx(30.0, abs=0.01)
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0 and float(x.std()) > 0.01


def test_dicom_echo_dataset(echo_path):
    ds = load_dataset("dicom-echo")
    assert len(ds) == 1 and ds.classes == ["unlabelled"] and ds.labels == [0] and ds.num_frames == 32
    x, y = ds[0]
    assert x.shape == (32, 1, 64, 64) and y == 0
    assert ds.meta(0)["fps"] == pytest.approx(30.0, abs=0.01) and ds.meta(0)["original_frames"] == 120


def test_one_rule_says_volume_or_video():
    from das_core.data import sequence_kind

    assert sequence_kind({"kind": "video"}) == "video" and sequence_kind({"kind": "volume", "fps": 30}) == "volume"
    assert sequence_kind({"kind": "image"}) == "volume"  # a one-frame DICOM
    assert sequence_kind({"fps": 25}) == "video" and sequence_kind({}) == "volume"
