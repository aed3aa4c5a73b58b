"""Early stopping: which epoch is best, and when to stop.

The criterion is any metric of the epoch record (`MONITORS`, the one list of them, with whether higher or
lower is better): `"val_auc"` (the default) keeps the epoch with the highest validation AUC, `"val_loss"`
the lowest validation loss, `"val_balanced_accuracy"` the highest balanced accuracy, and so on. The
project's calibration (docs/method-notes.md, "Calibration") found the validation loss often lowest at
epoch 0 while AUC still improves, so raw loss stopping keeps an untrained model: hence `min_epochs` (no
epoch before it can become best, no stop before it) and `patience` (epochs without improvement before
stopping). `"none"` trains every epoch and keeps the last as best. Where the watched metric is undefined
(AUC with one class in the validation split), -val_loss is used.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional

__all__ = ["EarlyStopping", "MONITORS", "CRITERIA", "score"]

# the epoch record's metrics early stopping can watch -> "max" (higher is better) or "min"
MONITORS = {"val_auc": "max", "val_balanced_accuracy": "max", "val_accuracy": "max", "val_loss": "min",
            "train_loss": "min"}
CRITERIA = (*MONITORS, "none")


def _finite(v) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def score(record: dict, criterion: str) -> float:
    """Higher is better: the watched metric (negated for a "min" one), or -val_loss where it is undefined.

    Args:
        record: the epoch record (`val_auc`, `val_loss`, ...).
        criterion: a key of `MONITORS`.
    """
    assert criterion in MONITORS, f"criterion must be one of {', '.join(MONITORS)}, got {criterion!r}"
    value = record.get(criterion)
    if _finite(value):
        return float(value) if MONITORS[criterion] == "max" else -float(value)
    loss = record.get("val_loss")
    return -float(loss) if _finite(loss) else -math.inf


@dataclass
class EarlyStopping:
    """Args:
    criterion: a metric of the epoch record (a key of `MONITORS`), or "none".
    min_epochs: epochs before any can count as best and before stopping.
    patience: epochs without improvement before stopping.
    epochs: the run's maximum epochs (the last one is always eligible as best).
    """

    criterion: str = "val_auc"
    min_epochs: int = 3
    patience: int = 5
    epochs: int = 10
    best_score: Optional[float] = None
    best_epoch: int = -1
    bad_epochs: int = 0

    def update(self, epoch: int, record: dict) -> bool:
        """Record epoch `epoch`'s metrics (its epoch record); True when it is the new best epoch."""
        improved = False
        if self.criterion == "none":
            improved = True
        elif epoch + 1 >= self.min_epochs or epoch == self.epochs - 1:
            s = score(record, self.criterion)
            if self.best_epoch < 0 or self.best_score is None or s > self.best_score:
                self.best_score, improved = s, True
        if improved:
            self.best_epoch, self.bad_epochs = epoch, 0
        elif epoch + 1 >= self.min_epochs:
            self.bad_epochs += 1
        return improved

    def should_stop(self, epoch: int) -> bool:
        return (self.criterion != "none" and epoch + 1 >= self.min_epochs and self.bad_epochs >= self.patience)

    def state_dict(self) -> dict:
        state = asdict(self)
        if state["best_score"] is not None and not math.isfinite(state["best_score"]):
            state["best_score"] = None
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore the counters (settings stay as constructed; older checkpoints lack some keys)."""
        best = state.get("best_score")
        self.best_score = float(best) if best is not None else None
        self.best_epoch = int(state.get("best_epoch", -1))
        self.bad_epochs = int(state.get("bad_epochs", 0))
