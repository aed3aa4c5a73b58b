"""Samplers with no learned parameters: the full sequence, uniform and random picks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor

from ..nn.selection import Selection, one_hot_rows
from .base import Sampler, bounded
from .registry import register_sampler

__all__ = ["FullSampler", "UniformSampler", "RandomSampler", "RandomOptions", "uniform_indices", "MAX_SEED"]

MAX_SEED = 2**63 - 1  # the random sampler's seed lies in [0, 2**63 - 1] (what torch.Generator.manual_seed takes)


def uniform_indices(num_frames: int, num_selected: int) -> list[int]:
    """Evenly spaced distinct frames: `round(linspace(0, T-1, k))`; k = 1 takes the middle frame.

    Distinct because consecutive linspace points are at least 1 apart when k <= T.
    """
    if num_selected == 1:
        return [(num_frames - 1) // 2]
    # on the CPU also under `torch.device("meta")` (the model-size estimate builds there)
    return torch.linspace(0, num_frames - 1, num_selected, device="cpu").round().long().tolist()


def _selection(indices: Tensor, num_frames: int, dtype) -> Selection:
    k = indices.shape[1]
    rank = torch.arange(k, device=indices.device).expand_as(indices)
    return Selection(indices=indices, matrix=one_hot_rows(indices, num_frames, dtype), pick_rank=rank)


@register_sampler("full")
class FullSampler(Sampler):
    """All T frames: the accuracy and compute reference (k is ignored: it keeps all T)."""

    label = "Full sequence"
    takes_k = False

    def __init__(self, num_frames: int, num_selected: Optional[int] = None):
        super().__init__(num_frames, num_frames)

    def select(self, x: Tensor, **_) -> Selection:
        idx = torch.arange(self.num_frames, device=x.device).expand(x.shape[0], -1)
        return _selection(idx, self.num_frames, x.dtype)


@register_sampler("uniform")
class UniformSampler(Sampler):
    """Evenly spaced frames, the same for every input (see `uniform_indices`)."""

    label = "Uniform"

    def __init__(self, num_frames: int, num_selected: int):
        super().__init__(num_frames, num_selected)
        self.register_buffer(
            "fixed_indices", torch.tensor(uniform_indices(num_frames, num_selected)), persistent=False
        )

    def select(self, x: Tensor, **_) -> Selection:
        idx = self.fixed_indices.to(x.device).expand(x.shape[0], -1)
        return _selection(idx, self.num_frames, x.dtype)


@dataclass
class RandomOptions:
    """Args:
    seed: seed of the evaluation generator.
    """

    seed: int = bounded(0, 0, MAX_SEED)


@register_sampler("random")
class RandomSampler(Sampler):
    """k distinct random frames per sample.

    Training: fresh draws every call. Evaluation: draws come from a generator reset to `seed` at
    every call, so the same batch always gives the same frames and results reproduce.
    """

    Options = RandomOptions
    label = "Random"
    varies_per_input = True
    call_options = frozenset({"generator"})

    def __init__(self, num_frames: int, num_selected: int, **options):
        super().__init__(num_frames, num_selected, **options)
        self.seed = int(self.config.seed)

    def select(self, x: Tensor, generator: Optional[torch.Generator] = None, **_) -> Selection:
        B = x.shape[0]
        if generator is None and not self.training:
            generator = self._device_generator(torch.device("cpu"), self.seed)
        keys = torch.rand(B, self.num_frames, generator=generator)  # CPU draw: same on every device
        idx = keys.topk(self.num_selected, dim=1).indices.sort(dim=1).values.to(x.device)
        return _selection(idx, self.num_frames, x.dtype)
