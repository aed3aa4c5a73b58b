"""Video folders: labels (prefix / folders / manifest), resampling, BUSV frame folders, bad clips."""

import json

import numpy as np
import pytest

import das_core.data.decode as decode_mod
from das_core.data import DataError, load_dataset
from data_fixtures import make_video_folder, write_clip

ODD_NAMES = ["Cov-Atlas+(44).gif", "Cov_clip one.mp4", "pneu-[weird] name.avi", "Pneu_b.mp4",
             "Reg_x.mov", "Reg-y.mp4", "sub/Reg_z.mp4", "label_uncertain/Cov_or_Pneu_file.mp4"]


@pytest.fixture
def prefix_folder(tmp_path):
    return make_video_folder(tmp_path / "clips", ODD_NAMES, n=6)


def test_prefix_labels_odd_names_and_uncertain(prefix_folder, tmp_path):
    ds = load_dataset("video-folder", "all", root=prefix_folder, num_frames=4, size=16, cache_dir=tmp_path / "c")
    assert ds.classes == ["Cov", "Pneu", "Reg"]  # 'pneu-...' is folded into 'Pneu'
    rels = [c.rel for c in ds.clips]
    assert "label_uncertain/Cov_or_Pneu_file.mp4" not in rels and len(ds) == 7
    for i in range(len(ds)):
        x, y = ds[i]
        assert x.shape == (4, 1, 16, 16) and y == ds.labels[i]
        assert ds.meta(i)["original_frames"] == 6
    inc = load_dataset("video-folder", "all", root=prefix_folder, num_frames=4, size=16, include_uncertain=True,
                       cache_dir=tmp_path / "c")
    j = [c.rel for c in inc.clips].index("label_uncertain/Cov_or_Pneu_file.mp4")
    assert len(inc) == 8 and inc.meta(j)["uncertain"] and inc.classes[inc.labels[j]] == "Cov"


def test_resampling_picks_linspace_frames_and_repeats_short_clips(tmp_path):
    root = tmp_path / "v"
    write_clip(root / "A_long.mp4", n=10, step=20)
    write_clip(root / "B_short.gif", n=3, step=60)
    ds = load_dataset("video-folder", "all", root=root, num_frames=5, size=(8, 12), cache=False)
    x, _ = ds[0]
    m = ds.meta(0)
    assert m["frame_indices"] == [0, 2, 4, 7, 9] and m["fps"] == pytest.approx(10.0)
    assert np.allclose(x[:, 0, 4, 6].numpy() * 255, [0, 40, 80, 140, 180], atol=4)
    xs, _ = ds[1]
    assert ds.meta(1)["frame_indices"] == [0, 0, 1, 2, 2]  # n < T repeats frames
    assert xs.shape == (5, 1, 8, 12) and np.allclose(xs[:, 0, 0, 0].numpy() * 255, [0, 0, 60, 120, 120], atol=2)
    rgb = load_dataset("video-folder", "all", root=root, num_frames=2, size=8, grayscale=False, cache=False)
    assert rgb[0][0].shape == (2, 3, 8, 8)


def test_folder_labels(tmp_path):
    root = make_video_folder(tmp_path / "f", ["benign/a.mp4", "benign/b.gif", "malignant/c.mp4", "malignant/d.mp4"])
    ds = load_dataset("video-folder", "all", root=root, num_frames=3, size=8, cache=False)
    assert ds.classes == ["benign", "malignant"] and ds.labels == [0, 0, 1, 1]


