"""`explorer.lineup`: the one rule that picks every page's models, the one `call_kwargs` and the one `SampleRun`.

The shipped synthetic-volumes checkpoints (T=28, k=14) and untrained small_cnn models; no streamlit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from das_core import list_samplers
from das_core.export import ExportSettings
from das_core.export.picks import ExportModel, run_model
from das_core.export.study import study_from_tensor
from das_core.sample_run import SampleRun
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
    for m in list_samplers():  # every method ships on this data set (the main grid's seed-0 runs)
        assert up[m].trained and up[m].path.endswith(f"synthetic-volumes-{m}.pt"), m
    assert all(c.k == 14 for m, c in up.items() if m != "full")
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
    got = call_kwargs(das.sampler, settings.controls())
    assert {k: v for k, v in got.items() if k != "generator"} == {k: v for k, v in kw.items() if k != "generator"}


def test_the_page_and_the_export_run_a_model_the_same_way_into_one_result_type():
    das = methods.untrained_model("das", 8, 4, frame_size=16)
    torch.nn.init.normal_(das.sampler.head_skip.weight, generator=torch.Generator().manual_seed(0))
    x = torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    ctl = LiveControls(tau0=0.7, heads=[0, 1], focus="das")
    choice = lineup.ModelChoice("das", das)
    on_page = methods.run_choice(choice, x, ctl)
    exported = run_model(ExportModel(das, "untrained", None, False), study_from_tensor(x),
                         ExportSettings.from_controls(ctl), "#123456")
    assert type(on_page) is type(exported) is SampleRun
    assert on_page.indices == exported.indices and on_page.tau == pytest.approx(exported.tau)
    assert np.allclose(on_page.probs, exported.probs) and np.allclose(on_page.soft, exported.soft)
    assert exported.frames == [exported.frame_map[i] for i in exported.indices] and exported.color == "#123456"
    assert on_page.source == lineup.UNTRAINED and exported.source == "untrained" and not on_page.meaningful


def test_the_export_of_an_upload_is_of_the_study_itself(tmp_path):
    """A 108-slice 256x256 upload: the MP4 has 108 frames with the study at its own 256 px, drawn in the window
    chosen on Explore; every method's picks are the study's slice numbers (its model's picks mapped through
    the same resampling the page used), and picks.json keeps the model's index beside them."""
    import json

    import imageio

    from das_core.export import draw
    from explorer import exports, samples

    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((108, 1, 256, 256), dtype=np.float32))
    native = samples.SampleData(x=x, y=None, classes=None, meta={}, dataset="upload: head.npy", kind="volume",
                                key="upload:head")
    seen = samples.resample_for(native, 28, 28)  # what the page's models see
    up = lineup.choose_lineup(lineup.Fit.of(native.dataset, seen.x), [], das=None, build=_small,
                              methods=["uniform", "das", "full"])
    window = (0.5, 0.25)
    files = exports.export_bytes(native, up, ExportSettings(window=list(window), focus="das"))
    doc = json.loads(files["picks.json"])
    on_page = methods.compare_methods(seen.x, up)
    frame_indices = seen.meta["frame_indices"]  # study slice of each of the models' 28
    assert [m["method"] for m in doc["methods"]] == ["uniform", "das", "full"]
    for m in doc["methods"]:
        r = on_page[m["method"]]
        picks = sorted(m["picks"], key=lambda p: p["model_frame"])
        assert [p["model_frame"] for p in picks] == sorted(r.indices), m["method"]
        assert [p["frame"] for p in picks] == [frame_indices[i] for i in sorted(r.indices)], m["method"]
        assert m["frame_map"] == frame_indices and m["num_frames"] == 28
    assert doc["settings"]["window"] == list(window)

    mp4 = tmp_path / "sequence.mp4"
    mp4.write_bytes(files["sequence.mp4"])
    reader = imageio.get_reader(str(mp4), format="FFMPEG")
    try:
        assert reader.count_frames() == 108  # one per slice of the study, not of the models' 28
        first = reader.get_data(0)
    finally:
        reader.close()
    assert first.shape[1] >= 256 + 16  # the 256 px study sits on the canvas at its own size (not 28 upscaled)
    # the window: slice values below level - width/2 are black, above level + width/2 white
    img = draw.frame_rgb(x[0], window)
    lo, hi = x[0, 0].numpy() < 0.375, x[0, 0].numpy() > 0.625
    assert (img[lo] == 0).all() and (img[hi] == 255).all()


def test_adaptivity_measures_on_a_hand_made_sampler():
    """The measures the Compare page shows, on DAS with hand-set score weights: a blank input's picks, the modal
    set and its share, and the head subsets' changes, each checked against a direct count."""
    from explorer import adaptivity

    torch.manual_seed(0)
    model = methods.untrained_model("das", 8, 3, frame_size=16)
    torch.nn.init.normal_(model.sampler.head_skip.weight)
    xs = torch.rand(10, 8, 1, 16, 16)
    own = [adaptivity.own_picks(model, x) for x in xs]
    best, share = adaptivity.modal_set(model, xs, batch_size=4)
    assert share == sum(o == best for o in own) / 10 and len(best) == 3
    blank = adaptivity.blank_picks(model, (8, 1, 16, 16))
    assert blank == adaptivity.own_picks(model, torch.zeros(8, 1, 16, 16))
    for heads in ([0], [1, 3]):
        changes = [adaptivity.pick_change(model, x, heads=heads) for x in xs]
        assert all(c.changed == len(set(c.now) - set(c.own)) and list(c.own) == o for c, o in zip(changes, own))
        assert adaptivity.split_change(model, xs, heads=heads, batch_size=3) == \
            sum(c.changed > 0 for c in changes) / 10
    assert adaptivity.split_change(model, xs) == 0.0  # no control moved: nothing changes
    view = adaptivity.prior_view(own[0], blank, best, share)
    assert view.shared_blank == len(set(own[0]) & set(blank)) and view.shared_modal == len(set(own[0]) & set(best))


def test_an_upload_is_told_which_images_the_shipped_models_saw():
    from das_core.data.registry import DATASET_NAMES, USER_DATASETS, imaging
    from explorer.lineup import upload_models_note

    assert all(imaging(n) is not None for n in DATASET_NAMES if n not in USER_DATASETS), "every built-in set says"
    shipped = ["vesselmnist3d", "adrenalmnist3d", "synthetic-volumes", "pocus-lung"]
    ct = upload_models_note("CT", "volume", shipped)
    assert "None of them was trained on CT images." in ct and "no CT intensities" in ct  # adrenal: masks, not HU
    us = upload_models_note("us", "video", shipped)
    assert "Of these, pocus-lung held US images" in us
    assert "does not say its modality" in upload_models_note(None, "volume", shipped)
    assert "organmnist3d held CT images" in upload_models_note("CT", "volume", ["organmnist3d"])
