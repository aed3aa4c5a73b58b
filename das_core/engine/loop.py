"""Phase 2 of a run: one training epoch, and the evaluation pass used for validation and test."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ..metrics import classification_metrics
from ..nn.model import SubsampledClassifier
from .precision import autocast

__all__ = ["StopTraining", "should_stop", "LossModule", "train_one_epoch", "evaluate_model"]


class StopTraining(Exception):
    """Raised inside the loop when the stop event is set."""


def should_stop(stop_event) -> bool:
    """`stop_event`: None, a threading.Event-like (`is_set()`) or a callable returning bool."""
    if stop_event is None:
        return False
    if hasattr(stop_event, "is_set"):
        return bool(stop_event.is_set())
    return bool(stop_event())


class LossModule(nn.Module):
    """forward(x, y) -> (loss, logits) via `model.training_loss`, so DDP sees a forward call."""

    def __init__(self, model: SubsampledClassifier, criterion: Callable):
        super().__init__()
        self.model = model
        self.criterion = criterion

    def forward(self, x: Tensor, y: Tensor, all_frames: bool = False) -> tuple[Tensor, Tensor]:
        if all_frames:
            return self.model.all_frames_loss(x, y, self.criterion)
        loss, logits, _ = self.model.training_loss(x, y, self.criterion)
        return loss, logits


def train_one_epoch(net: nn.Module, model: SubsampledClassifier, loader: DataLoader, optimizer, device: torch.device,
                    *, steps: int, freeze_sampler: bool = False, all_frames: bool = False, stop_event=None,
                    on_batch: Optional[Callable[[int, float], None]] = None, precision: str = "fp32",
                    scaler=None) -> tuple[float, int]:
    """Train `net` (the loss module, maybe DDP-wrapped) for at most `steps` batches.

    `freeze_sampler`: the sampler's gradients are dropped, so Adam skips its parameters (warm-up).
    `all_frames`: the task network is trained on all T frames and the sampler is not run (a warm-up).
    `precision`: the forward pass under `precision.autocast` ("bf16", "fp16"); `scaler`: the float16
    gradient scaler (`precision.grad_scaler`). Returns (summed loss over items, items seen). Raises
    StopTraining when `stop_event` is set.
    """
    net.train()
    total, n = 0.0, 0
    for step, (x, y) in enumerate(loader):
        if step >= steps:
            break
        if should_stop(stop_event):
            raise StopTraining()
        x, y = x.to(device, non_blocking=True), torch.as_tensor(y).to(device, non_blocking=True)
        with autocast(device, precision):
            loss, _ = net(x, y, all_frames=all_frames)
        optimizer.zero_grad(set_to_none=True)
        (scaler.scale(loss) if scaler is not None else loss).backward()
        if freeze_sampler:
            for p in model.sampler.parameters():
                p.grad = None
        if scaler is not None:
            scaler.step(optimizer)  # skips the step when the scaled gradients overflowed
            scaler.update()
        else:
            optimizer.step()
        value = float(loss.detach())
        total += value * len(y)
        n += len(y)
        if on_batch is not None:
            on_batch(step, value)
    return total, n


@torch.no_grad()
def evaluate_model(model: SubsampledClassifier, loader: DataLoader, device: torch.device, *, num_classes: int,
                   max_batches: Optional[int] = None, stop_event=None, precision: str = "fp32") -> dict:
    """Eval-mode pass over `loader`: `classification_metrics` plus the mean cross-entropy `loss`
    (the forward pass under `precision.autocast`)."""
    was_training = model.training
    model.eval()
    probs, ys, total, n = [], [], 0.0, 0
    try:
        for i, (x, y) in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            if should_stop(stop_event):
                raise StopTraining()
            x, y = x.to(device, non_blocking=True), torch.as_tensor(y).to(device, non_blocking=True)
            with autocast(device, precision):
                logits, _ = model(x)
            total += float(F.cross_entropy(logits.float(), y, reduction="sum"))
            n += len(y)
            probs.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
            ys.append(y.cpu().numpy())
    finally:
        model.train(was_training)
    p = np.concatenate(probs) if probs else np.zeros((0, num_classes))
    yy = np.concatenate(ys) if ys else np.zeros((0,), dtype=int)
    return classification_metrics(yy, p, num_classes=num_classes, loss=total / max(n, 1) if n else None)
