"""A depthwise convolution that is fast on CPU when the feature map is smaller than the kernel.

PyTorch's CPU kernels for depthwise convolutions are pathologically slow on tiny feature maps. In
MobileNetV3-Small on 28x28 frames the last blocks run 5x5 depthwise convs over 2x2 and 1x1 maps;
with a batch of 224 frames one such conv (576 channels, 1x1 map) took about 127 ms forward plus
backward on one thread, although only its centre tap ever touches the input. Those layers were
over half of a training step (profiled for issue 4; see the README's Speed section).

`DepthwiseConv2d` is a drop-in `nn.Conv2d` (same parameters, same state-dict keys, same output).
On CPU, when the input map has at most `small_map` pixels, it computes the convolution as a sum of
shifted, per-channel-scaled slices over the kernel taps that overlap the map (taps that only see
zero padding are skipped), with a matching hand-written backward:

    y[n, c, oy, ox]  = sum_{i, j} w[c, i, j] * x[n, c, oy*s + i*d - p, ox*s + j*d - p]
    dL/dw[c, i, j]   = sum_{n, oy, ox} g[n, c, oy, ox] * x[n, c, oy*s + i*d - p, ox*s + j*d - p]

Elsewhere (bigger maps, CUDA) it is exactly `nn.Conv2d`, whose kernels are fast there.
`use_fast_depthwise(module)` swaps every depthwise conv inside a module, in place.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor, nn

from .pointwise import is_channels_last

__all__ = ["DepthwiseConv2d", "use_fast_depthwise", "depthwise_conv2d_shift"]


@lru_cache(maxsize=256)
def _taps(h: int, w: int, oh: int, ow: int, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple):
    """Kernel taps that overlap the input: (i, j, output rows, output cols, input rows, input cols) slices."""
    out = []
    for i in range(kernel[0]):
        o0, o1 = _valid(h, oh, i, stride[0], padding[0], dilation[0])
        if o1 <= o0:
            continue
        for j in range(kernel[1]):
            q0, q1 = _valid(w, ow, j, stride[1], padding[1], dilation[1])
            if q1 <= q0:
                continue
            r0 = o0 * stride[0] + i * dilation[0] - padding[0]
            c0 = q0 * stride[1] + j * dilation[1] - padding[1]
            out.append((i, j, slice(o0, o1), slice(q0, q1),
                        slice(r0, r0 + (o1 - o0 - 1) * stride[0] + 1, stride[0]),
                        slice(c0, c0 + (q1 - q0 - 1) * stride[1] + 1, stride[1])))
    return tuple(out)


def _valid(size: int, out_size: int, tap: int, stride: int, pad: int, dil: int) -> tuple[int, int]:
    """Output positions o with 0 <= o*stride + tap*dil - pad < size, as a half-open range."""
    lo = max(0, -(-(pad - tap * dil) // stride))
    hi = min(out_size, (size - 1 + pad - tap * dil) // stride + 1)
    return lo, hi


def _out_size(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


class _ShiftDepthwise(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation):
        n, c, h, w = x.shape
        kh, kw = weight.shape[-2:]
        oh, ow = _out_size(h, kh, stride[0], padding[0], dilation[0]), _out_size(w, kw, stride[1], padding[1], dilation[1])
        taps = _taps(h, w, oh, ow, (kh, kw), stride, padding, dilation)
        y = x.new_zeros(n, c, oh, ow)  # (N, C, OH, OW)
        for i, j, orow, ocol, irow, icol in taps:
            y[:, :, orow, ocol] += x[:, :, irow, icol] * weight[:, 0, i, j].view(1, c, 1, 1)
        if bias is not None:
            y += bias.view(1, c, 1, 1)
        ctx.save_for_backward(x, weight)
        ctx.taps, ctx.has_bias = taps, bias is not None
        return y

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        c = x.shape[1]
        grad_x = torch.zeros_like(x) if ctx.needs_input_grad[0] else None
        grad_w = torch.zeros_like(weight) if ctx.needs_input_grad[1] else None
        for i, j, orow, ocol, irow, icol in ctx.taps:
            g = grad_out[:, :, orow, ocol]
            if grad_x is not None:
                grad_x[:, :, irow, icol] += g * weight[:, 0, i, j].view(1, c, 1, 1)
            if grad_w is not None:
                grad_w[:, 0, i, j] = torch.einsum("nchw,nchw->c", g, x[:, :, irow, icol])
        grad_b = grad_out.sum(dim=(0, 2, 3)) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b, None, None, None


def depthwise_conv2d_shift(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=(1, 1), padding=(0, 0),
                           dilation=(1, 1)) -> Tensor:
    """`F.conv2d(x, weight, bias, stride, padding, dilation, groups=C)` as shifted slices (for tiny maps)."""
    assert x.dim() == 4 and weight.shape[0] == x.shape[1] and weight.shape[1] == 1, (
        f"depthwise conv needs x (N, C, H, W) and weight (C, 1, kh, kw), got {tuple(x.shape)} and {tuple(weight.shape)}"
    )
    return _ShiftDepthwise.apply(x, weight, bias, tuple(stride), tuple(padding), tuple(dilation))


class DepthwiseConv2d(nn.Conv2d):
    """`nn.Conv2d` with groups == in_channels == out_channels, fast on CPU for maps of <= `small_map` pixels.

    Args: those of `nn.Conv2d` (numeric zero padding only).
    """

    small_map = 4  # H * W at or below which the shifted-slice path is used (measured: 4x-100x faster)
    small_map_channels_last = 1  # channels-last inputs: oneDNN's kernel is faster from 2x2 maps up

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        assert self.groups == self.in_channels == self.out_channels, (
            f"DepthwiseConv2d needs groups == in_channels == out_channels, got {self.groups}, "
            f"{self.in_channels}, {self.out_channels}"
        )
        assert self.padding_mode == "zeros" and not isinstance(self.padding, str), "DepthwiseConv2d needs numeric zero padding"

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type == "cpu" and x.dim() == 4 and x.shape[-1] * x.shape[-2] <= self._small_map(x):
            return depthwise_conv2d_shift(x, self.weight, self.bias, self.stride, self.padding, self.dilation)
        return super().forward(x)

    def _small_map(self, x: Tensor) -> int:
        return self.small_map_channels_last if is_channels_last(x) else self.small_map

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> "DepthwiseConv2d":
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                  conv.groups, conv.bias is not None, device=conv.weight.device, dtype=conv.weight.dtype)
        new.load_state_dict(conv.state_dict())
        return new


def _is_depthwise(m: nn.Module) -> bool:
    return (type(m) is nn.Conv2d and m.groups > 1 and m.groups == m.in_channels == m.out_channels
            and m.padding_mode == "zeros" and not isinstance(m.padding, str))


def use_fast_depthwise(module: nn.Module) -> nn.Module:
    """Replace every depthwise `nn.Conv2d` inside `module` by a `DepthwiseConv2d` (in place); returns it."""
    for name, child in list(module.named_children()):
        if _is_depthwise(child):
            setattr(module, name, DepthwiseConv2d.from_conv(child))
        else:
            use_fast_depthwise(child)
    return module
