"""The data set and file-reader registries (issue 23, item 1): a data set registered in this file with
`register_dataset` shows up in `list_datasets`, the CLI's --dataset choices and the app's picker; a reader
registered for a new suffix with `register_reader` is used by `load_sequence` and accepted by the uploader;
a name or suffix registered twice is refused with one sentence."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch

from das_core import cli
from das_core.data import (DATASET_NAMES, SUPPORTED_EXTENSIONS, USER_DATASETS, ArrayDataset, DataError, DatasetInfo,
                           Imaging, list_datasets, load_dataset, load_sequence, reader_for, register_dataset,
                           register_reader, sequence_kind, unregister_dataset, unregister_reader)
from das_core.data.registry import dataset_names, imaging
from das_core.errors import ConfigError

TINY = "tiny-volumes"


def _tiny_info(root=None, quick=False) -> DatasetInfo:
    return DatasetInfo(TINY, "volume", "binary-class", ["blank", "bright"], {"train": 4, "test": 4}, True,
                       "Eight tiny in-memory volumes (a test's own data set).", {"num_frames": 8, "size": 16})


@pytest.fixture
def tiny_volumes():
    """A tiny in-memory volume data set, registered for one test (the other tests see the built-in ones)."""

    @register_dataset(TINY, kind="volume", frame_sizes=(16, 32), info=_tiny_info,
                      imaging=Imaging((), "a test's blank and bright volumes"))
    def tiny(split: str = "train", root=None, *, num_frames: int = 8, size: int = 16) -> ArrayDataset:
        labels = [0, 1, 0, 1]
        x = torch.stack([torch.full((num_frames, 1, size, size), 0.9 * y) for y in labels])
        return ArrayDataset(x, labels, name=TINY, classes=["blank", "bright"], split=split)

    yield tiny
    unregister_dataset(TINY)


def _vol_bytes(depth: int = 6, side: int = 32) -> bytes:
    return (np.arange(depth * side * side) % 251).astype(np.uint8).tobytes()


@pytest.fixture
def vol_reader():
    """A reader of a made-up raw format (.vol: uint8 voxels, 32 x 32 slices), registered for one test."""

    @register_reader(suffixes=(".vol",), kind="volume")
    def read_vol(path, options):
        return np.fromfile(path, np.uint8).reshape(-1, 32, 32)  # an array: read as a .npy's contents

    yield read_vol
    unregister_reader("read_vol")


# ---------------------------------------------------------------- data sets

def test_a_registered_data_set_is_listed_loaded_and_described(tiny_volumes):
    infos = {i.name: i for i in list_datasets()}
    assert TINY in infos and infos[TINY].classes == ["blank", "bright"] and infos[TINY].available
    assert [i.name for i in list_datasets()][-1] == TINY, "listed in registration order, after the built-in sets"
    assert TINY in DATASET_NAMES and TINY in dataset_names() and list(DATASET_NAMES) == list(dataset_names())
    ds = load_dataset("Tiny_Volumes", "test", size=32)  # names are case-insensitive, _ = -
    x, y = ds[1]
    assert x.shape == (8, 1, 32, 32) and y == 1 and ds.name == TINY
    with pytest.raises(DataError, match="not understood by tiny-volumes; use num_frames, size"):
        load_dataset(TINY, "test", frames=3)  # its options are its builder's keyword-only parameters
    assert imaging(TINY).text == "a test's blank and bright volumes"
    assert TINY not in USER_DATASETS


def test_an_unregistered_data_set_is_gone_everywhere(tiny_volumes):
    unregister_dataset(TINY)
    assert TINY not in DATASET_NAMES and TINY not in {i.name for i in list_datasets()}
    with pytest.raises(DataError, match="unknown data set"):
        load_dataset(TINY)
    assert "tiny-volumes" not in _dataset_choices(cli.build_parser(), "train")


def test_default_info_and_user_data_flag():
    @register_dataset("my-own-clips", kind="video", user_data=True)
    def own(split="train", root=None, *, num_frames: int = 4):
        """A user's clips, given by path."""
        return ArrayDataset(torch.zeros(2, num_frames, 1, 8, 8), [0, 1], name="my-own-clips", kind="video")

    try:
        info = next(i for i in list_datasets() if i.name == "my-own-clips")
        assert info.kind == "video" and info.description == "A user's clips, given by path."
        assert info.default_options == {"num_frames": 4}
        assert USER_DATASETS["my-own-clips"] == "video"  # a model trained on it serves uploaded clips
        from explorer.samples import app_datasets

        assert "my-own-clips" not in {d["name"] for d in app_datasets(include_unavailable=True)}, "given by path only"
    finally:
        unregister_dataset("my-own-clips")
    assert "my-own-clips" not in USER_DATASETS


