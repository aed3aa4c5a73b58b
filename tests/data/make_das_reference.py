"""Makes tests/data/das_reference.npz, the stored outputs tests/test_features_equiv.py compares the library with.

The reference is the DAS sampler's computation as it was before issue 12's speed-up (commit 29b7649: fused frame
features, plain-op attention at inference, numpy evaluation top-k), frozen below as tests/test_features_equiv.py
held it until these stored outputs replaced it: the frame features of 29b7649^ (today das_core/nn/features.py;
comments left out), and DASSampler.select with the learned samplers' Gumbel top-k written out in plain ops (SDPA
attention, einsum for the head mixing, the torch row loop for the picks). This script is the record of how the
reference was made; the tests do not import it.
The frozen select runs on a DASSampler of the current library used as a container of parameters (its layers,
`head_mask`, config), as the frozen copy in the test did.

Run from the repository root, after a change that is meant to alter what DAS computes (then say why in the
commit), or when the test reports that an input no longer has the stored checksum (a new torch random stream):

    .venv/bin/python tests/data/make_das_reference.py

Inputs are not stored: every one is drawn from a seeded generator, frames and loss weights as in the test, the
sampler parameters each from a generator seeded by the case and the parameter's name (not by the library's
initialisation, so a change there does not move the reference); the test draws the same ones and checks them
against the sha256 digests stored in the file's `meta`. Sizes are chosen to keep the file small (about 0.4 MiB;
stored floats barely compress) while covering the code paths the in-test copy did: every pooling branch of the
fused features (no pooling, whole factors 2, 4, 6 and, new here, a factor-1 side; `adaptive_avg_pool2d`), RGB and
two-channel frames, T = 1, float64, structured frames, non-contiguous views, at the benchmark sizes the copy used;
DAS with and without heads masked, standardised scores, the shared base, exploration, the score-function
estimator without positional embedding, in evaluation (deterministic and stochastic), training and inference
mode, and the gradients of every parameter, at smaller B, T and k than the copy used (no code path depends on
them; the frame size S, which picks the pooling branch, is kept).

Stored per case (what the test compares, with the tolerances given there):
- features: raw summaries (B, T, 10), `frame_features` (B, T, 20) and `diff_var` (B, T) of every frame, and the
  three maps of the last frame of the last sequence (the maps of one frame keep the file small and catch a
  shifted or transposed map, which the summaries miss);
- DAS: per head choice, logits A, scores, head scores and tau (the same in every mode, checked here); per mode,
  indices, pick rank and log-prob, and the relaxed rows (with heads masked, of the evaluation mode only: the
  rows follow from A by the same code whatever the heads). The matrix is not stored: its forward value is the
  one-hot rows of the indices (checked here within 1e-6; the test's tolerance is 1e-5). Every case's picks are
  checked to be clear of ties (`pick_margin`), so float rounding cannot flip one on another machine;
- gradients of every parameter for a fixed loss of matrix, soft rows, tau and log-prob, with layers narrower
  than the default (dim 16, head_dim 8) to keep them small;
- the old top-k's rows on two small logit sets (float64; rounded logits with many ties).
"""

from __future__ import annotations

import hashlib
import json
import sys
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from das_core import make_sampler  # noqa: E402

OUT = Path(__file__).with_name("das_reference.npz")
VERSION = 1

# ---------------------------------------------------------------------------------------------------------
# The frozen reference: the frame features (das_core/nn/features.py), the DAS select and the learned samplers'
# pick as they were before issue 12 (as frozen in tests/test_features_equiv.py until it read this file's output
# instead).
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
    """DASSampler.select as it was, on the sampler's own parameters. (One addition: the returned dict also
    holds `perturbed`, so this script can check how far every pick is from a tie.)"""
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
            "scores": A.mean(dim=1), "head_scores": head_scores, "log_prob": log_prob, "perturbed": perturbed}


# ---------------------------------------------------------------------------------------------------------
# The cases. tests/test_features_equiv.py holds the same lists (and draws the same inputs); the file's meta
# repeats them, so the test notices when the two drift apart.
# ---------------------------------------------------------------------------------------------------------

