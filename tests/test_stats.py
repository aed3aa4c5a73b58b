"""das_core.stats: paired bootstrap CIs, the sign-flip test, the item-level paired bootstrap of a metric."""

import math

import numpy as np
import pytest

from das_core.metrics import auc_score, classification_metrics
from das_core.stats import (bootstrap_ci, diff_text, paired_bootstrap_metric, paired_summary, separates,
                            sign_flip_p, weighted_auc, weighted_balanced_accuracy)


def test_bootstrap_ci_of_a_constant_is_that_constant():
    assert bootstrap_ci([0.25] * 6) == (0.25, 0.25, 0.25)
    assert bootstrap_ci([0.0, 0.0]) == (0.0, 0.0, 0.0)


def test_bootstrap_ci_contains_the_mean_and_is_reproducible():
    d = np.random.default_rng(3).normal(0.04, 0.03, size=5)
    mean, lo, hi = bootstrap_ci(d, n_boot=4000, seed=1)
    assert mean == pytest.approx(d.mean())
    assert lo < mean < hi
    assert bootstrap_ci(d, n_boot=4000, seed=1) == (mean, lo, hi)
    assert bootstrap_ci(d, level=0.5, n_boot=4000, seed=1)[1] >= lo  # a lower level gives a narrower interval


def test_bootstrap_ci_of_one_value_has_no_interval():
    mean, lo, hi = bootstrap_ci([0.3])
    assert mean == 0.3 and math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(v) for v in bootstrap_ci([]))


def test_sign_flip_p_is_exact_for_few_values():
    assert sign_flip_p([1, 1, 1, 1, 1]) == 2 / 32 == 0.0625
    assert sign_flip_p([0, 0, 0, 0]) == 1.0
    assert sign_flip_p([1, -1]) == 1.0
    assert sign_flip_p([0.5, 0.1, 0.2]) == 2 / 8  # only all-plus and all-minus reach |mean| = 0.267
    assert sign_flip_p([-0.5, -0.1, -0.2]) == 2 / 8  # two-sided


def test_sign_flip_p_monte_carlo_for_many_values():
    d = np.random.default_rng(0).normal(1.0, 1.0, size=40)
    p = sign_flip_p(d, n_perm=2000)
    assert 0 < p <= 1 / 2001 * 5
    assert sign_flip_p(np.r_[d, -d], n_perm=2000) == 1.0  # mean exactly 0: every pattern reaches it


def test_weighted_metrics_equal_the_project_metrics_on_resamples():
    rng = np.random.default_rng(5)
    for C in (2, 3):
        y = rng.integers(0, C, 40)
        p = np.round(rng.random((40, C)), 1)  # many ties
        for _ in range(10):
            idx = rng.integers(0, 40, 40)
            w = np.bincount(idx, minlength=40)[None].astype(float)
            want = auc_score(y[idx], p[idx])
            got = weighted_auc(y, p, w)[0]
            assert (want is None and math.isnan(got)) or got == pytest.approx(want, abs=1e-12)
            ba = classification_metrics(y[idx], p[idx])["balanced_accuracy"]
            assert weighted_balanced_accuracy(y, p, w)[0] == pytest.approx(ba, abs=1e-12)


def test_paired_bootstrap_metric_of_identical_scores_is_zero():
    rng = np.random.default_rng(1)
    y = np.arange(60) % 2
    s = rng.random(60)
    assert paired_bootstrap_metric(y, s, s) == (0.0, 0.0, 0.0)
    y3 = np.arange(60) % 3
    p3 = rng.random((60, 3))
    assert paired_bootstrap_metric(y3, p3, p3.copy(), n_boot=200) == (0.0, 0.0, 0.0)


def test_paired_bootstrap_metric_perfect_beats_random():
    rng = np.random.default_rng(2)
    y = rng.permutation(np.arange(200) % 2)
    perfect, noise = y.astype(float), rng.random(200)
    diff, lo, hi = paired_bootstrap_metric(y, perfect, noise)
    assert diff == pytest.approx(1.0 - auc_score(y, np.stack([1 - noise, noise], 1)))
    assert diff > 0 and 0 < lo <= diff <= hi
    # (N, 2) probabilities give the same as the positive-class column
    two = paired_bootstrap_metric(y, np.stack([1 - perfect, perfect], 1), np.stack([1 - noise, noise], 1))
    assert two == pytest.approx((diff, lo, hi))
    # multi-class, one-vs-rest macro AUC, and a metric given as a function
    y3 = np.arange(150) % 3
    d3, lo3, _ = paired_bootstrap_metric(y3, np.eye(3)[y3], rng.random((150, 3)), n_boot=300)
    assert d3 > 0 and lo3 > 0
    fn = paired_bootstrap_metric(y, perfect, noise, metric=lambda yy, pp: auc_score(yy, pp), n_boot=100)
    assert fn[0] == pytest.approx(diff) and fn[1] > 0


def test_paired_bootstrap_metric_skips_one_class_resamples():
    y = np.array([0] * 19 + [1])  # many resamples miss the single positive
    s = np.linspace(0, 1, 20)
    diff, lo, hi = paired_bootstrap_metric(y, s, 1 - s, n_boot=300)
    assert (diff, lo, hi) == (1.0, 1.0, 1.0)  # every usable resample ranks the positive first under s, last under 1 - s
    assert all(math.isnan(v) for v in paired_bootstrap_metric([1] * 5, s[:5], s[:5]))  # undefined on the items


def test_paired_summary_separates_and_text():
    a = {0: 0.80, 1: 0.82, 2: 0.79, 3: 0.85, 4: 0.81, 9: 0.9}
    b = {0: 0.77, 1: 0.78, 2: 0.76, 3: 0.80, 4: 0.79, 7: 0.5}
    s = paired_summary(a, b)
    assert s["n"] == 5 and s["seeds"] == [0, 1, 2, 3, 4]
    assert s["mean_diff"] == pytest.approx(0.034)
    assert s["p"] == 0.0625 and separates(s)
    text = diff_text(s)
    assert text.startswith("+0.034 [+") and text.endswith(", p=0.062, n=5")
    straddles = paired_summary({0: 0.8, 1: 0.7, 2: 0.9}, {0: 0.75, 1: 0.78, 2: 0.85})
    assert straddles["lo"] < 0 < straddles["hi"] and not separates(straddles)
    one = paired_summary({0: 0.8}, {0: 0.7})
    assert not separates(one) and diff_text(one) == "+0.100 [n/a], p=1, n=1"
    assert separates({"lo": -0.2, "hi": -0.01}) and not separates({"lo": 0.0, "hi": 0.1})
    two = paired_summary({0: 0.9, 1: 0.91}, {0: 0.7, 1: 0.72})  # the same sign twice: a CI above 0, not a separation
    assert two["lo"] > 0 and not separates(two)
    four = paired_summary({s: 0.9 + s / 100 for s in range(4)}, {s: 0.7 for s in range(4)})
    assert four["lo"] > 0 and not separates(four)
