"""Parameter-free per-frame features DAS scores frames with (paper section "lightweight features").

For every frame t of x (B, T, C, H, W) three maps are computed on the channel-mean image (area-pooled
to at most `max_size` pixels a side where given):
- `diff`: |x_t - x_{t-1}| (frame 0 uses x_1 - x_0), the inter-frame change (temporal dynamics);
- `sobel`: Sobel gradient magnitude (anatomical boundaries);
- `laplacian`: |3x3 Laplacian| (fine structure, small blobs).
Each map is summarised by its mean, max and std over space (max matters for small structures), and
the variance of the signed inter-frame difference over space is added, as the paper describes.
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


def _stencils(p: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Sobel-x, Sobel-y and Laplacian responses of padded images p (N, H+2, W+2) -> 3 x (N, H, W).

    The 3x3 cross-correlations written as shifted sums, Sobel in its separable form ([1, 2, 1]
    smoothing then a central difference): on CPU oneDNN's convolution with 1 input and 3 output
    channels took over half of the DAS sampler's time (speed benchmark, issue 4); these few
    additions are ~20x cheaper.
    """
    H, W = p.shape[-2] - 2, p.shape[-1] - 2
    rows = p[:, 0:H] + 2.0 * p[:, 1 : H + 1] + p[:, 2 : H + 2]  # (N, H, W+2), smoothed down the rows
    gx = rows[:, :, 2:] - rows[:, :, :-2]
    cols = p[:, :, 0:W] + 2.0 * p[:, :, 1 : W + 1] + p[:, :, 2 : W + 2]  # (N, H+2, W)
    gy = cols[:, 2:] - cols[:, :-2]
    centre = p[:, 1 : H + 1, 1 : W + 1]
    lap = p[:, 0:H, 1 : W + 1] + p[:, 2 : H + 2, 1 : W + 1] + p[:, 1 : H + 1, 0:W] + p[:, 1 : H + 1, 2 : W + 2] - 4.0 * centre
    return gx, gy, lap


def _gray(x: Tensor, max_size: int | None) -> Tensor:
    """(B, T, C, H, W) -> channel-mean frames (B, T, h, w), area-pooled so h, w <= max_size."""
    gray = x[:, :, 0] if x.shape[2] == 1 else x.mean(dim=2)  # (B, T, H, W)
    H, W = gray.shape[-2:]
    if max_size is not None and max(H, W) > max_size:
        gray = F.adaptive_avg_pool2d(gray, (min(H, max_size), min(W, max_size)))
    return gray.float()


def frame_feature_maps(x: Tensor, max_size: int | None = None) -> dict[str, Tensor]:
    """Per-frame maps (B, T, h, w): 'diff', 'sobel', 'laplacian', plus 'diff_var' (B, T).

    All maps are computed on the channel-mean frame; with `max_size`, frames larger than that are
    first area-pooled to at most `max_size` pixels a side (DAS uses 32: its features stay cheap at
    64^3 and are unchanged at 28^3).
    """
    assert x.dim() == 5, f"expected x of shape (B, T, C, H, W), got {tuple(x.shape)}"
    gray = _gray(x, max_size)
    B, T, H, W = gray.shape
    if T > 1:
        d = gray[:, 1:] - gray[:, :-1]  # (B, T-1, H, W)
        d = torch.cat([d[:, :1], d], dim=1)  # frame 0 reuses x_1 - x_0
    else:
        d = torch.zeros_like(gray)
    d_flat = d.flatten(2)
    diff_var = (d_flat.square().mean(-1) - d_flat.mean(-1).square()).clamp_min(0)  # (B, T)
    gx, gy, lap = _stencils(F.pad(gray.reshape(B * T, 1, H, W), (1, 1, 1, 1), mode="replicate")[:, 0])
    return {
        "diff": d.abs(),  # (B, T, H, W)
        "sobel": (gx * gx + gy * gy).sqrt().reshape(B, T, H, W),
        "laplacian": lap.abs().reshape(B, T, H, W),
        "diff_var": diff_var,
    }


def _summaries(m: Tensor) -> list[Tensor]:
    """mean, max and (population) std over space of maps (B, T, h, w), each (B, T)."""
    flat = m.flatten(2)  # (B, T, h*w)
    mean = flat.mean(-1)
    std = (flat.square().mean(-1) - mean.square()).clamp_min(0).sqrt()  # one pass; torch.std is slow on CPU
    return [mean, flat.amax(-1), std]


def raw_frame_features(x: Tensor, max_size: int | None = None) -> Tensor:
    """(B, T, C, H, W) -> (B, T, NUM_RAW) raw summaries, in the order of `RAW_NAMES`."""
    maps = frame_feature_maps(x, max_size)
    d_mean, d_max, d_std = _summaries(maps["diff"])
    cols = [d_mean, d_max, d_std, maps["diff_var"]]
    cols += _summaries(maps["sobel"]) + _summaries(maps["laplacian"])
    return torch.stack(cols, dim=-1)  # (B, T, NUM_RAW)


def frame_features(x: Tensor, max_size: int | None = None) -> Tensor:
    """(B, T, C, H, W) -> F (B, T, FEATURE_DIM): log-compressed raw features and their z-scores over T."""
    raw = raw_frame_features(x, max_size)  # (B, T, 10)
    logged = torch.log1p(raw.clamp_min(0) * 10.0)
    mu = logged.mean(dim=1, keepdim=True)
    sd = logged.std(dim=1, keepdim=True, unbiased=False)
    z = (logged - mu) / (sd + 1e-3)
    return torch.cat([logged, z], dim=-1).to(x.dtype if x.dtype.is_floating_point else torch.float32)