FEATURE_SHAPES = [  # (B, T, C, H, W), max_size
    ((8, 28, 1, 28, 28), 32),  # no pooling (28 <= 32)
    ((2, 64, 1, 64, 64), 32),  # whole factor 2
    ((1, 96, 1, 192, 192), 32),  # whole factor 6
    ((1, 128, 1, 128, 128), 32),  # whole factor 4
    ((2, 6, 1, 9, 9), None),  # no max_size
    ((2, 10, 3, 40, 30), 32),  # RGB, adaptive_avg_pool2d (40 -> 32)
    ((2, 5, 1, 100, 70), 32),  # adaptive_avg_pool2d on both sides
    ((1, 7, 2, 20, 70), 32),  # two channels, one side kept
    ((3, 4, 1, 33, 33), 16),  # adaptive_avg_pool2d, odd size
    ((1, 1, 1, 7, 7), None),  # T = 1 (zero diff)
    ((1, 5, 1, 20, 64), 32),  # whole factors (1, 2)
    ((1, 5, 1, 64, 20), 32),  # whole factors (2, 1)
]

DAS_CASES = [  # (B, T, S, k, options): S picks the pooling branch of the features (28: none, 64/192/128: factors)
    (2, 28, 28, 14, {}),
    (2, 28, 28, 7, {"score_norm": "standardize"}),
    (2, 32, 64, 16, {}),
    (1, 48, 192, 24, {}),
    (1, 48, 192, 12, {"shared_base": True, "heads": 3}),
    (1, 64, 128, 16, {"exploration": 0.3}),
    (3, 12, 20, 5, {"estimator": "score_function", "positional": False}),
]
MODES = [("eval", False), ("eval_stochastic", True), ("train", False)]  # (name, stochastic)
HEADS = [None, [0, 2]]  # every case has >= 3 heads; with heads masked the soft rows are stored in "eval" only
_SMALL = {"dim": 16, "head_dim": 8}  # the gradients of every parameter are stored: narrower layers keep them small
GRAD_CASES = [  # (B, T, S, k, options): DAS_CASES 0, 4, 5, 6 (the four estimator / option paths in training)
    (2, 28, 28, 14, _SMALL),
    (1, 48, 192, 12, {"shared_base": True, "heads": 3, **_SMALL}),
    (1, 64, 128, 16, {"exploration": 0.3, **_SMALL}),
    (3, 12, 20, 5, {"estimator": "score_function", "positional": False, **_SMALL}),
]
EVAL_GRAD_CASE = (2, 20, 8, 6, {})  # evaluation with gradients enabled (test_eval_path_keeps_...)
TOPK_CASES = [(8, 14, 28, "float32"), (1, 48, 96, "float32"), (3, 5, 5, "float64"), (4, 6, 9, "float32")]
TOPK_STORED = [2, 3]  # the small ones (float64; rounded logits with many ties) are stored
PICK_SEED, GRAD_SEED = 5, 11  # the Gumbel generators' seeds


