"""PGA-DPS: Prior-aware and Group-based Active Deep Probabilistic Subsampling (ICLR 2026).

Our own version, for frames in place of pixels, of the method of the public code B9Kang/PGADPS (read, not
copied: `README.md`, `MNIST_Classification/myModel.py`, `MNIST_Classification/DPSLayerMemory.py`,
`MNIST_Classification/main.py`, `MNIST_Classification/trainModel.py`). What PGA-DPS adds to A-DPS (`adps`):

- **a prior step**: the first `prior_share` of the k picks (the code's `-percentage_Ps`, 60 % by default in
  `MNIST_Classification/main.py`) are drawn at once from one learned logit vector over the T frames, as DPS
  (`logit_parameter`, `randn / 4` in the code), trained at `lr_multiplier` x the network's learning rate
  (the code's `learning_rate_logits` 2e-3 against `learning_rate` 2e-4);
- **group-based active steps**: the remaining picks are made in groups of `group_share` of k (the code's
  `-percentage_As`, 20 % by default; at least 1; the last group takes what is left, the code's
  `mux_out_last`); before each group an LSTM reads the task network's features of every frame acquired so
  far, and that group's own MLP (`g[i]`) maps its state to logits over the T frames;
- each group is a top-g draw without replacement (`DPSLayerMemory.DPS`): one Gumbel draw per frame shared by
  the group's rows, the frames taken by earlier groups masked (the code's `sample_memory`), and within the
  group row r's soft row masks the frames rows < r took; straight-through; a constant temperature (2.0, the
  code's `-temperature`); at evaluation the noise is off;
- a prediction after acquisitions and the task loss averaged over them (`trainModel.train`), here
  `per_step_loss` (`SubsampledClassifier.training_loss`).

Simplified or changed here:
- the prediction steps: the code predicts once after the prior step and once after each group;
  `SubsampledClassifier` predicts after every single pick (`pick_rank` is the pick order; within a group,
  the order of its top-g), so the per-step loss also averages the predictions inside a group;
- the LSTM reads the task network's features of the acquired frames, pooled and layer-normalised, as this
  project's ADPS (the code encodes the masked input with each step's own `f1[i]`; here there is one task
  network); stand-alone (no `encoder=`), a frame is its channel-mean pooled to 4x4 pixels;
- the prior step takes at least one pick (the code's `int(k * Ps / 100)` may be 0), so k = 1 is DPS;
- LSTM width 64 (the code's 128, as `adps` here), no dropout in the step MLPs (the code's 0.3);
- `estimator` and `score_init` are the project's recipe fields for every learned sampler
  (`das_core.samplers.learned`); the code's reading is `estimator="straight_through"`, `score_init="random"`
  (prior logits `randn / 4`, PyTorch's initialisation of the MLPs). `"zero"` starts the prior logits and each
  step's last layer at zero. The score-function term's log-probability is, per group, the Plackett-Luce
  probability of its top-g under the softmax of its logits over the frames left, summed over the groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.selection import Selection, _mask_value, gumbel_noise, one_hot_rows, pick_log_prob, sort_rows, straight_through
from .adps import MAX_FEATURE_DIM, MAX_HIDDEN, TaskFeatureSampler
from .base import bounded
from .learned import (check_tau0, estimator_option, lr_multiplier_option, noise_end_option, score_init_option,
                      tau0_option)
from .registry import register_sampler

__all__ = ["PGADPSSampler", "PGADPSOptions", "group_sizes"]

_POOL = 4  # stand-alone frame description: the channel-mean frame pooled to 4x4


@dataclass
class PGADPSOptions:
    """Args:
    tau0: constant temperature of the soft rows (2.0, the code's `-temperature`).
    prior_share: share of the k picks made by the learned static prior in one step (0.6, the code's
        `-percentage_Ps 60`); at least one pick.
    group_share: size of each active group as a share of k (0.2, the code's `-percentage_As 20`); at least 1.
    hidden: LSTM width (the code's 128; 64 as this project's ADPS).
    feature_dim: width of the task features the LSTM reads (set by `SubsampledClassifier` to its backbone's
        feature width; 0: the stand-alone description, 16 pooled pixels).
    lr_multiplier: learning-rate factor of the prior logits relative to the network (x10: the code's 2e-3
        against 2e-4); the LSTM and the step MLPs train at the network's rate, as in the code.
    estimator: "both" (default), "straight_through" (the code's) or "score_function" (das_core.samplers.learned).
    score_init: "zero" (default: the prior logits and each step's last layer start at zero) or "random"
        (the code's: prior logits randn / 4, PyTorch's initialisation).
    noise_end: the training noise's scale at the last epoch (1: constant, the default; below 1: linear decay from
        1 after the warm-up, `LearnedSampler.set_training_progress`).
    """

    tau0: float = tau0_option(2.0)
    prior_share: float = bounded(0.6, 0, 1, exclusive="low")
    group_share: float = bounded(0.2, 0, 1, exclusive="low")
    hidden: int = bounded(64, 1, MAX_HIDDEN)
    feature_dim: int = bounded(0, 0, MAX_FEATURE_DIM)
    lr_multiplier: float = lr_multiplier_option(10.0)
    estimator: str = estimator_option()
    noise_end: float = noise_end_option()
    score_init: str = score_init_option()


def group_sizes(num_selected: int, prior_share: float, group_share: float) -> tuple[int, list[int]]:
    """(picks of the prior step, sizes of the active groups in order); they add up to k."""
    prior = min(num_selected, max(1, int(num_selected * prior_share)))
    size = max(1, int(num_selected * group_share))
    left = num_selected - prior
    groups = [size] * (left // size) + ([left % size] if left % size else [])
    return prior, groups


def _pooled_pixels(frames: Tensor) -> Tensor:
    """(N, C, H, W) -> (N, 16): the channel-mean frame average-pooled to 4x4."""
    return F.adaptive_avg_pool2d(frames.mean(dim=1, keepdim=True), _POOL).flatten(1)


@register_sampler("pgadps")
class PGADPSSampler(TaskFeatureSampler):
    """A learned prior step, then groups of picks driven by an LSTM over the task features (module docstring)."""

    Options = PGADPSOptions
    label = "PGA-DPS"
    adaptive = True
    varies_per_input = True
    per_step_loss = True

    def __init__(self, num_frames: int, num_selected: int, **options):
        super().__init__(num_frames, num_selected, **options)
        cfg = self.config
        prior_share, group_share = float(cfg.prior_share), float(cfg.group_share)  # bounds: PGADPSOptions
        self.lr_multiplier = float(cfg.lr_multiplier)
        self.prior_size, self.group_sizes = group_sizes(num_selected, prior_share, group_share)
        init = torch.zeros(num_frames) if self.score_init == "zero" else torch.randn(num_frames) / 4
        self.logits = nn.Parameter(init)  # (T,) the prior's static logits
        dim = cfg.feature_dim or _POOL * _POOL
        H = cfg.hidden
        self.norm = nn.LayerNorm(dim)
        self.lstm = nn.LSTMCell(dim, H)
        self.step_mlps = nn.ModuleList(  # g[i]: one logits MLP per active group
            nn.Sequential(nn.Linear(H, 2 * H), nn.LeakyReLU(0.2), nn.Linear(2 * H, num_frames))
            for _ in self.group_sizes
        )
        self._zero_step_layers()

    @classmethod
    def parameter_count(cls, num_frames: int, num_selected: int, config, feature_dim: int) -> int:
        _, groups = group_sizes(num_selected, float(config.prior_share), float(config.group_share))
        return num_frames + cls._lstm_parameters(feature_dim, config.hidden, len(groups), num_frames)

    def _group(self, logits: Tensor, taken: Tensor, size: int, tau: Tensor, stochastic: bool,
               generator: Optional[torch.Generator]):
        """One group: top-`size` of logits (B, T) over the frames not `taken` (B, T).

        Returns picks (B, g) in pick order, hard (B, g, T), soft (B, g, T), log P(picks) (B,) or None.
        """
        B, T = logits.shape
        neg = _mask_value(logits.dtype)
        perturbed = logits
        if self.training or stochastic:  # one draw per frame, shared by the group's rows (the code's DPS layer)
            g = gumbel_noise((B, T), device=logits.device, dtype=logits.dtype, generator=generator)
            perturbed = logits + (self.noise_scale * g if self.training else tau[:, None] * g)
        with torch.no_grad():
            z = perturbed.detach().masked_fill(taken, neg)
            picks = torch.sort(z, dim=1, descending=True, stable=True).indices[:, :size]  # ties: lowest index
        hard = one_hot_rows(picks, T, logits.dtype)  # (B, g, T)
        earlier = taken[:, None, :] | (hard.cumsum(dim=1) - hard).bool()  # taken before each row
        scaled = (perturbed / tau[:, None])[:, None, :].expand(B, size, T)  # divide first, then mask
        soft = torch.softmax(scaled.masked_fill(earlier, neg), dim=-1)
        log_prob = None
        if self.training and self.score_function:  # Plackett-Luce of the top-g over the frames left
            rows = (logits / self.noise_scale).masked_fill(taken, neg)[:, None, :].expand(B, size, T)
            log_prob = pick_log_prob(rows, hard)
        return picks, hard, soft, log_prob

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
        encode = self._encoder(encoder, _pooled_pixels)
        tau_value = check_tau0(tau0) if tau0 is not None else self.tau0
        tau = torch.full((B,), tau_value, device=x.device, dtype=x.dtype)
        taken = torch.zeros(B, T, dtype=torch.bool, device=x.device)
        batch = torch.arange(B, device=x.device)[:, None]
        through = self.training and self.estimator != "score_function"
        log_prob = x.new_zeros(B) if self.training and self.score_function else None
        h = c = None
        picks, rows, softs, row_logits, feats = [], [], [], [], []
        steps = [None] + list(self.step_mlps)  # the prior step, then one MLP per group
        sizes = [self.prior_size] + list(self.group_sizes)
        for mlp, size in zip(steps, sizes):
            if mlp is None:
                logits = self.logits.to(x.dtype)[None].expand(B, T)
            else:
                lstm_in = self.norm(torch.cat(feats, dim=1).mean(dim=1))  # what has been acquired so far, pooled
                if h is None:
                    h = c = x.new_zeros(B, self.lstm.hidden_size)
                h, c = self.lstm(lstm_in, (h, c))
                logits = mlp(h)  # (B, T)
            pick, hard, soft, lp = self._group(logits, taken, size, tau, stochastic, generator)
            if lp is not None:
                log_prob = log_prob + lp
            if through:
                row = straight_through(hard, soft)
                frames = torch.einsum("bgt,bt...->bg...", row, x)  # (B, g, C, H, W), carries the gradient
            else:
                row = hard
                frames = x[batch, pick]  # only the new frames are encoded
            feats.append(encode(frames.flatten(0, 1)).view(B, size, -1))  # (B, g, D)
            taken = taken.scatter(1, pick, True)
            picks.append(pick)
            rows.append(row)
            softs.append(soft)
            row_logits.append(logits[:, None, :].expand(B, size, T))
        picks_t = torch.cat(picks, dim=1)  # (B, k) pick order
        all_logits = torch.cat(row_logits, dim=1)  # (B, k, T) pick order
        indices, rank, (matrix, soft, features) = sort_rows(
            picks_t, torch.cat(rows, 1), torch.cat(softs, 1), torch.cat(feats, 1))
        return Selection(
            indices=indices,
            matrix=matrix,
            soft=soft,
            scores=all_logits.mean(dim=1),  # (B, T)
            logits=all_logits,
            tau=tau,
            pick_rank=rank,
            features=features if encoder is not None else None,
            log_prob=log_prob,
            differentiable=through and torch.is_grad_enabled(),
        )

    def parameter_groups(self, lr: float) -> list[dict]:
        rest = [p for n, p in self.named_parameters() if p.requires_grad and n != "logits"]
        groups = [{"params": [self.logits], "lr": lr * self.lr_multiplier, "name": "sampler:pgadps_logits"}]
        return groups + ([{"params": rest, "lr": lr, "name": "sampler:pgadps"}] if rest else [])
