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

The features are computed without gradient (they have no parameters; DAS computes them under
`no_grad`), in float32, with few passes over the frames (`_fused_maps`, issue 12): they equal the plain
computation (`_stencils`, `F.pad`, `adaptive_avg_pool2d`, `torch.std`) up to float rounding, which
tests/test_features_equiv.py checks against stored outputs of it (`tests/data/make_das_reference.py`).
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


def _target_size(H: int, W: int, max_size: int | None) -> tuple[int, int]:
    if max_size is not None and max(H, W) > max_size:
        return min(H, max_size), min(W, max_size)
    return H, W


def _gray_into(x: Tensor, out: Tensor) -> None:
    """Write the channel-mean frames of x (B, T, C, H, W), area-pooled to out's (h, w), into out (B, T, h, w).

    When h and w divide H and W (64 -> 32, 192 -> 32, ...) the pooling is a sum of row slices and then of
    column slices (contiguous or short-strided additions), several times faster on CPU than
    `adaptive_avg_pool2d`, which it equals up to float rounding; other sizes use `adaptive_avg_pool2d`.
    Computed in float32 (inputs of other dtypes are converted first).
    """
    B, T, C, H, W = x.shape
    h, w = out.shape[-2:]
    gray = x[:, :, 0] if C == 1 else x.mean(dim=2)  # (B, T, H, W)
    gray = gray.float()
    if (h, w) == (H, W):
        out.copy_(gray)
        return
    if H % h or W % w:
        out.copy_(F.adaptive_avg_pool2d(gray, (h, w)))
        return
    fh, fw = H // h, W // w
    N = B * T
    v = gray.reshape(N, h, fh, W)
    if fh == 1:
        rows = v[:, :, 0]
    else:
        rows = v[:, :, 0] + v[:, :, 1]  # (N, h, W): each output row's fh input rows summed
        for i in range(2, fh):
            rows += v[:, :, i]
    cols = rows.reshape(N, h, w, fw)
    dst = out.view(N, h, w)  # out is the interior of a contiguous buffer, so B and T merge
    if fw == 1:
        dst.copy_(cols[..., 0])
    else:
        torch.add(cols[..., 0], cols[..., 1], out=dst)
        for i in range(2, fw):
            dst += cols[..., i]
    dst.div_(fh * fw)


@torch.no_grad()
def _fused_maps(x: Tensor, max_size: int | None) -> tuple[Tensor, Tensor, int, int]:
    """The three maps of every frame in one buffer, with few passes over the frames.

    Returns M (3, B, T, (h+2) * (w+2)) float32 holding |diff|, sobel and |laplacian| on each frame's
    padded grid, zero on the one-pixel border (so sums, sums of squares and maxima over a row of M are
    those over the h x w frame: all three maps are >= 0), the per-frame sums of the signed diff (B, T),
    and (h, w).

    How: the frames are written once into a flat buffer, each frame padded by one pixel (replicate,
    as `F.pad(mode="replicate")`). On the flat buffer a 3x3 neighbour is a fixed offset (+-1 pixel,
    +-(w + 2) pixels), so every stencil step is one long contiguous addition over all frames at once
    (the results on the border pixels mix neighbouring frames; they are overwritten with zeros). The
    inter-frame diff is taken while the border is still zero, so it is zero there.
    """
    assert x.dim() == 5, f"expected x of shape (B, T, C, H, W), got {tuple(x.shape)}"
    B, T, _, H, W = x.shape
    h, w = _target_size(H, W, max_size)
    r = w + 2  # the flat offset of one row
    Q = (h + 2) * r
    L = B * T * Q
    m = r + 1  # margin before and after the frames, so every shifted slice below stays inside the buffer
    buf = torch.empty(L + 2 * m, device=x.device, dtype=torch.float32)
    buf[:m].zero_()
    buf[m + L:].zero_()
    P = buf[m : m + L].view(B, T, h + 2, w + 2)
    _zero_border(P)
    _gray_into(x, P[..., 1:-1, 1:-1])

    maps = torch.empty(3, B, T, Q, device=x.device, dtype=torch.float32)
    flat = P.view(B, T, Q)
    diff = maps[0]
    if T > 1:
        torch.sub(flat[:, 1:], flat[:, :-1], out=diff[:, 1:])
        diff[:, 0] = diff[:, 1]  # frame 0 reuses x_1 - x_0
    else:
        diff.zero_()
    diff_sum = diff.sum(-1)  # (B, T), signed
    diff.abs_()

    # replicate the border (rows first, then columns: the corners take the corner pixel)
    P[..., 0, :] = P[..., 1, :]
    P[..., -1, :] = P[..., -2, :]
    P[..., :, 0] = P[..., :, 1]
    P[..., :, -1] = P[..., :, -2]

    c = buf[m : m + L]
    # Sobel in its separable form: [1, 2, 1] smoothing across, then a central difference.
    vert = buf[0 : L + 2] + buf[2 * r : L + 2 * m]  # up + down, centred on [m - 1, m + L + 1)
    rows = torch.add(vert, buf[m - 1 : m + L + 1], alpha=2.0)
    gx = rows[2:] - rows[:-2]  # (L,)
    horiz = buf[0 : L + 2 * r] + buf[2 : L + 2 * r + 2]  # left + right, centred on [m - r, m + L + r)
    cols = torch.add(horiz, buf[m - r : m + L + r], alpha=2.0)
    gy = cols[2 * r :] - cols[: -2 * r]  # (L,)
    lap = vert[1 : L + 1] + horiz[r : r + L]
    lap.add_(c, alpha=-4.0)
    torch.abs(lap, out=maps[2].view(-1))
    gx.mul_(gx)
    gx.addcmul_(gy, gy)
    torch.sqrt(gx, out=maps[1].view(-1))
    _zero_border(maps[1:].view(2, B, T, h + 2, w + 2))
    return maps, diff_sum, h, w