def test_a_failing_info_function_gives_an_unavailable_row():
    def broken(root=None, quick=False):
        raise RuntimeError("no network")

    register_dataset("flaky-set", kind="volume", info=broken)(lambda split="train", root=None: None)
    try:
        row = next(i for i in list_datasets() if i.name == "flaky-set")
        assert not row.available and "no network" in row.description
    finally:
        unregister_dataset("flaky-set")


def test_a_name_registered_twice_is_refused(tiny_volumes):
    with pytest.raises(ConfigError, match="'tiny-volumes' is already registered"):
        register_dataset("Tiny_Volumes", kind="volume")(lambda split="train", root=None: None)
    with pytest.raises(ConfigError, match="already registered"):
        register_dataset("synthetic-volumes", kind="volume")(lambda split="train", root=None: None)
    with pytest.raises(ConfigError, match="kind is one of volume, video"):
        register_dataset("odd", kind="image")
    assert load_dataset(TINY, "test")[0][0].shape == (8, 1, 16, 16), "the first registration stands"


# ---------------------------------------------------------------- the CLI

def _dataset_choices(parser, command: str) -> list:
    sub = next(a for a in parser._actions if a.dest == "cmd").choices[command]
    return list(next(a for a in sub._actions if a.dest == "dataset").choices)


def test_a_registered_data_set_is_a_cli_choice(tiny_volumes, capsys):
    parser = cli.build_parser()  # built after the registration: reads the registry now
    for command in ("train", "evaluate", "export"):
        assert TINY in _dataset_choices(parser, command), command
    assert parser.parse_args(["train", "--dataset", "Tiny_Volumes"]).dataset == TINY
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    assert TINY in re.sub(r"\s+", "", capsys.readouterr().out), "train --help lists it"
    from das_core.engine.evaluate import data_request

    assert data_request({"dataset": TINY, "dataset_options": {"size": 16}}) == (TINY, {"size": 16})


# ---------------------------------------------------------------- readers

def test_a_reader_registered_for_a_new_suffix_is_used(vol_reader, tmp_path):
    assert ".vol" in SUPPORTED_EXTENSIONS and reader_for("scan.VOL").name == "read_vol"
    p = tmp_path / "scan.vol"
    p.write_bytes(_vol_bytes())
    x, meta = load_sequence(p, size=16)
    assert x.shape == (6, 1, 16, 16) and meta["kind"] == "volume" and meta["layout"] == "DHW"
    xb, mb = load_sequence(io.BytesIO(_vol_bytes()), filename="upload.vol")
    assert xb.shape == (6, 1, 32, 32) and mb["uploaded"] and sequence_kind(mb) == "volume"
    assert float(xb.min()) == 0.0 and float(xb.max()) == 1.0 and mb["value_range"] == [0.0, 250.0]  # as an .npy
    from explorer.samples import upload_types

    assert "vol" in upload_types()
    unregister_reader("read_vol")
    assert ".vol" not in SUPPORTED_EXTENSIONS
    with pytest.raises(DataError, match="unsupported type '.vol'"):
        load_sequence(p)


def test_a_reader_returning_a_tensor_gets_its_registered_kind(tmp_path):
    @register_reader(suffixes=("clip",), kind="video", name="clip-reader")  # the dot may be left out
    def read_clip(path, options):
        n = options.num_frames or 5
        return torch.linspace(0, 1, n).view(n, 1, 1, 1).expand(n, 1, 8, 8), {"fps": 10.0}

    try:
        p = tmp_path / "a.clip"
        p.write_bytes(b"frames")
        x, meta = load_sequence(p, num_frames=4)
        assert x.shape == (4, 1, 8, 8) and meta["kind"] == "video" and sequence_kind(meta) == "video"
        assert sequence_kind({"source": "b.clip"}) == "video", "no kind in meta: the reader's registered kind"
    finally:
        unregister_reader("clip-reader")


