"""The baselines central, edge-energy and PGA-DPS, and one training step of every learned sampler under every
estimator."""

import pytest
import torch
import torch.nn.functional as F

from das_core import ConfigError, SubsampledClassifier, list_samplers, make_sampler
from das_core.samplers.learned import ESTIMATORS, SCORE_INITS
from das_core.samplers.pgadps import group_sizes


def test_registration_order_and_flags():
    assert list_samplers()[:9] == ["full", "uniform", "random", "dps", "adps", "das", "central", "edge-energy",
                                   "pgadps"]
    central, edge, pga = (make_sampler(n, 10, 3) for n in ("central", "edge-energy", "pgadps"))
    assert (central.learned, central.adaptive, central.varies_per_input) == (False, False, False)
    assert (edge.learned, edge.adaptive, edge.varies_per_input) == (False, True, True)
    assert (pga.learned, pga.adaptive, pga.per_step_loss) == (True, True, True)
    assert [s.display_name() for s in (central, edge, pga)] == ["Central", "Edge energy", "PGA-DPS"]
    assert "pgadps" in list_samplers(learned=True) and "edge-energy" in list_samplers(adaptive=True)


@pytest.mark.parametrize("T,k", [(28, 14), (28, 1), (28, 28), (27, 4), (10, 3), (1, 1), (64, 7), (5, 5)])
def test_central_picks_the_middle_window(T, k):
    sampler = make_sampler("central", T, k).eval()
    sel = sampler(torch.rand(3, T, 1, 5, 5))
    start = (T - k) // 2
    assert sel.indices.tolist() == [list(range(start, start + k))] * 3


def _blobs(T, frames_per_item, size=12):
    x = torch.full((len(frames_per_item), T, 1, size, size), 0.2)
    for b, frames in enumerate(frames_per_item):
        for f in frames:
            x[b, f, :, 4:8, 3:9] = 1.0  # a bright block with edges
    return x


def test_edge_energy_picks_the_frames_with_content():
    sampler = make_sampler("edge-energy", 16, 3).eval()
    x = _blobs(16, [(3, 7, 11), (1, 5, 9), (0, 14, 15)])
    sel = sampler(x)
    assert sel.indices.tolist() == [[3, 7, 11], [1, 5, 9], [0, 14, 15]]
    assert sel.scores.shape == (3, 16)
    assert make_sampler("edge-energy", 16, 3, weight_difference=0.0)(x).indices.tolist() == sel.indices.tolist()
    # the difference alone: an isolated frame changes twice as much as its neighbours (it differs from both)
    assert make_sampler("edge-energy", 16, 3, weight_edges=0.0)(x[:1]).indices.tolist() == [[3, 7, 11]]
    assert torch.equal(sampler(x.clone()).indices, sel.indices)  # deterministic


def test_edge_energy_ties_and_bad_options():
    sel = make_sampler("edge-energy", 9, 4)(torch.full((2, 9, 3, 6, 6), 0.5))  # nothing stands out
    assert sel.indices.tolist() == [[0, 1, 2, 3]] * 2  # stable ties: the lowest indices
    assert make_sampler("edge-energy", 1, 1)(torch.rand(2, 1, 1, 5, 5)).indices.tolist() == [[0], [0]]
    with pytest.raises(ConfigError, match="weight_edges"):
        make_sampler("edge-energy", 9, 4, weight_edges=-1.0)
    with pytest.raises(ConfigError, match="both"):
        make_sampler("edge-energy", 9, 4, weight_edges=0, weight_difference=0)


def test_pgadps_group_sizes():
    assert group_sizes(14, 0.6, 0.2) == (8, [2, 2, 2])
    assert group_sizes(5, 0.6, 0.2) == (3, [1, 1])
    assert group_sizes(10, 0.6, 0.3) == (6, [3, 1])  # the last group takes what is left
    assert group_sizes(1, 0.6, 0.2) == (1, [])  # k = 1: the prior alone (DPS)
    assert group_sizes(4, 1.0, 0.2) == (4, [])
    with pytest.raises(ConfigError, match="prior_share"):
        make_sampler("pgadps", 10, 3, prior_share=0.0)


def _model(method, T=12, k=5, **options):
    torch.manual_seed(0)
    return SubsampledClassifier(make_sampler(method, T, k, **options), "small_cnn", 2, 1).train()


def _data():
    torch.manual_seed(1)
    return torch.rand(6, 12, 1, 9, 9), torch.tensor([0, 1, 1, 0, 1, 0])


