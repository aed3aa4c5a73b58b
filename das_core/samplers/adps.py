"""ADPS: Active Deep Probabilistic Subsampling (van Gorp et al., ICML 2021), adaptive, k sequential steps.

Built as the official code builds it (IamHuijben/Deep-Probabilistic-Subsampling,
`ADPS_vanGorp2021/MNIST_Classification/myModel.py`), with frames in place of pixels:

- the LSTM reads the **task network's own features** of what has been acquired so far: here the
  backbone's features of the picked frames, pooled as the classifier pools them (no second encoder),
  layer-normalised first (our addition: a from-scratch backbone's features are ~0.01 in size at
  init, measured, too small for the LSTM to tell frames apart; the norm keeps their pattern);
- step i maps the LSTM state to logits over the T frames with **its own MLP** (`g[i]`, as the
  official per-step `g` networks), masks the frames already picked and draws one (Gumbel-max;
  straight-through soft row at temperature tau0 in training);
- the first step runs the LSTM on a zero input, so the first pick is input-independent; every later
  pick depends on the content of the frames acquired before it;
- there is a prediction after every step, and the task loss is averaged over the steps
  (`per_step_loss`; `SubsampledClassifier.training_loss` does it with `Selection.pick_rank`).
- how the loss trains the logits is the same option as for every learned sampler: `estimator="both"` (the
  project's default: the straight-through soft row plus the score-function term, whose log-probability is
  the sum over the steps of each step's masked softmax at its pick), `"straight_through"` (the official
  code's) or `"score_function"` (the frame is gathered by index, no gradient through the row);
  `score_init="zero"` (default) starts each step's last layer at zero, so the first picks are uniform,
  `"random"` is PyTorch's initialisation (the official code's).

The sampler takes the task network as `encoder=` per call (`reads_task_features`):
`SubsampledClassifier` passes its backbone, and reuses the features the sampler computed, so at
inference each step runs the backbone on the one newly acquired frame and the classifier runs no
second pass (k small backbone passes one after the other, against DAS's one batched pass on k
frames). Called on its own (no encoder), a frame is described by its pixels average-pooled to 4x4,
so the sampler stays usable and input-adaptive outside a classifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from ..nn.selection import Selection, _mask_value, gumbel_noise, one_hot_rows, sort_rows, straight_through
from .base import bounded
from .learned import LearnedSampler, check_tau0, estimator_option, noise_end_option, score_init_option, tau0_option
from .registry import register_sampler

__all__ = ["ADPSSampler", "ADPSOptions", "TaskFeatureSampler", "pooled_pixels", "MAX_HIDDEN", "MAX_FEATURE_DIM",
           "MAX_IN_CHANNELS"]

_POOL = 4  # pixels pooled to 4x4 per channel when no task network is given
MAX_HIDDEN = 4096  # LSTM width (ADPS, PGA-DPS): the recipes use 64, the official code 128
MAX_FEATURE_DIM = 16_384  # task features the LSTM reads: MobileNetV3-Small has 576, the small CNN 64
MAX_IN_CHANNELS = 64  # as ModelSpec's in_channels


@dataclass
class ADPSOptions:
    """Args:
    tau0: constant temperature of the soft rows (2.0, as DPS).
    in_channels: channels C of the frames.
    hidden: LSTM width (the official MNIST code uses 128; 64 keeps checkpoints small).
    feature_dim: width of the task features the LSTM reads (set by `SubsampledClassifier` to its
        backbone's feature width; 0: the pooled-pixel description, `in_channels * 16`).
    estimator: "both" (default), "straight_through" (the official code's) or "score_function" (see the module
        docstring and das_core.samplers.learned).
    score_init: "zero" (default: each step's last layer starts at zero) or "random" (the official code's).
    noise_end: the training noise's scale at the last epoch (1: constant, the default; below 1: linear decay from
        1 after the warm-up, `LearnedSampler.set_training_progress`).
    """

    tau0: float = tau0_option(2.0)
    in_channels: int = bounded(1, 1, MAX_IN_CHANNELS)
    hidden: int = bounded(64, 1, MAX_HIDDEN)
    feature_dim: int = bounded(0, 0, MAX_FEATURE_DIM)
    estimator: str = estimator_option()
    noise_end: float = noise_end_option()
    score_init: str = score_init_option()


def pooled_pixels(frames: Tensor) -> Tensor:
    """(N, C, H, W) -> (N, C * 16): the frame average-pooled to 4x4 (the stand-alone frame description)."""
    return F.adaptive_avg_pool2d(frames, _POOL).flatten(1)


class TaskFeatureSampler(LearnedSampler):
    """Shared parts of the samplers whose LSTM reads the task network's features of the frames acquired so far
    (ADPS, PGA-DPS): sizing the LSTM for the backbone, the encoder check, and the zero start of the step layers."""

    reads_task_features = True
    call_options = LearnedSampler.call_options | {"encoder"}

    def bind_task_features(self, feature_dim: int) -> None:
        """Size the LSTM's input for a task network with `feature_dim` features (re-initialises it if it changes)."""
        if feature_dim != self.lstm.input_size:
            device = next(self.parameters()).device
            self.norm = nn.LayerNorm(feature_dim).to(device)
            self.lstm = nn.LSTMCell(feature_dim, self.lstm.hidden_size).to(device)
        self.config.feature_dim = feature_dim
        self.options["feature_dim"] = feature_dim

    def _encoder(self, encoder: Optional[Callable[[Tensor], Tensor]], fallback: Callable[[Tensor], Tensor]):
        """`encoder`, or the stand-alone frame description `fallback` when the sampler was not bound to a network."""
        if encoder is None and self.config.feature_dim:
            raise ConfigError(f"This {self.display_name()} sampler reads a task network's {self.config.feature_dim} "
                              f"features; call it through SubsampledClassifier.select(x) (or pass encoder=).")
        return encoder if encoder is not None else fallback

    @staticmethod
    def _lstm_parameters(feature_dim: int, hidden: int, steps: int, num_frames: int) -> int:
        """Parameter values of the layer norm, the LSTM cell and `steps` step MLPs (H -> 2H -> T)."""
        norm = 2 * feature_dim
        lstm = 4 * hidden * (feature_dim + hidden) + 8 * hidden
        mlp = hidden * 2 * hidden + 2 * hidden + 2 * hidden * num_frames + num_frames
        return norm + lstm + steps * mlp

    def _zero_step_layers(self) -> None:
        """score_init="zero": each step's last layer starts at zero, so its first picks are uniform."""
        if self.score_init == "zero":
            for mlp in self.step_mlps:
                nn.init.zeros_(mlp[-1].weight)
                nn.init.zeros_(mlp[-1].bias)


