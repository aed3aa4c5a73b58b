"""Int8 storage of a state dict's large weight tensors (for the shipped demo checkpoints).

Each floating-point tensor with at least `min_numel` elements and two or more dimensions is stored as
int8 with one float32 scale per output channel (symmetric: `w ~= q * scale`, q in [-127, 127]);
the other float32 tensors (biases, batch-norm statistics, small weights) are stored as float16 where
their values fit, and integers stay as they are. A MobileNetV3-Small
checkpoint shrinks from 3.8 MB to about 1 MB; `das_core.experiments.shipped` re-evaluates every
compacted checkpoint and records its test metrics beside those of the float run it came from.
Loading (`das_core.checkpoints`) expands the tensors back to float32 transparently.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["compact_state", "expand_state", "pack_state", "unpack_state"]


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
        elif t.dtype == torch.float32 and t.numel() and t.abs().max() < 6.0e4:
            out[name] = t.to(torch.float16)
        else:
            out[name] = t.clone()
    return out, scales


def expand_state(state: dict[str, Tensor], scales: dict[str, Tensor]) -> dict[str, Tensor]:
    """The float32 state dict of `compact_state`'s output (float16 tensors back to float32, the rest as it is).

    Raises:
        ValueError: a scale whose length does not match its tensor's first dimension.
    """
    out = {name: t.float() if t.dtype == torch.float16 else t for name, t in state.items()}
    for name, s in scales.items():
        q = state[name]
        if s.dim() != 1 or q.dim() < 2 or s.shape[0] != q.shape[0]:
            raise ValueError(f"scale of {name} has shape {tuple(s.shape)} for a tensor of shape {tuple(q.shape)}")
        out[name] = q.float() * s.float().view(-1, *([1] * (q.dim() - 1)))
    return out


def pack_state(state: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, list]]:
    """Concatenate the int8 and the float16 tensors into one flat tensor each (a torch file stores every
    tensor as its own aligned record: ~260 small records cost ~10% of a compacted MobileNetV3-Small file).

    Returns ({"int8": flat, "float16": flat, other names: tensors}, {"int8"/"float16": [[name, shape], ...]}).
    """
    packed, layout = {}, {}
    for kind, dtype in (("int8", torch.int8), ("float16", torch.float16)):
        names = [n for n, t in state.items() if t.dtype == dtype]
        layout[kind] = [[n, list(state[n].shape)] for n in names]
        packed[kind] = torch.cat([state[n].reshape(-1) for n in names]) if names else torch.zeros(0, dtype=dtype)
    packed.update({n: t for n, t in state.items() if t.dtype not in (torch.int8, torch.float16)})
    return packed, layout


def unpack_state(packed: dict[str, Tensor], layout: dict[str, list]) -> dict[str, Tensor]:
    """The state dict `pack_state` packed (ValueError if the layout does not fit the flat tensors)."""
    state = {n: t for n, t in packed.items() if n not in layout}
    for kind, entries in layout.items():
        flat, pos = packed[kind], 0
        for name, shape in entries:
            n = 1
            for d in shape:
                n *= int(d)
            if pos + n > flat.numel():
                raise ValueError(f"packed {kind} weights end before {name}")
            state[name] = flat[pos:pos + n].view(*shape)
            pos += n
        if pos != flat.numel():
            raise ValueError(f"packed {kind} weights hold {flat.numel() - pos} values no tensor claims")
    return state
