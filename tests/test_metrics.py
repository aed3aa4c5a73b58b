"""das_core.metrics against scikit-learn on known inputs, incl. multi-class AUC and undefined AUC."""

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from das_core.metrics import auc_score, classification_metrics, softmax_np


def test_binary_matches_sklearn():
    y = np.array([0, 0, 1, 1, 1, 0])
    p1 = np.array([0.1, 0.6, 0.7, 0.4, 0.9, 0.2])
    probs = np.stack([1 - p1, p1], axis=1)
    m = classification_metrics(y, probs)
    assert m["auc"] == pytest.approx(roc_auc_score(y, p1))
    pred = (p1 > 0.5).astype(int)
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert m["accuracy"] == pytest.approx((pred == y).mean())
    assert m["confusion_matrix"] == [[2, 1], [1, 2]]
    assert m["n"] == 6


def test_multiclass_ovr_macro_auc_matches_sklearn():
    rng = np.random.default_rng(0)
    y = np.array([0, 1, 2, 0, 1, 2, 2, 1, 0, 2])
    probs = softmax_np(rng.normal(size=(10, 3)) + np.eye(3)[y])
    m = classification_metrics(y, probs)
    assert m["auc"] == pytest.approx(roc_auc_score(y, probs, multi_class="ovr", average="macro"))
    assert np.array(m["confusion_matrix"]).shape == (3, 3)
    assert np.array(m["confusion_matrix"]).sum() == 10


def test_single_class_auc_is_none_not_a_crash():
    y = np.array([1, 1, 1])
    probs = np.array([[0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    m = classification_metrics(y, probs, loss=0.5)
    assert m["auc"] is None
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["balanced_accuracy"] == pytest.approx(2 / 3)
    assert m["loss"] == 0.5


def test_multiclass_with_a_missing_class_averages_defined_aucs():
    y = np.array([0, 1, 0, 1])  # class 2 absent
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.5, 0.3, 0.2], [0.3, 0.4, 0.3]])
    expected = np.mean([roc_auc_score(y == c, probs[:, c]) for c in (0, 1)])
    assert auc_score(y, probs) == pytest.approx(expected)


def test_empty_set():
    m = classification_metrics(np.zeros(0, int), np.zeros((0, 2)))
    assert m["auc"] is None and m["accuracy"] is None and m["n"] == 0
