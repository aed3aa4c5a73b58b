"""A 1x1 convolution computed as a matrix product on channels-last CPU tensors.

oneDNN's convolution kernels spend most of a 1x1 convolution's time on bookkeeping at the sizes
MobileNetV3-Small meets on 28x28 frames (224 frames, maps of 7x7 down to 1x1): as one `F.linear`
over the (N*H*W, C) view of a channels-last tensor the same product runs 2-3x faster forward plus
backward on one thread (measured for issue 12; see docs/speed.md).

`PointwiseConv2d` is a drop-in `nn.Conv2d` (same parameters, state-dict keys and outputs up to float
rounding). It takes the matrix-product path on CPU when the input is channels-last or its map is 1x1
(where both memory orders coincide), and is exactly `nn.Conv2d` elsewhere (CUDA, other layouts).
`use_fast_pointwise(module)` swaps every eligible 1x1 conv inside a module, in place.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PointwiseConv2d", "use_fast_pointwise", "is_channels_last"]


def is_channels_last(x: Tensor) -> bool:
    """True when x (N, C, H, W) is laid out channels-last (C varies fastest)."""
    return x.dim() == 4 and x.stride(1) == 1 and x.shape[1] > 1


class PointwiseConv2d(nn.Conv2d):
    """`nn.Conv2d` with a 1x1 kernel, stride 1, no padding, groups 1; a matrix product on channels-last CPU input.

    Args: those of `nn.Conv2d`, restricted as above.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        assert _is_pointwise(self), (
            f"PointwiseConv2d needs kernel 1x1, stride 1, padding 0 and groups 1, got kernel {self.kernel_size}, "
            f"stride {self.stride}, padding {self.padding}, groups {self.groups}"
        )

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type != "cpu" or x.dim() != 4 or not (is_channels_last(x) or x.shape[-1] * x.shape[-2] == 1):
            return super().forward(x)
        n, c, h, w = x.shape
        rows = x.permute(0, 2, 3, 1).reshape(n * h * w, c)  # (N*H*W, C): a view for channels-last input
        y = F.linear(rows, self.weight.reshape(self.out_channels, c), self.bias)  # (N*H*W, O)
        return y.view(n, h, w, self.out_channels).permute(0, 3, 1, 2)  # (N, O, H, W), channels-last

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> "PointwiseConv2d":
        new = cls(conv.in_channels, conv.out_channels, 1, bias=conv.bias is not None,
                  device=conv.weight.device, dtype=conv.weight.dtype)
        new.load_state_dict(conv.state_dict())
        return new


def _is_pointwise(m: nn.Conv2d) -> bool:
    return (tuple(m.kernel_size) == (1, 1) and tuple(m.stride) == (1, 1) and m.groups == 1
            and not isinstance(m.padding, str) and tuple(m.padding) == (0, 0))


def use_fast_pointwise(module: nn.Module) -> nn.Module:
    """Replace every 1x1, stride-1, ungrouped `nn.Conv2d` inside `module` by a `PointwiseConv2d` (in place)."""
    for name, child in list(module.named_children()):
        if type(child) is nn.Conv2d and _is_pointwise(child):
            setattr(module, name, PointwiseConv2d.from_conv(child))
        else:
            use_fast_pointwise(child)
    return module
