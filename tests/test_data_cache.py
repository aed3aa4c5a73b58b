"""Decode cache: the second pass does not decode, writes are atomic, bad entries are misses."""

import numpy as np
import pytest

import das_core.data.cache as cache_mod
import das_core.data.video as video_mod
from das_core.data import load_dataset
from das_core.data.cache import ClipCache, cache_key
from data_fixtures import make_video_folder, write_clip


def test_second_pass_reads_cache(tmp_path, monkeypatch):
    root = make_video_folder(tmp_path / "v", ["A_1.mp4", "B_2.gif", "A_3.avi"], n=5)
    kw = dict(root=root, num_frames=4, size=8, cache_dir=tmp_path / "cache")
    first = load_dataset("video-folder", "all", **kw)
    xs = [first[i][0] for i in range(len(first))]
    assert len(list((tmp_path / "cache" / "clips").glob("*.npz"))) == 3

    def boom(*a, **k):
        raise AssertionError("decoded again")

    monkeypatch.setattr(video_mod, "decode_video", boom)
    second = load_dataset("video-folder", "all", **kw)
    for i in range(len(second)):
        assert np.array_equal(second[i][0].numpy(), xs[i].numpy())
        assert second.meta(i)["original_frames"] == 5
    other = load_dataset("video-folder", "all", **{**kw, "num_frames": 3})  # other options -> new key
    with pytest.raises(AssertionError, match="decoded again"):
        other[0]


def test_key_changes_with_file_and_options(tmp_path):
    p = write_clip(tmp_path / "a.mp4", n=3)
    k1 = cache_key(p, num_frames=4, size=[8, 8], grayscale=True)
    assert k1 == cache_key(p, grayscale=True, size=[8, 8], num_frames=4)
    assert k1 != cache_key(p, num_frames=4, size=[8, 8], grayscale=False)
    write_clip(tmp_path / "a.mp4", n=4)
    assert k1 != cache_key(p, num_frames=4, size=[8, 8], grayscale=True)


def test_crash_during_write_leaves_no_entry(tmp_path, monkeypatch):
    c = ClipCache(tmp_path)
    frames = np.zeros((4, 1, 8, 8), np.uint8)

    def crashing_savez(fh, **arrays):
        fh.write(b"PK\x03\x04 half an entry")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(cache_mod.np, "savez", crashing_savez)
    with pytest.raises(KeyboardInterrupt):
        c.put("k", frames, {"original_frames": 4})
    monkeypatch.undo()
    assert c.get("k") is None
    assert not c.path_for("k").exists() and not list(c.dir.iterdir())  # temp file removed too
    c.put("k", frames, {"original_frames": 4})
    got, info = c.get("k")
    assert got.shape == (4, 1, 8, 8) and info == {"original_frames": 4}


def test_stray_temp_and_corrupt_entry_are_ignored(tmp_path):
    root = make_video_folder(tmp_path / "v", ["A_1.mp4"], n=4)
    ds = load_dataset("video-folder", "all", root=root, num_frames=2, size=8, cache_dir=tmp_path / "cache")
    x0 = ds[0][0]
    entry = next((tmp_path / "cache" / "clips").glob("*.npz"))
    (entry.parent / f".{entry.stem}.abc.tmp").write_bytes(b"partial")  # left over by a killed process
    entry.write_bytes(entry.read_bytes()[:30])  # damaged entry
    ds2 = load_dataset("video-folder", "all", root=root, num_frames=2, size=8, cache_dir=tmp_path / "cache")
    assert np.array_equal(ds2[0][0].numpy(), x0.numpy())  # decoded again, entry rewritten
    assert ClipCache(tmp_path / "cache").get(entry.stem) is not None
    assert ClipCache(tmp_path / "cache").clean_stale_temp(older_than_s=0) == 1
