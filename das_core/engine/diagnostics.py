"""Sampler diagnostics logged during training (`TrainConfig.diagnostics_every`): is the sampler's
learning signal informative?

Every N optimizer steps, on a fixed probe batch of training items whose informative frame is known
(the synthetic sets' `meta(i)["informative_frames"]`), one line goes to `diagnostics.jsonl`:

- `spread_to_noise`: the spread (std over the T frames) of the row logits A, divided by the Gumbel
  noise's std (pi / sqrt(6) = 1.28). Near 0, training picks are random and the deterministic eval
  picks are the argmax of tiny differences.
- `grad_mean`, `grad_t`: the descent direction of the training loss on the informative frame's logit
  (minus the gradient, summed over the k rows; positive = the step raises its score): its mean over
  the probe items and its t-statistic. This is the gradient of the estimator in force (straight-through
  or score-function).
- `grad_corr`: the correlation, over the probe items, between that descent direction and the true
  benefit of keeping the frame: the loss with the frame forced out of the (eval) picks minus the loss
  with it forced in. A useful signal correlates positively.
- `benefit_mean`: the mean of that benefit (positive once the backbone can use the frame).
- `hit_rate`, `informative_rank`: how often the deterministic (eval) picks keep the informative frame,
  and its mean rank among the T frames by the sampler's scores (1 = top).

The probe pass runs the model in training mode (noise on, as the optimizer sees it) and then
restores the BatchNorm running statistics and the random number generators, so logging does not
change training (tested: the same final weights with and without it).
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np
import torch
from torch import Tensor

from ..nn.model import SubsampledClassifier

__all__ = ["SamplerDiagnostics", "GUMBEL_STD"]

GUMBEL_STD = math.pi / math.sqrt(6)


class SamplerDiagnostics:
    """Args:
    model: the classifier being trained.
    dataset: the training split (items with `meta(i)["informative_frames"]`).
    criterion: the training criterion (accepts `reduction="none"`).
    device: where the model runs.
    size: probe items.
    seed: which items (fixed for the whole run).
    """

    def __init__(self, model: SubsampledClassifier, dataset, criterion: Callable, device: torch.device, *,
                 size: int = 32, seed: int = 0):
        self.criterion = criterion
        self.active = bool(model.sampler.learned) and callable(getattr(dataset, "meta", None)) and len(dataset) > 1
        if not self.active:
            return
        g = np.random.default_rng(seed)
        idx = g.choice(len(dataset), size=min(size, len(dataset)), replace=False).tolist()
        informative = [dataset.meta(i).get("informative_frames") for i in idx]
        if any(not f for f in informative):
            self.active = False
            return
        self.x = torch.stack([dataset[i][0] for i in idx]).to(device)  # (n, T, C, H, W)
        self.y = torch.as_tensor([int(dataset[i][1]) for i in idx], device=device)
        self.informative = torch.as_tensor([f[0] for f in informative], device=device)  # (n,)

    def __call__(self, model: SubsampledClassifier, step: int) -> Optional[dict]:
        if not self.active:
            return None
        buffers = {k: v.clone() for k, v in model.named_buffers()}
        rng = torch.get_rng_state()  # the probe's Gumbel draws must not shift training's
        cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        was_training = model.training
        try:
            grad, spread = self._gradient(model)
            benefit, hit_rate, rank = self._benefit(model)
        finally:
            with torch.no_grad():
                for k, v in model.named_buffers():
                    v.copy_(buffers[k])
            model.train(was_training)
            model.zero_grad(set_to_none=True)
            torch.set_rng_state(rng)
            if cuda_rng is not None:
                torch.cuda.set_rng_state_all(cuda_rng)
        record = {"step": step, "spread_to_noise": spread / GUMBEL_STD, "grad_mean": None, "grad_t": None,
                  "grad_corr": None, "benefit_mean": float(benefit.mean()), "hit_rate": hit_rate,
                  "informative_rank": rank}
        if grad is None:
            return record if math.isfinite(spread) else None
        descent = -grad
        n = descent.numel()
        std = float(descent.std()) if n > 1 else 0.0
        corr = float(np.corrcoef(descent.cpu().numpy(), benefit.cpu().numpy())[0, 1]) \
            if n > 2 and std > 0 and float(benefit.std()) > 0 else None
        record.update(grad_mean=float(descent.mean()),
                      grad_t=float(descent.mean()) / (std / math.sqrt(n)) if std > 0 else None,
                      grad_corr=corr if corr is None or math.isfinite(corr) else None)
        return record

    def _gradient(self, model: SubsampledClassifier) -> tuple[Optional[Tensor], float]:
        """Per-item gradient of the training loss on the informative frame's logit, and A's spread."""
        model.train()
        model.zero_grad(set_to_none=True)
        loss, _, sel = model.training_loss(self.x, self.y, self.criterion)
        if sel.logits is None:
            return None, float("nan")
        sel.logits.retain_grad()
        loss.backward()
        n = self.x.shape[0]
        spread = float(sel.logits.detach().std(dim=-1).mean())
        if sel.logits.grad is None:  # logits stacked after the fact (ADPS's steps): no gradient to read
            return None, spread
        rows = sel.logits.grad[torch.arange(n), :, self.informative]  # (n, k)
        return rows.sum(dim=1) * n, spread  # per item (the loss is a mean over the n items)

    @torch.no_grad()
    def _benefit(self, model: SubsampledClassifier) -> tuple[Tensor, float, Optional[float]]:
        """(loss with the informative frame forced out of the eval picks minus the loss with it forced in,
        the eval picks' hit rate, the informative frame's mean rank by score (1 = top; None without scores))."""
        model.eval()
        sel = model.select(self.x)
        scores = sel.scores if sel.scores is not None else torch.zeros(self.x.shape[:2], device=self.x.device)
        picks = sel.indices.clone()  # (n, k)
        n = picks.shape[0]
        hit_rate = float((picks == self.informative[:, None]).any(dim=1).float().mean())
        rank = None
        if sel.scores is not None:  # 1 + the frames scored above the informative one (ties: the mid rank)
            own = scores[torch.arange(n), self.informative][:, None]
            above, tied = (scores > own).sum(dim=1), (scores == own).sum(dim=1) - 1
            rank = float((above + 1 + tied / 2).float().mean())
        inside, outside = picks.clone(), picks.clone()
        for b in range(picks.shape[0]):
            t = int(self.informative[b])
            row = picks[b].tolist()
            if t in row:
                rest = [f for f in scores[b].argsort(descending=True).tolist() if f not in row]
                outside[b, row.index(t)] = rest[0] if rest else t
            else:
                weakest = min(range(len(row)), key=lambda j: float(scores[b, row[j]]))
                inside[b, weakest] = t
        return self._loss(model, outside) - self._loss(model, inside), hit_rate, rank

    def _loss(self, model: SubsampledClassifier, picks: Tensor) -> Tensor:
        frames = self.x[torch.arange(picks.shape[0])[:, None], picks.sort(dim=1).values]  # (n, k, C, H, W)
        logits = model.head(model._pool(model.frame_features(frames)))
        return self.criterion(logits, self.y, reduction="none")
