"""Stratified, reproducible hold-out and k-fold splits, with and without groups."""

import numpy as np
import pytest

from das_core.data import DataError
from das_core.data.splits import make_splits, split_indices

LABELS = [0] * 40 + [1] * 20 + [2] * 10


def _check_partition(sp, n):
    allidx = np.concatenate([sp["train"], sp["val"], sp["test"]])
    assert sorted(allidx.tolist()) == list(range(n))


def test_holdout_stratified_reproducible():
    a = make_splits(LABELS, val_fraction=0.2, test_fraction=0.2, seed=1)
    b = make_splits(LABELS, val_fraction=0.2, test_fraction=0.2, seed=1)
    c = make_splits(LABELS, val_fraction=0.2, test_fraction=0.2, seed=2)
    _check_partition(a, 70)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["test"], c["test"])
    y = np.array(LABELS)
    assert np.bincount(y[a["test"]]).tolist() == [8, 4, 2]
    assert np.bincount(y[a["val"]]).tolist() == [8, 4, 2]


def test_kfold_covers_every_item_once():
    tests = []
    for f in range(5):
        sp = make_splits(LABELS, num_folds=5, fold=f, seed=0, val_fraction=0.25)
        _check_partition(sp, 70)
        assert np.bincount(np.array(LABELS)[sp["test"]]).tolist() == [8, 4, 2]
        assert len(sp["val"]) == round(0.25 * 56)
        tests.append(sp["test"])
    assert sorted(np.concatenate(tests).tolist()) == list(range(70))


def test_groups_never_straddle_splits():
    groups = [i // 2 for i in range(70)]  # pairs of items share a patient
    sp = make_splits(LABELS, groups=groups, seed=0)
    _check_partition(sp, 70)
    g = np.array(groups)
    sets = [set(g[sp[k]]) for k in ("train", "val", "test")]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    kf = make_splits(LABELS, groups=groups, num_folds=5, fold=2, seed=0)
    assert not set(g[kf["test"]]) & set(g[kf["train"]])


def test_tiny_sets_fall_back_to_plain_shuffle():
    sp = make_splits([0, 0, 1, 1, 1, 2], seed=0)
    _check_partition(sp, 6)


@pytest.mark.parametrize("kw,match", [
    ({"fold": 1}, "num_folds and fold"),
    ({"num_folds": 5}, "num_folds and fold"),
    ({"num_folds": 5, "fold": 5}, "out of range"),
    ({"num_folds": 5, "fold": -1}, "out of range"),
    ({"num_folds": 1, "fold": 0}, "at least 2"),
    ({"num_folds": 500, "fold": 0}, "exceeds"),
    ({"val_fraction": 0.6, "test_fraction": 0.5}, "below 1"),
    ({"test_fraction": 1.5}, r"\[0, 1\)"),
])
def test_misuse(kw, match):
    with pytest.raises(DataError, match=match):
        make_splits(LABELS, **kw)


def test_split_names():
    assert len(split_indices(LABELS, "all")) == 70
    with pytest.raises(DataError, match="split"):
        split_indices(LABELS, "training")
