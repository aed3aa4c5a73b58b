"""Paired statistics for comparing samplers fairly: over seeds, and over the items of one test split.

Two kinds of pairing, two kinds of question:

- Over seeds (`bootstrap_ci`, `sign_flip_p`, `paired_summary`): each seed trains method A and the baseline B
  on the same data, so the per-seed differences `d_s = metric_A(s) - metric_B(s)` (e.g. AUC(DAS) - AUC(uniform))
  are paired. `bootstrap_ci` gives a percentile bootstrap CI of their mean, `sign_flip_p` a two-sided sign-flip
  permutation p-value of "mean != 0" (under the null each difference is as likely to have either sign).
  `paired_summary` does both from two `{seed: value}` dicts; `diff_text` formats it as
  "+0.041 [+0.012, +0.070], p=0.03, n=5".
- Over items (`paired_bootstrap_metric`): two scorers of the same test items (two pickings of one model, or two
  models), resampling the items, so the CI says how much the metric difference depends on which test items
  happened to be drawn. It says nothing about seed-to-seed variation of training.

Caveats, read before quoting a result:

- With few seeds (3 to 5) the percentile bootstrap is too narrow (it only ever sees the n values drawn, and
  has at most n^n distinct resamples): read its CI as a rough range, not a calibrated 95% interval.
- The exact sign-flip test over n seeds cannot give p below 2 / 2^n: 0.25 with 3 seeds, 0.0625 with 5, so
  "p < 0.05" needs at least 6 seeds whose differences all have the same sign.
- `separates(summary)` means only that the bootstrap CI excludes 0; it is not a significance test and
  applies no correction for the many comparisons a grid of methods x data sets makes.

numpy only (scikit-learn's metrics through `das_core.metrics` for the point values). Every function takes a
`seed` and is deterministic for it.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence, Union

import numpy as np

__all__ = ["bootstrap_ci", "sign_flip_p", "paired_bootstrap_metric", "paired_summary", "separates", "diff_text",
           "weighted_auc", "weighted_balanced_accuracy"]

_CHUNK = 2**22  # resample matrix entries per chunk (bounds the memory of a bootstrap over many items)


def _as_1d(values) -> np.ndarray:
    d = np.asarray(values, dtype=float).ravel()
    if not np.all(np.isfinite(d)):
        raise ValueError("the differences must be finite numbers; drop the missing (None/NaN) ones first.")
    return d


def _quantiles(replicates: np.ndarray, level: float) -> tuple[float, float]:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}; e.g. 0.95.")
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(replicates, [a, 1.0 - a])
    return float(lo), float(hi)


def bootstrap_ci(diffs: Sequence[float], *, level: float = 0.95, n_boot: int = 10000,
                 seed: int = 0) -> tuple[float, float, float]:
    """(mean, lo, hi): the mean of paired differences and its percentile bootstrap CI at `level`.

    Args:
        diffs: per-pair differences, e.g. per-seed AUC(method) - AUC(uniform).
        level: coverage of the interval (0.95: the 2.5% and 97.5% percentiles of the resampled means).
        n_boot: bootstrap resamples.
        seed: seed of the resampling.

    Returns:
        A constant array gives (c, c, c) exactly. Fewer than 2 differences give (mean, nan, nan): one value says
        nothing about its spread (and an empty array gives (nan, nan, nan)).
    """
    d = _as_1d(diffs)
    n = len(d)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(d.mean())
    if n < 2:
        return mean, math.nan, math.nan
    if np.all(d == d[0]):
        c = float(d[0])
        return c, c, c
    rng = np.random.default_rng(seed)
    means = np.empty(int(n_boot))
    step = max(1, _CHUNK // n)
    for start in range(0, int(n_boot), step):
        stop = min(int(n_boot), start + step)
        means[start:stop] = d[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    lo, hi = _quantiles(means, level)
    return mean, lo, hi


def sign_flip_p(diffs: Sequence[float], *, n_perm: int = 10000, seed: int = 0) -> float:
    """Two-sided sign-flip permutation p-value of "the mean of the paired differences is not 0".

    Under the null each difference is symmetric about 0, so flipping signs at random gives its distribution;
    p is the share of sign patterns whose |mean| is at least the observed |mean|. For n <= 16 all 2^n patterns
    are enumerated (exact: [1, 1, 1, 1, 1] gives 2/32 = 0.0625, the smallest p 5 values can give); above that
    `n_perm` random patterns are drawn and p = (1 + hits) / (1 + n_perm). All-zero (or no) differences give 1.
    """
    d = _as_1d(diffs)
    n = len(d)
    if n == 0 or np.all(d == 0):
        return 1.0
    observed = abs(d.mean())
    tol = 1e-12 * max(1.0, float(np.abs(d).max()))  # float sums of the same values in another order
    if n <= 16:
        codes = np.arange(2**n, dtype=np.int64)[:, None]
        signs = 1.0 - 2.0 * ((codes >> np.arange(n)) & 1)  # (2^n, n) every pattern of +-1
        means = np.abs(signs @ d) / n
        return float(np.mean(means >= observed - tol))
    rng = np.random.default_rng(seed)
    hits = 0
    step = max(1, _CHUNK // n)
    for start in range(0, int(n_perm), step):
        m = min(int(n_perm), start + step) - start
        signs = rng.choice(np.array([-1.0, 1.0]), size=(m, n))
        hits += int(np.sum(np.abs(signs @ d) / n >= observed - tol))
    return float((1 + hits) / (1 + int(n_perm)))


# ---------------------------------------------------------------- item-level metrics with resampling weights


def _probs(scores, name: str) -> np.ndarray:
    p = np.asarray(scores, dtype=float)
    if p.ndim == 1:  # the positive class's score of a binary task
        p = np.stack([1.0 - p, p], axis=1)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"{name} must have shape (N,) or (N, C) with C >= 2, got {np.shape(scores)}.")
    return p


def _binary_weighted_auc(pos: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
    """AUC of `score` for the 0/1 labels `pos` (N,) under item weights w (B, N) -> (B,), NaN where one side has no
    weight. Ties count 1/2 (Mann-Whitney), which is what `roc_auc_score` gives, also with repeated items."""
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # first item of each group of tied scores
    wp = np.add.reduceat(w[:, order] * pos[order], starts, axis=1)  # (B, G) positive weight per tie group
    wn = np.add.reduceat(w[:, order] * (1.0 - pos[order]), starts, axis=1)
    below = np.cumsum(wn, axis=1) - wn  # negative weight strictly below each group
    P, N = wp.sum(axis=1), wn.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (wp * (below + 0.5 * wn)).sum(axis=1) / (P * N)
    return np.where((P > 0) & (N > 0), auc, np.nan)


def weighted_auc(y_true, probs, weights) -> np.ndarray:
    """`das_core.metrics.auc_score` of each row of item weights (B, N) (e.g. bootstrap counts) -> (B,).

    Binary (C = 2): the AUC of column 1; multi-class: the mean one-vs-rest AUC over the classes present (with
    weight) both as positives and negatives. NaN where `auc_score` gives None (fewer than 2 classes). Equals
    `auc_score(y[idx], probs[idx])` for the resample `idx` whose counts are the weights.
    """
    y = np.asarray(y_true, dtype=int)
    p = _probs(probs, "probs")
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    onehot = np.eye(max(p.shape[1], int(y.max()) + 1 if len(y) else 0))[y]  # (N, C)
    two = ((w @ onehot) > 0).sum(axis=1) >= 2  # the classes present in each resample
    if p.shape[1] == 2:
        out = _binary_weighted_auc((y == 1).astype(float), p[:, 1], w)
    else:
        per = np.stack([_binary_weighted_auc((y == c).astype(float), p[:, c], w) for c in range(p.shape[1])], axis=1)
        defined = ~np.isnan(per)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(defined, per, 0.0).sum(axis=1) / defined.sum(axis=1)
        out = np.where(defined.any(axis=1), out, np.nan)
    return np.where(two, out, np.nan)


def weighted_balanced_accuracy(y_true, probs, weights) -> np.ndarray:
    """Balanced accuracy (mean recall over the classes present in the labels, as scikit-learn's) of the argmax
    predictions under each row of item weights (B, N) -> (B,). 1-D scores are thresholded at 0.5."""
    y = np.asarray(y_true, dtype=int)
    p = _probs(probs, "probs")
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    correct = (p.argmax(axis=1) == y).astype(float)
    C = max(p.shape[1], int(y.max()) + 1 if len(y) else 0)
    onehot = np.eye(C)[y]  # (N, C)
    total = w @ onehot  # (B, C)
    hit = (w * correct) @ onehot
    present = total > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(present, hit / np.where(present, total, 1.0), 0.0)
        out = recall.sum(axis=1) / present.sum(axis=1)
    return np.where(present.any(axis=1), out, np.nan)


_WEIGHTED = {"auc": weighted_auc, "balanced_accuracy": weighted_balanced_accuracy}


def _point(metric: str, y: np.ndarray, p: np.ndarray) -> float:
    """The project's own value of `metric` (das_core.metrics), NaN where undefined."""
    from .metrics import auc_score, classification_metrics

    if metric == "auc":
        v = auc_score(y, p)
    else:
        v = classification_metrics(y, p)[metric] if len(y) else None
    return math.nan if v is None else float(v)


def paired_bootstrap_metric(
    y_true: Sequence[int],
    scores_a,
    scores_b,
    metric: Union[str, Callable] = "auc",
    n_boot: int = 2000,
    seed: int = 0,
    *,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """(diff, lo, hi): metric(a) - metric(b) on the same items and its item-level paired bootstrap CI.

    Each resample draws N items with replacement and scores both a and b on that same draw; resamples in which
    the metric is undefined (one class only) are skipped.

    Args:
        y_true: (N,) int labels.
        scores_a, scores_b: (N,) positive-class scores of a binary task, or (N, C) class probabilities (binary
            C = 2: column 1 is scored; multi-class: one-vs-rest macro AUC, as `das_core.metrics.auc_score`).
        metric: "auc", "balanced_accuracy" (argmax predictions; 1-D scores thresholded at 0.5), or a function
            (y, probs) -> float or None (then resampled with a Python loop, slower).
        n_boot: bootstrap resamples.
        seed: seed of the resampling.
        level: coverage of the interval.

    Returns:
        `diff` is the difference of `das_core.metrics`'s values on all items (so it matches the project's
        numbers); lo/hi are NaN when no resample was usable, all three NaN when the metric is undefined on the
        items. Identical scores give (0, 0, 0). The built-in metrics are computed for all resamples at once with
        item weights (`weighted_auc`), equal to scoring each resample.
    """
    y = np.asarray(y_true, dtype=int).ravel()
    pa, pb = _probs(scores_a, "scores_a"), _probs(scores_b, "scores_b")
    if len(pa) != len(y) or len(pb) != len(y):
        raise ValueError(f"y_true has {len(y)} items but the scores have {len(pa)} and {len(pb)}.")
    rng = np.random.default_rng(seed)
    if callable(metric):
        value = _nan_if_none(metric)
        diff = value(y, pa) - value(y, pb)
        if not math.isfinite(diff):
            return math.nan, math.nan, math.nan
        reps = _looped_replicates(value, y=y, pa=pa, pb=pb, n_boot=n_boot, rng=rng)
    else:
        if metric not in _WEIGHTED:
            raise ValueError(f"metric must be one of {', '.join(_WEIGHTED)} or a function, got {metric!r}.")
        diff = _point(metric, y, pa) - _point(metric, y, pb)
        if not math.isfinite(diff):
            return math.nan, math.nan, math.nan
        reps = _weighted_replicates(_WEIGHTED[metric], y=y, pa=pa, pb=pb, n_boot=n_boot, rng=rng)
    return _paired_interval(diff, reps=reps, level=level)


def _nan_if_none(metric: Callable) -> Callable[[np.ndarray, np.ndarray], float]:
    """``metric`` as a function (y, probs) -> float whose None (undefined) becomes NaN."""
    def value(yy, pp):
        v = metric(yy, pp)
        return math.nan if v is None else float(v)

    return value


def _looped_replicates(value: Callable, *, y: np.ndarray, pa: np.ndarray, pb: np.ndarray, n_boot: int,
                       rng: np.random.Generator) -> np.ndarray:
    """(R,) value(a) - value(b) per resample, one Python loop step each; one-class resamples are skipped."""
    n = len(y)
    reps = []
    for _ in range(int(n_boot)):
        idx = rng.integers(0, n, size=n)  # (N,) the resampled items
        if len(np.unique(y[idx])) < 2:
            continue
        reps.append(value(y[idx], pa[idx]) - value(y[idx], pb[idx]))
    return np.asarray(reps, dtype=float)


def _weighted_replicates(fn: Callable, *, y: np.ndarray, pa: np.ndarray, pb: np.ndarray, n_boot: int,
                         rng: np.random.Generator) -> np.ndarray:
    """(n_boot,) fn(a) - fn(b) per resample, the resamples as item counts in chunks of at most ``_CHUNK``."""
    n = len(y)
    reps = []
    step = max(1, _CHUNK // max(n, 1))
    for start in range(0, int(n_boot), step):
        m = min(int(n_boot), start + step) - start
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=m).astype(float)  # (m, N) resample counts
        reps.append(fn(y, pa, counts) - fn(y, pb, counts))
    return np.concatenate(reps) if reps else np.zeros(0)


def _paired_interval(diff: float, *, reps: np.ndarray, level: float) -> tuple[float, float, float]:
    """(diff, lo, hi) from the (R,) replicates: non-finite ones dropped, NaN bounds when none is left."""
    reps = reps[np.isfinite(reps)]
    if len(reps) == 0:
        return float(diff), math.nan, math.nan
    if np.all(reps == reps[0]) and reps[0] == diff:
        return float(diff), float(diff), float(diff)
    lo, hi = _quantiles(reps, level)
    return float(diff), lo, hi


# ---------------------------------------------------------------- over seeds


def _finite(v) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def paired_summary(a: Mapping, b: Mapping, *, level: float = 0.95, n_boot: int = 10000, n_perm: int = 10000,
                   seed: int = 0) -> dict:
    """Paired comparison of two `{seed: value}` dicts (e.g. test AUC per seed of a method and of uniform).

    Only the seeds in both dicts with finite values in both are paired (in sorted seed order).

    Returns:
        {"n", "mean_diff", "lo", "hi", "p", "level", "seeds"}: the mean of a - b, its `bootstrap_ci`, the
        `sign_flip_p`, and the seeds used. lo/hi are NaN for n < 2; everything but p and n is NaN for n = 0.
    """
    seeds = sorted((s for s in a if s in b and _finite(a[s]) and _finite(b[s])), key=lambda s: (str(type(s)), s))
    d = np.array([float(a[s]) - float(b[s]) for s in seeds], dtype=float)
    mean, lo, hi = bootstrap_ci(d, level=level, n_boot=n_boot, seed=seed)
    return {"n": int(len(d)), "mean_diff": mean, "lo": lo, "hi": hi, "p": sign_flip_p(d, n_perm=n_perm, seed=seed),
            "level": float(level), "seeds": list(seeds)}


# Fewest paired seeds for which `separates` may say yes: a bootstrap over 2-4 values is little more than their
# range, and an exact sign-flip test over n seeds cannot go below p = 2 / 2^n (0.125 at n = 4).
MIN_SEPARATION_N = 5


def separates(summary: Mapping) -> bool:
    """True only when the summary's CI [lo, hi] is defined and excludes 0 (lo > 0 or hi < 0) and, where it
    counts its pairs (`n`, as `paired_summary` does), there are at least `MIN_SEPARATION_N` of them. Not a
    significance test: see the module's caveats."""
    lo, hi = summary.get("lo"), summary.get("hi")
    if not (_finite(lo) and _finite(hi)):
        return False
    if summary.get("n") is not None and int(summary["n"]) < MIN_SEPARATION_N:
        return False
    return float(lo) > 0 or float(hi) < 0


def diff_text(summary: Mapping, digits: int = 3) -> str:
    """"+0.041 [+0.012, +0.070], p=0.03, n=5" of a `paired_summary` (also of a dict with diff/lo/hi, e.g. the
    item-level results of `paired_bootstrap_metric` as a dict, without p and n); "n/a" for undefined parts."""
    def num(v) -> str:
        return f"{float(v):+.{digits}f}" if _finite(v) else "n/a"

    mean = summary.get("mean_diff", summary.get("diff"))
    lo, hi = summary.get("lo"), summary.get("hi")
    text = num(mean)
    text += f" [{num(lo)}, {num(hi)}]" if _finite(lo) and _finite(hi) else " [n/a]"
    if "p" in summary:
        p = summary["p"]
        text += f", p={float(p):.2g}" if _finite(p) else ", p=n/a"
    if "n" in summary:
        text += f", n={int(summary['n'])}"
    return text
