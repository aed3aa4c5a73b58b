"""The fast depthwise conv equals nn.Conv2d (outputs and gradients) and is used by MobileNetV3-Small."""

import copy

import pytest
import torch
from torch import nn

from das_core.backbones import mobilenet_v3_small_features
from das_core.depthwise import DepthwiseConv2d, depthwise_conv2d_shift, use_fast_depthwise


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


def test_mobilenet_uses_fast_depthwise_with_the_same_outputs_and_gradients():
    torch.manual_seed(0)
    fast, dim = mobilenet_v3_small_features(1)
    assert dim == 576
    assert sum(isinstance(m, DepthwiseConv2d) for m in fast.modules()) == 11
    # the same network with plain nn.Conv2d layers (state dicts are interchangeable)
    plain = copy.deepcopy(fast)
    for name, m in list(plain.named_modules()):
        if isinstance(m, DepthwiseConv2d):
            parent = plain.get_submodule(name.rsplit(".", 1)[0])
            conv = nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation, m.groups,
                             m.bias is not None)
            conv.load_state_dict(m.state_dict())
            setattr(parent, name.rsplit(".", 1)[1], conv)
    assert plain.state_dict().keys() == fast.state_dict().keys()
    x = torch.randn(6, 1, 28, 28)
    ya, yb = plain(x), fast(x)
    assert torch.allclose(ya, yb, atol=1e-5)
    ya.square().mean().backward()
    yb.square().mean().backward()
    grads = dict(fast.named_parameters())
    for name, p in plain.named_parameters():
        if isinstance(plain.get_submodule(name.rsplit(".", 1)[0]), nn.Conv2d):
            assert torch.allclose(p.grad, grads[name].grad, atol=1e-5, rtol=1e-3), name


def test_use_fast_depthwise_leaves_other_convs_alone():
    net = nn.Sequential(nn.Conv2d(4, 8, 3), nn.Conv2d(8, 8, 3, groups=8), nn.Conv2d(8, 8, 3, groups=2))
    use_fast_depthwise(net)
    assert [type(m) for m in net] == [nn.Conv2d, DepthwiseConv2d, nn.Conv2d]
