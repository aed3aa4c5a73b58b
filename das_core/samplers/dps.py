"""DPS: Deep Probabilistic Subsampling (Huijben et al., ICLR 2020), task-adaptive, static at inference.

Follows the official recipe (IamHuijben/Deep-Probabilistic-Subsampling): one logit vector of
length T shared by all k rows, initialised with small noise (randn / 4, `score_init="random"`; the project's
default is `"zero"`, every frame equal, as for every learned sampler); one Gumbel draw per sample
shared by the rows; top-k without replacement (row j's soft row masks the frames rows < j took);
straight-through (`estimator="straight_through"`, the paper's; the project's default `"both"` adds the
score-function term, as for every learned sampler: the log-probability of DPS's picks is the Plackett-Luce
probability of its Gumbel top-k); a constant temperature (2.0 by default); the logits train with a larger learning
rate than the network (`lr_multiplier`, x10 by default, see `parameter_groups`). At evaluation the
noise is off, so every input gets the same k frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from ..nn.selection import Selection
from .learned import (LearnedSampler, check_tau0, estimator_option, lr_multiplier_option, noise_end_option,
                      score_init_option, tau0_option)
from .registry import register_sampler

__all__ = ["DPSSampler", "DPSOptions"]


@dataclass
class DPSOptions:
    """Args:
    tau0: the constant temperature (2.0, as the official code).
    lr_multiplier: learning-rate factor of the logits relative to the network (x10, as the official code).
    estimator: "both" (straight-through plus the score-function term, the project's default for every learned
        sampler), "straight_through" (the official code's) or "score_function" (das_core.samplers.learned).
    score_init: "zero" (the logits start equal; the project's default) or "random" (randn / 4, the official code's).
    noise_end: the training noise's scale at the last epoch (1: constant, the default; below 1: linear decay from
        1 after the warm-up, `LearnedSampler.set_training_progress`).
    """

    tau0: float = tau0_option(2.0)
    lr_multiplier: float = lr_multiplier_option(10.0)
    estimator: str = estimator_option()
    noise_end: float = noise_end_option()
    score_init: str = score_init_option()


@register_sampler("dps")
class DPSSampler(LearnedSampler):
    """Learned static logits over the T frames (see the module docstring)."""

    Options = DPSOptions
    label = "DPS"
    shared_noise = True

    def __init__(self, num_frames: int, num_selected: int, **options):
        super().__init__(num_frames, num_selected, **options)
        self.lr_multiplier = float(self.config.lr_multiplier)
        init = torch.zeros(num_frames) if self.score_init == "zero" else torch.randn(num_frames) / 4
        self.logits = nn.Parameter(init)  # (T,)

    @classmethod
    def parameter_count(cls, num_frames: int, num_selected: int, config, feature_dim: int) -> int:
        return num_frames  # the logits

    def select(
        self,
        x: Tensor,
        *,
        tau0: Optional[float] = None,
        stochastic: bool = False,
        generator: Optional[torch.Generator] = None,
        **_,
    ) -> Selection:
        B = x.shape[0]
        tau_value = check_tau0(tau0) if tau0 is not None else self.tau0
        tau = torch.full((B,), tau_value, device=x.device, dtype=x.dtype)
        scores = self.logits.to(x.dtype)[None].expand(B, -1)  # (B, T)
        rows = scores[:, None, :].expand(B, self.num_selected, self.num_frames)  # (B, k, T)
        return self._pick(rows, tau, stochastic=stochastic, generator=generator, scores=scores)

    def parameter_groups(self, lr: float) -> list[dict]:
        return [{"params": [self.logits], "lr": lr * self.lr_multiplier, "name": "sampler:dps_logits"}]
