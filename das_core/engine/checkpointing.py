"""Checkpoints of a run: best.pt / last.pt after each epoch, resume from last.pt, test metrics into best.pt.

`last.pt` carries the resume state in its `extra`: optimizer state, epoch, the early-stopping
counters and the CPU RNG state.
"""

from __future__ import annotations

import json
import torch

from ..atomic import atomic_write
from ..checkpoints import load_checkpoint, read_checkpoint, save_checkpoint
from ..errors import CheckpointError
from ..runs import RunPaths, read_metrics
from .early_stopping import EarlyStopping

__all__ = ["save_epoch", "resume", "record_test_metrics", "load_best"]


def save_epoch(paths: RunPaths, model, meta: dict, optimizer, epoch: int, stopping: EarlyStopping,
               record: dict, improved: bool) -> None:
    """Write best.pt (when `improved`, with the epoch's validation metrics) and last.pt (with resume state)."""
    if improved:
        val = {k: v for k, v in record.items() if k.startswith("val_")}
        save_checkpoint(paths.best, model, {**meta, "metrics": {"epoch": epoch, **val}})
    save_checkpoint(paths.last, model, meta, extra={
        "optimizer": optimizer.state_dict(), "epoch": epoch, **stopping.state_dict(), "rng": torch.get_rng_state(),
    })


def resume(paths: RunPaths, model, optimizer, stopping: EarlyStopping, *, rank0: bool) -> int:
    """Load last.pt into `model`, `optimizer` and `stopping`; returns the epoch to start from (0: fresh)."""
    if not paths.last.is_file():
        return 0
    payload = read_checkpoint(paths.last)
    extra = payload.get("extra") or {}
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError:
        raise CheckpointError(f"{paths.last} was made with other settings than this run; resume with the "
                              f"same options or choose a new --out folder.") from None
    if "optimizer" in extra:
        optimizer.load_state_dict(extra["optimizer"])
    stopping.load_state_dict(extra)
    if "rng" in extra:
        torch.set_rng_state(extra["rng"])
    start = int(extra.get("epoch", -1)) + 1
    if rank0 and start > 0:
        _truncate_metrics(paths, start)
    return start


def _truncate_metrics(paths: RunPaths, start_epoch: int) -> None:
    """Drop metric lines of epochs >= start_epoch (a killed run may have logged one past last.pt)."""
    kept = [r for r in read_metrics(paths.root) if int(r.get("epoch", 0)) < start_epoch]
    with atomic_write(paths.metrics, "w") as fh:
        for r in kept:
            fh.write(json.dumps(r) + "\n")


def record_test_metrics(paths: RunPaths, model, test: dict) -> None:
    """Add the test metrics to best.pt's meta (what the app shows for a checkpoint); `model` is best.pt's,
    as `load_best` returned it (its `meta` is the file's), so the file is not read again."""
    meta = dict(model.meta)
    meta["metrics"] = {**(meta.get("metrics") or {}), "test_balanced_accuracy": test["balanced_accuracy"],
                       "test_auc": test["auc"], "test_accuracy": test["accuracy"]}
    save_checkpoint(paths.best, model, meta)


def load_best(paths: RunPaths, device: torch.device):
    """The best checkpoint's model on `device` (its `meta` attached)."""
    model, _ = load_checkpoint(paths.best, map_location="cpu")
    return model.to(device)
