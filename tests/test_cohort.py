"""The Cohort page and `explorer.cohort`: every method over a split, hit rate / accuracy, disagreements.

Small: 12 synthetic items of 8 frames at 16 px with untrained small_cnn models (the shipped checkpoints on
12 items of the app's default synthetic set for the model choice and the page).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from das_core import list_samplers
from explorer import catalogue, cohort, cohort_figures, lineup, methods, samples

REPO = Path(__file__).resolve().parents[1]
T, K, SIZE, N = 8, 4, 16, 12


@pytest.fixture(scope="module")
def tiny():
    """12 test items of synthetic-volumes, T=8 at 16 px (one informative frame each)."""
    return samples.open_dataset("synthetic-volumes", "test", {"num_frames": T, "size": SIZE, "num_samples": N})


def _models(dataset_of_das: str | None = "synthetic-volumes") -> dict:
    """Untrained small_cnn models; DAS poses as a checkpoint trained on `dataset_of_das` (None: untrained)."""
    out = {}
    for m in list_samplers():
        model = methods.untrained_model(m, T, K, num_classes=2, frame_size=SIZE)
        trained = m == "das" and dataset_of_das is not None
        if trained:
            model.meta = {"dataset": dataset_of_das}
        out[m] = lineup.ModelChoice(m, model, "checkpoint" if trained else cohort.UNTRAINED, trained,
                                    trained_on=dataset_of_das if trained else None)
    return out


def test_run_cohort_shapes_hits_and_correctness(tiny):
    seen = []
    models = _models()
    result = cohort.run_cohort(tiny, models, batch_size=5, progress=lambda d, t, msg: seen.append((d, t)))
    assert list(result.indices) == list(range(N)) and result.num_frames == T
    assert seen[-1] == (N * len(list_samplers()),) * 2  # progress reaches the total
    for m in result.methods:
        assert result.picks[m].shape == (N, T)
        k = T if m == "full" else K
        assert (result.picks[m].sum(1) == k).all(), m
        # the picks and prediction of every item are the ones the Compare page shows for it (run one at a time)
        for i in (0, 7, 11):
            r = methods.run_choice(models[m], tiny[i][0])
            assert list(np.flatnonzero(result.picks[m][i])) == sorted(r.indices), (m, i)
            assert result.predicted[m][i] == r.predicted_index
        # hit rate = a hand count of the items whose picks include an informative frame
        hand = sum(bool(set(np.flatnonzero(result.picks[m][i])) & set(tiny.meta(i)["informative_frames"]))
                   for i in range(N))
        assert result.summary[m]["hit_rate"] == pytest.approx(hand / N)
        assert result.summary[m]["mean_picks"].shape == (T,)
    assert result.summary["full"]["hit_rate"] == 1.0
    # only the model trained on this data set gets correctness and accuracies
    labels = np.array([tiny[i][1] for i in range(N)])
    assert result.correct["das"] is not None
    assert result.summary["das"]["accuracy"] == pytest.approx(np.mean(result.predicted["das"] == labels))
    assert result.summary["das"]["balanced_accuracy"] == pytest.approx(
        cohort.balanced_accuracy(labels, result.predicted["das"]))
    for m in result.methods:
        if m != "das":
            assert result.correct[m] is None and result.summary[m]["accuracy"] is None
    rows = cohort.order(result, "first_pick")
    assert sorted(rows) == list(range(N)) and np.all(np.diff(result.first_pick("das")[rows]) >= 0)
    fig = cohort_figures.fig_picks_heatmap(result, "das", rows, frame_word="slice")
    assert np.asarray(fig.data[0].z).shape == (N, T)
    assert cohort_figures.fig_pick_rate(result).data


def test_a_foreign_model_gets_no_correctness(tiny):
    result = cohort.run_cohort(tiny, _models("vesselmnist3d"), max_items=6)
    assert len(result.indices) == 6
    assert all(v is None for v in result.correct.values())
    assert all(s["accuracy"] is None and s["balanced_accuracy"] is None for s in result.summary.values())
    assert not result.meaningful["das"]
    # without correctness DAS and uniform can still disagree about the informative frame
    rows = cohort.disagreements(result, by="hit")
    assert all(r["das confidence"] is None and r["confidence gap"] is None for r in rows)
    assert cohort.disagreements(result, by="correct") == []


def test_choose_models_uses_the_shipped_checkpoints_and_skips_what_does_not_fit(tiny):
    entries = catalogue.list_checkpoints(REPO / "checkpoints", [])
    opts = samples.app_datasets()[0]["default_options"]
    shipped = samples.open_dataset("synthetic-volumes", "test", {**opts, "num_samples": N})
    models = cohort.choose_models(shipped, entries)
    assert list(models) == list_samplers() and not models.notes
    ships = {e.method for e in entries if e.dataset == "synthetic-volumes"}  # the six original methods ship one
    assert {"full", "uniform", "random", "dps", "adps", "das"} <= ships
    assert all(models[m].trained == (m in ships) for m in models)  # a checkpoint where one ships, else untrained
    assert all(models[m].source == cohort.UNTRAINED and models[m].path is None for m in models if m not in ships)
    assert models["das"].path.endswith("synthetic-volumes-das.pt")
    result = cohort.run_cohort(shipped, models)
    assert all((result.correct[m] is not None) == (m in ships) for m in result.methods)  # untrained: unknown
    # the shipped DAS checkpoint (T=28) cannot take T=8 items: skipped with a note, untrained in its place
    das = next(e for e in entries if e.method == "das" and e.dataset == "synthetic-volumes")
    models = cohort.choose_models(tiny, entries, das_entry=das)
    assert len(models.notes) == 1 and "T=28" in models.notes[0] and "T=8" in models.notes[0]
    assert "T=28" in str(models.das_error)  # the line-up says why the picked DAS is not the one that runs
    assert models["das"].source == cohort.UNTRAINED and models["das"].path is None
    assert models["das"].model.sampler.num_selected == T // 2
    assert models.key.count("untrained") == len(list_samplers())


def _constructed() -> cohort.CohortResult:
    """4 items: DAS right on 0, 1, 3; uniform right on 1, 2."""
    picks = np.zeros((4, 4), dtype=np.uint8)
    picks[:, :2] = 1
    r = cohort.CohortResult(
        dataset="d", split="test", kind="volume", classes=["a", "b"], indices=np.array([10, 11, 12, 13]),
        labels=np.array([0, 1, 0, 1]), informative=[[0], [1], [3], None], num_frames=4, methods=["uniform", "das"],
        sources={"uniform": "u", "das": "d"}, trained={"uniform": True, "das": True},
        meaningful={"uniform": True, "das": True}, picks={"uniform": picks, "das": picks.copy()},
        predicted={"das": np.array([0, 1, 1, 1]), "uniform": np.array([1, 1, 0, 0])},
        confidence={"das": np.array([0.9, 0.8, 0.6, 0.55]), "uniform": np.array([0.6, 0.7, 0.9, 0.5])},
        correct={"das": np.array([True, True, False, True]), "uniform": np.array([False, True, True, False])},
        hit={"das": np.array([True, True, False, False]), "uniform": np.array([True, True, False, False])})
    r.summary = cohort.summarise(r)
    return r


def test_disagreements_and_order_on_a_constructed_result():
    r = _constructed()
    rows = cohort.disagreements(r, "das", "uniform")
    assert [row["index"] for row in rows] == [10, 12, 13]  # |gap| 0.3, 0.3 (item order), 0.05
    assert [row["right"] for row in rows] == ["das", "uniform", "das"]
    assert rows[0]["label"] == "a" and rows[0]["das predicted"] == "a" and rows[0]["uniform predicted"] == "b"
    assert rows[0]["confidence gap"] == pytest.approx(0.3) and rows[1]["confidence gap"] == pytest.approx(-0.3)
    assert cohort.disagreements(r, "das", "uniform", limit=1) == rows[:1]
    assert cohort.disagreements(r, "das", "uniform", by="hit") == []  # same hits everywhere
    assert r.summary["das"]["accuracy"] == pytest.approx(0.75)
    assert r.summary["uniform"]["balanced_accuracy"] == pytest.approx(0.5)  # class a 1/2, class b 1/2
    assert r.summary["das"]["hit_rate"] == pytest.approx(0.5)
    assert list(r.indices[cohort.order(r, "correct")]) == [12, 10, 11, 13]  # wrong first
    assert list(r.indices[cohort.order(r, "label")]) == [10, 12, 11, 13]
    assert list(r.first_informative()) == [0, 1, 3, -1]
    assert cohort.sort_options(r) == ["item", "label", "first_pick", "informative", "correct"]


# ----------------------------------------------------------------------------- the page

APP_TIMEOUT = 120  # seconds per AppTest run (the conftest `app` fixture)


def _no_exception(at):
    assert not at.exception, [e.value for e in at.exception]


def test_cohort_page_runs_and_a_disagreement_opens_in_compare(app):
    at = app.run()
    at.switch_page("pages/cohort.py").run()
    _no_exception(at)
    assert at.title[0].value == "Cohort"
    assert not at.get("plotly_chart")  # nothing runs until asked
    at.number_input(key="coh_n").set_value(N).run()
    at.button(key="coh_run").click().run()
    _no_exception(at)
    summary = at.dataframe[0].value  # the per-method table comes first
    assert len(summary) == len(list_samplers()) and {"hit rate", "accuracy", "balanced accuracy"} <= set(summary)
    heatmaps = [c for c in at.get("plotly_chart") if c.key and c.key.startswith("coh_heat_")]
    assert len(heatmaps) == len(list_samplers())
    at.selectbox(key="coh_sort").set_value("first_pick").run()
    _no_exception(at)
    table = next(d for d in at.dataframe if d.key == "coh_disagree").value
    assert len(table) >= 1
    index = int(table.iloc[0]["index"])
    # a row click: AppTest sets the selection through session state, as the browser would
    at.session_state["coh_disagree"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    _no_exception(at)
    assert at.title[0].value == "Compare samplers"
    assert at.sidebar.selectbox(key="ds_name").value == "synthetic-volumes"
    assert at.sidebar.number_input(key="ds_index").value == index
    assert at.selectbox(key="cmp_das").value.startswith("DAS · synthetic-volumes")
    # back on the Cohort page: the run is kept (no button, the heatmaps are there) and it stays there
    at.switch_page("pages/cohort.py").run()
    _no_exception(at)
    assert at.title[0].value == "Cohort"
    assert not [b for b in at.button if b.key == "coh_run"]
    assert [c for c in at.get("plotly_chart") if c.key == "coh_heat_das"]
    assert at.number_input(key="coh_n").value == N


def test_the_static_control_of_each_adaptive_method(tiny):
    """Per adaptive method: its modal set over the items, the share of items that differ from it (hand count),
    and its predictions with that set forced on every item (the same as forcing it one item at a time)."""
    import torch

    from das_core.experiments.static_control import forced_logits
    from das_core.samplers import sampler_class

    torch.manual_seed(0)
    models = _models()
    torch.nn.init.normal_(models["das"].model.sampler.head_skip.weight)  # scores that differ between items
    result = cohort.run_cohort(tiny, models, batch_size=5)
    adaptive = [m for m in result.methods if sampler_class(m).adaptive]
    assert set(result.modal) == set(adaptive) and "das" in adaptive and "uniform" not in result.modal
    for m in adaptive:
        rows = [tuple(np.flatnonzero(result.picks[m][i])) for i in range(N)]
        modal = max(set(rows), key=rows.count)
        assert rows.count(tuple(result.modal[m])) == rows.count(modal)
        assert result.summary[m]["differs_from_modal"] == pytest.approx(sum(r != tuple(result.modal[m]) for r in rows) / N)
        for i in (0, 5, 11):
            logits, _ = forced_logits(models[m].model, tiny[i][0][None].float(), result.modal[m])
            assert result.static_predicted[m][i] == int(logits.argmax(-1))
    labels = np.array([tiny[i][1] for i in range(N)])
    assert result.summary["das"]["static_balanced_accuracy"] == pytest.approx(
        cohort.balanced_accuracy(labels, result.static_predicted["das"]))
    assert result.summary["edge-energy"]["static_balanced_accuracy"] is None  # untrained: never an accuracy
    row = next(r for r in result.summary_rows() if r["method"] == "Uniform")
    assert np.isnan(row["picks ≠ its modal set"]) and np.isnan(row["accuracy"])  # an empty cell, not "None"
