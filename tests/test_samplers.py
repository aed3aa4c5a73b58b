"""Property tests for every sampler: shapes, one-hot rows, distinct ascending indices, gather,
gradients, determinism, and clear errors for bad k / bad input."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from das_core import SAMPLERS, ConfigError, make_sampler
from das_core.samplers import uniform_indices

LEARNED = ["dps", "adps", "das"]
ALL = list(SAMPLERS)


@st.composite
def problems(draw):
    T = draw(st.integers(1, 64))
    k = draw(st.integers(1, T))
    C = draw(st.sampled_from([1, 3]))
    H = draw(st.sampled_from([5, 7, 9]))
    W = draw(st.sampled_from([5, 7, 11]))
    B = draw(st.sampled_from([1, 2]))
    tau0 = draw(st.floats(0.05, 10.0))
    seed = draw(st.integers(0, 2**16))
    return T, k, C, H, W, B, tau0, seed


def build(name, T, k, C, tau0):
    opts = {}
    if name in LEARNED:
        opts["tau0"] = tau0
    if name == "adps":
        opts["in_channels"] = C
    if name == "das":
        opts["heads"] = 3
    return make_sampler(name, T, k, **opts)


def check_selection(sel, x, k_expected):
    B, T = x.shape[:2]
    idx = sel.indices
    assert idx.dtype == torch.long and idx.shape == (B, k_expected)
    assert sel.matrix.shape == (B, k_expected, T)
    assert ((idx >= 0) & (idx < T)).all()
    if k_expected > 1:
        assert (idx[:, 1:] > idx[:, :-1]).all(), "indices must be distinct and ascending"
    m = sel.matrix.detach()
    assert torch.allclose(m.sum(-1), torch.ones(B, k_expected), atol=1e-5)
    assert torch.allclose(m, torch.nn.functional.one_hot(idx, T).float(), atol=1e-5), "rows must be one-hot at the indices"
    if sel.soft is not None:
        assert sel.soft.shape == (B, k_expected, T)
        assert torch.isfinite(sel.soft).all()
        assert torch.allclose(sel.soft.sum(-1), torch.ones(B, k_expected), atol=1e-4)
    gathered = sel.gather(x)
    expected = torch.stack([x[b, idx[b]] for b in range(B)])
    assert gathered.shape == (B, k_expected) + x.shape[2:]
    assert torch.allclose(gathered, expected, atol=1e-5)


@pytest.mark.parametrize("name", ALL)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=problems())
def test_selection_properties(name, p):
    T, k, C, H, W, B, tau0, seed = p
    torch.manual_seed(seed)
    sampler = build(name, T, k, C, tau0)
    k_expected = T if name == "full" else k
    x = torch.rand(B, T, C, H, W)
    for training in (True, False):
        sampler.train(training)
        sel = sampler(x)
        check_selection(sel, x, k_expected)
        if name in LEARNED:
            assert sel.soft is not None and sel.scores is not None and sel.tau is not None
            assert sel.scores.shape == (B, T) and sel.tau.shape == (B,)
        if name == "das":
            assert sel.head_scores.shape == (B, 3, T)


@pytest.mark.parametrize("name", LEARNED)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=problems())
def test_gradients_reach_learned_samplers(name, p):
    T, k, C, H, W, B, tau0, seed = p
    torch.manual_seed(seed)
    sampler = build(name, T, k, C, tau0).train()
    x = torch.rand(B, T, C, H, W)
    sel = sampler(x)
    assert sel.differentiable and sel.matrix.requires_grad
    w = torch.randn(B, sel.num_selected, C, H, W)
    (sel.gather(x) * w).sum().backward()
    params = [(n, p_) for n, p_ in sampler.named_parameters() if p_.requires_grad]
    if name == "adps" and k == 1:  # one step: what it acquires feeds no further step
        params = [(n, p_) for n, p_ in params if not n.startswith("norm.")]
    assert params
    for n, param in params:
        assert param.grad is not None, f"{name}: no gradient reached {n}"
        assert torch.isfinite(param.grad).all(), f"{name}: non-finite gradient in {n} (tau0={tau0})"


@pytest.mark.parametrize("name", LEARNED)
def test_gradients_are_nonzero_when_there_is_a_choice(name):
    torch.manual_seed(0)
    sampler = build(name, 12, 4, 1, 1.0).train()
    x = torch.rand(4, 12, 1, 9, 9)
    sel = sampler(x)
    (sel.gather(x) * torch.randn(4, 4, 1, 9, 9)).sum().backward()
    total = sum(p.grad.abs().sum() for p in sampler.parameters() if p.grad is not None)
    assert total > 0


@pytest.mark.parametrize("tau0", [0.05, 0.1, 1.0, 10.0])
def test_das_gradients_finite_at_extreme_tau(tau0):
    torch.manual_seed(1)
    sampler = make_sampler("das", 20, 10, tau0=tau0, heads=2).train()
    x = torch.rand(3, 20, 1, 7, 7) * 50  # large features push logits apart
    sel = sampler(x)
    (sel.gather(x) ** 2).mean().backward()
    for p in sampler.parameters():
        assert torch.isfinite(p.grad).all()


@pytest.mark.parametrize("name", ALL)
def test_eval_is_deterministic(name):
    torch.manual_seed(0)
    sampler = build(name, 16, 5, 1, 1.0).eval()
    x = torch.rand(3, 16, 1, 9, 9)
    a, b = sampler(x), sampler(x.clone())
    assert torch.equal(a.indices, b.indices)


def test_das_is_input_adaptive_and_dps_static_at_eval():
    torch.manual_seed(0)
    x = torch.rand(6, 16, 1, 9, 9)
    x[torch.arange(6), torch.arange(6) * 2] += 3 * torch.rand(6, 1, 9, 9)  # a salient frame that moves
    das = make_sampler("das", 16, 4, score_init="random").eval()  # the architecture (the default starts uniform)
    dps = make_sampler("dps", 16, 4).eval()
    assert len({tuple(r) for r in das(x).indices.tolist()}) > 1
    assert len({tuple(r) for r in dps(x).indices.tolist()}) == 1


@pytest.mark.parametrize("name", [n for n in ALL if n != "full"])
@pytest.mark.parametrize("k", [0, -1, 9])
def test_bad_k_rejected(name, k):
    with pytest.raises(ConfigError, match="between 1 and"):
        make_sampler(name, 8, k)


def test_wrong_input_shape_and_length_rejected():
    s = make_sampler("das", 8, 4)
    with pytest.raises(ConfigError, match="built for T=8"):
        s(torch.rand(1, 9, 1, 5, 5))
    with pytest.raises(ConfigError, match=r"\(B, T, C, H, W\)"):
        s(torch.rand(8, 1, 5, 5))


def test_unknown_sampler_and_option():
    with pytest.raises(ConfigError, match="Unknown sampler"):
        make_sampler("magic", 8, 4)
    with pytest.raises(ConfigError, match="Invalid option"):
        make_sampler("uniform", 8, 4, heads=3)
    with pytest.raises(ConfigError, match="tau0"):
        make_sampler("das", 8, 4, tau0=0)


def test_uniform_indices():
    import numpy as np

    assert uniform_indices(28, 14) == np.round(np.linspace(0, 27, 14)).astype(int).tolist()
    assert uniform_indices(28, 14)[:8] == [0, 2, 4, 6, 8, 10, 12, 15]
    assert uniform_indices(5, 5) == [0, 1, 2, 3, 4]
    assert uniform_indices(9, 1) == [4]


def test_random_train_draws_vary():
    s = make_sampler("random", 32, 4).train()
    x = torch.rand(1, 32, 1, 5, 5)
    draws = {tuple(s(x).indices[0].tolist()) for _ in range(10)}
    assert len(draws) > 1


def test_das_heads_and_tau_overrides():
    torch.manual_seed(0)
    s = make_sampler("das", 16, 6, heads=4, score_init="random").eval()
    x = torch.rand(2, 16, 1, 9, 9)
    full = s(x)
    one = s(x, heads=[0])
    assert one.head_scores[:, 1:].abs().sum() == 0
    assert not torch.allclose(full.scores, one.scores)
    # tau changes the relaxed rows but not the noise-free hard picks (METHOD.md pitfall)
    lo, hi = s(x, tau0=0.1), s(x, tau0=5.0)
    assert torch.equal(lo.indices, hi.indices)
    assert not torch.allclose(lo.soft, hi.soft)
    assert torch.allclose(hi.tau / lo.tau, torch.full((2,), 50.0), rtol=1e-4)
    # tempered stochastic sampling depends on tau: low tau ~ top-k, high tau ~ random
    g = torch.Generator().manual_seed(0)
    cold = s(x, tau0=1e-7, stochastic=True, generator=g)
    assert torch.equal(cold.indices, full.indices)
    with pytest.raises(ConfigError, match="At least one"):
        s(x, heads=[False] * 4)
    with pytest.raises(ConfigError):
        s(x, heads=[7])


def test_das_strict_shared_base_variant():
    s = make_sampler("das", 10, 3, heads=3, shared_base=True).eval()
    sel = s(torch.rand(2, 10, 1, 7, 7))
    hs = sel.head_scores / sel.head_scores.abs().amax(-1, keepdim=True)
    assert torch.allclose(hs[:, 0].sign(), hs[:, 1].sign())  # one shared base score, heads differ in scale


def test_dps_parameter_groups_use_multiplier():
    s = make_sampler("dps", 10, 3)
    (group,) = s.parameter_groups(1e-4)
    assert group["lr"] == pytest.approx(1e-3)
    assert group["params"][0] is s.logits


def test_score_function_estimator_trains_the_scores_without_straight_through():
    """estimator="score_function": frames gathered by index, the scores learn through log P(picks)."""
    from das_core import SubsampledClassifier

    torch.manual_seed(0)
    x, y = torch.rand(6, 10, 1, 9, 9), torch.tensor([0, 1, 0, 1, 1, 0])
    for init, layer in (("random", "qkv"), ("zero", "head_skip")):  # zero init: the score layers learn first
        sampler = make_sampler("das", 10, 3, estimator="score_function", score_init=init)
        model = SubsampledClassifier(sampler, "small_cnn", 2, 1).train()
        loss, _, sel = model.training_loss(x, y)
        assert not sel.differentiable and sel.log_prob.shape == (6,) and (sel.log_prob < 0).all()
        loss.backward()
        assert getattr(model.sampler, layer).weight.grad.abs().sum() > 0  # reached through the REINFORCE term only
    with pytest.raises(ConfigError, match="estimator"):
        make_sampler("das", 10, 3, estimator="magic")


def test_pick_log_prob_matches_enumeration():
    """log P(picks) of the Gumbel top-k, checked against sampling frequencies."""
    from das_core.nn.selection import one_hot_rows, pick_log_prob

    logits = torch.tensor([[1.0, 0.0, -1.0, 0.5]]).expand(1, 2, 4)  # (1, k=2, T=4), rows share logits
    counts: dict = {}
    g = torch.Generator().manual_seed(0)
    n = 20000
    noise = -torch.log(-torch.log(torch.rand(n, 4, generator=g).clamp(1e-6, 1 - 1e-6)))
    for row in (logits[0, 0] + noise).topk(2, dim=1).indices.tolist():
        counts[tuple(row)] = counts.get(tuple(row), 0) + 1
    for picks, c in counts.items():
        lp = pick_log_prob(logits, one_hot_rows(torch.tensor([picks]), 4))
        assert abs(float(lp.exp().item()) - c / n) < 0.015


def test_standardized_scores_spread_like_the_noise():
    torch.manual_seed(0)
    s = make_sampler("das", 28, 14, score_norm="standardize", score_init="random").train()
    sel = s(torch.rand(4, 28, 1, 28, 28))
    spread = float(sel.logits.detach().std(dim=-1).mean())
    assert 2.5 < spread < 3.5  # gain 3 x unit std, against the Gumbel noise's 1.28
    plain = make_sampler("das", 28, 14, score_init="random").train()(torch.rand(4, 28, 1, 28, 28))
    assert float(plain.logits.detach().std(dim=-1).mean()) < 0.1  # the paper's reading: ~1% of the noise at init
    default = make_sampler("das", 28, 14).train()(torch.rand(4, 28, 1, 28, 28))
    assert float(default.logits.detach().std(dim=-1).max()) == 0  # the default: every frame scores the same


def test_exploration_mixture_log_prob_and_rows():
    from das_core.nn.selection import one_hot_rows, pick_log_prob

    logits = torch.tensor([[[5.0, 0.0, 0.0, 0.0]]])  # (1, 1, 4)
    hard = one_hot_rows(torch.tensor([[2]]), 4)
    plain = float(pick_log_prob(logits, hard).exp())
    mixed = float(pick_log_prob(logits, hard, exploration=0.5).exp())
    assert abs(mixed - (0.5 * plain + 0.5 / 4)) < 1e-6
    torch.manual_seed(0)
    s = make_sampler("das", 12, 4, exploration=0.5, estimator="score_function").train()
    sel = s(torch.rand(64, 12, 1, 9, 9))
    assert torch.isfinite(sel.log_prob).all()
    with pytest.raises(ConfigError, match="exploration"):
        make_sampler("das", 12, 4, exploration=1.5)


@pytest.mark.parametrize("name", ["das", "dps", "adps", "pgadps"])
def test_noise_end_scales_the_training_noise_and_its_score_function_term(name):
    """Every learned sampler takes noise_end; at progress p its training noise is scaled by 1 - p (1 - noise_end),
    the score-function log-probability is that of the logits divided by the scale, and eval picks do not change."""
    from das_core.samplers.learned import noise_scale_at

    assert noise_scale_at(0, 0.1) == 1.0 and noise_scale_at(1, 0.1) == pytest.approx(0.1)
    assert noise_scale_at(-3, 0.1) == 1.0 and noise_scale_at(7, 0.1) == pytest.approx(0.1)
    torch.manual_seed(0)
    x = torch.rand(4, 12, 1, 8, 8)
    s = make_sampler(name, 12, 3, noise_end=0.05, estimator="both")
    with torch.no_grad():
        before = s.eval()(x).indices
    s.train()
    s.set_training_progress(1.0)
    assert s.noise_scale == pytest.approx(0.05)
    sel = s(x)
    assert sel.log_prob is not None and torch.isfinite(sel.log_prob).all()
    sel.log_prob.sum().backward()  # the score-function term trains the scores at the small scale too
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in s.parameters())
    s.eval()
    with torch.no_grad():
        assert torch.equal(s(x).indices, before)
    with pytest.raises(ConfigError, match="noise_end"):
        make_sampler(name, 12, 3, noise_end=0.0)


def test_noise_end_makes_the_training_picks_those_of_the_logits_plus_scaled_gumbel_noise():
    """DPS (one logit vector): its training picks at scale s are the top-k of logits + s * G for the same draw G."""
    from das_core.nn.selection import gumbel_noise

    s = make_sampler("dps", 16, 4, score_init="random", noise_end=0.2).train()
    s.set_training_progress(1.0)
    g = torch.Generator().manual_seed(3)
    picks = s(torch.rand(2, 16, 1, 4, 4), generator=g).indices
    g.manual_seed(3)
    noise = gumbel_noise((2, 1, 16), device="cpu", dtype=torch.float32, generator=g)[:, 0]
    expected = (s.logits.detach() + 0.2 * noise).topk(4, dim=1).indices.sort(dim=1).values
    assert torch.equal(picks, expected)
