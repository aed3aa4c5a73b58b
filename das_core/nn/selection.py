"""What a sampler returns (`Selection`) and the Gumbel top-k machinery the learned samplers share.

Numerical choices (see docs/method-notes.md, "Pitfalls"):
- Gumbel noise is `-log(-log(u))` with `u` clamped into `(eps, 1 - eps)`, so it is always finite.
- Rows are divided by the temperature *before* already-picked frames are masked, and the mask is a
  large finite negative number, never `-inf`: `-inf / tau` would give NaN gradients for a
  learnable `tau`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import torch
from torch import Tensor

__all__ = ["Selection", "gumbel_noise", "sequential_topk", "straight_through", "one_hot_rows"]

_EPS = 1e-6


@dataclass
class Selection:
    """The k frames a sampler picked for each sequence of a batch.

    Rows are in ascending time order: row j of `matrix` (and of `soft`) selects frame `indices[:, j]`.

    Attributes:
        indices: (B, k) long, ascending, distinct, in [0, T).
        matrix: (B, k, T) one-hot rows. In training, for learned samplers, it is the
            straight-through matrix `hard + soft - soft.detach()`, so gradients reach the sampler.
        soft: (B, k, T) relaxed rows (softmax at temperature tau), None where there is no relaxation.
        scores: (B, T) per-frame scores (None for full/uniform/random).
        head_scores: (B, H, T) per-head base attention scores (DAS only).
        tau: (B,) temperature used for each sample, where one is used.
        pick_rank: (B, k) long, the step at which each row was picked (0 = first pick). The samplers
            pick rows one after the other (without replacement); ADPS uses the order for its
            per-step losses, the app shows it.
        features: (B, k, D) the task network's features of the picked frames, where the sampler
            computed them itself (ADPS); the classifier then reuses them.
        logits: (B, k, T) the row logits A the picks were drawn from (learned samplers), rows in
            pick order as computed (row j made the pick whose `pick_rank` is j).
        log_prob: (B,) in training, the log-probability of the drawn picks under the Gumbel top-k
            (sequential softmax over the frames not yet taken), for score-function gradients.
        differentiable: True when `gather` must carry gradients (learned sampler in training mode).
    """

    indices: Tensor
    matrix: Tensor
    soft: Optional[Tensor] = None
    scores: Optional[Tensor] = None
    head_scores: Optional[Tensor] = None
    tau: Optional[Tensor] = None
    pick_rank: Optional[Tensor] = None
    features: Optional[Tensor] = None
    logits: Optional[Tensor] = None
    log_prob: Optional[Tensor] = None
    differentiable: bool = False

    @property
    def num_selected(self) -> int:
        return self.indices.shape[1]

    @property
    def num_frames(self) -> int:
        return self.matrix.shape[2]

    def gather(self, x: Tensor) -> Tensor:
        """Select the picked frames of `x` (B, T, C, H, W) -> (B, k, C, H, W).

        Differentiable (`matrix @ x`) when `self.differentiable`; otherwise an index gather, so no
        work is spent on frames that were not picked.
        """
        assert x.dim() >= 3, f"gather expects (B, T, ...) input, got shape {tuple(x.shape)}"
        B, T = x.shape[:2]
        assert (B, T) == (self.indices.shape[0], self.num_frames), (
            f"gather: input has (B, T) = {(B, T)} but the selection was made for "
            f"{(self.indices.shape[0], self.num_frames)}"
        )
        if self.differentiable:
            m = self.matrix.to(x.dtype)
            return torch.einsum("bkt,bt...->bk...", m, x)  # (B, k, C, H, W)
        if self.num_selected == T:  # full sequence, already in order
            return x
        batch = torch.arange(B, device=x.device)[:, None]  # (B, 1)
        return x[batch, self.indices]  # (B, k, C, H, W)

    def detach(self) -> "Selection":
        """A copy with every tensor detached (for display and logging)."""
        fields = {}
        for name in ("indices", "matrix", "soft", "scores", "head_scores", "tau", "pick_rank", "features", "logits",
                     "log_prob"):
            value = getattr(self, name)
            fields[name] = value.detach() if isinstance(value, Tensor) else value
        return replace(self, differentiable=False, **fields)


def one_hot_rows(indices: Tensor, num_frames: int, dtype=torch.float32) -> Tensor:
    """(B, k) indices -> (B, k, T) one-hot rows."""
    return torch.nn.functional.one_hot(indices, num_frames).to(dtype)


def gumbel_noise(shape, *, device=None, dtype=torch.float32, generator=None) -> Tensor:
    """Standard Gumbel(0, 1) samples, always finite: u is clamped into (eps, 1 - eps)."""
    u = torch.rand(shape, device=device, dtype=torch.float32, generator=generator)
    u = u.clamp(_EPS, 1.0 - _EPS)
    return (-torch.log(-torch.log(u))).to(dtype)


def _mask_value(dtype) -> float:
    # Large and finite: exp(mask - max) underflows to exactly 0 but never creates inf - inf.
    return torch.finfo(dtype).min / 4


def straight_through(hard: Tensor, soft: Tensor) -> Tensor:
    """Forward value `hard`, gradient of `soft`."""
    return hard + soft - soft.detach()


def sequential_topk(
    logits: Tensor,
    perturbed: Tensor,
    tau: Tensor,
    *,
    want_soft: bool = True,
    shared_rows: bool = False,
) -> tuple[Tensor, Tensor, Optional[Tensor]]:
    """Pick k distinct frames row by row (sampling without replacement, as DPS's top-k).

    Row j picks `argmax_t perturbed[:, j, t]` over the frames that rows < j have not taken, and its
    relaxed row is `softmax_t(perturbed[:, j] / tau)` with the taken frames masked *after* the
    division. With noise-free `perturbed` this is a deterministic top-k.

    The picks need a short loop over rows (argmax + mask, no gradient); the relaxed rows are then
    computed for all rows at once. `shared_rows=True` (every row has the same perturbed logits, as in
    DPS) replaces the loop by one `topk`.

    Args:
        logits: (B, k, T) the unperturbed row logits (only used for shape/dtype here).
        perturbed: (B, k, T) logits plus Gumbel noise (or the logits themselves, noise off).
        tau: (B,) positive temperatures.
        want_soft: compute the relaxed rows (needed for straight-through and for display).
        shared_rows: all k rows of `perturbed` are equal.

    Returns:
        picks (B, k) long in pick order, hard (B, k, T) one-hot rows in pick order,
        soft (B, k, T) relaxed rows in pick order (or None).
    """
    B, k, T = logits.shape
    assert tau.shape == (B,), f"tau must have shape ({B},), got {tuple(tau.shape)}"
    neg = _mask_value(perturbed.dtype)
    with torch.no_grad():
        z = perturbed.detach()
        if shared_rows:
            picks_t = z[:, 0].topk(k, dim=-1).indices  # (B, k), in pick (descending) order
        else:
            taken = torch.zeros(B, T, dtype=torch.bool, device=logits.device)
            batch = torch.arange(B, device=logits.device)
            picks = []
            for j in range(k):
                pick = z[:, j].masked_fill(taken, neg).argmax(dim=-1)  # (B,)
                taken[batch, pick] = True
                picks.append(pick)
            picks_t = torch.stack(picks, dim=1)  # (B, k)
    hard = one_hot_rows(picks_t, T, dtype=logits.dtype)  # (B, k, T)
    soft = None
    if want_soft:
        earlier = (hard.cumsum(dim=1) - hard).bool()  # frames taken by rows < j
        scaled = perturbed / tau[:, None, None]  # divide first, then mask
        soft = torch.softmax(scaled.masked_fill(earlier, neg), dim=-1)
    return picks_t, hard, soft


def pick_log_prob(logits: Tensor, hard: Tensor, exploration: float = 0.0) -> Tensor:
    """log P(picks) under Gumbel top-k: row j picks from softmax(logits[:, j]) over the frames rows < j
    left; with `exploration` = eps, from the mixture (1 - eps) softmax + eps uniform over those frames.
    logits (B, k, T), hard (B, k, T) one-hot rows in pick order -> (B,)."""
    earlier = (hard.cumsum(dim=1) - hard).bool()
    p = torch.softmax(logits.masked_fill(earlier, _mask_value(logits.dtype)), dim=-1)
    if exploration > 0:
        left = (~earlier).sum(dim=-1, keepdim=True).to(p.dtype)  # (B, k, 1) frames each row chose from
        p = (1 - exploration) * p + exploration * (~earlier).to(p.dtype) / left
    return (torch.log(p.clamp_min(1e-30)) * hard).sum(dim=(1, 2))


def sort_rows(picks: Tensor, *rows: Optional[Tensor]) -> tuple[Tensor, Tensor, list]:
    """Reorder pick-order rows into ascending time order.

    Returns (indices (B, k) ascending, pick_rank (B, k), [each of `rows` permuted the same way]).
    """
    indices, order = picks.sort(dim=1)  # order[b, j] = pick step of ascending row j
    out = []
    for r in rows:
        if r is None:
            out.append(None)
        else:
            out.append(torch.gather(r, 1, order[..., None].expand(-1, -1, r.shape[-1])))
    return indices, order, out