def digest(*tensors) -> str:
    """sha256 of shapes, dtypes and bytes: the test checks that it draws the inputs the reference was made from."""
    h = hashlib.sha256()
    for t in tensors:
        if isinstance(t, torch.nn.Module):  # its parameters, by name
            for name, p in sorted(t.named_parameters()):
                h.update(f"{name}:".encode())
                h.update(p.detach().contiguous().numpy().tobytes())
            continue
        t = t.detach().contiguous()
        h.update(f"{tuple(t.shape)} {t.dtype};".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def feature_input(shape):
    return torch.rand(shape, generator=torch.Generator().manual_seed(sum(shape)))


def blob_frames():
    yy, xx = torch.meshgrid(torch.arange(56.0), torch.arange(56.0), indexing="ij")
    x = torch.stack([torch.exp(-((yy - 8 - 3 * t) ** 2 + (xx - 20) ** 2) / 30.0) for t in range(14)])[None, :, None]
    # rounded to whole grey levels: torch.exp's last bit differs between CPUs (vector units), the integers do not
    return torch.round(255.0 * x)


def other_feature_inputs():
    """name -> (x, max_size): float64, structured frames (flat regions, exact zeros), non-contiguous views."""
    x64 = torch.rand(2, 12, 1, 64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    blob = blob_frames()
    big = torch.rand(2, 40, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    return {
        "float64": (x64, 32), "blob": (blob, 28), "blob_rgb": (blob.expand(2, -1, 3, -1, -1), 28),
        "strided_t": (big[:, ::2], 32), "channel_view": (big[:, :, :1], 32), "transposed": (big.transpose(3, 4), 32),
        "cropped": (big[..., :60, :48], 32),
    }


def map_frame(B, T):
    return B - 1, T - 1  # the last frame of the last sequence (the end of the fused buffer)


def off_path(options) -> set[str]:
    """Parameters whose gradient (for the test's loss of matrix, soft rows, tau and log-prob) is zero up to
    rounding: head_skip's bias adds the same amount to every frame's score of a row (A[j, t] = mean_h a_h[t] s_h[j]),
    which the argmax, the softmax and the log-prob ignore (it reaches only the head scores)."""
    return {"head_skip.bias"}


def das_inputs(B, T, S, k, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, T, 1, S, S, generator=g), torch.randn(B, k, T, generator=g)


def topk_inputs():
    g = torch.Generator().manual_seed(0)
    out = []
    for B, k, T, dtype in TOPK_CASES:
        A = torch.randn(B, k, T, generator=g, dtype=getattr(torch, dtype))
        if T == 9:
            A = A.round()  # many ties
        tau = torch.rand(B, generator=g, dtype=getattr(torch, dtype)) + 0.2
        out.append((A, tau))
    return out


def randomise(s, seed):
    """Every parameter random, 0.3 * randn (the default initialisation starts the score layers at zero, which would
    make every frame tie and every path below the attention trivially equal), each drawn from its own generator
    seeded by `seed` and the parameter's name, so the values do not depend on the order of the parameters."""
    for name, p in s.named_parameters():
        g = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
        with torch.no_grad():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3)
    return s


def das_sampler(T, k, options, seed):
    return randomise(make_sampler("das", T, k, **options), seed)


def pick_margin(perturbed, picks_sorted, rank):
    """The smallest gap, relative to the row's scale, between a pick's perturbed value and the best frame it
    beat (frames taken by earlier picks excluded): how far the stored picks are from a tie."""
    B, k, T = perturbed.shape
    picks = torch.gather(picks_sorted, 1, rank.argsort(dim=1))  # (B, k) in pick order
    margin = float("inf")
    for b in range(B):
        taken = torch.zeros(T, dtype=torch.bool)
        for j in range(k):
            row = perturbed[b, j].double()
            best = row[picks[b, j]]
            rest = row.masked_fill(taken, -float("inf"))
            rest[picks[b, j]] = -float("inf")
            if torch.isfinite(rest).any():
                margin = min(margin, (best - rest.max()).item() / max(1.0, row.abs().max().item()))
            taken[picks[b, j]] = True
    return margin


def main() -> None:
    torch.set_num_threads(1)  # the same bytes on every run of this machine
    arrays: dict[str, np.ndarray] = {}
    meta: dict = {"version": VERSION, "made_by": "tests/data/make_das_reference.py", "torch": torch.__version__,
                  "reference": "das_core before issue 12's speed-up (29b7649^)", "inputs": {}, "margins": {}}

    def put(key, t):
        if t.dtype == torch.int64:  # indices and pick ranks (< T)
            t = t.to(torch.int16)
        arrays[key] = t.detach().numpy()

    # features on random frames
    for i, (shape, max_size) in enumerate(FEATURE_SHAPES):
        x = feature_input(shape)
        meta["inputs"][f"features/{i}"] = digest(x)
        put(f"features/{i}/raw", ref_raw_frame_features(x, max_size))
        put(f"features/{i}/features", ref_frame_features(x, max_size))
        maps = ref_frame_feature_maps(x, max_size)
        assert list(maps) == ["diff", "sobel", "laplacian", "diff_var"]
        put(f"features/{i}/diff_var", maps["diff_var"])
        b, t = map_frame(*shape[:2])
        put(f"features/{i}/maps", torch.stack([maps[n][b, t] for n in ("diff", "sobel", "laplacian")]))  # (3, h, w)
    for name, (x, max_size) in other_feature_inputs().items():
        meta["inputs"][f"other/{name}"] = digest(x)
        put(f"other/{name}/features", ref_frame_features(x, max_size))

    # DAS picks and scores, in every mode, with all heads and with heads masked
    for i, (B, T, S, k, options) in enumerate(DAS_CASES):
        key = f"das/{i}"
        s = das_sampler(T, k, options, 1000 + i)
        x, _ = das_inputs(B, T, S, k, 100 + i)
        meta["inputs"][key] = digest(x, s)
        margin = float("inf")
        for h, heads in enumerate(HEADS):
            common = None
            for mode, stochastic in MODES:
                s.train(mode == "train")
                with torch.no_grad():
                    ref = ref_select(s, x, heads=heads, stochastic=stochastic,
                                     generator=torch.Generator().manual_seed(PICK_SEED))
                shared = {n: ref[n] for n in ("logits", "scores", "head_scores", "tau")}
                if common is None:
                    common = shared
                    for n, t in shared.items():
                        put(f"{key}/h{h}/{n}", t)
                assert all(torch.equal(common[n], shared[n]) for n in shared), (key, mode)  # the same in every mode
                torch.testing.assert_close(ref["matrix"], F.one_hot(ref["indices"], T).float(), atol=1e-6, rtol=0)
                for n in ("indices", "pick_rank") + (("soft",) if heads is None or mode == "eval" else ()):
                    put(f"{key}/h{h}/{mode}/{n}", ref[n])
                if ref["log_prob"] is not None:
                    put(f"{key}/h{h}/{mode}/log_prob", ref["log_prob"])
                margin = min(margin, pick_margin(ref["perturbed"], ref["indices"], ref["pick_rank"]))
                if mode == "eval" and heads is None:  # inference mode computes the same
                    with torch.inference_mode():
                        again = ref_select(s, x)
                    assert all(torch.equal(again[n], ref[n]) for n in ("indices", "soft", "logits", "tau")), key
        meta["margins"][key] = margin

    # training gradients of every parameter
    for i, (B, T, S, k, options) in enumerate(GRAD_CASES):
        key = f"grad/{i}"
        s = das_sampler(T, k, options, 2000 + i).train()
        x, w = das_inputs(B, T, S, k, 200 + i)
        meta["inputs"][key] = digest(x, w, s)
        out = ref_select(s, x, generator=torch.Generator().manual_seed(GRAD_SEED))
        loss = (out["matrix"] * w).sum() + out["soft"].square().sum() + out["tau"].sum()
        if out["log_prob"] is not None:
            loss = loss + out["log_prob"].sum()
        loss.backward()
        scale = max(p.grad.abs().max().item() for p in s.parameters())
        for name, p in s.named_parameters():
            assert p.grad is not None, (key, name)
            if name in off_path(options):
                assert p.grad.abs().max() <= 1e-6 * scale, (key, name)
            else:
                assert p.grad.abs().max() > 1e-5 * scale, (key, name)  # every other one is on the path, above the
                # test's tolerance (1e-5 of the largest gradient)
            put(f"{key}/grad/{name}", p.grad)
        meta["margins"][key] = pick_margin(out["perturbed"].detach(), out["indices"], out["pick_rank"])

    # evaluation with gradients enabled (the soft rows carry the graph)
    B, T, S, k, options = EVAL_GRAD_CASE
    s = das_sampler(T, k, options, 3000).eval()
    x, _ = das_inputs(B, T, S, k, 300)
    meta["inputs"]["eval_grad"] = digest(x, s)
    ref = ref_select(s, x)
    for n in ("indices", "pick_rank", "soft", "logits", "scores", "head_scores", "tau"):
        put(f"eval_grad/{n}", ref[n])
    meta["margins"]["eval_grad"] = pick_margin(ref["perturbed"].detach(), ref["indices"], ref["pick_rank"])

    # the old evaluation top-k on the small logits (the float64 ones, and rounded ones with ties)
    inputs = topk_inputs()
    meta["inputs"]["topk"] = digest(*[t for pair in inputs for t in pair])
    for i in TOPK_STORED:
        A, tau = inputs[i]
        picks, hard, soft = ref_sequential_topk(A, A, tau)
        indices, rank, (hard, soft) = ref_sort_rows(picks, hard, soft)
        for n, t in (("indices", indices), ("pick_rank", rank), ("hard", hard), ("soft", soft)):
            put(f"topk/{i}/{n}", t)

    for key, margin in meta["margins"].items():
        assert margin > 1e-4, f"{key}: a pick within {margin:.1e} of a tie; choose another seed"
    meta["cases"] = {"FEATURE_SHAPES": FEATURE_SHAPES, "DAS_CASES": DAS_CASES, "MODES": MODES, "HEADS": HEADS,
                     "GRAD_CASES": GRAD_CASES, "EVAL_GRAD_CASE": EVAL_GRAD_CASE, "TOPK_CASES": TOPK_CASES,
                     "TOPK_STORED": TOPK_STORED, "PICK_SEED": PICK_SEED, "GRAD_SEED": GRAD_SEED}
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    np.savez_compressed(OUT, **arrays)
    sizes = sorted(((a.nbytes, k) for k, a in arrays.items()), reverse=True)
    print(f"{OUT.relative_to(REPO)}: {OUT.stat().st_size / 1024:.0f} KiB, {len(arrays)} arrays, "
          f"{sum(n for n, _ in sizes) / 1024:.0f} KiB uncompressed; largest: {sizes[:3]}")
    print("smallest pick margins (relative):", {k: f"{v:.2e}" for k, v in meta["margins"].items()})


if __name__ == "__main__":
    main()
