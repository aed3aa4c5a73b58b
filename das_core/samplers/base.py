"""The base class every sampler derives from: shape checks, options record, parameter groups."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..selection import Selection

__all__ = ["Sampler", "check_k"]


def check_k(num_frames: int, num_selected: int) -> None:
    """Reject k outside [1, T] with one sentence naming the fix."""
    if not isinstance(num_frames, int) or num_frames < 1:
        raise ConfigError(f"num_frames must be a positive integer, got {num_frames!r}.")
    if not isinstance(num_selected, int) or not 1 <= num_selected <= num_frames:
        raise ConfigError(
            f"num_selected k={num_selected!r} must be between 1 and the number of frames "
            f"T={num_frames}; choose k in that range (or a sampling ratio in (0, 1])."
        )


class Sampler(nn.Module):
    """Picks `num_selected` (k) of `num_frames` (T) frames for each sequence of a batch.

    Subclasses implement `select(x, **kwargs) -> Selection`; `forward` checks the input first.
    `options` holds the keyword options the sampler was built with, so a checkpoint can rebuild it
    with `make_sampler(name, T, k, **options)`.
    """

    name: str = "base"
    learned: bool = False  # has trainable parameters
    adaptive: bool = False  # picks change with the input at inference

    def __init__(self, num_frames: int, num_selected: int, **options: Any):
        super().__init__()
        check_k(num_frames, num_selected)
        self.num_frames = num_frames
        self.num_selected = num_selected
        self.options = dict(options)

    def check_input(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.dim() != 5:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ConfigError(
                f"Samplers take x of shape (B, T, C, H, W), got {shape}; add the missing batch or "
                f"channel dimension (x[None] or x[:, :, None])."
            )
        if x.shape[1] != self.num_frames:
            raise ConfigError(
                f"This {self.name} sampler was built for T={self.num_frames} frames but the input has "
                f"T={x.shape[1]}; resample the sequence to {self.num_frames} frames or build a sampler "
                f"for T={x.shape[1]}."
            )

    def forward(self, x: Tensor, **kwargs: Any) -> Selection:
        self.check_input(x)
        return self.select(x, **kwargs)

    def select(self, x: Tensor, **kwargs: Any) -> Selection:  # pragma: no cover - abstract
        raise NotImplementedError

    def parameter_groups(self, lr: float) -> list[dict]:
        """Optimizer parameter groups for this sampler at base learning rate `lr`."""
        params = [p for p in self.parameters() if p.requires_grad]
        return [{"params": params, "lr": lr, "name": f"sampler:{self.name}"}] if params else []

    def extra_repr(self) -> str:
        return f"T={self.num_frames}, k={self.num_selected}, options={self.options}"

    @staticmethod
    def _device_generator(device: torch.device, seed: int) -> torch.Generator:
        g = torch.Generator(device=device)
        g.manual_seed(seed)
        return g
