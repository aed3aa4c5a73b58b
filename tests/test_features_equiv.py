"""The fast DAS sampler (issue 12) computes what the old one did: the same picks and, within float rounding, the
same features, scores, relaxed rows and gradients, on random inputs at several sizes, in training and evaluation.
The old computation's outputs are stored in tests/data/das_reference.npz, made by
tests/data/make_das_reference.py from the implementation before issue 12's change (the frame features of
29b7649^, today das_core/nn/features.py; the DAS select and the learned samplers' pick in plain ops, frozen in
that script; until then the frozen copy lived in this file), so the comparison does not move when the library
does. The inputs are not stored: this file draws them from the same seeds as the script and checks them against
the sha256 digests in the file. Regenerate the file with `.venv/bin/python tests/data/make_das_reference.py` only
when what DAS computes is meant to change (say why in the commit) or when a digest no longer matches (a new torch
random stream); the script's docstring lists what is stored and why the sizes are what they are.

Tolerances: the fused features sum in a different order (padded rows, row slices before column slices
when pooling), so the raw summaries differ by a few float32 ulps (relative 1e-5 allows ~80). The z-scores
divide by the spread of a feature across the T frames (plus 1e-3), which magnifies those ulps; they are
compared in units of the log features (times that spread), where the same 1e-5 holds.
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from das_core import make_sampler
from das_core.nn import features
from das_core.nn.selection import sequential_topk, sort_rows
from das_core.samplers.learned import _eval_topk

REFERENCE = Path(__file__).with_name("data") / "das_reference.npz"
REGENERATE = "regenerate it with `.venv/bin/python tests/data/make_das_reference.py`"
with np.load(REFERENCE, allow_pickle=False) as _file:
    STORED = {name: _file[name] for name in _file.files}
META = json.loads(str(STORED.pop("meta")))

# ---------------------------------------------------------------------------------------------------------
# The cases and their inputs, as tests/data/make_das_reference.py draws them (the file's meta repeats the lists
# and the inputs' digests, checked below).
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
EVAL_GRAD_CASE = (2, 20, 8, 6, {})  # evaluation with gradients enabled
TOPK_CASES = [(8, 14, 28, "float32"), (1, 48, 96, "float32"), (3, 5, 5, "float64"), (4, 6, 9, "float32")]
TOPK_STORED = [2, 3]  # the old top-k's rows are stored for the small ones (float64; rounded logits with ties)
PICK_SEED, GRAD_SEED = 5, 11  # the Gumbel generators' seeds
MAPS = ("diff", "sobel", "laplacian")


def digest(*tensors) -> str:
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


def check_inputs(key: str, *tensors) -> None:
    assert digest(*tensors) == META["inputs"][key], (
        f"{key}: the inputs drawn here differ from those {REFERENCE.name} was made from (a new torch random "
        f"stream, or this file and the script disagree); {REGENERATE}")


def feature_input(shape):
    return torch.rand(shape, generator=torch.Generator().manual_seed(sum(shape)))


def blob_frames():
    yy, xx = torch.meshgrid(torch.arange(56.0), torch.arange(56.0), indexing="ij")
    x = torch.stack([torch.exp(-((yy - 8 - 3 * t) ** 2 + (xx - 20) ** 2) / 30.0) for t in range(14)])[None, :, None]
    # rounded to whole grey levels: torch.exp's last bit differs between CPUs (vector units), the integers do not
    return torch.round(255.0 * x)


def other_feature_inputs():
    x64 = torch.rand(2, 12, 1, 64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    blob = blob_frames()
    big = torch.rand(2, 40, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    return {
        "float64": (x64, 32), "blob": (blob, 28), "blob_rgb": (blob.expand(2, -1, 3, -1, -1), 28),
        "strided_t": (big[:, ::2], 32), "channel_view": (big[:, :, :1], 32), "transposed": (big.transpose(3, 4), 32),
        "cropped": (big[..., :60, :48], 32),
    }


def map_frame(B, T):
    return B - 1, T - 1  # the last frame of the last sequence


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
    """Every parameter random (the default initialisation starts the score layers at zero, which would make every
    frame tie and every path below the attention trivially equal), each from a generator seeded by `seed` and its
    name."""
    for name, p in s.named_parameters():
        g = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
        with torch.no_grad():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3)
    return s


def das_sampler(T, k, options, seed):
    return randomise(make_sampler("das", T, k, **options), seed)


def off_path(options) -> set[str]:
    """head_skip's bias adds the same amount to every frame's score of a row, which the argmax, the softmax and the
    log-prob ignore: its gradient for the loss below is zero up to rounding."""
    return {"head_skip.bias"}


def _shape_id(shape, max_size):
    return "x".join(map(str, shape)) + f"-max{max_size}"


def _case_id(case):
    B, T, S, k, options = case
    return "-".join([f"B{B}-T{T}-S{S}-k{k}", *(f"{n}={v}" for n, v in options.items())])


def stored(key: str) -> torch.Tensor:
    t = torch.from_numpy(STORED[key])
    return t.long() if t.dtype == torch.int16 else t  # indices and pick ranks are stored as int16


def stored_selection(prefix: str, mode: str, T: int) -> dict:
    """The old select's outputs: the matrix is the one-hot rows of the stored indices (its forward value, which
    the script checked within 1e-6); a name left out was not stored (the soft rows of some modes), None: was None."""
    ref = {n: stored(f"{prefix}/{n}") for n in ("logits", "scores", "head_scores", "tau")}
    ref.update({n: stored(f"{prefix}/{mode}/{n}") for n in ("indices", "pick_rank")})
    ref["matrix"] = F.one_hot(ref["indices"], T).float()
    if f"{prefix}/{mode}/soft" in STORED:
        ref["soft"] = stored(f"{prefix}/{mode}/soft")
    ref["log_prob"] = stored(f"{prefix}/{mode}/log_prob") if f"{prefix}/{mode}/log_prob" in STORED else None
    return ref


# ---------------------------------------------------------------------------------------------------------


def test_the_stored_reference_is_of_these_cases():
    cases = {"FEATURE_SHAPES": FEATURE_SHAPES, "DAS_CASES": DAS_CASES, "MODES": MODES, "HEADS": HEADS,
             "GRAD_CASES": GRAD_CASES, "EVAL_GRAD_CASE": EVAL_GRAD_CASE, "TOPK_CASES": TOPK_CASES,
             "TOPK_STORED": TOPK_STORED, "PICK_SEED": PICK_SEED, "GRAD_SEED": GRAD_SEED}
    assert META["version"] == 1
    assert json.loads(json.dumps(cases)) == META["cases"], f"the cases here and in the script differ; {REGENERATE}"
    assert REFERENCE.stat().st_size < 1024 * 1024


def _assert_features_close(new, old):
    torch.testing.assert_close(new[..., :10], old[..., :10], atol=1e-5, rtol=1e-5)
    spread = old[..., :10].std(dim=1, keepdim=True, unbiased=False) + 1e-3
    assert ((new[..., 10:] - old[..., 10:]) * spread).abs().max() <= 1e-5


@pytest.mark.parametrize("case", range(len(FEATURE_SHAPES)), ids=[_shape_id(*c) for c in FEATURE_SHAPES])
def test_features_equal_the_old_computation(case):
    shape, max_size = FEATURE_SHAPES[case]
    key = f"features/{case}"
    x = feature_input(shape)
    check_inputs(key, x)
    torch.testing.assert_close(features.raw_frame_features(x, max_size), stored(f"{key}/raw"), atol=1e-6, rtol=1e-5)
    new = features.frame_feature_maps(x, max_size)
    assert list(new) == [*MAPS, "diff_var"]
    torch.testing.assert_close(new["diff_var"], stored(f"{key}/diff_var"), atol=1e-5, rtol=1e-5)
    old_maps = stored(f"{key}/maps")  # (3, h, w) of one frame
    b, t = map_frame(*shape[:2])
    for name, old in zip(MAPS, old_maps):
        assert new[name].shape == (*shape[:2], *old.shape), name
        torch.testing.assert_close(new[name][b, t], old, atol=1e-5, rtol=1e-5, msg=name)
    _assert_features_close(features.frame_features(x, max_size), stored(f"{key}/features"))


def test_features_of_other_dtypes_and_structured_frames():
    inputs = other_feature_inputs()
    for name in ("float64", "blob", "blob_rgb"):  # smooth frames with a bright blob: flat regions, exact zeros
        x, max_size = inputs[name]
        check_inputs(f"other/{name}", x)
        new = features.frame_features(x, max_size)
        assert new.dtype == x.dtype
        _assert_features_close(new, stored(f"other/{name}/features"))
    assert stored("other/float64/features").dtype == torch.float64


def test_features_of_non_contiguous_inputs():
    inputs = other_feature_inputs()
    for name in ("strided_t", "channel_view", "transposed", "cropped"):
        x, max_size = inputs[name]
        assert not x.is_contiguous()
        check_inputs(f"other/{name}", x)
        _assert_features_close(features.frame_features(x, max_size), stored(f"other/{name}/features"))


def _compare(new, ref, *, tol=1e-5):
    """Same picks and pick order exactly; every tensor within `tol` of its scale (the features' rounding,
    magnified as it goes through the random-weight MLPs, stays below 1e-5 of the scores' magnitude)."""
    assert torch.equal(new.indices, ref["indices"]) and torch.equal(new.pick_rank, ref["pick_rank"])
    for name in ("matrix", "soft", "tau", "logits", "scores", "head_scores", "log_prob"):
        if name not in ref:
            continue
        value = getattr(new, name)
        if ref[name] is None:
            assert value is None, name
        else:
            scale = max(1.0, ref[name].detach().abs().max().item())
            torch.testing.assert_close(value, ref[name], atol=tol * scale, rtol=tol, msg=name)


@pytest.mark.parametrize("case", range(len(DAS_CASES)), ids=[_case_id(c) for c in DAS_CASES])
def test_das_picks_and_scores_equal_the_old_computation(case):
    B, T, S, k, options = DAS_CASES[case]
    s = das_sampler(T, k, options, 1000 + case)
    x, _ = das_inputs(B, T, S, k, 100 + case)
    check_inputs(f"das/{case}", x, s)
    for h, heads in enumerate(HEADS):
        for mode, stochastic in MODES:
            s.train(mode == "train")
            with torch.no_grad():
                new = s.select(x, heads=heads, stochastic=stochastic,
                               generator=torch.Generator().manual_seed(PICK_SEED))
            _compare(new, stored_selection(f"das/{case}/h{h}", mode, T))
    s.eval()
    with torch.inference_mode():  # as the model runs it at inference
        _compare(s.select(x), stored_selection(f"das/{case}/h0", "eval", T))


@pytest.mark.parametrize("case", range(len(GRAD_CASES)), ids=[_case_id(c) for c in GRAD_CASES])
def test_das_training_gradients_equal_the_old_computation(case):
    B, T, S, k, options = GRAD_CASES[case]
    s = das_sampler(T, k, options, 2000 + case).train()
    x, w = das_inputs(B, T, S, k, 200 + case)
    check_inputs(f"grad/{case}", x, w, s)
    out = s.select(x, generator=torch.Generator().manual_seed(GRAD_SEED))
    loss = (out.matrix * w).sum() + out.soft.square().sum() + out.tau.sum()
    if out.log_prob is not None:
        loss = loss + out.log_prob.sum()
    loss.backward()
    new = {n: p.grad for n, p in s.named_parameters() if p.grad is not None}
    ref = {n: stored(f"grad/{case}/grad/{n}") for n, _ in s.named_parameters()}
    assert new.keys() == ref.keys() and all(f"grad/{case}/grad/{n}" in STORED for n in ref)
    assert sum(key.startswith(f"grad/{case}/grad/") for key in STORED) == len(ref)  # no stored parameter left out
    scale = max(g.abs().max().item() for g in ref.values())  # rounding errors scale with the whole gradient
    for n in ref:
        if n not in off_path(options):
            assert ref[n].abs().max() > 1e-5 * scale, n  # every parameter is on the path, above the tolerance
        torch.testing.assert_close(new[n], ref[n], atol=1e-5 * scale, rtol=1e-4, msg=n)


def test_eval_topk_equals_sequential_topk_exactly():
    """The evaluation top-k (numpy row loop) gives bitwise the rows `sequential_topk` + `sort_rows` give,
    ties included (first index wins), in float32 and float64; on the small cases the old top-k's stored rows
    too (the same picks and one-hot rows exactly; the relaxed rows within 1e-6, as another machine's softmax
    may round differently)."""
    inputs = topk_inputs()
    check_inputs("topk", *[t for pair in inputs for t in pair])
    for i, (A, tau) in enumerate(inputs):
        picks, hard, soft = sequential_topk(A, A, tau)
        indices, rank, (hard, soft) = sort_rows(picks, hard, soft)
        new = _eval_topk(A, tau)
        for a, b in zip(new, (indices, rank, hard, soft)):
            assert a.dtype == b.dtype and torch.equal(a, b)
        if i in TOPK_STORED:
            old = [stored(f"topk/{i}/{n}") for n in ("indices", "pick_rank", "hard", "soft")]
            for a, b in zip(new[:3], old[:3]):
                assert a.dtype == b.dtype and torch.equal(a, b)
            torch.testing.assert_close(new[3], old[3], atol=1e-12, rtol=1e-6)


def test_eval_path_keeps_the_old_path_where_it_does_not_apply():
    """DPS (shared rows) and grad-enabled evaluation keep working through the same entry point."""
    dps = make_sampler("dps", 20, 6).eval()
    sel = dps(torch.rand(2, 20, 1, 8, 8))
    assert sel.indices.shape == (2, 6)
    B, T, S, k, options = EVAL_GRAD_CASE
    das = das_sampler(T, k, options, 3000).eval()
    x, _ = das_inputs(B, T, S, k, 300)
    check_inputs("eval_grad", x, das)
    sel = das(x)  # grad enabled: the soft rows carry the graph as before
    assert sel.soft.requires_grad and not sel.differentiable
    sel.soft.sum().backward()
    assert das.qkv.weight.grad is not None
    ref = {n: stored(f"eval_grad/{n}") for n in ("indices", "pick_rank", "soft", "logits", "scores", "head_scores",
                                                  "tau")}
    _compare(sel, {**ref, "matrix": F.one_hot(ref["indices"], T).float(), "log_prob": None})


def test_attention_paths_agree():
    """Inference computes the attention in plain ops; with gradients it uses SDPA; both give the same scores."""
    s = das_sampler(30, 10, {}, 0).eval()
    e = torch.randn(4, 30, s.config.dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        plain = s.base_scores(e)
    fused = s.base_scores(e.requires_grad_())
    torch.testing.assert_close(plain, fused.detach(), atol=1e-5, rtol=1e-5)
    assert math.isfinite(plain.sum().item())
