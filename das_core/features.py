"""Parameter-free per-frame features DAS scores frames with (paper section "lightweight features").

For every frame t of x (B, T, C, H, W) three maps are computed on the channel-mean image:
- `diff`: |x_t - x_{t-1}| (frame 0 uses x_1 - x_0), the inter-frame change (temporal dynamics);
- `sobel`: Sobel gradient magnitude (anatomical boundaries);
- `laplacian`: |3x3 Laplacian| (fine structure, small blobs).
Each map is summarised by its mean, max and std over space (max matters for small structures), and
the variance of the signed inter-frame difference over (C, H, W) is added, as the paper describes.
That gives `NUM_RAW = 10` raw numbers per frame. `frame_features` returns them log-compressed and,
beside them, z-scored across the T frames of the same sequence (so a frame's features say how it
stands out within its own scan, whatever the data set's intensity scale): d = 20.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["frame_feature_maps", "frame_features", "FEATURE_NAMES", "FEATURE_DIM"]

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])

RAW_NAMES = [
    "diff_mean", "diff_max", "diff_std", "diff_var",
    "sobel_mean", "sobel_max", "sobel_std",
    "laplacian_mean", "laplacian_max", "laplacian_std",
]
NUM_RAW = len(RAW_NAMES)
FEATURE_NAMES = [f"log_{n}" for n in RAW_NAMES] + [f"z_{n}" for n in RAW_NAMES]
FEATURE_DIM = len(FEATURE_NAMES)


def _kernels(device, dtype) -> Tensor:
    k = torch.stack([_SOBEL_X, _SOBEL_X.t(), _LAPLACIAN])  # (3, 3, 3)
    return k[:, None].to(device=device, dtype=dtype)  # (3, 1, 3, 3)


def _stencils(p: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Sobel-x, Sobel-y and Laplacian responses of padded images p (N, H+2, W+2) -> 3 x (N, H, W).

    The same cross-correlation as `F.conv2d(p, _kernels(...))`, written as shifted sums: oneDNN's
    convolution with 1 input and 3 output channels took over half of the DAS sampler's time on CPU
    (speed benchmark, issue 4); these few additions are ~20x cheaper.
    """
    H, W = p.shape[-2] - 2, p.shape[-1] - 2
    s = lambda a, b: p[:, a:a + H, b:b + W]  # noqa: E731  (window shifted by rows a, cols b)
    gx = (s(0, 2) - s(0, 0)) + 2.0 * (s(1, 2) - s(1, 0)) + (s(2, 2) - s(2, 0))
    gy = (s(2, 0) - s(0, 0)) + 2.0 * (s(2, 1) - s(0, 1)) + (s(2, 2) - s(0, 2))
    lap = s(0, 1) + s(1, 0) + s(1, 2) + s(2, 1) - 4.0 * s(1, 1)
    return gx, gy, lap


def frame_feature_maps(x: Tensor) -> dict[str, Tensor]:
    """Per-frame maps (B, T, H, W): 'diff', 'sobel', 'laplacian', plus 'diff_var' (B, T)."""
    assert x.dim() == 5, f"expected x of shape (B, T, C, H, W), got {tuple(x.shape)}"
    B, T, C, H, W = x.shape
    x = x.float()
    if T > 1:
        d = x[:, 1:] - x[:, :-1]  # (B, T-1, C, H, W)
        d = torch.cat([d[:, :1], d], dim=1)  # frame 0 reuses x_1 - x_0
    else:
        d = torch.zeros_like(x)
    diff_var = _pop_var(d.flatten(2))  # (B, T)
    gray = x.mean(dim=2).reshape(B * T, 1, H, W)  # (B*T, 1, H, W)
    gx, gy, lap = _stencils(F.pad(gray, (1, 1, 1, 1), mode="replicate")[:, 0])  # each (B*T, H, W)
    sobel = torch.sqrt(gx ** 2 + gy ** 2 + 1e-12)  # (B*T, H, W)
    lap = lap.abs()
    return {
        "diff": d.abs().mean(dim=2),  # (B, T, H, W)
        "sobel": sobel.reshape(B, T, H, W),
        "laplacian": lap.reshape(B, T, H, W),
        "diff_var": diff_var,
    }


def _pop_var(flat: Tensor) -> Tensor:
    """Population variance over the last dim, two-pass: equal to `var(-1, unbiased=False)` (to float
    rounding) but ~10-20x faster on CPU, where torch's std/var reductions dominated the DAS sampler's
    time (speed benchmark, issue 4)."""
    mu = flat.mean(-1, keepdim=True)
    return (flat - mu).square().mean(-1)


def _summaries(m: Tensor) -> list[Tensor]:
    flat = m.flatten(2)  # (B, T, H*W)
    mean = flat.mean(-1)
    std = (flat - mean[..., None]).square().mean(-1).sqrt()  # = std(-1, unbiased=False), see _pop_var
    return [mean, flat.amax(-1), std]


def raw_frame_features(x: Tensor) -> Tensor:
    """(B, T, C, H, W) -> (B, T, NUM_RAW) raw summaries, in the order of `RAW_NAMES`."""
    maps = frame_feature_maps(x)
    d_mean, d_max, d_std = _summaries(maps["diff"])
    cols = [d_mean, d_max, d_std, maps["diff_var"]]
    cols += _summaries(maps["sobel"]) + _summaries(maps["laplacian"])
    return torch.stack(cols, dim=-1)  # (B, T, NUM_RAW)


def frame_features(x: Tensor) -> Tensor:
    """(B, T, C, H, W) -> F (B, T, FEATURE_DIM): log-compressed raw features and their z-scores over T."""
    raw = raw_frame_features(x)  # (B, T, 10)
    logged = torch.log1p(raw.clamp_min(0) * 10.0)
    mu = logged.mean(dim=1, keepdim=True)
    sd = logged.std(dim=1, keepdim=True, unbiased=False)
    z = (logged - mu) / (sd + 1e-3)
    return torch.cat([logged, z], dim=-1).to(x.dtype if x.dtype.is_floating_point else torch.float32)