def test_manifest_labels_groups_and_errors(tmp_path):
    root = make_video_folder(tmp_path / "m", ["x1.mp4", "x2.mp4", "sub dir/x3.gif", "x4.mp4"])
    (root / "manifest.csv").write_text("file,label,patient\nx1.mp4,A,p1\nx2.mp4,B,p1\n"
                                       "sub dir/x3.gif,A,p2\nx4.mp4,B,p3\n")
    ds = load_dataset("video-folder", "all", root=root, num_frames=2, size=8, cache=False, group_column="patient")
    assert ds.classes == ["A", "B"]
    assert {c.rel: c.label for c in ds.clips} == {"x1.mp4": "A", "x2.mp4": "B", "sub dir/x3.gif": "A", "x4.mp4": "B"}
    assert {c.group for c in ds.clips} == {"p1", "p2", "p3"}
    (root / "manifest.csv").write_text("file,label\nx1.mp4,A\nx2.mp4,\nsub dir/x3.gif,A\nx4.mp4,B\n")
    with pytest.raises(DataError, match="x2.mp4 has no label"):
        load_dataset("video-folder", "all", root=root, cache=False)
    (root / "manifest.csv").write_text("file,label\nx1.mp4,A\nsub dir/x3.gif,A\nx4.mp4,B\n")
    with pytest.raises(DataError, match="x2.mp4 has no label"):
        load_dataset("video-folder", "all", root=root, cache=False)
    (root / "manifest.csv").write_text("file,label\nx1.mp4,A\nx2.mp4,B\nsub dir/x3.gif,A\nx4.mp4,B\ngone.mp4,A\n")
    with pytest.raises(DataError, match="gone.mp4"):
        load_dataset("video-folder", "all", root=root, cache=False)
    (root / "manifest.csv").write_text("name,kind\nx1.mp4,A\n")
    with pytest.raises(DataError, match="columns file and label"):
        load_dataset("video-folder", "all", root=root, cache=False)


def test_manifest_split_column_is_used(tmp_path):
    root = make_video_folder(tmp_path / "s", ["a.mp4", "b.mp4", "c.mp4", "d.mp4"], n=3)
    (root / "labels.csv").write_text("file,label,split\na.mp4,X,train\nb.mp4,Y,train\nc.mp4,X,val\nd.mp4,Y,test\n")
    got = {s: [c.rel for c in load_dataset("video-folder", s, root=root, cache=False).clips]
           for s in ("train", "val", "test")}
    assert got == {"train": ["a.mp4", "b.mp4"], "val": ["c.mp4"], "test": ["d.mp4"]}


def _busv(tmp_path, coco=True):
    import imageio.v3 as iio

    root = tmp_path / "busv"
    vids = {"benign": ["b1", "b2", "b3"], "malignant": ["m1", "m2", "m3"]}
    for cls, names in vids.items():
        for k, v in enumerate(names):
            d = root / "rawframes" / cls / v
            d.mkdir(parents=True)
            for t in range(12):  # 000000.png .. 000011.png; natural sort matters for 2 vs 10
                iio.imwrite(d / f"{t}.png", np.full((20, 24, 3), 10 * t + k, np.uint8))
    if coco:
        (root / "train.json").write_text(json.dumps({"videos": [{"id": i, "name": n} for i, n in enumerate(
            ["benign/b1", "benign/b2", "malignant/m1", "malignant/m2"])], "images": [], "annotations": []}))
        (root / "val.json").write_text(json.dumps({"videos": [{"id": 0, "name": "benign/b3"},
                                                              {"id": 1, "name": "malignant/m3"}]}))
    else:
        (root / "split.json").write_text(json.dumps({"train": ["b1", "m1", "b2", "m2"], "val": ["b3"], "test": ["m3"]}))
    return root


def test_busv_layout_coco_split_files(tmp_path):
    root = _busv(tmp_path)
    test = load_dataset("video-folder", "test", root=root, num_frames=4, size=8, cache_dir=tmp_path / "c")
    assert test.layout == "busv" and test.classes == ["benign", "malignant"]
    assert sorted(c.rel for c in test.clips) == ["benign/b3", "malignant/m3"]  # given val -> test
    x, y = test[0]
    m = test.meta(0)
    assert x.shape == (4, 1, 8, 8) and m["original_frames"] == 12 and m["frame_indices"] == [0, 4, 7, 11]
    v = x[:, 0, 0, 0].numpy() * 255
    assert np.allclose(v - v[0], [0, 40, 70, 110], atol=1)  # natural frame order (2.png before 10.png)
    tr = load_dataset("video-folder", "train", root=root, num_frames=4, size=8, cache=False)
    va = load_dataset("video-folder", "val", root=root, num_frames=4, size=8, cache=False)
    assert len(tr) + len(va) == 4 and not {c.rel for c in tr.clips} & {c.rel for c in va.clips}


def test_busv_layout_split_json(tmp_path):
    root = _busv(tmp_path, coco=False)
    got = {s: [c.rel for c in load_dataset("video-folder", s, root=root, layout="busv", cache=False).clips]
           for s in ("train", "val", "test")}
    assert got["val"] == ["benign/b3"] and got["test"] == ["malignant/m3"] and len(got["train"]) == 4