def _zero_border(p: Tensor) -> None:
    """Zero the one-pixel border of frames p (..., h + 2, w + 2) in place."""
    p[..., 0, :] = 0.0
    p[..., -1, :] = 0.0
    p[..., :, 0] = 0.0
    p[..., :, -1] = 0.0


def frame_feature_maps(x: Tensor, max_size: int | None = None) -> dict[str, Tensor]:
    """Per-frame maps (B, T, h, w): 'diff', 'sobel', 'laplacian', plus 'diff_var' (B, T).

    All maps are computed on the channel-mean frame; with `max_size`, frames larger than that are
    first area-pooled to at most `max_size` pixels a side (DAS uses 32: its features stay cheap at
    64^3 and are unchanged at 28^3).
    """
    maps, diff_sum, h, w = _fused_maps(x, max_size)
    B, T = diff_sum.shape
    inner = maps.view(3, B, T, h + 2, w + 2)[..., 1:-1, 1:-1]
    n = h * w
    mean = diff_sum / n
    diff_var = (maps[0].square().sum(-1) / n - mean.square()).clamp_min(0)
    return {
        "diff": inner[0].contiguous(),
        "sobel": inner[1].contiguous(),
        "laplacian": inner[2].contiguous(),
        "diff_var": diff_var,
    }


def raw_frame_features(x: Tensor, max_size: int | None = None) -> Tensor:
    """(B, T, C, H, W) -> (B, T, NUM_RAW) raw summaries, in the order of `RAW_NAMES`.

    Three reductions over the fused maps (sum, sum of squares, max), each one pass over all three maps.
    """
    maps, diff_sum, h, w = _fused_maps(x, max_size)
    n = h * w
    mean = maps.sum(-1) / n  # (3, B, T)
    mean_sq = torch.linalg.vector_norm(maps, 2, dim=-1).square_() / n
    peak = maps.amax(-1)
    std = (mean_sq - mean.square()).clamp_min_(0).sqrt_()
    diff_var = (mean_sq[0] - (diff_sum / n).square()).clamp_min_(0)
    cols = [mean[0], peak[0], std[0], diff_var, mean[1], peak[1], std[1], mean[2], peak[2], std[2]]
    return torch.stack(cols, dim=-1)  # (B, T, NUM_RAW)


def frame_features(x: Tensor, max_size: int | None = None) -> Tensor:
    """(B, T, C, H, W) -> F (B, T, FEATURE_DIM): log-compressed raw features and their z-scores over T."""
    raw = raw_frame_features(x, max_size)  # (B, T, 10)
    # log(1 + 10 raw): torch.log1p is not vectorised on CPU (5x torch.log here); for raw >= 0 the two differ
    # by at most one float32 ulp of 1 + 10 raw (~1e-7), the rounding the other steps already carry
    logged = torch.log(raw.clamp_min(0).mul_(10.0).add_(1.0))
    centred = logged - logged.mean(dim=1, keepdim=True)
    sd = centred.square().mean(dim=1, keepdim=True).sqrt_()  # = std(unbiased=False), several times faster on CPU
    z = centred / (sd + 1e-3)
    return torch.cat([logged, z], dim=-1).to(x.dtype if x.dtype.is_floating_point else torch.float32)
