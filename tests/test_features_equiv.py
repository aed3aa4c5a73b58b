"""The fast DAS sampler (issue 12) computes what the old one did: the same picks and, within float rounding,
the same features, scores, relaxed rows and gradients, on random inputs at several sizes, in training and
evaluation. The old computation is frozen below (copied from das_core before the change), so the
comparison does not move when the library does.

Tolerances: the fused features sum in a different order (padded rows, row slices before column slices
when pooling), so the raw summaries differ by a few float32 ulps (relative 1e-5 allows ~80). The z-scores
divide by the spread of a feature across the T frames (plus 1e-3), which magnifies those ulps; they are
compared in units of the log features (times that spread), where the same 1e-5 holds.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from das_core import features, make_sampler
from das_core.samplers.learned import _eval_topk

# ---------------------------------------------------------------------------------------------------------
# The frozen reference: das_core/features.py, the DAS select and the learned samplers' pick as they were.
# ---------------------------------------------------------------------------------------------------------


def _ref_stencils(p):
    H, W = p.shape[-2] - 2, p.shape[-1] - 2
    rows = p[:, 0:H] + 2.0 * p[:, 1 : H + 1] + p[:, 2 : H + 2]
    gx = rows[:, :, 2:] - rows[:, :, :-2]
    cols = p[:, :, 0:W] + 2.0 * p[:, :, 1 : W + 1] + p[:, :, 2 : W + 2]
    gy = cols[:, 2:] - cols[:, :-2]
    centre = p[:, 1 : H + 1, 1 : W + 1]
    lap = p[:, 0:H, 1 : W + 1] + p[:, 2 : H + 2, 1 : W + 1] + p[:, 1 : H + 1, 0:W] + p[:, 1 : H + 1, 2 : W + 2] - 4.0 * centre
    return gx, gy, lap


def _ref_gray(x, max_size):
    gray = x[:, :, 0] if x.shape[2] == 1 else x.mean(dim=2)
    H, W = gray.shape[-2:]
    if max_size is not None and max(H, W) > max_size:
        gray = F.adaptive_avg_pool2d(gray, (min(H, max_size), min(W, max_size)))
    return gray.float()


def ref_frame_feature_maps(x, max_size=None):
    gray = _ref_gray(x, max_size)
    B, T, H, W = gray.shape
    if T > 1:
        d = gray[:, 1:] - gray[:, :-1]
        d = torch.cat([d[:, :1], d], dim=1)
    else:
        d = torch.zeros_like(gray)
    d_flat = d.flatten(2)
    diff_var = (d_flat.square().mean(-1) - d_flat.mean(-1).square()).clamp_min(0)
    gx, gy, lap = _ref_stencils(F.pad(gray.reshape(B * T, 1, H, W), (1, 1, 1, 1), mode="replicate")[:, 0])
    return {
        "diff": d.abs(),
        "sobel": (gx * gx + gy * gy).sqrt().reshape(B, T, H, W),
        "laplacian": lap.abs().reshape(B, T, H, W),
        "diff_var": diff_var,
    }


def _ref_summaries(m):
    flat = m.flatten(2)
    mean = flat.mean(-1)
    std = (flat.square().mean(-1) - mean.square()).clamp_min(0).sqrt()
    return [mean, flat.amax(-1), std]


def ref_raw_frame_features(x, max_size=None):
    maps = ref_frame_feature_maps(x, max_size)
    d_mean, d_max, d_std = _ref_summaries(maps["diff"])
    cols = [d_mean, d_max, d_std, maps["diff_var"]]
    cols += _ref_summaries(maps["sobel"]) + _ref_summaries(maps["laplacian"])
    return torch.stack(cols, dim=-1)


def ref_frame_features(x, max_size=None):
    raw = ref_raw_frame_features(x, max_size)
    logged = torch.log1p(raw.clamp_min(0) * 10.0)
    mu = logged.mean(dim=1, keepdim=True)
    sd = logged.std(dim=1, keepdim=True, unbiased=False)
    z = (logged - mu) / (sd + 1e-3)
    return torch.cat([logged, z], dim=-1).to(x.dtype if x.dtype.is_floating_point else torch.float32)


def _mask_value(dtype):
    return torch.finfo(dtype).min / 4


def _ref_gumbel(shape, dtype, generator):
    u = torch.rand(shape, dtype=torch.float32, generator=generator).clamp(1e-6, 1.0 - 1e-6)
    return (-torch.log(-torch.log(u))).to(dtype)


def ref_sequential_topk(logits, perturbed, tau):
    B, k, T = logits.shape
    neg = _mask_value(perturbed.dtype)
    with torch.no_grad():
        z = perturbed.detach()
        taken = torch.zeros(B, T, dtype=torch.bool)
        batch = torch.arange(B)
        picks = []
        for j in range(k):
            pick = z[:, j].masked_fill(taken, neg).argmax(dim=-1)
            taken[batch, pick] = True
            picks.append(pick)
        picks_t = torch.stack(picks, dim=1)
    hard = F.one_hot(picks_t, T).to(logits.dtype)
    earlier = (hard.cumsum(dim=1) - hard).bool()
    soft = torch.softmax((perturbed / tau[:, None, None]).masked_fill(earlier, neg), dim=-1)
    return picks_t, hard, soft


def ref_sort_rows(picks, *rows):
    indices, order = picks.sort(dim=1)
    return indices, order, [torch.gather(r, 1, order[..., None].expand(-1, -1, r.shape[-1])) for r in rows]


def ref_pick_log_prob(logits, hard, exploration=0.0):
    earlier = (hard.cumsum(dim=1) - hard).bool()
    p = torch.softmax(logits.masked_fill(earlier, _mask_value(logits.dtype)), dim=-1)
    if exploration > 0:
        left = (~earlier).sum(dim=-1, keepdim=True).to(p.dtype)
        p = (1 - exploration) * p + exploration * (~earlier).to(p.dtype) / left
    return (torch.log(p.clamp_min(1e-30)) * hard).sum(dim=(1, 2))


def ref_select(s, x, *, heads=None, stochastic=False, generator=None):
    """DASSampler.select as it was, on the sampler's own parameters."""
    B = x.shape[0]
    with torch.no_grad():
        feats = ref_frame_features(x, s.config.feature_size)
    e = s.embed(feats.to(s.pos.dtype if s.pos is not None else feats.dtype))
    if s.pos is not None:
        e = e + s.pos
    pooled = e.mean(dim=1)
    _, T, _ = e.shape
    H, hd = s.heads, s.config.head_dim
    q, k, v = s.qkv(e).view(B, T, 3, H, hd).permute(2, 0, 3, 1, 4)
    ctx = F.scaled_dot_product_attention(q, k, v)
    a = torch.einsum("bhtd,hd->bht", F.gelu(ctx), s.head_out)
    a = a + s.head_skip(e).transpose(1, 2)
    if s.config.shared_base:
        a = a.mean(dim=1, keepdim=True).expand(B, H, T)
    sc = F.softplus(s.scale_mlp(pooled)).view(B, H, s.num_selected)
    mask = s.head_mask(heads, x.device).to(a.dtype)
    A = torch.einsum("bht,bhj,h->bjt", a, sc, mask) / mask.sum()
    if s.gain is not None:
        A = s.gain * (A - A.mean(dim=-1, keepdim=True)) / (A.std(dim=-1, keepdim=True) + 1e-6)
    tau = s.tau0 * (0.5 + torch.sigmoid(s.temp_mlp(pooled).squeeze(-1)))
    head_scores = a * sc.mean(dim=-1, keepdim=True) * mask[None, :, None]
    exploration = float(s.config.exploration)
    kk = s.num_selected
    if s.training:
        perturbed = A + _ref_gumbel((B, kk, T), A.dtype, generator)
        if exploration > 0:
            explore = torch.rand(B, kk, 1, generator=generator) < exploration
            perturbed = torch.where(explore, _ref_gumbel((B, kk, T), A.dtype, generator), perturbed)
    elif stochastic:
        perturbed = A + tau[:, None, None] * _ref_gumbel((B, kk, T), A.dtype, generator)
    else:
        perturbed = A
    picks, hard, soft = ref_sequential_topk(A, perturbed, tau)
    through = s.training and s.estimator != "score_function"
    log_prob = ref_pick_log_prob(A, hard, exploration) if s.training and s.score_function else None
    matrix = hard + soft - soft.detach() if through else hard
    indices, rank, (matrix, soft) = ref_sort_rows(picks, matrix, soft)
    return {"indices": indices, "pick_rank": rank, "matrix": matrix, "soft": soft, "tau": tau, "logits": A,
            "scores": A.mean(dim=1), "head_scores": head_scores, "log_prob": log_prob}


