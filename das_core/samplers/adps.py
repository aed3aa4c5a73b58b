"""ADPS: Active Deep Probabilistic Subsampling (van Gorp et al., ICML 2021), adaptive, k sequential steps.

Follows `ADPS_vanGorp2021/` of the official DPS repository: an LSTM state summarises what has been
sampled so far. Step i maps the state to logits over the T frames, masks frames already picked,
draws one frame (Gumbel-max, straight-through soft row at temperature tau0), encodes the newly
picked frame with a small CNN and feeds the encoding to the LSTM. The first pick comes from the
zero state, so it is input-independent. At inference each step gathers and encodes only the one new
frame (the encodings of earlier picks live on in the LSTM state), so sampling costs k small
encoder passes and k LSTM steps, one after the other. The task loss is averaged over the step
predictions: `SubsampledClassifier.training_loss` does that using `Selection.pick_rank`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from ..selection import Selection, gumbel_noise, one_hot_rows, sort_rows, straight_through
from ..selection import _mask_value
from .learned import LearnedSampler, check_tau0
from .registry import register_sampler

__all__ = ["ADPSSampler", "ADPSOptions", "FrameEncoder"]


class FrameEncoder(nn.Module):
    """A small CNN: one frame (N, C, H, W) -> (N, dim)."""

    def __init__(self, in_channels: int = 1, dim: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(16, dim, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


@dataclass
class ADPSOptions:
    """Args:
    tau0: constant temperature of the soft rows (2.0, as DPS).
    in_channels: channels C of the frames.
    hidden: LSTM width.
    encoder_dim: width of the frame encoding.
    """

    tau0: float = 2.0
    in_channels: int = 1
    hidden: int = 64
    encoder_dim: int = 32


@register_sampler("adps")
class ADPSSampler(LearnedSampler):
    """k sequential picks from an LSTM state (see the module docstring); num_selected is the number of steps."""

    Options = ADPSOptions
    label = "ADPS"
    adaptive = True
    varies_per_input = True
    per_step_loss = True

    def __init__(self, num_frames: int, num_selected: int, **options):
        super().__init__(num_frames, num_selected, **options)
        cfg = self.config
        self.encoder = FrameEncoder(cfg.in_channels, cfg.encoder_dim)
        self.lstm = nn.LSTMCell(cfg.encoder_dim, cfg.hidden)
        self.to_logits = nn.Linear(cfg.hidden, num_frames)

    def select(
        self,
        x: Tensor,
        *,
        tau0: Optional[float] = None,
        stochastic: bool = False,
        generator: Optional[torch.Generator] = None,
        **_,
    ) -> Selection:
        B, T = x.shape[:2]
        k = self.num_selected
        tau_value = check_tau0(tau0) if tau0 is not None else self.tau0
        tau = torch.full((B,), tau_value, device=x.device, dtype=x.dtype)
        h = x.new_zeros(B, self.lstm.hidden_size)
        c = x.new_zeros(B, self.lstm.hidden_size)
        taken = torch.zeros(B, T, dtype=torch.bool, device=x.device)
        neg = _mask_value(x.dtype)
        batch = torch.arange(B, device=x.device)
        picks, rows, softs, step_logits = [], [], [], []
        for step in range(k):
            logits = self.to_logits(h)  # (B, T)
            step_logits.append(logits)
            if self.training or stochastic:
                g = gumbel_noise((B, T), device=x.device, dtype=x.dtype, generator=generator)
                perturbed = logits + (g if self.training else tau[:, None] * g)
            else:
                perturbed = logits
            z = perturbed / tau_value
            z = torch.where(taken, torch.full_like(z, neg), z)  # divide first, then mask
            soft = torch.softmax(z, dim=-1)  # (B, T)
            pick = z.detach().argmax(dim=-1)  # (B,)
            hard = one_hot_rows(pick, T, x.dtype)
            if self.training:
                row = straight_through(hard, soft)
                frame = torch.einsum("bt,bt...->b...", row, x)  # (B, C, H, W), carries the gradient
            else:
                row = hard
                frame = x[batch, pick]  # gather and encode only the new frame
            if step < k - 1:  # the last pick's encoding would feed no further step
                h, c = self.lstm(self.encoder(frame), (h, c))
            taken = taken.scatter(1, pick[:, None], True)
            picks.append(pick)
            rows.append(row)
            softs.append(soft)
        picks_t = torch.stack(picks, dim=1)  # (B, k) pick order
        indices, rank, (matrix, soft) = sort_rows(picks_t, torch.stack(rows, 1), torch.stack(softs, 1))
        return Selection(
            indices=indices,
            matrix=matrix,
            soft=soft,
            scores=torch.stack(step_logits, 1).mean(dim=1),  # (B, T)
            tau=tau,
            pick_rank=rank,
            differentiable=self.training and torch.is_grad_enabled(),
        )
