"""Int8 storage of a state dict's large weight tensors (for the shipped demo checkpoints).

Each floating-point tensor with at least `min_numel` elements and two or more dimensions is stored as
int8 with one float32 scale per output channel (symmetric: `w ~= q * scale`, q in [-127, 127]);
everything else (biases, batch-norm statistics, small tensors) stays as it is. A MobileNetV3-Small
checkpoint shrinks from 3.8 MB to about 1 MB; `das_core.experiments.shipped` re-evaluates every
compacted checkpoint and records its test metrics beside those of the float run it came from.
Loading (`das_core.checkpoints`) expands the tensors back to float32 transparently.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["compact_state", "expand_state"]


def _scale(w: Tensor) -> Tensor:
    """One scale per output channel (dim 0): max |w| over the other dims / 127, at least tiny."""
    amax = w.detach().abs().flatten(1).amax(dim=1)  # (O,)
    return (amax / 127.0).clamp_min(torch.finfo(torch.float32).tiny).float()


def compact_state(state: dict[str, Tensor], *, min_numel: int = 1024) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """(state with large float weights as int8, {name: per-channel scales (O,)}).

    Args:
        state: a state dict (tensors on any device; returned on CPU).
        min_numel: tensors with fewer elements are kept as they are.
    """
    out, scales = {}, {}
    for name, t in state.items():
        t = t.detach().cpu()
        if t.is_floating_point() and t.dim() >= 2 and t.numel() >= min_numel:
            s = _scale(t.float())
            q = torch.round(t.float() / s.view(-1, *([1] * (t.dim() - 1)))).clamp_(-127, 127).to(torch.int8)
            out[name], scales[name] = q.contiguous(), s
        else:
            out[name] = t.clone()
    return out, scales


def expand_state(state: dict[str, Tensor], scales: dict[str, Tensor]) -> dict[str, Tensor]:
    """The float32 state dict of `compact_state`'s output (tensors without a scale are returned as they are).

    Raises:
        ValueError: a scale whose length does not match its tensor's first dimension.
    """
    out = dict(state)
    for name, s in scales.items():
        q = state[name]
        if s.dim() != 1 or q.dim() < 2 or s.shape[0] != q.shape[0]:
            raise ValueError(f"scale of {name} has shape {tuple(s.shape)} for a tensor of shape {tuple(q.shape)}")
        out[name] = q.float() * s.float().view(-1, *([1] * (q.dim() - 1)))
    return out
