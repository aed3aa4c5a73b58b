"""Shared pick logic of the learned samplers (DPS, DAS): noise, top-k without replacement, STE.

Every learned sampler's `Options` dataclass has a `tau0` field (its default temperature).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ..errors import ConfigError
from ..selection import Selection, gumbel_noise, pick_log_prob, sequential_topk, sort_rows, straight_through
from .base import Sampler

__all__ = ["LearnedSampler", "check_tau0", "ESTIMATORS"]

# How the task loss reaches the scores A in training:
# - "straight_through": P = hard + soft - soft.detach(), the gradient of the relaxed rows (the paper's);
# - "score_function": the frames are gathered by index (no gradient through P) and the model adds the
#   REINFORCE term (loss_b - baseline) * log P(picks_b), an unbiased gradient of the expected loss;
# - "both": the two together.
ESTIMATORS = ("straight_through", "score_function", "both")


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

    @property
    def score_function(self) -> bool:
        """True when the model must add the score-function (REINFORCE) term to the training loss."""
        return self.estimator in ("score_function", "both")

    def _noise(self, like: Tensor, generator: Optional[torch.Generator]) -> Tensor:
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
            perturbed = row_logits + self._noise(row_logits, generator)
            if exploration > 0:  # these rows pick uniformly among the frames left (Gumbel-max of zero logits)
                B, k, T = row_logits.shape
                explore = torch.rand(B, k, 1, device=row_logits.device, generator=generator) < exploration
                perturbed = torch.where(explore, self._noise(row_logits, generator), perturbed)
        elif stochastic:
            perturbed = row_logits + tau[:, None, None] * self._noise(row_logits, generator)
        else:
            perturbed = row_logits
        picks, hard, soft = sequential_topk(row_logits, perturbed, tau, shared_rows=self.shared_noise)
        through = self.training and self.estimator != "score_function"
        log_prob = pick_log_prob(row_logits, hard, exploration) if self.training and self.score_function else None
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
