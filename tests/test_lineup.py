"""`explorer.lineup`: the one rule that picks every page's models, and the one `call_kwargs`.

The shipped synthetic-volumes checkpoints (T=28, k=14) and untrained small_cnn models; no streamlit.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from das_core import list_samplers
from das_core.export import ExportSettings
from das_core.export.picks import call_kwargs as export_call_kwargs
from das_core.samplers import LiveControls, call_kwargs
from explorer import catalogue, lineup, methods

REPO = Path(__file__).resolve().parents[1]
FIT = lineup.Fit("synthetic-volumes", 28, 1, 28, ("absent", "present"))


@pytest.fixture(scope="module")
def entries():
    return catalogue.list_checkpoints(REPO / "checkpoints", [])


def _small(m, T, k, nc, C, size, h):
    return methods.untrained_model(m, T, k, num_classes=nc, in_channels=C, frame_size=size, heads=h)


def test_auto_takes_the_data_sets_das_and_every_method_follows_its_k(entries):
    up = lineup.choose_lineup(FIT, entries, das="auto", build=_small)
    assert list(up) == list_samplers() and up.k == 14 and up.das_error is None
    das = up.das
    assert das.trained and das.path.endswith("synthetic-volumes-das.pt") and das.trained_on == "synthetic-volumes"
    assert das.origin == "shipped" and das.tag == "trained on synthetic-volumes · shipped"
    for m in ("uniform", "random", "dps", "adps", "full"):
        assert up[m].trained and up[m].path.endswith(f"synthetic-volumes-{m}.pt"), m
    assert all(c.k == 14 for m, c in up.items() if m != "full")
    assert all(not up[m].trained for m in ("central", "edge-energy", "pgadps"))  # none ships: untrained
    assert all(c.meaningful_on("synthetic-volumes") == c.trained for c in up.values())
    assert not any(c.meaningful_on("vesselmnist3d") for c in up.values())


def test_untrained_means_untrained_even_where_a_checkpoint_ships(entries):
    """The bug this module fixes: the picker said "untrained" while DAS's strip ran the shipped model."""
    up = lineup.choose_lineup(FIT, entries, das=None, ratio=0.25, build=_small)
    assert not up.das.trained and up.das.source == lineup.UNTRAINED and up.das.path is None
    assert up.das.tag == "untrained" and up.k == 7
    # the others keep their checkpoints only where one has this k: none ships at k=7
    assert all(not c.trained for m, c in up.items() if m != "full")
    assert up["full"].trained  # full keeps every frame: its checkpoint fits any k
    assert up.key != lineup.choose_lineup(FIT, entries, das="auto", build=_small).key


def test_a_das_from_another_data_set_is_the_one_that_runs(entries):
    vessel = next(e for e in entries if e.method == "das" and e.dataset == "vesselmnist3d")
    fit = lineup.Fit("synthetic-volumes", 28, 1, 28, ("absent", "present"))
    up = lineup.choose_lineup(fit, entries, das=vessel, build=_small)
    assert up.das.trained and up.das.trained_on == "vesselmnist3d" and up.das.path == vessel.path
    assert not up.das.meaningful_on("synthetic-volumes")


def test_a_das_that_cannot_take_the_sample_is_reported_and_replaced_by_an_untrained_one(entries):
    das = next(e for e in entries if e.method == "das" and e.dataset == "synthetic-volumes")
    fit = lineup.Fit("synthetic-volumes", 12, 1, 28, ("absent", "present"))
    up = lineup.choose_lineup(fit, entries, das=das, build=_small)
    assert up.das_error is not None and "T=28" in str(up.das_error) and "T=12" in str(up.das_error)
    assert not up.das.trained and up.das.tag == "untrained" and up.k == 6
    assert all(not c.trained for c in up.values())  # nothing on this data set has T=12


def test_one_call_kwargs_for_the_pages_and_the_export():
    das = methods.untrained_model("das", 8, 4, frame_size=16)
    uni = methods.untrained_model("uniform", 8, 4, frame_size=16)
    ctl = LiveControls(tau0=0.5, heads=[2, 0], stochastic=True, seed=3, focus="das")
    kw = call_kwargs(das.sampler, ctl)
    assert kw["tau0"] == 0.5 and kw["heads"] == [0, 2] and kw["stochastic"] is True
    assert isinstance(kw["generator"], torch.Generator)
    assert call_kwargs(uni.sampler, ctl) == {}  # not the focus, and uniform takes none of them
    assert call_kwargs(das.sampler, tau0=2.0) == {"tau0": 2.0}
    settings = ExportSettings.from_controls(ctl)
    assert settings.controls() == ctl
    got = export_call_kwargs(das.sampler, settings)
    assert {k: v for k, v in got.items() if k != "generator"} == {k: v for k, v in kw.items() if k != "generator"}
