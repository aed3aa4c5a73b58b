"""Two parameter-free baselines: a static centred window and an input-adaptive content heuristic.

They are controls for the claim "adaptive beats static", and neither has anything to train:

- `central` ("Central") keeps the k consecutive frames centred on the middle of the sequence,
  `range((T - k) // 2, (T - k) // 2 + k)`, the same for every input. MedMNIST 3D volumes are centred
  crops of the organ or lesion, so the middle slices are the best guess a static sampler can make
  without training: it is the strongest static prior, and a learned method has to beat it to show it
  learned more than "look at the middle".
- `edge-energy` ("Edge energy") scores every frame by how much content it carries and keeps the
  top k: the mean absolute difference to its neighbouring frames (`|x_t - x_{t-1}|` and
  `|x_{t+1} - x_t|` averaged; the first and last frame use their one neighbour) plus the mean
  gradient magnitude (Sobel) of the frame, each standardised across the T frames of the item and
  weighted (`weight_difference`, `weight_edges`). Its picks follow the input, but nothing is learned:
  it separates what adaptivity alone buys from what a learned adaptive sampler (DAS, ADPS) adds.
  Both numbers are the `diff_mean` and `sobel_mean` frame summaries of `das_core.nn.features` (the
  features DAS itself reads), computed on the channel-mean frame area-pooled to at most 32 pixels a
  side, as DAS does by default. Ties are broken towards the lower frame index; the picks are returned
  in ascending order, `pick_rank` is the rank of each pick's score (0: the highest).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import ConfigError
from ..nn.features import RAW_NAMES, raw_frame_features
from ..nn.selection import Selection, one_hot_rows
from .base import Sampler, bounded
from .fixed import _selection
from .registry import register_sampler

__all__ = ["CentralSampler", "EdgeEnergySampler", "EdgeEnergyOptions", "central_indices", "content_energy"]

_FEATURE_SIZE = 32  # frames larger than this are area-pooled to it first (DAS's default feature_size)
_DIFF = RAW_NAMES.index("diff_mean")
_SOBEL = RAW_NAMES.index("sobel_mean")
MAX_WEIGHT = 1e6  # edge-energy's weights lie in [0, 1e6] (each term is standardised, so only their ratio matters)


def central_indices(num_frames: int, num_selected: int) -> list[int]:
    """The k consecutive frames centred on the middle: `range((T - k) // 2, (T - k) // 2 + k)`."""
    start = (num_frames - num_selected) // 2
    return list(range(start, start + num_selected))


@register_sampler("central")
class CentralSampler(Sampler):
    """The k consecutive middle frames, the same for every input (see the module docstring)."""

    label = "Central"

    def __init__(self, num_frames: int, num_selected: int):
        super().__init__(num_frames, num_selected)
        self.register_buffer(
            "fixed_indices", torch.tensor(central_indices(num_frames, num_selected)), persistent=False
        )

    def select(self, x: Tensor, **_) -> Selection:
        idx = self.fixed_indices.to(x.device).expand(x.shape[0], -1)
        return _selection(idx, self.num_frames, x.dtype)


def _standardise(v: Tensor) -> Tensor:
    """(B, T) -> each row centred and divided by its (population) std across T; a constant row -> 0."""
    centred = v - v.mean(dim=1, keepdim=True)
    sd = centred.square().mean(dim=1, keepdim=True).sqrt()
    return centred / (sd + 1e-6)


def content_energy(x: Tensor, max_size: int | None = _FEATURE_SIZE) -> tuple[Tensor, Tensor]:
    """(B, T, C, H, W) -> (difference (B, T), edges (B, T)), float32, no gradient.

    difference[t]: mean |x_t - x_{t-1}| and mean |x_{t+1} - x_t| averaged (one neighbour at the ends;
    0 for T = 1); edges[t]: the mean Sobel gradient magnitude of frame t. Both from
    `das_core.nn.features.raw_frame_features` (channel-mean frames, pooled to at most `max_size` a side).
    """
    raw = raw_frame_features(x, max_size)  # (B, T, NUM_RAW), float32
    back = raw[..., _DIFF]  # back[t] = mean |x_t - x_{t-1}| for t >= 1 (back[0] repeats back[1])
    T = back.shape[1]
    if T == 1:
        diff = torch.zeros_like(back)
    else:
        diff = back.clone()  # the last frame: its one neighbour before it; frame 0: back[0] = mean |x_1 - x_0|
        diff[:, 1:-1] = 0.5 * (back[:, 1:-1] + back[:, 2:])  # before and after
    return diff, raw[..., _SOBEL]


@dataclass
class EdgeEnergyOptions:
    """Args:
    weight_difference: weight of the standardised mean absolute difference to the neighbouring frames.
    weight_edges: weight of the standardised mean gradient (Sobel) magnitude of the frame.
    """

    weight_difference: float = bounded(1.0, 0, MAX_WEIGHT)
    weight_edges: float = bounded(1.0, 0, MAX_WEIGHT)


@register_sampler("edge-energy")
class EdgeEnergySampler(Sampler):
    """The k frames with the most content (frame-difference plus edge energy); see the module docstring."""

    Options = EdgeEnergyOptions
    label = "Edge energy"
    adaptive = True
    varies_per_input = True

    def __init__(self, num_frames: int, num_selected: int, **options):
        super().__init__(num_frames, num_selected, **options)  # each weight in [0, MAX_WEIGHT]: EdgeEnergyOptions
        if self.config.weight_difference == 0 and self.config.weight_edges == 0:
            raise ConfigError("weight_difference and weight_edges cannot both be 0; keep at least one positive.")

    def frame_scores(self, x: Tensor) -> Tensor:
        """(B, T, C, H, W) -> the per-frame content scores (B, T), float32."""
        diff, edges = content_energy(x)
        cfg = self.config
        return float(cfg.weight_difference) * _standardise(diff) + float(cfg.weight_edges) * _standardise(edges)

    def select(self, x: Tensor, **_) -> Selection:
        scores = self.frame_scores(x)  # (B, T)
        order = torch.sort(scores, dim=1, descending=True, stable=True).indices  # ties: lowest index first
        top = order[:, : self.num_selected]  # (B, k) by score
        indices, rank = top.sort(dim=1)  # ascending; rank[b, j] = the score rank of row j
        return Selection(indices=indices, matrix=one_hot_rows(indices, self.num_frames, x.dtype),
                         scores=scores.to(x.dtype), pick_rank=rank)