@pytest.mark.parametrize("score_init", SCORE_INITS)
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_pgadps_trains_inside_the_classifier(estimator, score_init):
    model = _model("pgadps", estimator=estimator, score_init=score_init)
    groups = model.parameter_groups(1e-3)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert groups[0]["params"] == [model.sampler.logits] and groups[0]["lr"] == pytest.approx(1e-2)
    opt = torch.optim.Adam(groups)
    x, y = _data()
    loss, logits, sel = model.training_loss(x, y)
    assert sel.features.shape == (6, 5, model.feature_dim)
    per_step = model.step_logits(sel.features, sel)  # (B, k, classes): a prediction after every pick
    expected = torch.stack([F.cross_entropy(per_step[:, i], y) for i in range(5)]).mean()
    if estimator == "straight_through":
        assert sel.log_prob is None and sel.differentiable
    else:
        assert sel.log_prob is not None and sel.log_prob.shape == (6,) and (sel.log_prob < 0).all()
        assert sel.differentiable == (estimator == "both")
        expected = expected + model._score_function_term(F.cross_entropy(logits, y, reduction="none"), sel.log_prob)
    assert torch.allclose(loss, expected, atol=1e-6)
    opt.zero_grad()
    loss.backward()
    for name, p in model.sampler.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    assert model.sampler.logits.grad.abs().sum() > 0
    before = model.sampler.logits.detach().clone()
    opt.step()
    assert not torch.equal(before, model.sampler.logits.detach())
    model.eval()
    a, b = model.select(x), model.select(x.clone())
    assert torch.equal(a.indices, b.indices) and torch.equal(a.pick_rank, b.pick_rank)
    assert a.log_prob is None and not a.differentiable


def test_pgadps_prior_picks_come_first_and_later_groups_follow_the_input():
    model = _model("pgadps", T=12, k=5, score_init="random").eval()  # prior: 3 picks, then 2 groups of 1
    x = torch.rand(8, 12, 1, 9, 9)
    x[torch.arange(8), torch.arange(8)] += 2.0  # content that moves
    sel = model.select(x)
    prior = {tuple(sorted(r[k] for k in range(5) if rank[k] < 3)) for r, rank in
             zip(sel.indices.tolist(), sel.pick_rank.tolist())}
    assert len(prior) == 1, "the prior step is the same for every input"
    assert len({tuple(r) for r in sel.indices.tolist()}) > 1, "the active groups read the acquired frames"


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("method", list_samplers(learned=True))
def test_every_learned_sampler_trains_one_step(method, estimator):
    """Every learned sampler takes the project's recipe fields and its parameters learn under each estimator
    (score_function: through the log-probability term alone, the frames being gathered by index)."""
    model = _model(method, estimator=estimator)
    opt = torch.optim.Adam(model.parameter_groups(1e-3))
    x, y = _data()
    loss, logits, sel = model.training_loss(x, y)
    params = [(n, p) for n, p in model.sampler.named_parameters() if p.requires_grad]
    if estimator == "straight_through":
        assert sel.log_prob is None and sel.differentiable
    else:
        assert sel.log_prob is not None and sel.differentiable == (estimator == "both")
        term = model._score_function_term(F.cross_entropy(logits, y, reduction="none"), sel.log_prob)
        through_log_prob = torch.autograd.grad(term, [p for _, p in params], retain_graph=True, allow_unused=True)
        assert sum(float(g.abs().sum()) for g in through_log_prob if g is not None) > 0, \
            f"{method}: the score-function term does not reach the sampler"
    opt.zero_grad()
    loss.backward()
    grads = [(n, p.grad) for n, p in params if p.grad is not None]
    assert grads, f"{method}: no gradient reached the sampler"
    for n, g in grads:
        assert torch.isfinite(g).all(), f"{method}: non-finite gradient in {n}"
    assert sum(float(g.abs().sum()) for _, g in grads) > 0, f"{method}/{estimator}: the sampler's gradient is zero"
    opt.step()
    assert all(torch.isfinite(p).all() for p in model.sampler.parameters())


def test_das_learned_encoder_trains_from_the_pixels_and_keeps_old_checkpoints_loadable():
    """frame_encoder="learned" (das-learned): a small CNN's features of each frame join the fixed ones, and the task
    loss reaches its weights; the default stays the paper's fixed features (checkpoints without the option rebuild)."""
    from das_core import SubsampledClassifier, make_sampler

    assert make_sampler("das", 12, 3).encoder is None and make_sampler("das", 12, 3).options["frame_encoder"] == "fixed"
    torch.manual_seed(0)
    sampler = make_sampler("das", 12, 3, frame_encoder="learned", encoder_dim=8, score_init="random")
    model = SubsampledClassifier(sampler, "small_cnn", 2, 1).train()
    x, y = torch.rand(4, 12, 1, 20, 20), torch.tensor([0, 1, 0, 1])
    loss, _, _ = model.training_loss(x, y)
    loss.backward()
    grad = sampler.encoder.net[0].weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        a, b = model.select(x).indices, model.select(x).indices
    assert torch.equal(a, b)
    with pytest.raises(ConfigError, match="frame_encoder"):
        make_sampler("das", 12, 3, frame_encoder="resnet")