# ---------------------------------------------------------------------------------------------------------

SHAPES = [  # (B, T, C, H, W), max_size: plain, pooled by whole factors (64, 192, 128), other factors, RGB
    ((8, 28, 1, 28, 28), 32),
    ((2, 64, 1, 64, 64), 32),
    ((1, 96, 1, 192, 192), 32),
    ((1, 128, 1, 128, 128), 32),
    ((2, 6, 1, 9, 9), None),
    ((2, 10, 3, 40, 30), 32),
    ((2, 5, 1, 100, 70), 32),
    ((1, 7, 2, 20, 70), 32),
    ((3, 4, 1, 33, 33), 16),
    ((1, 1, 1, 7, 7), None),
]


def _assert_features_close(new, old):
    torch.testing.assert_close(new[..., :10], old[..., :10], atol=1e-5, rtol=1e-5)
    spread = old[..., :10].std(dim=1, keepdim=True, unbiased=False) + 1e-3
    assert ((new[..., 10:] - old[..., 10:]) * spread).abs().max() <= 1e-5


@pytest.mark.parametrize("shape,max_size", SHAPES)
def test_features_equal_the_old_computation(shape, max_size):
    torch.manual_seed(sum(shape))
    x = torch.rand(shape)
    torch.testing.assert_close(features.raw_frame_features(x, max_size), ref_raw_frame_features(x, max_size),
                               atol=1e-6, rtol=1e-5)
    new, old = features.frame_feature_maps(x, max_size), ref_frame_feature_maps(x, max_size)
    assert new.keys() == old.keys()
    for name in old:
        torch.testing.assert_close(new[name], old[name], atol=1e-5, rtol=1e-5)
    _assert_features_close(features.frame_features(x, max_size), ref_frame_features(x, max_size))