# ------------------------------------------------------------------ bad clips


def test_empty_truncated_and_garbage_clips(tmp_path):
    from das_core.data import load_sequence

    (tmp_path / "Cov_empty.mp4").write_bytes(b"")
    with pytest.raises(DataError, match="Cov_empty.mp4 is empty"):
        load_sequence(tmp_path / "Cov_empty.mp4")
    good = write_clip(tmp_path / "good.mp4", n=30)
    data = good.read_bytes()
    (tmp_path / "Cov_trunc.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="Cov_trunc.mp4"):
        load_sequence(tmp_path / "Cov_trunc.mp4")
    (tmp_path / "Reg_garbage.avi").write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(DataError, match="Reg_garbage.avi"):
        load_sequence(tmp_path / "Reg_garbage.avi")
    g = write_clip(tmp_path / "g.gif", n=8).read_bytes()
    (tmp_path / "Reg_cut.gif").write_bytes(g[:40])
    with pytest.raises(DataError, match="Reg_cut.gif"):
        load_sequence(tmp_path / "Reg_cut.gif")


def test_corrupt_clip_in_dataset_names_file(tmp_path):
    root = make_video_folder(tmp_path / "d", ["A_ok.mp4", "B_ok.mp4"], n=4)
    (root / "A_bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 50)
    ds = load_dataset("video-folder", "all", root=root, num_frames=2, size=8, cache_dir=tmp_path / "c")
    with pytest.raises(DataError, match="A_bad.mp4"):
        ds[[c.rel for c in ds.clips].index("A_bad.mp4")]
    assert not list((tmp_path / "c" / "clips").glob("*.npz"))  # no cache entry for a failed decode
    assert ds[[c.rel for c in ds.clips].index("A_ok.mp4")][0].shape == (2, 1, 8, 8)


def test_zero_frame_clip(tmp_path, monkeypatch):
    import imageio.v3 as iio
    import imageio_ffmpeg

    p = write_clip(tmp_path / "z.mp4", n=3)
    g = write_clip(tmp_path / "z.gif", n=3)

    def no_frames(*a, **k):
        yield {"fps": 10.0, "source_size": (48, 32), "size": (8, 8)}

    monkeypatch.setattr(imageio_ffmpeg, "read_frames", no_frames)
    monkeypatch.setattr(iio, "imiter", lambda *a, **k: iter([]))
    with pytest.raises(DataError, match="z.mp4 decodes to zero frames"):
        decode_mod.decode_video(p, 4, 8)
    with pytest.raises(DataError, match="z.gif decodes to zero frames"):
        decode_mod.decode_video(g, 4, 8)


def test_decode_timeout_guard(tmp_path):
    p = write_clip(tmp_path / "slow.mp4", n=5)
    with pytest.raises(DataError, match="slow.mp4 took longer"):
        decode_mod.decode_video(p, 4, 8, timeout_s=0.0)


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="needs a folder"):
        load_dataset("video-folder", "train")
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("video-folder", "train", root=tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no video files"):
        load_dataset("video-folder", "train", root=tmp_path / "empty")
    root = make_video_folder(tmp_path / "u", ["label_uncertain/A_or_B_x.mp4"], n=2)
    with pytest.raises(DataError, match="include_uncertain=True"):
        load_dataset("video-folder", "all", root=root)


def test_group_regex_keeps_patients_together(tmp_path):
    names = [f"{'AB'[k % 2]}_pat{p}_clip{k}.mp4" for p in range(6) for k in range(2)]
    root = tmp_path / "g"
    root.mkdir()
    for n in names:  # labels/splits only: no decoding needed, so empty placeholders are enough
        (root / n).write_bytes(b"x")
    parts = {s: load_dataset("video-folder", s, root=root, group_regex=r"_(pat\d+)_", cache=False,
                             val_fraction=0.2, test_fraction=0.3) for s in ("train", "val", "test")}
    groups = {s: {c.group for c in d.clips} for s, d in parts.items()}
    assert sum(len(d) for d in parts.values()) == 12
    assert not groups["train"] & groups["test"] and not groups["train"] & groups["val"]
    assert not groups["val"] & groups["test"]
