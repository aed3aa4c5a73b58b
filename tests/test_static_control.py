"""das_core.experiments.static_control: an adaptive sampler's own picks against static picks on the test split."""

import json
import os
from collections import Counter

import numpy as np
import pytest
import torch

from das_core import TrainConfig, fit
from das_core.checkpoints import load_checkpoint
from das_core.data import load_dataset
from das_core.experiments import static_control as sc

OPTIONS = {"num_frames": 8, "size": 16, "num_samples": {"train": 48, "val": 16, "test": 40}}


def _train(folder, method):
    cfg = TrainConfig(dataset="synthetic-volumes", dataset_options=OPTIONS, method=method, epochs=1, batch_size=8,
                      backbone="small_cnn", out=str(folder), min_epochs=0, max_train_batches=2, progress=False,
                      device="cpu")
    fit(cfg)
    return folder


@pytest.fixture(scope="module")
def das_run(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("static") / "das", "das")


def _split(name):
    return load_dataset("synthetic-volumes", split=name, **OPTIONS)


def test_static_control_of_a_das_run(das_run):
    r = sc.run_static_control(das_run)
    assert r["applies"] is True and r["n_test"] == 40 and r["k"] == 4 and r["num_frames"] == 8
    for key in ("auc_own", "auc_modal", "auc_blank", "balanced_accuracy_own", "balanced_accuracy_modal",
                "balanced_accuracy_blank", "overlap_own_modal", "overlap_own_blank", "distinct_own_sets"):
        assert r[key] is not None, key
    for key in ("own_minus_modal", "own_minus_blank"):
        ci = r[key]
        assert ci["lo"] <= ci["diff"] <= ci["hi"]
    assert r["own_minus_modal"]["diff"] == pytest.approx(r["auc_own"] - r["auc_modal"])
    assert 0 <= r["overlap_own_modal"] <= 4 and len(r["blank_set"]) == 4

    # the modal set: the most common of the sampler's own picks on the TRAIN split, computed here independently
    model, _ = load_checkpoint(das_run / "best.pt")
    train = _split("train")
    with torch.no_grad():
        _, sel = model(torch.stack([train[i][0] for i in range(len(train))]))
    counts = Counter(tuple(sorted(p)) for p in sel.indices.tolist())
    top = max(counts.values())
    assert tuple(r["modal_set"]) in {s for s, c in counts.items() if c == top}
    assert r["modal_share_train"] == pytest.approx(top / len(train))
    with torch.no_grad():
        blank = model.select(torch.zeros(1, *train[0][0].shape)).indices[0].tolist()
    assert r["blank_set"] == sorted(blank)

    # the own-picks pass equals the model itself, and agrees with the stored AUC
    test = _split("test")
    own = sc.score_items(model, test)
    from das_core.metrics import auc_score
    assert auc_score(own["labels"], own["probs"]) == pytest.approx(r["auc_own"])
    assert r["distinct_own_sets"] == len({tuple(p) for p in own["picks"]})


def test_forced_own_picks_give_the_same_scores(das_run):
    model, _ = load_checkpoint(das_run / "best.pt")
    test = _split("test")
    x = torch.stack([test[i][0] for i in range(12)])
    with torch.no_grad():
        logits, sel = model(x)
        forced, fsel = sc.forced_logits(model, x, sel.indices.flip(1))  # any order: sorted into ascending
    assert torch.equal(fsel.indices, sel.indices) and torch.equal(forced, logits)
    own = sc.score_items(model, test)
    again = sc.score_items(model, test, indices=np.array(own["picks"]))
    assert np.array_equal(own["probs"], again["probs"]) and again["picks"] == own["picks"]
    one = sc.forced_selection(model, x, [5, 1, 3, 2])
    assert one.indices.shape == (12, 4) and one.indices[0].tolist() == [1, 2, 3, 5]
    assert torch.equal(one.gather(x), x[:, [1, 2, 3, 5]])
    for bad in ([1, 1, 2, 3], [0, 1, 2, 8]):
        with pytest.raises(ValueError):
            sc.forced_selection(model, x, bad)


def test_the_result_is_cached_and_recomputed_for_a_newer_checkpoint(das_run, monkeypatch):
    first = sc.run_static_control(das_run)
    cache = das_run / sc.STATIC_CONTROL_FILE
    assert json.loads(cache.read_text()) == first

    def refuse(*a, **k):
        raise AssertionError("recomputed")

    monkeypatch.setattr(sc, "load_checkpoint", refuse)
    assert sc.run_static_control(das_run) == first  # reused: the checkpoint is not even loaded
    newer = cache.stat().st_mtime + 10
    os.utime(das_run / "best.pt", (newer, newer))
    with pytest.raises(AssertionError, match="recomputed"):
        sc.run_static_control(das_run)
    monkeypatch.undo()
    small = sc.run_static_control(das_run, max_items=16)  # another max_items: recomputed, and cached
    assert small["n_test"] == 16 and small["n_train"] == 16
    assert json.loads(cache.read_text())["max_items"] == 16


def test_a_static_sampler_does_not_apply(tmp_path):
    r = sc.run_static_control(_train(tmp_path / "uniform", "uniform"))
    assert r["applies"] is False and "same frames" in r["reason"]
    assert (tmp_path / "uniform" / sc.STATIC_CONTROL_FILE).is_file()
