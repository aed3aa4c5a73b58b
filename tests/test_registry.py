"""The sampler registry: a user's sampler joins with one decorator; capabilities come from the class."""

import dataclasses

import pytest
import torch

import das_core
from das_core import ConfigError, ModelSpec, Sampler, SubsampledClassifier, list_samplers, make_sampler, register_sampler
from das_core.nn.selection import Selection, one_hot_rows
from das_core.samplers import SAMPLERS, sampler_class, sampler_options

BUILT_IN = ["full", "uniform", "random", "dps", "adps", "das", "central", "edge-energy", "pgadps"]


@pytest.fixture
def registered():
    """Registers a `first-k` sampler for one test and removes it afterwards."""

    @dataclasses.dataclass
    class FirstKOptions:
        offset: int = 0

    @register_sampler("first-k")
    class FirstK(Sampler):
        Options = FirstKOptions
        label = "First k"

        def select(self, x, **_):
            B, k = x.shape[0], self.num_selected
            idx = (torch.arange(k) + self.config.offset).clamp(max=self.num_frames - 1).unique().expand(B, -1)
            return Selection(indices=idx, matrix=one_hot_rows(idx, self.num_frames, x.dtype),
                             pick_rank=torch.arange(idx.shape[1]).expand(B, -1))

    yield FirstK
    SAMPLERS.pop("first-k", None)


def test_built_in_order_and_capability_filters():
    assert list_samplers() == BUILT_IN
    assert list_samplers(learned=True) == ["dps", "adps", "das", "pgadps"]
    assert list_samplers(adaptive=True) == ["adps", "das", "edge-energy", "pgadps"]
    assert list_samplers(learned=False) == ["full", "uniform", "random", "central", "edge-energy"]
    assert [n for n in BUILT_IN if sampler_class(n).varies_per_input] == ["random", "adps", "das", "edge-energy",
                                                                          "pgadps"]
    assert [n for n in BUILT_IN if sampler_class(n).per_step_loss] == ["adps", "pgadps"]
    assert [n for n in BUILT_IN if not sampler_class(n).takes_k] == ["full"]
    assert sampler_class("das").option_names()[:2] == ("heads", "tau0")
    assert "heads" in sampler_class("das").call_options and "heads" not in sampler_class("dps").call_options


def test_options_are_typed_and_filtered_by_sampler():
    assert sampler_options("dps", {"tau0": 1.5, "heads": 4, "in_channels": 3, "seed": 1}) == {"tau0": 1.5}
    assert sampler_options("adps", {"tau0": None, "in_channels": 3}) == {"in_channels": 3}
    assert make_sampler("dps", 10, 3).options == {"tau0": 2.0, "lr_multiplier": 10.0, "estimator": "both", "noise_end": 1.0,
                                                  "score_init": "zero"}  # defaults from DPSOptions
    with pytest.raises(ConfigError, match="Invalid option heads for the dps sampler"):
        make_sampler("dps", 10, 3, heads=2)


def test_user_sampler_joins_by_one_decorator(registered):
    assert list_samplers()[-1] == "first-k" and list_samplers(learned=False)[-1] == "first-k"
    s = make_sampler("first-k", 8, 3, offset=2)
    assert s.name == "first-k" and s.display_name() == "First k"
    assert s(torch.rand(2, 8, 1, 6, 6)).indices.tolist() == [[2, 3, 4]] * 2
    model = SubsampledClassifier.from_config(ModelSpec("first-k", 8, 3, backbone="small_cnn",
                                                       sampler_options={"offset": 1}))
    assert model.spec.sampler_options == {"offset": 1}
    logits, sel = model(torch.rand(2, 8, 1, 12, 12))
    assert logits.shape == (2, 2) and sel.indices[0].tolist() == [1, 2, 3]


def test_registry_refuses_what_it_cannot_use(registered):
    with pytest.raises(ConfigError, match="already registered"):
        @register_sampler("first-k")
        class Other(Sampler):
            pass
    with pytest.raises(ConfigError, match="subclass of das_core.Sampler"):
        register_sampler("x")(object)
    with pytest.raises(ConfigError, match="Unknown sampler"):
        make_sampler("nope", 8, 2)
    with pytest.raises(ConfigError, match="Unknown sampler"):
        ModelSpec("nope", 8, 2).validate()


def test_public_names():
    for name in ("register_sampler", "list_samplers", "TrainConfig", "fit", "load_model", "ModelSpec", "make_sampler",
                 "Selection", "SubsampledClassifier", "load_dataset"):
        assert name in das_core.__all__ and getattr(das_core, name) is not None
