"""Reproducible, stratified train/val/test splits and k-fold splits (scikit-learn).

Hold-out mode (default): ``test`` takes ``test_fraction`` of all items, stratified by label;
``val`` takes ``val_fraction`` of all items from the remainder (``val_fraction / (1 -
test_fraction)`` of it), stratified; ``train`` is the rest.

k-fold mode (``num_folds=K, fold=i``): ``StratifiedKFold(K, shuffle=True, random_state=seed)``;
``test`` = fold ``i``; ``val`` = a stratified ``val_fraction`` of the other K-1 folds (a fraction
of those folds, not of the whole set); ``train`` = the rest. ``test_fraction`` is ignored.

With ``groups`` (e.g. patient ids), no group is split across train/val/test: hold-out uses
``StratifiedGroupKFold(round(1/fraction))`` and takes its first fold, k-fold uses
``StratifiedGroupKFold(K)``.

Items that may not be trained on (``trainable`` False, e.g. clips whose licence allows evaluation
only) never go to ``train``, and the trainable items are held out only as far as val and test need
them, so training keeps as many of them as it can (a group holding any eval-only item is eval-only
as a whole). Hold-out mode: the eval-only items are divided between ``val`` and ``test`` in the
proportion ``val_fraction : test_fraction`` (stratified; all to test when ``val_fraction = 0``); where
they fall short of ``test_fraction`` / ``val_fraction`` of all items, trainable items make up the rest
(stratified), the others are ``train``. k-fold mode: ``test`` = fold ``i`` of all items as usual; of
the other folds the eval-only items are ``val`` and the trainable ones ``train``, less what ``val``
still needs to reach ``val_fraction`` of those folds.

When a class is too small to stratify (fewer than 2 items, or fewer held-out items than
classes), the split falls back to a plain seeded shuffle split for that step. The same seed,
labels and options always give the same split; the splits are disjoint and cover every item.
"""

from __future__ import annotations

import warnings
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from das_core.errors import DataError

__all__ = ["SPLITS", "make_splits", "split_indices"]

SPLITS = ("train", "val", "test")


