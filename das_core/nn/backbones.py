"""Per-frame 2D feature extractors: MobileNetV3-Small (the paper's), a small CNN, or any user module.

A backbone maps frames (N, C, H, W) to features (N, D) (or (N, D, h, w), which is averaged over
space). `build_backbone` returns the module and D.
"""

from __future__ import annotations

from typing import Callable, Union

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .depthwise import use_fast_depthwise
from .pointwise import use_fast_pointwise

__all__ = ["BACKBONES", "DEFAULT_BACKBONE", "LIGHT_BACKBONE", "build_backbone", "mobilenet_v3_small_features", "ChannelsLastSequential", "SmallCNN",
           "SpatialPool"]


class ChannelsLastSequential(nn.Sequential):
    """`nn.Sequential` (same state-dict keys) whose input and 4D weights are kept channels-last.

    On CPU, channels-last makes oneDNN's depthwise convolutions 2-6x and batch norm on small maps up to
    10x faster than the default layout, and lets `PointwiseConv2d` run 1x1 convolutions as plain matrix
    products (measured for issue 12; docs/speed.md). On CUDA channels-last is cuDNN's preferred layout too.
    """

    def __init__(self, *modules: nn.Module):
        super().__init__(*modules)
        self.to(memory_format=torch.channels_last)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x)


def mobilenet_v3_small_features(in_channels: int = 1, bn_momentum: float = 0.1) -> tuple[nn.Module, int]:
    """torchvision's MobileNetV3-Small, random init, first conv for `in_channels`, classifier removed.

    Works on 28x28 and 64x64 frames (the feature map shrinks to 1x1 and 2x2). D = 576. Same weights,
    state-dict keys and outputs as torchvision's, laid out for speed on CPU: channels-last memory
    order, depthwise convs as `DepthwiseConv2d` (5x5 kernels over 1x1 maps as shifted slices) and 1x1
    convs as `PointwiseConv2d` (matrix products); see docs/speed.md for the measured gain.
    """
    from torchvision.models import mobilenet_v3_small  # here: `import das_core` must not pay for torchvision

    net = use_fast_pointwise(use_fast_depthwise(mobilenet_v3_small(weights=None)))
    for m in net.modules():  # torchvision's 0.01 suits ImageNet-length training; from scratch in a few
        if isinstance(m, nn.BatchNorm2d):  # hundred steps the running statistics would lag far behind
            m.momentum = bn_momentum
    first = net.features[0][0]
    net.features[0][0] = nn.Conv2d(
        in_channels, first.out_channels, first.kernel_size, first.stride, first.padding, bias=False
    )
    body = ChannelsLastSequential(net.features, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return body, net.classifier[0].in_features  # 576


class SmallCNN(nn.Module):
    """Three conv-BN-ReLU blocks (16, 32, 64 channels) and global average pooling: D = 64. Quick on CPU."""

    def __init__(self, in_channels: int = 1, width: int = 16):
        super().__init__()
        w = width

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.net = nn.Sequential(
            *block(in_channels, w), nn.MaxPool2d(2),
            *block(w, 2 * w), nn.MaxPool2d(2),
            *block(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.out_features = 4 * w

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def small_cnn_features(in_channels: int = 1) -> tuple[nn.Module, int]:
    net = SmallCNN(in_channels)
    return net, net.out_features


BACKBONES: dict[str, Callable[[int], tuple[nn.Module, int]]] = {
    "mobilenet_v3_small": mobilenet_v3_small_features,
    "small_cnn": small_cnn_features,
}
DEFAULT_BACKBONE = "mobilenet_v3_small"  # the paper's: every config, spec and model builder defaults to it
LIGHT_BACKBONE = "small_cnn"  # fast on a CPU: the app's untrained models and its Train page start with it


class SpatialPool(nn.Module):
    """Wraps a user module so its output is (N, D): 4D feature maps are averaged over space."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: Tensor) -> Tensor:
        out = self.module(x)
        if out.dim() == 4:
            out = out.mean(dim=(2, 3))
        return out.flatten(1)


def _probe_feature_dim(module: nn.Module, in_channels: int, frame_size: int) -> int:
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            p = next(module.parameters(), None)
            dev = p.device if p is not None else "cpu"
            out = module(torch.zeros(2, in_channels, frame_size, frame_size, device=dev))
    except Exception as err:  # the user's module rejected the probe input
        raise ConfigError(
            f"Your backbone failed on frames of shape (N, {in_channels}, {frame_size}, {frame_size}) ({err}); "
            f"pass feature_dim= and frame_size= matching your module."
        ) from None
    finally:
        module.train(was_training)
    return int(out.shape[1])


def build_backbone(
    backbone: Union[str, nn.Module], in_channels: int = 1, *, feature_dim: int | None = None, frame_size: int = 28
) -> tuple[nn.Module, int]:
    """A backbone by name (`BACKBONES`) or a user `nn.Module`; returns (module, D)."""
    if isinstance(backbone, str):
        if backbone not in BACKBONES:
            raise ConfigError(f"Unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)} or pass an nn.Module.")
        return BACKBONES[backbone](in_channels)
    if not isinstance(backbone, nn.Module):
        raise ConfigError(f"backbone must be a name or an nn.Module, got {type(backbone).__name__}.")
    wrapped = SpatialPool(backbone)
    dim = feature_dim or getattr(backbone, "out_features", None) or getattr(backbone, "num_features", None)
    if not isinstance(dim, int):
        dim = _probe_feature_dim(wrapped, in_channels, frame_size)
    return wrapped, dim
