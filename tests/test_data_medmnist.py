"""MedMNIST 3D (real Adrenal and Vessel files from ../shared/data) and the npz layout."""

import numpy as np
import pytest
import torch

from das_core.data import DataError, load_dataset
from data_fixtures import medmnist_dir


@pytest.mark.parametrize("flag", ["adrenalmnist3d", "vesselmnist3d"])
@pytest.mark.parametrize("size", [28, 64])
def test_real_volumes(flag, size):
    root = medmnist_dir()
    ds = load_dataset(flag, "val", root=root, size=size)
    expected = {"adrenalmnist3d": 98, "vesselmnist3d": 191}[flag]
    assert len(ds) == expected == len(ds.labels)
    assert ds.num_frames == size and len(ds.classes) == 2 and ds.task == "binary-class"
    x, y = ds[0]
    assert x.shape == (size, 1, size, size) and x.dtype == torch.float32
    vals = torch.unique(x)
    assert set(vals.tolist()) <= {0.0, 1.0} and float(vals.max()) == 1.0  # 0/255 masks -> {0, 1}
    assert y == ds.labels[0] and y in (0, 1)
    m = ds.meta(0)
    assert m["source"].endswith(f"{flag}.npz" if size == 28 else f"{flag}_64.npz")
    assert m["original_frames"] == size and m["spacing"] is None and m["fps"] is None


def test_axis_slicing_and_default_root(monkeypatch):
    root = medmnist_dir()
    monkeypatch.setenv("DAS_DATA_ROOT", str(root.parent))
    a0 = load_dataset("vesselmnist3d", "test", axis=0)
    a2 = load_dataset("vesselmnist3d", "test", root=root, axis=2)
    x0, x2 = a0[5][0], a2[5][0]
    raw = np.load(root / "vesselmnist3d.npz")["test_images"][5] / 255.0
    assert np.allclose(x0[:, 0].numpy(), raw)
    assert np.allclose(x2[:, 0].numpy(), np.moveaxis(raw, 2, 0))
    assert np.bincount(a0.labels).sum() == 382


def test_missing_file_message(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("organmnist3d", "train", root=tmp_path)
    msg = str(e.value)
    assert "organmnist3d.npz" in msg and "10519652" in msg and "download=True" in msg
    with pytest.raises(DataError, match="size=28 or size=64"):
        load_dataset("adrenalmnist3d", "train", root=tmp_path, size=32)


def _write_npz(path, n=(6, 2, 3), dtype=np.uint8):
    rng = np.random.default_rng(0)
    arrays = {}
    for s, k in zip(("train", "val", "test"), n):
        arrays[f"{s}_images"] = (rng.random((k, 5, 8, 8)) * 255).astype(dtype)
        arrays[f"{s}_labels"] = (np.arange(k) % 3).reshape(k, 1)
    np.savez(path, **arrays)
    return path


def test_npz_layout(tmp_path):
    p = _write_npz(tmp_path / "mine.npz")
    ds = load_dataset("npz", "train", root=p)
    assert len(ds) == 6 and ds.classes == ["0", "1", "2"] and ds.num_frames == 5
    x, y = ds[1]
    assert x.shape == (5, 1, 8, 8) and 0 <= float(x.min()) and float(x.max()) <= 1 and y == 1
    ds2 = load_dataset("npz", "test", root=p, axis=1, classes=["a", "b", "c"])
    assert ds2[0][0].shape == (8, 1, 5, 8) and ds2.classes == ["a", "b", "c"]
    f = _write_npz(tmp_path / "f.npz", dtype=np.float32)
    xf, _ = load_dataset("npz", "val", root=f)[0]
    assert float(xf.min()) == 0.0 and float(xf.max()) == 1.0


def test_npz_bad_inputs(tmp_path):
    with pytest.raises(DataError, match="train_images"):
        np.savez(tmp_path / "k.npz", images=np.zeros((2, 3, 4, 4)))
        load_dataset("npz", "train", root=tmp_path / "k.npz")
    with pytest.raises(DataError, match="shape"):
        np.savez(tmp_path / "r.npz", train_images=np.zeros((2, 4, 4)), train_labels=np.zeros(2, int))
        load_dataset("npz", "train", root=tmp_path / "r.npz")
    with pytest.raises(DataError, match="NaN"):
        np.savez(tmp_path / "n.npz", train_images=np.full((2, 3, 4, 4), np.nan), train_labels=np.zeros(2, int))
        load_dataset("npz", "train", root=tmp_path / "n.npz")
    (tmp_path / "e.npz").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_dataset("npz", "train", root=tmp_path / "e.npz")
    with pytest.raises(DataError, match="needs a file"):
        load_dataset("npz", "train")


def test_static_info_matches_installed_medmnist():
    medmnist = pytest.importorskip("medmnist")
    from das_core.data.medmnist3d import MEDMNIST3D_FLAGS, medmnist_info

    for flag in MEDMNIST3D_FLAGS:
        ours, theirs = medmnist_info(flag), medmnist.INFO[flag]
        for key in ("python_class", "task", "label", "n_samples", "n_channels"):
            assert ours[key] == theirs[key], f"{flag}.{key} differs from medmnist.INFO"


def test_listing_does_not_import_medmnist():
    import subprocess
    import sys

    code = "import sys, das_core.data as d; d.list_datasets(); print('medmnist' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