def _holdout(idx: np.ndarray, labels: np.ndarray, groups: Optional[np.ndarray], frac: float,
             seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Split ``idx`` into (rest, held) with ``held`` about ``frac`` of ``idx``."""
    # scikit-learn is imported here, not at the top: listing data sets must not pay for it
    from sklearn.model_selection import (GroupShuffleSplit, StratifiedGroupKFold,
                                         train_test_split)

    if frac <= 0 or len(idx) < 2:
        return idx, idx[:0]
    if groups is None:
        try:
            rest, held = train_test_split(idx, test_size=frac, stratify=labels[idx], random_state=seed)
        except ValueError:
            rest, held = train_test_split(idx, test_size=frac, random_state=seed)
        return np.sort(rest), np.sort(held)
    g = groups[idx]
    n_groups = len(np.unique(g))
    if n_groups < 2:
        raise DataError("all items belong to one group, so no group-level split is possible; "
                        "check the group column or group_regex.")
    k = int(min(max(2, round(1.0 / frac)), n_groups))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
            rest_pos, held_pos = next(iter(sgkf.split(idx, labels[idx], g)))
    except ValueError:
        gss = GroupShuffleSplit(n_splits=1, test_size=frac, random_state=seed)
        rest_pos, held_pos = next(iter(gss.split(idx, labels[idx], g)))
    return np.sort(idx[rest_pos]), np.sort(idx[held_pos])


def make_splits(labels: Sequence[int], *, val_fraction: float = 0.15, test_fraction: float = 0.2,
                seed: int = 0, groups: Optional[Sequence] = None, num_folds: Optional[int] = None,
                fold: Optional[int] = None, name: str = "data set",
                trainable: Optional[Sequence[bool]] = None) -> Dict[str, np.ndarray]:
    """All three splits at once (see the module docstring for the rules).

    Args:
        labels: int label of every item (length N).
        val_fraction: validation share (of all items; of the non-test folds in k-fold mode).
        test_fraction: test share of all items (hold-out mode only).
        seed: random seed; the same seed gives the same split.
        groups: optional group id per item (patient); keeps each group in one split.
        num_folds: K for k-fold mode (>= 2); requires ``fold``.
        fold: which fold is the test set, ``0 <= fold < num_folds``.
        name: data set name used in error messages.
        trainable: optional bool per item; False items never go to ``train`` (see the module docstring).

    Returns:
        ``{"train": idx, "val": idx, "test": idx}``, sorted int64 arrays.
    """
    y = np.asarray(labels, dtype=np.int64)
    n = len(y)
    idx = np.arange(n, dtype=np.int64)
    g = _group_ids(groups, n=n, name=name)
    if trainable is not None:
        return _with_eval_only(y, g, trainable, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
                               num_folds=num_folds, fold=fold, name=name)
    _check_fractions(val_fraction=val_fraction, test_fraction=test_fraction, name=name)
    if (num_folds is None) != (fold is None):
        raise DataError(f"k-fold for {name} needs both num_folds and fold (got num_folds={num_folds}, "
                        f"fold={fold}); pass e.g. num_folds=5, fold=0.")
    if num_folds is not None:
        return _kfold_splits(idx, y, g, num_folds=num_folds, fold=fold, val_fraction=val_fraction, seed=seed,
                             name=name)
    return _holdout_splits(idx, y, g, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, name=name)


def _group_ids(groups: Optional[Sequence], *, n: int, name: str) -> Optional[np.ndarray]:
    """(N,) the group ids as strings, None without groups; a DataError unless there is one per item."""
    g = None if groups is None else np.asarray([str(v) for v in groups])
    if g is not None and len(g) != n:
        raise DataError(f"{name} has {n} items but {len(g)} group ids; give one group per item.")
    return g


def _check_fractions(*, val_fraction: float, test_fraction: float, name: str) -> None:
    """A DataError unless both fractions lie in [0, 1)."""
    for nm, v in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= float(v) < 1.0:
            raise DataError(f"{nm}={v} for {name} must lie in [0, 1); pass e.g. {nm}=0.2.")


def _fold_numbers(*, num_folds, fold, n: int, g: Optional[np.ndarray], name: str) -> Tuple[int, int]:
    """(K, i) as ints, checked: K >= 2, 0 <= i < K, K at most the items (groups, with groups); else a DataError."""
    try:
        k, f = int(num_folds), int(fold)
    except (TypeError, ValueError):
        raise DataError(f"num_folds={num_folds!r} and fold={fold!r} for {name} must be integers; "
                        f"pass e.g. num_folds=5, fold=0.") from None
    if k < 2:
        raise DataError(f"num_folds={k} for {name} must be at least 2; pass e.g. num_folds=5.")
    if not 0 <= f < k:
        raise DataError(f"fold={f} for {name} is out of range for num_folds={k}; pass fold=0..{k - 1}.")
    n_units = n if g is None else len(np.unique(g))
    if k > n_units:
        unit = "items" if g is None else "groups"
        raise DataError(f"num_folds={k} exceeds the {n_units} {unit} of {name}; "
                        f"pass num_folds <= {n_units}.")
    return k, f


def _kfold_splits(idx: np.ndarray, y: np.ndarray, g: Optional[np.ndarray], *, num_folds, fold, val_fraction: float,
                  seed: int, name: str) -> Dict[str, np.ndarray]:
    """k-fold mode: test = fold ``fold`` of the (group-)stratified K folds, val a ``val_fraction`` of the rest."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    k, f = _fold_numbers(num_folds=num_folds, fold=fold, n=len(y), g=g, name=name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "least populated class has fewer members than n_splits"
        try:
            if g is None:
                folds = list(StratifiedKFold(k, shuffle=True, random_state=seed).split(idx, y))
            else:
                folds = list(StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(idx, y, g))
        except ValueError as e:
            raise DataError(f"{name} cannot be split into {k} stratified folds ({e}); "
                            f"pass a smaller num_folds.") from None
    rest, test = folds[f]  # positions in idx
    rest = np.sort(idx[rest])
    train, val = _holdout(rest, y, g, float(val_fraction), seed)
    return {"train": train, "val": val, "test": np.sort(idx[test])}


def _holdout_splits(idx: np.ndarray, y: np.ndarray, g: Optional[np.ndarray], *, val_fraction: float,
                    test_fraction: float, seed: int, name: str) -> Dict[str, np.ndarray]:
    """Hold-out mode: test ``test_fraction`` of all items, then val ``val_fraction`` of all from the rest."""
    if float(val_fraction) + float(test_fraction) >= 1.0:
        raise DataError(f"val_fraction + test_fraction = {val_fraction + test_fraction} for {name} "
                        f"leaves no training data; make their sum below 1.")
    rest, test = _holdout(idx, y, g, float(test_fraction), seed)
    rel = float(val_fraction) / (1.0 - float(test_fraction)) if val_fraction else 0.0
    train, val = _holdout(rest, y, g, min(rel, 0.99), seed)
    return {"train": train, "val": val, "test": test}


def _with_eval_only(y: np.ndarray, g: Optional[np.ndarray], trainable: Sequence[bool], *, val_fraction: float,
                    test_fraction: float, seed: int, num_folds: Optional[int], fold: Optional[int],
                    name: str) -> Dict[str, np.ndarray]:
    """`make_splits` where only the `trainable` items may enter train (see the module docstring)."""
    n = len(y)
    ok = np.asarray([bool(v) for v in trainable], dtype=bool)
    if len(ok) != n:
        raise DataError(f"{name} has {n} items but {len(ok)} trainable flags; give one flag per item.")
    if g is not None:  # a group (patient) is trainable only as a whole, so it never straddles train and val/test
        for grp in np.unique(g[~ok]):
            ok[g == grp] = False
    if not ok.any():
        raise DataError(f"no item of {name} may be used for training; allow more licences or add training items.")
    if ok.all():
        return make_splits(y, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, groups=g,
                           num_folds=num_folds, fold=fold, name=name)
    v, t = float(val_fraction), float(test_fraction)
    idx = np.arange(n, dtype=np.int64)
    if num_folds is not None:
        # the usual folds of all items: test = fold `fold`; of the rest, the eval-only items are val and the
        # trainable ones train, less what val still needs to reach val_fraction of the rest
        usual = make_splits(y, val_fraction=0.0, seed=seed, groups=g, num_folds=num_folds, fold=fold, name=name)
        rest, test = usual["train"], usual["test"]
        rest_keep, rest_other = rest[ok[rest]], rest[~ok[rest]]
        need = int(round(v * len(rest))) - len(rest_other)
        train, extra = rest_keep, rest_keep[:0]
        if need > 0 and len(rest_keep) >= 2:
            train, extra = _holdout(rest_keep, y, g, min(need / len(rest_keep), 0.99), seed)
        return {"train": np.sort(train), "val": np.sort(np.concatenate([rest_other, extra])), "test": np.sort(test)}
    for nm, value in (("val_fraction", v), ("test_fraction", t)):
        if not 0.0 <= value < 1.0:
            raise DataError(f"{nm}={value} for {name} must lie in [0, 1); pass e.g. {nm}=0.2.")
    keep, other = idx[ok], idx[~ok]
    # every eval-only item is held out, divided val : test; the trainable items only make up what val and
    # test still need to reach their usual share of all items
    to_test = t / (v + t) if v + t > 0 else 1.0
    if to_test >= 1.0 or len(other) < 2:
        other_val, other_test = other[:0], other
    else:
        other_val, other_test = _holdout(other, y, g, to_test, seed)
    need_test = max(0, int(round(t * n)) - len(other_test))
    need_val = max(0, int(round(v * n)) - len(other_val))
    if need_test or need_val:
        sub = make_splits(y[keep], val_fraction=need_val / len(keep), test_fraction=need_test / len(keep), seed=seed,
                          groups=None if g is None else g[keep], name=name)
        parts = {s: keep[sub[s]] for s in SPLITS}
    else:
        parts = {"train": keep, "val": keep[:0], "test": keep[:0]}
    return {"train": np.sort(parts["train"]), "val": np.sort(np.concatenate([parts["val"], other_val])),
            "test": np.sort(np.concatenate([parts["test"], other_test]))}


def split_indices(labels: Sequence[int], split: str, **kwargs) -> np.ndarray:
    """Indices of one split (``"train"``, ``"val"``, ``"test"``) or ``"all"``.

    Args:
        labels: int label per item.
        split: which split.
        **kwargs: passed to ``make_splits``.
    """
    name = kwargs.get("name", "data set")
    if split == "all":
        return np.arange(len(labels), dtype=np.int64)
    if split not in SPLITS:
        raise DataError(f"split={split!r} for {name} is unknown; pass one of 'train', 'val', 'test', 'all'.")
    return make_splits(labels, **kwargs)[split]
