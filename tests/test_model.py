"""SubsampledClassifier: backbones (MobileNetV3-Small, small CNN, user modules), pooling, ADPS step loss."""

import pytest
import torch
from torch import nn

from das_core import ConfigError, SubsampledClassifier, make_sampler


@pytest.mark.parametrize("size", [28, 64])
def test_mobilenet_on_single_channel_frames(size):
    model = SubsampledClassifier(make_sampler("das", 8, 4), "mobilenet_v3_small", 3, 1).eval()
    logits, sel = model(torch.rand(2, 8, 1, size, size))
    assert logits.shape == (2, 3) and sel.indices.shape == (2, 4)
    assert model.feature_dim == 576


def test_backbone_runs_on_selected_frames_only():
    calls = []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)

        def forward(self, x):
            calls.append(x.shape[0])
            return self.conv(x)  # (N, 8, h, w): averaged over space by the wrapper

    model = SubsampledClassifier(make_sampler("uniform", 10, 3), Spy(), 2, 3, frame_size=9).eval()
    calls.clear()
    logits, _ = model(torch.rand(4, 10, 3, 9, 9))
    assert logits.shape == (4, 2)
    assert calls == [4 * 3]


def test_user_backbone_that_rejects_probe_gives_clear_error():
    net = nn.Sequential(nn.Flatten(), nn.Linear(50, 4))  # only works on 5x5 two-channel frames
    with pytest.raises(ConfigError, match="feature_dim"):
        SubsampledClassifier(make_sampler("das", 6, 2), net, 2, 2)
    model = SubsampledClassifier(make_sampler("das", 6, 2), net, 2, 2, frame_size=5)
    assert model(torch.rand(1, 6, 2, 5, 5))[0].shape == (1, 2)


def test_channel_mismatch_is_reported():
    model = SubsampledClassifier(make_sampler("uniform", 6, 2), "small_cnn", 2, 1)
    with pytest.raises(ConfigError, match="1-channel"):
        model(torch.rand(1, 6, 3, 9, 9))
    with pytest.raises(ConfigError, match="in_channels"):
        SubsampledClassifier(make_sampler("adps", 6, 2, in_channels=3), "small_cnn", 2, 1)


def test_adps_loss_averages_step_predictions():
    torch.manual_seed(0)
    # score_init="random": with the default zero-initialised step layers, the first step's gradient stops at them
    # (they output the same score for every frame whatever the LSTM says), so the LSTM only learns from step two;
    # estimator="straight_through": the loss is the step average alone (the default "both" adds the score-function
    # term, tested in test_samplers_baselines.py)
    sampler = make_sampler("adps", 8, 3, score_init="random", estimator="straight_through")
    model = SubsampledClassifier(sampler, "small_cnn", 2, 1).train()
    x, y = torch.rand(4, 8, 1, 9, 9), torch.tensor([0, 1, 1, 0])
    loss, logits, sel = model.training_loss(x, y)
    feats = sel.features  # ADPS computed the task features of its picks itself (no second pass)
    assert feats.shape == (4, 3, model.feature_dim)
    steps = model.step_logits(feats, sel)
    assert steps.shape == (4, 3, 2)
    assert torch.allclose(steps[:, -1], logits, atol=1e-5)  # the last step sees every pick
    expected = torch.stack([nn.functional.cross_entropy(steps[:, i], y) for i in range(3)]).mean()
    assert torch.allclose(loss, expected, atol=1e-5)
    loss.backward()
    for name, p in model.sampler.named_parameters():  # every step's logits MLP and the LSTM learn
        assert p.grad is not None, name
    assert model.sampler.lstm.weight_ih.grad.abs().sum() > 0  # the LSTM reads the backbone's features


def test_adps_reads_the_backbone_and_its_picks_follow_the_input():
    """Built as the official ADPS: no second encoder, and later picks depend on what earlier picks showed."""
    torch.manual_seed(0)
    model = SubsampledClassifier(make_sampler("adps", 12, 4, score_init="random"), "small_cnn", 2, 1).eval()
    assert model.sampler.lstm.input_size == model.feature_dim  # the task network's features, not a separate CNN
    assert not any(n.startswith("sampler.encoder") for n, _ in model.named_parameters())
    picks = set()
    first = set()
    for where in range(12):  # every frame carries a cue (a bright block) whose place says `where`
        x = torch.full((1, 12, 1, 16, 16), 0.1)
        row, col = divmod(where, 4)
        x[0, :, :, 4 * row:4 * row + 4, 4 * col:4 * col + 4] = 1.0
        sel = model.select(x)
        assert sel.features is not None and sel.features.shape == (1, 4, model.feature_dim)
        picks.add(tuple(sel.indices[0].tolist()))
        first.add(int(sel.indices[0][sel.pick_rank[0] == 0]))
    assert len(first) == 1, "the first pick is input-independent (it reads nothing yet)"
    assert len(picks) > 1, "later picks must change when what the first pick showed changes"
    zero = SubsampledClassifier(make_sampler("adps", 12, 4), "small_cnn", 2, 1).eval()  # the default: score_init="zero"
    x = torch.rand(3, 12, 1, 16, 16)
    assert zero.select(x).indices.tolist() == [[0, 1, 2, 3]] * 3  # equal scores: the first frames left, for every input


def test_parameter_groups_cover_every_parameter_once():
    model = SubsampledClassifier(make_sampler("dps", 8, 3), "small_cnn", 2, 1)
    groups = model.parameter_groups(1e-4)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert groups[0]["lr"] == pytest.approx(1e-3)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="make_sampler"):
        SubsampledClassifier(nn.Identity(), "small_cnn", 2, 1)
    with pytest.raises(ConfigError, match="Unknown backbone"):
        SubsampledClassifier(make_sampler("full", 4), "resnet9000", 2, 1)
    with pytest.raises(ConfigError, match="num_classes"):
        SubsampledClassifier(make_sampler("full", 4), "small_cnn", 1, 1)


def test_one_default_per_setting():
    """The backbone and the heads are defined once: the spec, the training config, the model builder, the
    sampler registry and the app's untrained models read the same defaults."""
    import inspect

    from das_core import ModelSpec, TrainConfig
    from das_core.engine.config import BACKBONE_CHOICES
    from das_core.nn.backbones import BACKBONES, DEFAULT_BACKBONE, LIGHT_BACKBONE
    from das_core.samplers.das import DASConfig
    from explorer import methods

    assert ModelSpec("das", 8, 4).backbone == TrainConfig().backbone == DEFAULT_BACKBONE
    assert inspect.signature(SubsampledClassifier).parameters["backbone"].default == DEFAULT_BACKBONE
    assert set(BACKBONE_CHOICES) == set(BACKBONES) and LIGHT_BACKBONE in BACKBONES
    heads = DASConfig().heads
    assert make_sampler("das", 8, 4).heads == heads
    assert methods.untrained_model("das", 8, 4, frame_size=16).sampler.heads == heads