@register_sampler("adps")
class ADPSSampler(TaskFeatureSampler):
    """k sequential picks driven by an LSTM over the task features (see the module docstring)."""

    Options = ADPSOptions
    label = "ADPS"
    adaptive = True
    varies_per_input = True
    per_step_loss = True

    def __init__(self, num_frames: int, num_selected: int, **options):
        super().__init__(num_frames, num_selected, **options)
        cfg = self.config
        dim = cfg.feature_dim or cfg.in_channels * _POOL * _POOL
        H = cfg.hidden
        self.norm = nn.LayerNorm(dim)
        self.lstm = nn.LSTMCell(dim, H)
        self.step_mlps = nn.ModuleList(  # g[i]: one logits MLP per step, as the official code
            nn.Sequential(nn.Linear(H, 2 * H), nn.LeakyReLU(0.2), nn.Linear(2 * H, num_frames))
            for _ in range(num_selected)
        )
        self._zero_step_layers()

    @classmethod
    def parameter_count(cls, num_frames: int, num_selected: int, config, feature_dim: int) -> int:
        return cls._lstm_parameters(feature_dim, config.hidden, num_selected, num_frames)

    def select(
        self,
        x: Tensor,
        *,
        encoder: Optional[Callable[[Tensor], Tensor]] = None,
        tau0: Optional[float] = None,
        stochastic: bool = False,
        generator: Optional[torch.Generator] = None,
        **_,
    ) -> Selection:
        B, T = x.shape[:2]
        encode = self._encoder(encoder, pooled_pixels)
        tau_value = check_tau0(tau0) if tau0 is not None else self.tau0
        tau = torch.full((B,), tau_value, device=x.device, dtype=x.dtype)
        h = c = x.new_zeros(B, self.lstm.hidden_size)
        lstm_in = x.new_zeros(B, self.lstm.input_size)  # step 0 reads nothing: its pick is input-independent
        taken = torch.zeros(B, T, dtype=torch.bool, device=x.device)
        neg = _mask_value(x.dtype)
        batch = torch.arange(B, device=x.device)
        through = self.training and self.estimator != "score_function"
        log_prob = x.new_zeros(B) if self.training and self.score_function else None
        picks, rows, softs, step_logits, feats = [], [], [], [], []
        for step, mlp in enumerate(self.step_mlps):
            h, c = self.lstm(lstm_in, (h, c))
            logits = mlp(h)  # (B, T)
            step_logits.append(logits)
            perturbed = logits
            if self.training or stochastic:
                g = gumbel_noise((B, T), device=x.device, dtype=x.dtype, generator=generator)
                perturbed = logits + (self.noise_scale * g if self.training else tau[:, None] * g)
            z = (perturbed / tau_value).masked_fill(taken, neg)  # divide first, then mask
            soft = torch.softmax(z, dim=-1)  # (B, T)
            pick = z.detach().argmax(dim=-1)  # (B,)
            hard = one_hot_rows(pick, T, x.dtype)
            if log_prob is not None:  # log P(pick | earlier picks): softmax of the logits over the frames left
                step_lp = torch.log_softmax((logits / self.noise_scale).masked_fill(taken, neg), dim=-1)
                log_prob = log_prob + step_lp.gather(1, pick[:, None]).squeeze(1)
            if through:
                row = straight_through(hard, soft)
                frame = torch.einsum("bt,bt...->b...", row, x)  # (B, C, H, W), carries the gradient
            else:
                row = hard
                frame = x[batch, pick]  # only the new frame is encoded
            feats.append(encode(frame))  # (B, D): the task network's features of the new frame
            lstm_in = self.norm(torch.stack(feats, 1).mean(dim=1))  # what has been acquired so far, pooled
            taken = taken.scatter(1, pick[:, None], True)
            picks.append(pick)
            rows.append(row)
            softs.append(soft)
        picks_t = torch.stack(picks, dim=1)  # (B, k) pick order
        indices, rank, (matrix, soft, features) = sort_rows(
            picks_t, torch.stack(rows, 1), torch.stack(softs, 1), torch.stack(feats, 1))
        return Selection(
            indices=indices,
            matrix=matrix,
            soft=soft,
            scores=torch.stack(step_logits, 1).mean(dim=1),  # (B, T)
            logits=torch.stack(step_logits, 1),  # (B, k, T), row i = step i (pick order), for diagnostics
            tau=tau,
            pick_rank=rank,
            features=features if encoder is not None else None,
            log_prob=log_prob,
            differentiable=through and torch.is_grad_enabled(),
        )