def test_features_of_other_dtypes_and_structured_frames():
    torch.manual_seed(1)
    x = torch.rand(2, 12, 1, 64, 64, dtype=torch.float64)
    new = features.frame_features(x, 32)
    assert new.dtype == torch.float64
    _assert_features_close(new, ref_frame_features(x, 32))
    # smooth frames with a bright blob (flat regions, exact zeros in the maps), scaled intensities
    yy, xx = torch.meshgrid(torch.arange(56.0), torch.arange(56.0), indexing="ij")
    x = torch.stack([torch.exp(-((yy - 8 - 3 * t) ** 2 + (xx - 20) ** 2) / 30.0) for t in range(14)])[None, :, None]
    x = 255.0 * x
    _assert_features_close(features.frame_features(x, 28), ref_frame_features(x, 28))
    _assert_features_close(features.frame_features(x.expand(2, -1, 3, -1, -1), 28),
                           ref_frame_features(x.expand(2, -1, 3, -1, -1), 28))


def test_features_of_non_contiguous_inputs():
    torch.manual_seed(2)
    big = torch.rand(2, 40, 3, 64, 64)
    for x in (big[:, ::2], big[:, :, :1], big.transpose(3, 4), big[..., :60, :48]):
        assert not x.is_contiguous()
        _assert_features_close(features.frame_features(x, 32), ref_frame_features(x, 32))


CASES = [  # (B, T, S, k, options)
    (8, 28, 28, 14, {}),
    (8, 28, 28, 7, {"score_norm": "standardize"}),
    (2, 64, 64, 32, {}),
    (1, 96, 192, 48, {}),
    (1, 96, 192, 24, {"shared_base": True, "heads": 3}),
    (1, 128, 128, 32, {"exploration": 0.3}),
    (3, 12, 20, 5, {"estimator": "score_function", "positional": False}),
]


def _das(T, k, **options):
    """A DAS sampler with every parameter random (the default initialisation starts the score layers at zero,
    which would make every frame tie and every path below the attention trivially equal)."""
    s = make_sampler("das", T, k, **options)
    with torch.no_grad():
        for p in s.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    return s


def _compare(new, ref, *, tol=1e-5):
    """Same picks and pick order exactly; every tensor within `tol` of its scale (the features' rounding,
    magnified as it goes through the random-weight MLPs, stays below 1e-5 of the scores' magnitude)."""
    assert torch.equal(new.indices, ref["indices"]) and torch.equal(new.pick_rank, ref["pick_rank"])
    for name in ("matrix", "soft", "tau", "logits", "scores", "head_scores", "log_prob"):
        value = getattr(new, name)
        if ref[name] is None:
            assert value is None, name
        else:
            scale = max(1.0, ref[name].detach().abs().max().item())
            torch.testing.assert_close(value, ref[name], atol=tol * scale, rtol=tol, msg=name)