def test_a_reader_giving_no_sequence_is_refused_with_one_sentence(tmp_path):
    register_reader(suffixes=(".bad",), kind="volume", name="bad-reader")(lambda path, options: "not a tensor")
    try:
        p = tmp_path / "x.bad"
        p.write_bytes(b"1")
        with pytest.raises(DataError, match="'bad-reader' reader gave no"):
            load_sequence(p)
    finally:
        unregister_reader("bad-reader")


def test_a_suffix_or_reader_name_registered_twice_is_refused(vol_reader):
    with pytest.raises(ConfigError, match="'.npy' is already read by the 'array' reader"):
        register_reader(suffixes=(".npy",), kind="volume", name="other")(lambda p, o: None)
    with pytest.raises(ConfigError, match="reader named 'read_vol' is already registered"):
        register_reader(suffixes=(".vol2",), kind="volume", name="read_vol")(lambda p, o: None)
    with pytest.raises(ConfigError, match="kind is one of"):
        register_reader(suffixes=(".x",), kind="image")


def test_longest_suffix_wins_and_dicom_is_sniffed(tmp_path):
    assert reader_for("head.nii.gz").name == "nifti" and reader_for("HEAD.NPZ").name == "array"
    assert reader_for("clip.mp4").name == "video" and reader_for("series.zip").name == "dicom-series"
    assert reader_for("notes.txt") is None
    from das_core.data.sequence import _choose_reader

    p = tmp_path / "IM0001"  # a viewer's export: no suffix, the DICM preamble
    p.write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 16)
    assert _choose_reader(p).name == "dicom"
    assert _choose_reader(tmp_path).name == "dicom-series", "a folder is a DICOM series"


# ---------------------------------------------------------------- the app

def test_the_app_offers_a_registered_data_set_and_its_frame_sizes(app, tiny_volumes):
    from explorer.samples import app_datasets

    row = next(d for d in app_datasets() if d["name"] == TINY)
    assert row["frame_sizes"] == [16, 32] and row["default_options"] == {"num_frames": 8, "size": 16}
    assert next(d for d in app_datasets(True) if d["name"] == "organmnist3d")["frame_sizes"] == [28, 64]
    at = app.run()
    picker = at.sidebar.selectbox(key="ds_name")
    assert f"{TINY} (volume)" in picker.options and "synthetic-volumes (volume)" in picker.options
    picker.set_value(TINY).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.selectbox(key="ds_name").value == TINY
    assert [int(v) for v in at.sidebar.selectbox(key=f"ds_size:{TINY}").options] == [16, 32]


def test_the_uploader_accepts_a_registered_suffix(app, vol_reader):
    at = app.run()
    at.sidebar.selectbox(key="ds_name").set_value("Upload a file…").run()
    accepted = list(at.sidebar.get("file_uploader")[0].proto.type)
    assert ".vol" in accepted and ".nii.gz" in accepted and ".dcm" in accepted, accepted
    at.sidebar.file_uploader(key="upload_file").upload("scan.vol", _vol_bytes(40)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.selectbox(key="ds_name").value == "upload: scan.vol"


def test_a_users_path_goes_to_the_user_data_set_that_accepts_it(tmp_path):
    """user_dataset asks the registered user-data sets: a folder is a video folder, an .npz (or a zip holding
    train_images.npy under another name) the npz set, a user-data set registered with its own test takes its files."""
    from das_core.data import user_dataset

    (tmp_path / "clips").mkdir()
    assert user_dataset(tmp_path / "clips") == ("video-folder", str(tmp_path / "clips"))
    np.savez(tmp_path / "mine.npz", train_images=np.zeros((2, 4, 4, 4), np.uint8), train_labels=np.zeros((2, 1)))
    assert user_dataset(tmp_path / "mine.npz")[0] == "npz"
    (tmp_path / "mine.npz").rename(tmp_path / "export.bin")
    assert user_dataset(tmp_path / "export.bin")[0] == "npz"  # by its content
    (tmp_path / "notes.txt").write_text("not data")
    with pytest.raises(DataError, match="neither an .npz nor a folder"):
        user_dataset(tmp_path / "notes.txt")

    @register_dataset("my-scans", kind="volume", user_data=True, accepts=lambda p: p.suffix == ".scans")
    def scans(split="train", root=None):
        return ArrayDataset(torch.zeros(2, 4, 1, 8, 8), [0, 1], name="my-scans", classes=["a", "b"], split=split)

    try:
        (tmp_path / "a.scans").write_bytes(b"x")
        assert user_dataset(tmp_path / "a.scans")[0] == "my-scans"
    finally:
        unregister_dataset("my-scans")
