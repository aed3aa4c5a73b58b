"""Registry: list_datasets, load_dataset names/options, and a light import."""

import subprocess
import sys
from pathlib import Path

import pytest

from das_core.data import DATASET_NAMES, DataError, DatasetInfo, list_datasets, load_dataset
from data_fixtures import shared_data


def test_list_datasets_covers_every_name():
    infos = list_datasets()
    assert [i.name for i in infos] == list(DATASET_NAMES)
    by = {i.name: i for i in infos}
    assert all(isinstance(i, DatasetInfo) and i.kind in ("volume", "video") for i in infos)
    assert by["synthetic-volumes"].available and by["synthetic-video"].available
    assert by["organmnist3d"].split_sizes == {"train": 971, "val": 161, "test": 610}
    assert len(by["organmnist3d"].classes) == 11
    assert not by["video-folder"].available and "root=" in by["video-folder"].description
    if shared_data() is not None and (shared_data() / "medmnist3d" / "vesselmnist3d.npz").is_file():
        assert by["vesselmnist3d"].available and by["adrenalmnist3d"].available
    if shared_data() is not None and (shared_data() / "pocus_lung_videos").is_dir():
        p = by["pocus-lung"]
        assert p.available and p.classes == ["Cov", "Pneu", "Reg", "Vir"] and sum(p.split_sizes.values()) == 130


def test_list_datasets_with_an_empty_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    by = {i.name: i for i in list_datasets(root=tmp_path)}
    assert by["synthetic-video"].available
    assert "10519652" in by["nodulemnist3d"].description or by["nodulemnist3d"].available


def test_unknown_name_lists_valid_names():
    with pytest.raises(DataError) as e:
        load_dataset("imagenet")
    msg = str(e.value)
    assert "imagenet" in msg and all(n in msg for n in DATASET_NAMES)


def test_name_normalisation_and_unknown_option():
    assert load_dataset("Synthetic_Video", num_samples=2).name == "synthetic-video"
    with pytest.raises(DataError, match="not understood"):
        load_dataset("synthetic-video", frames=3)
    with pytest.raises(DataError, match="not understood"):
        load_dataset("vesselmnist3d", num_frames=3)


def test_import_is_light():
    code = ("import sys, das_core.data; bad=[m for m in ('medmnist','imageio','pydicom','sklearn','streamlit')"
            " if m in sys.modules]; print(bad); assert not bad")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_quick_listing_skips_split_computation():
    import subprocess
    import sys

    code = ("import sys, das_core.data as d; infos = {i.name: i for i in d.list_datasets(quick=True)}; "
            "print('sklearn' in sys.modules, infos['pocus-lung'].split_sizes)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("False"), out