@pytest.mark.parametrize("B,T,S,k,options", CASES)
def test_das_picks_and_scores_equal_the_old_computation(B, T, S, k, options):
    torch.manual_seed(T + k)
    s = _das(T, k, **options)
    x = torch.rand(B, T, 1, S, S)
    heads_choices = [None, [0, 2]] if s.heads >= 3 else [None]
    for mode, stochastic in (("eval", False), ("eval", True), ("train", False)):
        s.train(mode == "train")
        for heads in heads_choices:
            with torch.no_grad():
                new = s.select(x, heads=heads, stochastic=stochastic, generator=torch.Generator().manual_seed(5))
                ref = ref_select(s, x, heads=heads, stochastic=stochastic, generator=torch.Generator().manual_seed(5))
            _compare(new, ref)
    s.eval()
    with torch.inference_mode():  # as the model runs it at inference
        _compare(s.select(x), ref_select(s, x))


@pytest.mark.parametrize("B,T,S,k,options", [CASES[0], CASES[4], CASES[5], CASES[6]])
def test_das_training_gradients_equal_the_old_computation(B, T, S, k, options):
    torch.manual_seed(3)
    s = _das(T, k, **options).train()
    x = torch.rand(B, T, 1, S, S)
    w = torch.randn(B, k, T)

    def grads(select):
        s.zero_grad(set_to_none=True)
        out = select(s, x, generator=torch.Generator().manual_seed(11))
        get = (lambda n: getattr(out, n)) if not isinstance(out, dict) else out.get
        loss = (get("matrix") * w).sum() + get("soft").square().sum() + get("tau").sum()
        if get("log_prob") is not None:
            loss = loss + get("log_prob").sum()
        loss.backward()
        return {n: p.grad.clone() for n, p in s.named_parameters() if p.grad is not None}

    new = grads(lambda s, x, **kw: s.select(x, **kw))
    ref = grads(ref_select)
    assert new.keys() == ref.keys() == {n for n, _ in s.named_parameters()}
    scale = max(g.abs().max().item() for g in ref.values())  # rounding errors scale with the whole gradient
    for n in ref:
        assert ref[n].abs().max() > 0, n  # every parameter is on the path
        torch.testing.assert_close(new[n], ref[n], atol=1e-5 * scale, rtol=1e-4, msg=n)


def test_eval_topk_equals_sequential_topk_exactly():
    """The evaluation top-k (numpy row loop) gives bitwise the rows `sequential_topk` + `sort_rows` give,
    ties included (first index wins), in float32 and float64."""
    g = torch.Generator().manual_seed(0)
    for B, k, T, dtype in ((8, 14, 28, torch.float32), (1, 48, 96, torch.float32), (3, 5, 5, torch.float64),
                           (4, 6, 9, torch.float32)):
        A = torch.randn(B, k, T, generator=g, dtype=dtype)
        if T == 9:
            A = A.round()  # many ties
        tau = torch.rand(B, generator=g, dtype=dtype) + 0.2
        picks, hard, soft = ref_sequential_topk(A, A, tau)
        indices, rank, (hard, soft) = ref_sort_rows(picks, hard, soft)
        new = _eval_topk(A, tau)
        for a, b in zip(new, (indices, rank, hard, soft)):
            assert a.dtype == b.dtype and torch.equal(a, b)


def test_eval_path_keeps_the_old_path_where_it_does_not_apply():
    """DPS (shared rows) and grad-enabled evaluation keep working through the same entry point."""
    dps = make_sampler("dps", 20, 6).eval()
    sel = dps(torch.rand(2, 20, 1, 8, 8))
    assert sel.indices.shape == (2, 6)
    das = _das(20, 6).eval()
    x = torch.rand(2, 20, 1, 8, 8)
    sel = das(x)  # grad enabled: the soft rows carry the graph as before
    assert sel.soft.requires_grad and not sel.differentiable
    sel.soft.sum().backward()
    assert das.qkv.weight.grad is not None
    _compare(sel, ref_select(das, x))


def test_attention_paths_agree():
    """Inference computes the attention in plain ops; with gradients it uses SDPA; both give the same scores."""
    torch.manual_seed(0)
    s = _das(30, 10).eval()
    e = torch.randn(4, 30, s.config.dim)
    with torch.no_grad():
        plain = s.base_scores(e)
    fused = s.base_scores(e.requires_grad_())
    torch.testing.assert_close(plain, fused.detach(), atol=1e-5, rtol=1e-5)
    assert math.isfinite(plain.sum().item())
