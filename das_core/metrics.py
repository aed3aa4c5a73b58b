"""Classification metrics with scikit-learn: balanced accuracy, AUC, accuracy, confusion matrix.

AUC: binary tasks use the positive class's probability; multi-class tasks use one-vs-rest macro
AUC (the mean of the per-class AUCs, as `roc_auc_score(multi_class="ovr", average="macro")`).
Where AUC is undefined (only one class present in the labels) it is `None`, never an exception;
for multi-class sets where only some classes are present, the macro mean runs over the classes
whose one-vs-rest AUC is defined.
"""

from __future__ import annotations

import math
import warnings
from typing import Optional, Sequence

import numpy as np

# scikit-learn is imported where a metric is computed, not with this module: `sklearn.metrics` (with scipy) takes
# ~1.5 s to import, and every app page imports the library through here before it computes anything.

__all__ = ["classification_metrics", "balanced_accuracy", "auc_score", "softmax_np"]


def softmax_np(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, C) logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def auc_score(y_true: Sequence[int], probs: np.ndarray) -> Optional[float]:
    """Binary AUC or one-vs-rest macro AUC; None where undefined.

    Args:
        y_true: (N,) int labels.
        probs: (N, C) class probabilities (or scores).
    """
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(probs, dtype=float)
    if len(y) == 0 or len(np.unique(y)) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    n_classes = p.shape[1]
    if n_classes == 2:
        return float(roc_auc_score(y, p[:, 1]))
    per_class = []
    for c in range(n_classes):
        pos = y == c
        if pos.any() and (~pos).any():
            per_class.append(roc_auc_score(pos.astype(int), p[:, c]))
    return float(np.mean(per_class)) if per_class else None


def balanced_accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Mean recall over the classes present in `y_true` (scikit-learn's `balanced_accuracy_score`); NaN for no
    items. A predicted class absent from `y_true` counts against the recall of the true one, not as a class."""
    y, pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    if y.size == 0:
        return float("nan")
    from sklearn.metrics import balanced_accuracy_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
        return float(balanced_accuracy_score(y, pred))


def classification_metrics(
    y_true: Sequence[int],
    probs: np.ndarray,
    *,
    num_classes: Optional[int] = None,
    loss: Optional[float] = None,
) -> dict:
    """All metrics of a labelled set.

    Args:
        y_true: (N,) int labels.
        probs: (N, C) class probabilities (softmax of the logits).
        num_classes: C (default: probs.shape[1]); the confusion matrix is C x C.
        loss: mean loss, copied into the result when given.

    Returns:
        {"balanced_accuracy", "auc", "accuracy", "confusion_matrix" (list of lists, rows = true
        class), "n", "loss"?}. Undefined values are None.
    """
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(probs, dtype=float)
    C = int(num_classes or p.shape[1])
    out: dict = {"n": int(len(y))}
    if len(y) == 0:
        out.update(balanced_accuracy=None, auc=None, accuracy=None, confusion_matrix=[[0] * C for _ in range(C)])
    else:
        from sklearn.metrics import accuracy_score, confusion_matrix

        pred = p.argmax(axis=1)
        out["balanced_accuracy"] = balanced_accuracy(y, pred)
        out["auc"] = auc_score(y, p)
        out["accuracy"] = float(accuracy_score(y, pred))
        out["confusion_matrix"] = confusion_matrix(y, pred, labels=list(range(C))).tolist()
    if loss is not None:
        out["loss"] = None if not math.isfinite(loss) else float(loss)
    return out
