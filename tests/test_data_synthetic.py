"""Synthetic data sets: shapes, range, determinism, class balance, informative frames."""


import numpy as np
import pytest
import torch

from das_core.data import DataError, load_dataset
from das_core.data.synthetic import fixed_position


@pytest.mark.parametrize("name", ["synthetic-volumes", "synthetic-video"])
def test_shapes_range_and_attributes(name):
    ds = load_dataset(name, "train", num_samples=8)
    assert len(ds) == 8 and ds.num_frames == 28 and ds.classes == ["square", "ring"]
    x, y = ds[3]
    assert x.shape == (28, 1, 28, 28) and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert isinstance(y, int) and y == ds.labels[3]
    m = ds.meta(3)
    assert m["source"] == "synthetic" and m["original_frames"] == 28 and m["spacing"] is None
    assert len(m["informative_frames"]) == 1


@pytest.mark.parametrize("name", ["synthetic-volumes", "synthetic-video"])
def test_deterministic_and_splits_differ(name):
    a = load_dataset(name, "train", num_samples=6, seed=3)
    b = load_dataset(name, "train", num_samples=50, seed=3)  # num_samples does not change items
    assert torch.equal(a[5][0], b[5][0]) and a.labels == b.labels[:6]
    assert torch.equal(b[5][0], b[5][0])  # access order does not matter
    c = load_dataset(name, "test", num_samples=6, seed=3)
    d = load_dataset(name, "train", num_samples=6, seed=4)
    assert not torch.equal(a[0][0], c[0][0])
    assert not torch.equal(a[0][0], d[0][0])


def test_class_balance_and_options():
    ds = load_dataset("synthetic-video", "val", num_samples=40, num_classes=4, num_frames=16, size=32)
    assert np.bincount(ds.labels).tolist() == [10, 10, 10, 10]
    assert ds.classes == ["square", "ring", "plus", "cross"]
    x, _ = ds[0]
    assert x.shape == (16, 1, 32, 32)
    defaults = load_dataset("synthetic-volumes", "test")
    assert len(defaults) == 256 and len(load_dataset("synthetic-volumes", "train")) == 512


def test_structure_sits_in_informative_frames_only():
    ds = load_dataset("synthetic-volumes", "train", num_samples=20, extent=2)
    for i in range(len(ds)):
        x, _ = ds[i]
        inf = ds.meta(i)["informative_frames"]
        assert len(inf) == 2 and inf[1] == inf[0] + 1
        peaks = x.flatten(1).amax(1)  # (T,)
        assert peaks[inf].min() > 0.5 > peaks[[t for t in range(28) if t not in inf]].max()


def test_moving_vs_fixed_positions():
    mov = load_dataset("synthetic-video", "train", num_samples=200, moving=True)
    pos = [mov.meta(i)["informative_frames"][0] for i in range(200)]
    assert len(set(pos)) > 15 and min(pos) >= 0 and max(pos) <= 27
    fix = load_dataset("synthetic-video", "train", num_samples=30, moving=False)
    fpos = {fix.meta(i)["informative_frames"][0] for i in range(30)}
    assert fpos == {11}
    for k in (14, 7):  # uniform sampling at ratio 0.5 and 0.25 misses the fixed frame
        assert 11 not in set(np.round(np.linspace(0, 27, k)).astype(int).tolist())
    assert fixed_position(28, 1) == 11


def test_class_not_readable_from_intensity():
    ds = load_dataset("synthetic-volumes", "train", num_samples=200)
    sums = np.array([float(ds[i][0].sum()) for i in range(200)])
    y = np.array(ds.labels)
    gap = abs(sums[y == 0].mean() - sums[y == 1].mean())
    assert gap < 0.5 * sums.std()


def test_generation_is_reproducible_item_by_item():
    """Items are generated on demand from (split, index): the same item twice, in any order, is the same
    (the generator's speed is a benchmark, `python -m das_core speed`, not a pass/fail test)."""
    ds = load_dataset("synthetic-volumes", "train", num_samples=1000)
    last = ds[999][0].clone()
    first = [ds[i][0] for i in range(3)]
    assert torch.equal(ds[999][0], last) and all(torch.equal(ds[i][0], first[i]) for i in range(3))


@pytest.mark.parametrize("opts", [{"num_classes": 1}, {"num_classes": 9}, {"extent": 0}, {"extent": 40},
                                  {"size": 8}, {"num_frames": 0}])
def test_bad_options(opts):
    with pytest.raises(DataError):
        load_dataset("synthetic-volumes", "train", **opts)


def test_bad_split():
    with pytest.raises(DataError, match="split"):
        load_dataset("synthetic-video", "training")


def test_cue_control_points_at_the_informative_frame():
    """The third control: every other frame carries a bar whose column says where the informative frame is."""
    ds = load_dataset("synthetic-volumes", split="test", num_samples=12, cue=True, num_frames=16)
    plain = load_dataset("synthetic-volumes", split="test", num_samples=12, num_frames=16)
    for i in range(len(ds)):
        x = ds[i][0][:, 0]  # (T, S, S)
        (inf,) = ds.meta(i)["informative_frames"]
        assert ds.meta(i)["cue"] and plain.meta(i)["informative_frames"] == [inf]  # same placement as without cue
        col = ds.cue_column(inf)
        others = [t for t in range(16) if t != inf]
        assert (x[others, 0, col:col + 3] > 0.5).all(), "every other frame shows the cue"
        assert not (x[inf, 0, col:col + 3] > 0.5).any(), "the informative frame does not"
        left = int((x[others[0], 0] > 0.5).nonzero()[0])  # the bar's first column, read off any other frame
        assert round(left / (28 - 3) * (16 - 1)) == inf, "a sampler that sees one frame can read where to look"


def test_bars_family_is_a_held_out_task_of_the_same_kind():
    ds = load_dataset("synthetic-volumes", split="test", num_samples=9, family="bars", num_classes=3, num_frames=16)
    assert ds.classes == ["horizontal", "vertical", "diagonal"] and sorted(set(ds.labels)) == [0, 1, 2]
    for i in range(len(ds)):
        x = ds[i][0][:, 0]
        (t,) = ds.meta(i)["informative_frames"]
        others = [f for f in range(16) if f != t]
        assert x[t].max() > 0.6 and x[others].max() <= 0.45 + 1e-6  # the bar only in its frame


def test_rendered_items_are_kept_in_memory_and_identical(monkeypatch):
    from das_core.data import synthetic

    ds = synthetic.SyntheticDataset("volumes", "train", num_samples=4, num_frames=8, size=16)
    first = ds[2][0]
    assert ds[2][0] is first  # rendered once
    fresh = synthetic.SyntheticDataset("volumes", "train", num_samples=4, num_frames=8, size=16)
    assert torch.equal(fresh[2][0], first)  # the same values as a fresh render
    monkeypatch.setattr(synthetic, "RENDER_CACHE_BYTES", 0)
    big = synthetic.SyntheticDataset("volumes", "train", num_samples=4, num_frames=8, size=16)
    assert big[2][0] is not big[2][0] and torch.equal(big[2][0], first)  # over the cap: rendered each time
