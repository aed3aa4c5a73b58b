"""Shared pick logic of the learned samplers (DPS, DAS): noise, top-k without replacement, STE.

Every learned sampler's `Options` dataclass has a `tau0` field (its default temperature) and the same two recipe
fields, `estimator` (ESTIMATORS) and `score_init` (SCORE_INITS), checked here, so every learned method can be
trained by the same recipe.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError
from ..nn.selection import (
    Selection, _mask_value, gumbel_noise, pick_log_prob, sequential_topk, sort_rows, straight_through,
)
from .base import Sampler, bounded, one_of

__all__ = ["LearnedSampler", "check_tau0", "ESTIMATORS", "SCORE_INITS", "DEFAULT_ESTIMATOR", "DEFAULT_SCORE_INIT",
           "MAX_TAU0", "MAX_LR_MULTIPLIER", "tau0_option", "lr_multiplier_option", "estimator_option",
           "score_init_option", "noise_end_option", "MIN_NOISE_END"]

# How the task loss reaches the scores A in training:
# - "straight_through": P = hard + soft - soft.detach(), the gradient of the relaxed rows (the paper's);
# - "score_function": the frames are gathered by index (no gradient through P) and the model adds the
#   REINFORCE term (loss_b - baseline) * log P(picks_b), an unbiased gradient of the expected loss;
# - "both": the two together.
ESTIMATORS = ("straight_through", "score_function", "both")
# How the layers that output a learned sampler's scores start: "zero" (every frame starts with the same score,
# so no frame is ranked first or last by random weights alone) or "random" (the method's usual initialisation).
SCORE_INITS = ("zero", "random")
# The project's default for every learned sampler (DPS, ADPS, DAS, PGA-DPS), so every method trains by the same
# recipe; the paper's reading is estimator="straight_through", score_init="random" (bench's "/paper" variant).
DEFAULT_ESTIMATOR = "both"
DEFAULT_SCORE_INIT = "zero"
# Bounds of the recipe options every learned sampler's `Options` declares (fields made by the functions below):
MAX_TAU0 = 1000.0  # tau0 in (0, 1000]: the app sweeps 0.03 to 10, every recipe uses 1 or 2
MAX_LR_MULTIPLIER = 10_000.0  # lr_multiplier in (0, 10000]: the recipes use 1 and 10


def tau0_option(default: float):
    """The `tau0` field of a learned sampler's `Options`: a number in (0, MAX_TAU0]."""
    return bounded(default, 0, MAX_TAU0, exclusive="low")


def lr_multiplier_option(default: float):
    """The `lr_multiplier` field: a number in (0, MAX_LR_MULTIPLIER]."""
    return bounded(default, 0, MAX_LR_MULTIPLIER, exclusive="low")


def estimator_option():
    """The `estimator` field: one of ESTIMATORS, DEFAULT_ESTIMATOR by default."""
    return one_of(DEFAULT_ESTIMATOR, ESTIMATORS)


def score_init_option():
    """The `score_init` field: one of SCORE_INITS, DEFAULT_SCORE_INIT by default."""
    return one_of(DEFAULT_SCORE_INIT, SCORE_INITS)


MIN_NOISE_END = 0.05  # the noise never falls below 5% of its scale (the score-function term divides by it)


def noise_end_option():
    """The `noise_end` field: the training noise's scale at the last epoch, in [MIN_NOISE_END, 1] (1: constant)."""
    return bounded(1.0, MIN_NOISE_END, 1.0)


def noise_scale_at(progress: float, noise_end: float) -> float:
    """The training noise's scale at `progress` in [0, 1] of the sampler's training: 1 falling linearly to
    `noise_end` (clipped to the ends outside [0, 1])."""
    p = min(1.0, max(0.0, float(progress)))
    return 1.0 - p * (1.0 - float(noise_end))


def check_tau0(tau0: float) -> float:
    if not isinstance(tau0, (int, float)) or not tau0 > 0 or tau0 != tau0:
        raise ConfigError(f"tau0 must be a positive number, got {tau0!r}; try a value in [0.05, 10].")
    return float(tau0)


