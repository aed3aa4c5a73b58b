"""Parameter-free frame features: stencils equal the Sobel/Laplacian convolutions, shapes, pooling."""

import torch
import torch.nn.functional as F

from das_core.nn.features import (
    _LAPLACIAN, _SOBEL_X, FEATURE_DIM, _stencils, frame_feature_maps, frame_features, raw_frame_features,
)


def test_stencils_equal_convolution_with_the_kernels():
    p = torch.rand(5, 1, 13, 17)
    kernels = torch.stack([_SOBEL_X, _SOBEL_X.t(), _LAPLACIAN])[:, None]
    expected = F.conv2d(p, kernels)  # (5, 3, 11, 15)
    gx, gy, lap = _stencils(p[:, 0])
    assert torch.allclose(torch.stack([gx, gy, lap], 1), expected, atol=1e-5)


def test_summaries_match_torch_reductions():
    x = torch.rand(2, 6, 1, 9, 9)
    raw = raw_frame_features(x)
    maps = frame_feature_maps(x)
    sobel = maps["sobel"].flatten(2)
    assert torch.allclose(raw[..., 4], sobel.mean(-1), atol=1e-6)
    assert torch.allclose(raw[..., 5], sobel.amax(-1))
    assert torch.allclose(raw[..., 6], sobel.std(-1, unbiased=False), atol=1e-4)
    d = (x[:, 1:] - x[:, :-1]).flatten(2)
    assert torch.allclose(raw[:, 1:, 3], d.var(-1, unbiased=False), atol=1e-5)


def test_shapes_pooling_and_single_frame():
    x = torch.rand(2, 4, 3, 64, 48)
    assert frame_feature_maps(x, max_size=32)["sobel"].shape == (2, 4, 32, 32)
    assert frame_feature_maps(x)["sobel"].shape == (2, 4, 64, 48)
    f = frame_features(torch.rand(1, 1, 1, 7, 7))
    assert f.shape == (1, 1, FEATURE_DIM) and torch.isfinite(f).all()


def test_a_small_bright_structure_stands_out():
    x = 0.2 * torch.rand(3, 12, 1, 28, 28)
    for b, t in enumerate([2, 7, 10]):
        x[b, t, 0, 10:14, 12:16] = 1.0
    f = frame_features(x)
    z_sobel_max = f[..., 10 + 5]  # z-score of sobel_max
    assert z_sobel_max.argmax(1).tolist() == [2, 7, 10]
