"""Early stopping: which epoch is best, and when to stop.

`criterion="val_auc"` (the default) keeps the epoch with the highest validation AUC, `"val_loss"`
the lowest validation loss. The project's calibration (docs/method-notes.md, "Calibration") found
the validation loss often lowest at epoch 0 while AUC still improves, so raw loss stopping keeps an
untrained model: hence `min_epochs` (no epoch before it can become best, no stop before it) and
`patience` (epochs without improvement before stopping). `"none"` trains every epoch and keeps the
last as best. Where AUC is undefined (one class in the validation split), -val_loss is used.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional

__all__ = ["EarlyStopping", "score"]


def score(metrics: dict, criterion: str) -> float:
    """Higher is better: AUC (or -loss where AUC is undefined), or -loss under "val_loss"."""
    loss = metrics.get("loss")
    loss = float("inf") if loss is None else loss
    if criterion == "val_loss":
        return -loss
    auc = metrics.get("auc")
    return auc if auc is not None else -loss


@dataclass
class EarlyStopping:
    """Args:
    criterion: "val_auc", "val_loss" or "none".
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

    def update(self, epoch: int, metrics: dict) -> bool:
        """Record epoch `epoch`'s validation metrics; True when it is the new best epoch."""
        improved = False
        if self.criterion == "none":
            improved = True
        elif epoch + 1 >= self.min_epochs or epoch == self.epochs - 1:
            s = score(metrics, self.criterion)
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
