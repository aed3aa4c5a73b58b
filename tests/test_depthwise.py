"""The fast depthwise and pointwise convs equal nn.Conv2d (outputs and gradients); MobileNetV3-Small uses them."""

import copy

import pytest
import torch
from torch import nn

from das_core.nn.backbones import mobilenet_v3_small_features
from das_core.nn.depthwise import DepthwiseConv2d, depthwise_conv2d_shift, use_fast_depthwise
from das_core.nn.pointwise import PointwiseConv2d, use_fast_pointwise


@pytest.mark.parametrize("hw,k,s,p,d,bias", [
    ((1, 1), 5, 1, 2, 1, False),   # MobileNetV3-Small's last blocks at 28x28: only the centre tap is used
    ((2, 2), 5, 2, 2, 1, True),
    ((2, 2), 5, 1, 2, 1, False),
    ((3, 4), 3, 1, 1, 2, True),    # dilation, non-square map
    ((3, 3), 3, 1, 0, 1, False),   # no padding
    ((3, 4), 3, 2, 1, 1, True),
])
def test_shift_conv_matches_conv2d_and_passes_gradcheck(hw, k, s, p, d, bias):
    torch.manual_seed(0)
    c = 3
    x = torch.randn(2, c, *hw, dtype=torch.double, requires_grad=True)
    w = torch.randn(c, 1, k, k, dtype=torch.double, requires_grad=True)
    b = torch.randn(c, dtype=torch.double, requires_grad=True) if bias else None
    ref = nn.functional.conv2d(x, w, b, s, p, d, c)
    out = depthwise_conv2d_shift(x, w, b, (s, s), (p, p), (d, d))
    assert out.shape == ref.shape
    assert torch.allclose(out, ref, atol=1e-12)
    args = (x, w, b) if bias else (x, w)
    fn = (lambda x_, w_, b_: depthwise_conv2d_shift(x_, w_, b_, (s, s), (p, p), (d, d))) if bias else \
        (lambda x_, w_: depthwise_conv2d_shift(x_, w_, None, (s, s), (p, p), (d, d)))
    assert torch.autograd.gradcheck(fn, args)


def _torchvision_body(in_channels: int = 1) -> nn.Module:
    """torchvision's MobileNetV3-Small features as the backbone builds them, with plain layers throughout."""
    from torchvision.models import mobilenet_v3_small

    net = mobilenet_v3_small(weights=None)
    first = net.features[0][0]
    net.features[0][0] = nn.Conv2d(in_channels, first.out_channels, first.kernel_size, first.stride, first.padding,
                                   bias=False)
    return nn.Sequential(net.features, nn.AdaptiveAvgPool2d(1), nn.Flatten())


@pytest.mark.parametrize("size", [28, 64])
def test_mobilenet_fast_layers_give_torchvisions_outputs_and_gradients(size):
    """Channels-last, DepthwiseConv2d and PointwiseConv2d: same state-dict keys, outputs and gradients."""
    torch.manual_seed(0)
    fast, dim = mobilenet_v3_small_features(1)
    assert dim == 576
    assert sum(isinstance(m, DepthwiseConv2d) for m in fast.modules()) == 11
    assert sum(isinstance(m, PointwiseConv2d) for m in fast.modules()) > 30
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in fast.parameters() if p.dim() == 4)
    plain = _torchvision_body()
    assert plain.state_dict().keys() == fast.state_dict().keys()
    plain.load_state_dict(fast.state_dict())
    x = torch.randn(6, 1, size, size)
    ya, yb = plain(x), fast(x)
    assert torch.allclose(ya, yb, atol=1e-4, rtol=1e-3)
    ya.square().mean().backward()
    yb.square().mean().backward()
    grads = dict(fast.named_parameters())
    for name, p in plain.named_parameters():
        assert torch.allclose(p.grad, grads[name].grad, atol=1e-5, rtol=1e-2), name


def test_mobilenet_stays_channels_last_after_moves_and_loading():
    fast, _ = mobilenet_v3_small_features(1)
    other, _ = mobilenet_v3_small_features(1)
    other.load_state_dict(fast.state_dict())
    moved = copy.deepcopy(other).to(torch.float32).to("cpu")
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in moved.parameters() if p.dim() == 4)


def test_use_fast_depthwise_leaves_other_convs_alone():
    net = nn.Sequential(nn.Conv2d(4, 8, 3), nn.Conv2d(8, 8, 3, groups=8), nn.Conv2d(8, 8, 3, groups=2))
    use_fast_depthwise(net)
    assert [type(m) for m in net] == [nn.Conv2d, DepthwiseConv2d, nn.Conv2d]


@pytest.mark.parametrize("shape,channels_last,bias", [
    ((3, 5, 4, 4), True, True),    # the matrix-product path
    ((3, 5, 1, 1), False, False),  # a 1x1 map: both layouts coincide, matrix product too
    ((3, 5, 4, 4), False, True),   # default layout: plain nn.Conv2d
])
def test_pointwise_conv_matches_conv2d_and_passes_gradcheck(shape, channels_last, bias):
    torch.manual_seed(0)
    conv = nn.Conv2d(shape[1], 7, 1, bias=bias).double()
    fast = PointwiseConv2d.from_conv(conv)
    x = torch.randn(*shape, dtype=torch.double)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    assert torch.allclose(fast(x), conv(x), atol=1e-12)
    assert torch.autograd.gradcheck(lambda x_: fast(x_), (x,))


def test_use_fast_pointwise_leaves_other_convs_alone():
    net = nn.Sequential(nn.Conv2d(4, 8, 1), nn.Conv2d(8, 8, 1, stride=2), nn.Conv2d(8, 8, 3), nn.Conv2d(8, 8, 1, groups=2))
    use_fast_pointwise(net)
    assert [type(m) for m in net] == [PointwiseConv2d, nn.Conv2d, nn.Conv2d, nn.Conv2d]