class LearnedSampler(Sampler):
    """A sampler that scores frames with row logits A (B, k, T) and picks by Gumbel top-k.

    Three modes (the hard picks and the relaxed rows `soft = softmax(perturbed / tau)`):
    - training: `perturbed = A + G` (the paper's `softmax((A + G) / tau)`), straight-through matrix;
    - evaluation (default): `perturbed = A`, noise off, a deterministic top-k;
    - evaluation with `stochastic=True`: tempered sampling `argmax(A / tau + G)`, i.e.
      `perturbed = A + tau * G`. Unlike the training mode's argmax, these picks depend on tau, which
      is what an interactive tau control can show.
    """

    learned = True
    call_options = frozenset({"tau0", "stochastic", "generator"})
    shared_noise: bool = False  # one Gumbel draw per sample shared by all k rows (DPS)

    def __init__(self, num_frames: int, num_selected: int, **options):
        super().__init__(num_frames, num_selected, **options)
        self.tau0 = check_tau0(self.config.tau0)  # every learned sampler's Options has tau0
        estimator = getattr(self.config, "estimator", "straight_through")
        if estimator not in ESTIMATORS:
            raise ConfigError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}.")
        self.estimator = estimator
        score_init = getattr(self.config, "score_init", DEFAULT_SCORE_INIT)
        if score_init not in SCORE_INITS:
            raise ConfigError(f"score_init must be one of {', '.join(SCORE_INITS)}, got {score_init!r}.")
        self.score_init = score_init
        self.noise_scale = 1.0  # the training noise's scale; `set_training_progress` anneals it (noise_end < 1)

    def set_training_progress(self, progress: float) -> None:
        """Tell the sampler how far its training has come (0: the first epoch after the warm-up, 1: the last), so
        a `noise_end` below 1 scales the Gumbel noise of the training picks down linearly to it: the picks the
        task network trains on approach the eval picks it is tested with. Without `noise_end` nothing changes."""
        self.noise_scale = noise_scale_at(progress, getattr(self.config, "noise_end", 1.0))

    @property
    def score_function(self) -> bool:
        """True when the model must add the score-function (REINFORCE) term to the training loss."""
        return self.estimator in ("score_function", "both")

    def _noise(self, like: Tensor, generator: Optional[torch.Generator]) -> Tensor:
        """Standard Gumbel noise shaped like (B, k, T) row logits (one draw per sample shared by the rows: DPS)."""
        B, k, T = like.shape
        if self.shared_noise:
            g = gumbel_noise((B, 1, T), device=like.device, dtype=like.dtype, generator=generator)
            return g.expand(B, k, T)
        return gumbel_noise((B, k, T), device=like.device, dtype=like.dtype, generator=generator)

    def _pick(
        self,
        row_logits: Tensor,
        tau: Tensor,
        *,
        stochastic: bool = False,
        generator: Optional[torch.Generator] = None,
        **extra,
    ) -> Selection:
        """row_logits (B, k, T), tau (B,) -> Selection with rows sorted by frame index."""
        exploration = float(getattr(self.config, "exploration", 0.0))
        if self.training:
            perturbed = row_logits + self.noise_scale * self._noise(row_logits, generator)
            if exploration > 0:  # these rows pick uniformly among the frames left (Gumbel-max of zero logits)
                B, k, T = row_logits.shape
                explore = torch.rand(B, k, 1, device=row_logits.device, generator=generator) < exploration
                perturbed = torch.where(explore, self._noise(row_logits, generator), perturbed)
        elif stochastic:
            perturbed = row_logits + tau[:, None, None] * self._noise(row_logits, generator)
        else:
            perturbed = row_logits
        if not self.training and _host_topk_applies(perturbed, self.shared_noise):
            indices, rank, matrix, soft = _eval_topk(perturbed, tau)
            return Selection(indices=indices, matrix=matrix, soft=soft, tau=tau, pick_rank=rank, logits=row_logits,
                             **extra)
        picks, hard, soft = sequential_topk(row_logits, perturbed, tau, shared_rows=self.shared_noise)
        through = self.training and self.estimator != "score_function"
        # noise of scale s makes the picks Plackett-Luce in logits / s
        log_prob = (pick_log_prob(row_logits / self.noise_scale, hard, exploration)
                    if self.training and self.score_function else None)
        matrix = straight_through(hard, soft) if through else hard
        indices, rank, (matrix, soft) = sort_rows(picks, matrix, soft)
        return Selection(
            indices=indices,
            matrix=matrix,
            soft=soft,
            tau=tau,
            pick_rank=rank,
            logits=row_logits,
            log_prob=log_prob,
            differentiable=through and torch.is_grad_enabled(),
            **extra,
        )


def _host_topk_applies(perturbed: Tensor, shared_rows: bool) -> bool:
    """The evaluation top-k below runs on CPU tensors of a numpy dtype with distinct rows (DAS);
    elsewhere `sequential_topk` does (DPS's shared rows are already one `topk`)."""
    return not shared_rows and perturbed.device.type == "cpu" and perturbed.dtype in (torch.float32, torch.float64)


def _eval_topk(perturbed: Tensor, tau: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """`sequential_topk` + `sort_rows` for evaluation, where no gradient is needed: the same picks, rows
    and relaxed rows, with the row loop in numpy (a few microseconds a row instead of three torch calls).

    Row j picks `argmax_t perturbed[:, j, t]` over the frames rows < j have not taken (first index on
    ties, as `torch.argmax`); taken frames are masked with the same finite value. Returns, in ascending
    frame order: indices (B, k), pick_rank (B, k), the one-hot rows (B, k, T) and the relaxed rows
    `softmax(perturbed / tau)` with the frames taken by earlier picks masked (B, k, T).
    """
    B, k, T = perturbed.shape
    neg = _mask_value(perturbed.dtype)
    original = perturbed.detach().numpy()
    z = original.copy()  # (B, k, T)
    picks = np.empty((B, k), dtype=np.int64)
    batch = np.arange(B)
    for j in range(k):
        pick = z[:, j].argmax(axis=1)  # (B,)
        picks[:, j] = pick
        z[batch, :, pick] = neg  # later rows cannot take it (earlier rows are done)
    # the rest as `sequential_topk` + `sort_rows` compute it, on these small arrays in numpy where exact
    order = picks.argsort(axis=1)  # order[b, i]: the pick step of ascending row i (picks are distinct)
    indices = picks[batch[:, None], order]  # (B, k) ascending
    step = np.full((B, T), k, dtype=np.int64)  # the step at which each frame was taken (k: never)
    step[batch[:, None], picks] = np.arange(k)
    earlier = torch.from_numpy(step[:, None, :] < order[:, :, None])  # (B, k, T): taken before row i's pick
    hard = np.zeros((B, k, T), dtype=z.dtype)
    hard[batch[:, None], np.arange(k), indices] = 1.0
    order_t = torch.from_numpy(order)
    if perturbed.requires_grad:
        rows = torch.gather(perturbed, 1, order_t[:, :, None].expand(B, k, T))
    else:
        rows = torch.from_numpy(np.ascontiguousarray(original[batch[:, None], order]))
    soft = torch.softmax((rows / tau[:, None, None]).masked_fill_(earlier, neg), dim=-1)
    return torch.from_numpy(indices), order_t, torch.from_numpy(hard), soft
