"""AppTest tests of every page (no browser): widgets set, no exception, the expected elements present.

Fast: small synthetic data, small_cnn, untrained models. A sampler defined in this file and
registered with `das_core.register_sampler` shows up on the Compare page and trains through `fit`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

import das_core  # noqa: E402
from das_core import TrainConfig  # noqa: E402
from das_core.nn.selection import one_hot_rows  # noqa: E402
from explorer import catalogue, figures, jobs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")


@pytest.fixture
def every_other():
    """A user's sampler, registered for one test (the other tests see the six built-in methods)."""

    @das_core.register_sampler("every-other")
    class EveryOther(das_core.Sampler):
        """Frames 0, 2, 4, ... (k <= ceil(T / 2)), the same for every input."""

        label = "Every other"

        def select(self, x, **_):
            idx = torch.arange(0, self.num_frames, 2, device=x.device)[: self.num_selected]
            idx = idx.expand(x.shape[0], -1)
            rank = torch.arange(idx.shape[1], device=x.device).expand_as(idx)
            return das_core.Selection(indices=idx, matrix=one_hot_rows(idx, self.num_frames, x.dtype), pick_rank=rank)

    yield EveryOther
    das_core.samplers.SAMPLERS.pop("every-other", None)


def _no_exception(at):
    assert not at.exception, [e.value for e in at.exception]


def test_explore_page(app):
    at = app.run()
    _no_exception(at)
    assert at.title[0].value == "Explore"
    assert any("not for diagnosis" in c.value for c in at.sidebar.caption)
    assert len(at.get("plotly_chart")) >= 2  # orthogonal views + feature curves
    at.slider(key="explore_t").set_value(3).run()
    _no_exception(at)
    at.sidebar.number_input(key="ds_index").set_value(5).run()
    _no_exception(at)
    at.slider(key="explore_level").set_value(0.3).run()
    _no_exception(at)
    assert not at.error


def test_compare_page_tau_and_heads(app):
    at = app.run()
    at.switch_page("pages/compare.py").run()
    _no_exception(at)
    assert at.title[0].value == "Compare samplers"
    charts = at.get("plotly_chart")
    assert len(charts) >= 7  # timeline, confidence, attention, soft, hard, dps, adps

    def soft_z(at):
        chart = next(c for c in at.get("plotly_chart") if "Soft rows" in c.proto.spec)
        return json.loads(chart.proto.spec)["data"][0]["z"]

    # a shipped DAS checkpoint is selected: the page states its own k, no (stale) ratio slider
    assert not [w for w in at.get("select_slider") if w.key == "cmp_ratio"]
    assert any("k=14" in m.value for m in at.metric)
    assert not [c for c in at.get("plotly_chart") if "Entropy" in c.proto.spec]  # the sweep is built on request
    at.toggle(key="cmp_show_sweep").set_value(True).run()
    assert [c for c in at.get("plotly_chart") if "entropy" in c.proto.spec.lower()]
    before = soft_z(at)
    at.select_slider(key="cmp_tau0").set_value(0.1).run()
    _no_exception(at)
    after = soft_z(at)
    assert before != after, "tau0 must change the soft matrix"
    at.radio(key="cmp_view").set_value(at.radio(key="cmp_view").options[1]).run()
    _no_exception(at)
    assert any("stochastic" in i.value for i in at.info)
    at.selectbox(key="cmp_das").set_value(at.selectbox(key="cmp_das").options[0]).run()  # untrained
    _no_exception(at)
    at.select_slider(key="cmp_ratio").set_value(0.25).run()
    _no_exception(at)
    assert not at.error


def test_compare_incompatible_checkpoint_gives_one_message(app, monkeypatch, tmp_path):
    from das_core.errors import CheckpointError

    entry = catalogue.CheckpointEntry(str(tmp_path / "x.pt"), "synthetic-volumes", "das", 7, 99, "small_cnn",
                                    "shipped", {}, label="DAS · other")
    (tmp_path / "x.pt").write_bytes(b"not a checkpoint")
    monkeypatch.setattr(catalogue, "list_checkpoints", lambda *a, **k: [entry])

    def bad(meta, sample):
        raise CheckpointError("This checkpoint was trained on other data with T=99 frames; choose a matching one.")

    monkeypatch.setattr(catalogue, "load_model", lambda path: SimpleNamespace(meta={"model": {"num_frames": 99}}))
    monkeypatch.setattr(catalogue, "check_sample_compatible", bad)
    at = app.run()
    at.switch_page("pages/compare.py").run()
    _no_exception(at)
    assert at.error and "T=99" in at.error[0].value
    # falls back to untrained models: timeline, attention, soft, hard, dps, adps (no confidence chart for
    # untrained models; the tau sweep waits for its toggle)
    assert len(at.get("plotly_chart")) >= 6


def test_upload_corrupt_file_shows_error(app):
    at = app.run()
    at.sidebar.selectbox(key="ds_name").set_value("Upload a file…").run()
    _no_exception(at)
    assert any("Upload a file" in i.value for i in at.info)


def test_train_page_form_starts_run(app, monkeypatch, tmp_path):
    fake = tmp_path / "fake_cli.py"
    fake.write_text(
        "import json, sys, time, pathlib\n"
        "cfg = json.loads(pathlib.Path(sys.argv[sys.argv.index('--config') + 1]).read_text())\n"
        "out = pathlib.Path(cfg['out'])\n"
        "(out / 'config.json').write_text(json.dumps({'dataset': cfg['dataset'], 'method': cfg['method']}))\n"
        "(out / 'metrics.jsonl').write_text(json.dumps({'epoch': 0, 'train_loss': 0.7, 'val_loss': 0.69, 'val_auc': 0.6}) + '\\n')\n"
        "(out / 'summary.json').write_text(json.dumps({'auc': 0.61, 'balanced_accuracy': 0.55, 'accuracy': 0.55}))\n"
        "(out / 'status.json').write_text(json.dumps({'state': 'finished', 'epoch': 1, 'epochs': 1}))\n")
    real = jobs.train_command
    monkeypatch.setattr(jobs, "train_command", lambda path: [sys.executable, str(fake)] + real(path)[3:])
    at = app.run()
    at.switch_page("pages/train.py").run()
    _no_exception(at)
    assert at.title[0].value == "Train"
    at.number_input(key="tr_epochs").set_value(1)
    at.select_slider(key="tr_lr").set_value(2e-4)
    at.selectbox(key="tr_warmup").set_value(0)
    at.button[0].click().run()  # the form's submit button
    _no_exception(at)
    assert at.success, "starting a run shows a confirmation"
    root = jobs.RUNS_ROOT
    deadline = time.time() + 30
    while time.time() < deadline:
        runs = jobs.list_jobs(root)
        if runs and runs[0]["status"].get("state") in jobs.TERMINAL:
            break
        time.sleep(0.3)
    assert runs[0]["status"]["state"] == "finished", runs[0]["status"]
    settings = runs[0]["settings"]
    assert (settings["method"], settings["epochs"], settings["threads"], settings["progress"]) == ("das", 1, 1, False)
    assert (settings["lr"], settings["sampler_warmup_epochs"]) == (2e-4, 0)  # the recipe is the user's to set
    at.run()
    _no_exception(at)
    assert len(at.dataframe) >= 1


def test_results_page_without_files(app, monkeypatch, tmp_path):
    monkeypatch.setenv("DAS_DOCS_DIR", str(tmp_path / "empty"))
    at = app.run()
    at.switch_page("pages/results.py").run()
    _no_exception(at)
    assert at.title[0].value == "Results"
    texts = [i.value for i in at.info]
    assert any("not yet generated" in t and "python -m das_core bench" in t for t in texts)
    assert any("not yet generated" in t and "python -m das_core speed" in t for t in texts)


def test_results_page_with_files(app, monkeypatch, tmp_path):
    docs = tmp_path / "docs"
    (docs / "results").mkdir(parents=True)
    rows = ["dataset,method,ratio,k,T,seed,auc,balanced_accuracy,accuracy,seconds,run"]
    for m, base in (("full", 0.9), ("uniform", 0.7), ("das", 0.85)):
        for ratio in ((1.0,) if m == "full" else (0.25, 0.5)):
            for seed in (0, 1, 2):
                rows.append(f"synthetic-volumes,{m},{ratio},1,28,{seed},{base + 0.01 * seed},{base - 0.1},{base - 0.1},9,r{seed}")
    (docs / "results" / "results.csv").write_text("\n".join(rows) + "\n")
    (docs / "speed.json").write_text(json.dumps([{"method": m, "ms_per_sample": v} for m, v in (("full", 4.0), ("das", 2.1))]))
    monkeypatch.setenv("DAS_DOCS_DIR", str(docs))
    at = app.run()
    at.switch_page("pages/results.py").run()
    _no_exception(at)
    assert not at.info and len(at.dataframe) >= 1
    assert len(at.get("plotly_chart")) == 2  # metric vs ratio, speed
    at.select_slider(key="res_ratio").set_value(0.25).run()
    _no_exception(at)
    assert not at.get("radio") or "res_set" not in [r.key for r in at.radio]  # one grid: no chooser


def test_results_page_switches_between_grids(app, monkeypatch, tmp_path):
    docs = tmp_path / "docs"
    (docs / "results" / "small_cnn").mkdir(parents=True)
    head = "dataset,backbone,method,ratio,k,T,seed,auc,balanced_accuracy,accuracy,seconds,run"
    for path, backbone, auc in ((docs / "results" / "results.csv", "mobilenet_v3_small", 0.61),
                                (docs / "results" / "small_cnn" / "results.csv", "small_cnn", 0.93)):
        path.write_text("\n".join([head] + [f"vessel,{backbone},das,0.5,14,28,{s},{auc},0.6,0.6,9,r{s}" for s in (0, 1)]) + "\n")
    (docs / "results-small_cnn.md").write_text("# small grid page\n")
    monkeypatch.setenv("DAS_DOCS_DIR", str(docs))
    at = app.run()
    at.switch_page("pages/results.py").run()
    _no_exception(at)
    radio = at.radio(key="res_set")
    assert [o for o in radio.options] == ["mobilenet_v3_small (main grid)", "small_cnn"]
    assert "0.610" in at.dataframe[0].value.to_csv()
    radio.set_value(radio.options[1]).run()
    _no_exception(at)
    assert "0.930" in at.dataframe[0].value.to_csv()
    assert any("small grid page" in m.value for m in at.markdown)


def test_explore_montage_picks_a_sample(app):
    at = app.run()
    assert not any(b.key and b.key.startswith("pick_") for b in at.button)  # built only when asked for
    at.toggle(key="explore_montage").set_value(True).run()
    picks = [b for b in at.button if b.key and b.key.startswith("pick_")]
    assert len(picks) >= 2
    at.button(key="pick_1").click().run()
    _no_exception(at)
    assert at.session_state["ds_index"] == 1


def test_registered_sampler_appears_on_the_compare_page(app, every_other):
    at = app.run()
    at.switch_page("pages/compare.py").run()
    _no_exception(at)
    assert any("Every other" in m.value for m in at.markdown), "a strip for the registered sampler"
    timeline = next(c for c in at.get("plotly_chart") if "Picked frames per method" in c.proto.spec)
    assert "Every other" in timeline.proto.spec
    # untrained, so its class probabilities are hidden until asked for, and listed as hidden
    assert any("Every other" in c.value for c in at.caption if "probabilities hidden" in c.value)
    at.toggle(key="cmp_show_foreign").set_value(True).run()
    confidence = next(c for c in at.get("plotly_chart") if "P(predicted class)" in c.proto.spec)
    assert "Every other" in confidence.proto.spec
    assert figures.method_color("every-other") not in figures.METHOD_COLORS.values()
    assert not at.error


def test_registered_sampler_trains_through_fit(every_other, tmp_path):
    config = TrainConfig(dataset="synthetic-volumes", dataset_options={"num_frames": 8, "size": 16, "num_samples": 16},
                         method="every-other", epochs=1, backbone="small_cnn", batch_size=8,
                         out=str(tmp_path / "run"), progress=False, device="cpu")
    summary = das_core.fit(config)
    assert summary["state"] == "finished"


def test_data_options_do_not_leak_between_data_sets(app):
    """Frames T chosen for one data set stays with it; another data set opens at its own default."""
    at = app.run()
    at.sidebar.number_input(key="ds_frames:synthetic-volumes").set_value(12).run()
    _no_exception(at)
    assert any("T=12" in m.value for m in at.markdown)
    at.sidebar.selectbox(key="ds_name").set_value("synthetic-video").run()
    _no_exception(at)
    assert at.sidebar.number_input(key="ds_frames:synthetic-video").value == 28
    assert any("T=28" in m.value for m in at.markdown)
    at.sidebar.selectbox(key="ds_name").set_value("synthetic-volumes").run()
    assert at.sidebar.number_input(key="ds_frames:synthetic-volumes").value == 12


def test_a_model_on_data_it_never_saw_says_so_and_hides_its_confidence(app):
    at = app.run()
    at.switch_page("pages/compare.py").run()
    _no_exception(at)
    assert not at.warning  # the default DAS model was trained on this data set

    def bars(at):
        chart = next(c for c in at.get("plotly_chart") if c.key == "cmp_conf")
        return sum(len(d.get("y") or []) for d in json.loads(chart.proto.spec)["data"])

    shown = bars(at)
    at.toggle(key="cmp_show_all").set_value(True).run()
    vessel = next(o for o in at.selectbox(key="cmp_das").options if "vesselmnist3d" in o)
    at.selectbox(key="cmp_das").set_value(vessel).run()
    _no_exception(at)
    assert at.warning and "trained on **vesselmnist3d**" in at.warning[0].value
    assert bars(at) == shown - 1  # DAS's prediction is hidden
    at.toggle(key="cmp_show_foreign").set_value(True).run()
    # every method now: DAS's again, and those without a checkpoint on this data set (run untrained)
    assert bars(at) == len(das_core.list_samplers()) >= shown


def test_results_page_charts_the_speed_report(app, monkeypatch):
    """The Speed section charts docs/speed.json per volume size instead of printing raw JSON."""
    at = app.run()
    at.switch_page("pages/results.py").run()
    _no_exception(at)
    assert at.radio(key="res_speed_size").options[0].startswith("28 x 28^2")
    fig = next(c for c in at.get("plotly_chart") if c.key == "res_speed_fig")
    assert "DAS" in fig.proto.spec and "seconds_per_batch" not in fig.proto.spec
    at.radio(key="res_speed_size").set_value(at.radio(key="res_speed_size").options[1]).run()
    _no_exception(at)


def test_compare_heads_off_keeps_the_baselines_and_one_colour_scale(app):
    at = app.run()
    at.switch_page("pages/compare.py").run()

    def attention(at):
        chart = next(c for c in at.get("plotly_chart") if c.key == "cmp_attention")
        return json.loads(chart.proto.spec)["data"]

    heat, picks = attention(at)
    assert picks["y"][0] == "picked by DAS" and picks["showlegend"]  # the markers have their own row, a legend
    at.pills(key="cmp_heads").set_value([0]).run()
    _no_exception(at)
    heat_one = attention(at)[0]
    assert (heat["zmin"], heat["zmax"]) == (heat_one["zmin"], heat_one["zmax"])  # same scale when toggling
    at.pills(key="cmp_heads").set_value([]).run()
    _no_exception(at)
    assert at.warning and "No attention head is active" in at.warning[0].value
    timeline = next(c for c in at.get("plotly_chart") if c.key == "cmp_timeline")
    assert "Uniform" in timeline.proto.spec  # the baselines stay
    assert not [c for c in at.get("plotly_chart") if c.key == "cmp_attention"]


def test_train_page_runs_table_and_overlaid_curves(app):
    from das_core.runs import RunPaths, append_jsonl, write_json, write_status

    for i, (method, auc) in enumerate((("das", 0.8), ("uniform", 0.6))):
        run = jobs.RUNS_ROOT / f"2026010{i}-000000-000000-synthetic-volumes-{method}"
        paths = RunPaths.of(run)
        write_json(paths.job, {"settings": {"dataset": "synthetic-volumes", "method": method, "ratio": 0.5,
                                            "epochs": 2}})
        for ep in range(2):
            append_jsonl(paths.metrics, {"epoch": ep, "train_loss": 0.6, "val_loss": 0.5, "val_auc": auc + 0.05 * ep})
        write_status(run, "running" if i else "finished", epoch=2, epochs=2)
    at = app.run()
    at.switch_page("pages/train.py").run()
    _no_exception(at)
    table = at.dataframe[0].value
    assert "None" not in table.to_csv() and list(table["ratio"]) == ["50%", "50%"]
    overlay = next(c for c in at.get("plotly_chart") if c.key == "tr_overlay_fig")
    spec = json.loads(overlay.proto.spec)
    assert len(spec["data"]) == 2 and "validation AUC" in overlay.proto.spec
    curves = next(c for c in at.get("plotly_chart") if c.key and c.key.startswith("curves_"))
    assert "val_auc" not in curves.proto.spec and "validation AUC" in curves.proto.spec  # readable legends


def test_upload_of_one_slice_says_it_was_repeated():
    import io

    import numpy as np

    from explorer import samples
    from pages.ui.captions import sample_caption

    buf = io.BytesIO()
    np.save(buf, np.random.default_rng(0).random((1, 16, 16)).astype("float32"))
    s = samples.load_upload(buf.getvalue(), "one.npy", num_frames=28, size=28)
    assert s.meta["original_frames"] == 1
    assert "resampled from 1 slice (repeated)" in sample_caption(s)


def test_compare_picked_frames_can_be_enlarged(app):
    at = app.run()
    at.switch_page("pages/compare.py").run()
    _no_exception(at)

    def images(node):
        found = []
        for child in getattr(node, "children", {}).values():
            found += [child] if getattr(child, "type", "") == "image" else images(child)
        return found

    before = len(images(at.main))
    at.selectbox(key="cmp_enlarge").set_value("das").run()
    _no_exception(at)
    assert len(images(at.main)) == before + 14  # every frame DAS picked, at a readable size


def test_ct_window_in_hounsfield_units_with_presets():
    """A CT volume (values in HU) is windowed in HU, with the presets CT viewers offer."""
    import io

    import numpy as np

    from explorer import samples

    vol = np.full((8, 32, 32), -1000, np.int16)  # air
    vol[:, 8:24, 8:24] = 40  # soft tissue
    vol[:, 14:18, 14:18] = 1200  # bone
    buf = io.BytesIO()
    np.save(buf, vol)
    s = samples.load_upload(buf.getvalue(), "head.npy", num_frames=8, size=32)
    scale = samples.intensity_scale(s)
    assert scale.unit == "HU" and (scale.lo, scale.hi) == (-1000.0, 1200.0)
    level, width = scale.to_unit_window(40, 80)  # the brain window, on the [0, 1] values
    assert (level, width) == pytest.approx(((40 + 1000) / 2200, 80 / 2200))

    def page():
        import streamlit as st

        from explorer.samples import IntensityScale
        from pages.ui.hu_window import hu_window_ui

        st.session_state["window"] = hu_window_ui(IntensityScale(-1000.0, 1200.0, "HU"))

    at = AppTest.from_function(page).run()
    assert at.slider(key="explore_level_hu").label == "Window level (HU)"
    at.segmented_control(key="explore_preset").set_value("lung").run()
    assert (at.slider(key="explore_level_hu").value, at.slider(key="explore_width_hu").value) == (-600.0, 1500.0)
    assert at.session_state["window"] == pytest.approx(((-600 + 1000) / 2200, 1500 / 2200))


def test_montage_filters_by_class(app):
    at = app.run()
    at.toggle(key="explore_montage").set_value(True).run()
    at.segmented_control(key="explore_montage_class").set_value("ring").run()
    _no_exception(at)
    picks = [b.key for b in at.button if b.key and b.key.startswith("pick_")]
    from das_core.data import load_dataset

    ds = load_dataset("synthetic-volumes", split="test")
    assert picks and all(ds.labels[int(k.split("_")[1])] == 1 for k in picks)  # only rings


def test_compare_untrained_ratio_change_reaches_every_method(app):
    """The cached baselines are keyed by k: moving the ratio re-runs them with the new k."""
    at = app.run()
    at.switch_page("pages/compare.py").run()
    at.selectbox(key="cmp_das").set_value(at.selectbox(key="cmp_das").options[0]).run()  # untrained
    at.select_slider(key="cmp_ratio").set_value(0.25).run()
    _no_exception(at)
    timeline = json.loads(next(c for c in at.get("plotly_chart") if c.key == "cmp_timeline").proto.spec)
    counts = {d["name"]: len(d["x"]) for d in timeline["data"] if d.get("x") is not None and d.get("name")}
    assert counts.get("Uniform") == 7 and counts.get("DAS") == 7, counts  # k = 7 of 28 for every method


def _npy_bytes(shape=(40, 64, 64)) -> bytes:
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.random.default_rng(0).random(shape).astype("float32"))
    return buf.getvalue()


def _images(node) -> list:
    found = []
    for child in getattr(node, "children", {}).values():
        found += [child] if getattr(child, "type", "") == "image" else _images(child)
    return found


def test_an_uploaded_study_stays_selected_on_every_page(app, monkeypatch):
    """Upload on Explore (shown native, 64x64), then Compare: no new upload asked, the models run on the
    study resampled to their T and frame size; back on Explore it is still there; "Forget" drops it."""
    shown = []
    real = figures.frame_image
    monkeypatch.setattr(figures, "frame_image", lambda x, *a, **k: shown.append(tuple(x.shape)) or real(x, *a, **k))
    at = app.run()
    at.sidebar.selectbox(key="ds_name").set_value("Upload a file…").run()
    at.sidebar.file_uploader(key="upload_file").upload("head.npy", _npy_bytes()).run()
    _no_exception(at)
    assert at.sidebar.selectbox(key="ds_name").value == "upload: head.npy"
    assert any("T=40 slices of 1×64×64" in m.value for m in at.markdown), "Explore shows the study natively"
    assert shown[-1] == (40, 1, 64, 64), "the viewer's frame is the study's own 64x64, not 28x28"
    assert any(img.caption == "slice 20 of 40" for e in _images(at.main) for img in e.proto.imgs)
    assert at.slider(key="explore_y").max == 63 and at.slider(key="explore_x").max == 63  # 64x64, not 28x28

    at.switch_page("pages/compare.py").run()
    _no_exception(at)
    assert at.sidebar.selectbox(key="ds_name").value == "upload: head.npy"
    assert not at.get("file_uploader"), "no new upload is asked for"
    assert not any("Upload a file" in i.value for i in at.info)
    assert any("upload: head.npy" in m.value and "resampled to T=28 slices of 28×28" in m.value for m in at.markdown)
    hint = next(c.value for c in at.caption if "No model here was trained on studies like this upload" in c.value)
    assert "vesselmnist3d" in hint and "pocus-lung" in hint  # what the shipped models did see
    assert "binary shapes, no MR intensities" in hint and "does not say its modality" in hint  # an .npy carries none
    timeline = json.loads(next(c for c in at.get("plotly_chart") if c.key == "cmp_timeline").proto.spec)
    counts = {d["name"]: len(d["x"]) for d in timeline["data"] if d.get("x") is not None and d.get("name")}
    assert counts.get("DAS") == 14 and counts.get("Full sequence") == 28, counts  # k = 14 of the models' T=28
    # the strips give the study's own slice number beside the model's index (28 of the study's 40 slices)
    caps = [img.caption for e in _images(at.main) for img in e.proto.imgs if img.caption.startswith("slices ")]
    assert caps and all("(study " in c for c in caps), caps
    assert "27 (study 39)" in caps[0]  # the full sequence's last frame is the study's last slice
    at.sidebar.number_input(key="study_frames").set_value(16).run()
    _no_exception(at)
    assert any("resampled to T=16" in m.value for m in at.markdown)
    assert not at.error

    at.switch_page("pages/results.py").run()  # a page without the picker keeps the study selected too
    at.switch_page("pages/explore.py").run()
    _no_exception(at)
    assert at.sidebar.selectbox(key="ds_name").value == "upload: head.npy"
    assert any("T=40 slices of 1×64×64" in m.value for m in at.markdown)
    at.sidebar.button(key="study_forget").click().run()
    _no_exception(at)
    assert at.sidebar.selectbox(key="ds_name").value == "synthetic-volumes"
    assert "upload: head.npy" not in at.sidebar.selectbox(key="ds_name").options


def test_a_picked_sample_stays_selected_on_compare(app):
    at = app.run()
    at.sidebar.selectbox(key="ds_name").set_value("synthetic-video").run()
    at.sidebar.number_input(key="ds_index").set_value(3).run()
    at.switch_page("pages/compare.py").run()
    _no_exception(at)
    assert at.sidebar.selectbox(key="ds_name").value == "synthetic-video"
    assert at.sidebar.number_input(key="ds_index").value == 3


def test_a_corrupt_upload_says_so_and_keeps_asking(app):
    at = app.run()
    at.sidebar.selectbox(key="ds_name").set_value("Upload a file…").run()
    at.sidebar.file_uploader(key="upload_file").upload("broken.npy", b"not a numpy file" * 10).run()
    _no_exception(at)
    assert at.error and "broken.npy" in at.error[0].value
    assert at.sidebar.selectbox(key="ds_name").value == "Upload a file…"


def test_resample_for_gives_the_models_input_and_keeps_the_study():
    from explorer import samples

    s = samples.load_study(_npy_bytes((40, 64, 64)), "head.npy")
    assert tuple(s.x.shape) == (40, 1, 64, 64) and s.key.startswith("upload|head.npy|")
    r = samples.resample_for(s, 28, 32)
    assert tuple(r.x.shape) == (28, 1, 32, 32) and tuple(s.x.shape) == (40, 1, 64, 64)
    assert r.meta["original_frames"] == 40 and r.meta["frame_indices"][-1] == 39
    assert r.key != s.key and r.dataset == s.dataset == "upload: head.npy"
    assert samples.resample_for(s, 40, 64) is s


def _das_strip_tag(at) -> str:
    """The small line under DAS's strip ("trained on X · shipped · k=14" or "untrained · k=14")."""
    md = next(m.value for m in at.markdown if "■ DAS" in m.value)
    return md.split("<small>")[1].split("</small>")[0]


def _das_picks(at) -> list:
    timeline = json.loads(next(c for c in at.get("plotly_chart") if c.key == "cmp_timeline").proto.spec)
    return sorted(next(d["x"] for d in timeline["data"] if d.get("name") == "DAS"))


def test_the_das_picker_and_the_strips_name_the_same_model_on_every_data_set(app):
    """Untrained, then the shipped model, on two data sets and back: the picker, DAS's strip, the caption and
    the picks follow the same choice every time ("untrained" is untrained, a checkpoint is that checkpoint)."""
    at = app.run()
    at.switch_page("pages/compare.py").run()
    shipped = {}
    for name in ("synthetic-video", "synthetic-volumes", "vesselmnist3d", "synthetic-volumes"):
        at.sidebar.selectbox(key="ds_name").set_value(name).run()
        _no_exception(at)
        picker = at.selectbox(key="cmp_das")
        own = [o for o in picker.options if o != picker.options[0] and f"· {name} ·" in o]
        if not own:  # no DAS checkpoint on this data set: untrained, and everything says so
            assert picker.value == picker.options[0] and _das_strip_tag(at).startswith("untrained")
            assert any("**Untrained**" in c.value and "DAS" in c.value for c in at.caption)
            continue
        # a data set with a shipped DAS starts on it, whatever was picked on the data set before
        assert picker.value == own[0], (name, picker.value)
        assert _das_strip_tag(at).startswith(f"trained on {name} · shipped"), _das_strip_tag(at)
        assert any("k=14" in m.value for m in at.metric)
        shipped[name] = _das_picks(at)
        at.selectbox(key="cmp_das").set_value(picker.options[0]).run()  # untrained
        _no_exception(at)
        assert _das_strip_tag(at).startswith("untrained"), _das_strip_tag(at)
        assert [w for w in at.get("select_slider") if w.key == "cmp_ratio"]
        assert any("**Untrained**" in c.value and "DAS" in c.value for c in at.caption)
        # an untrained DAS scores every frame the same: it keeps the first k, not the shipped model's picks
        assert _das_picks(at) == list(range(14)) != shipped[name]
        at.selectbox(key="cmp_das").set_value(own[0]).run()  # and back to the checkpoint
        assert _das_strip_tag(at).startswith(f"trained on {name}") and _das_picks(at) == shipped[name]
    assert set(shipped) == {"synthetic-volumes", "vesselmnist3d"}


def test_a_foreign_model_on_an_upload_names_its_class_not_a_number(app):
    """An upload has no classes of its own: forced with "Show anyway", a Vessel DAS says "vessel" or
    "aneurysm" (its own class names), never "0"."""
    at = app.run()
    at.sidebar.selectbox(key="ds_name").set_value("Upload a file…").run()
    at.sidebar.file_uploader(key="upload_file").upload("head.npy", _npy_bytes()).run()
    at.switch_page("pages/compare.py").run()
    at.toggle(key="cmp_show_all").set_value(True).run()
    vessel = next(o for o in at.selectbox(key="cmp_das").options if "vesselmnist3d" in o)
    at.selectbox(key="cmp_das").set_value(vessel).run()
    _no_exception(at)
    assert _das_strip_tag(at).startswith("trained on vesselmnist3d")
    at.toggle(key="cmp_show_foreign").set_value(True).run()
    chart = json.loads(next(c for c in at.get("plotly_chart") if c.key == "cmp_conf").proto.spec)
    text = dict(zip(chart["data"][0]["y"], chart["data"][0]["text"]))
    assert text["DAS"].split(" (")[0] in ("vessel", "aneurysm"), text


def test_the_live_controls_say_what_they_change_and_the_prior_is_shown(app):
    """Beside tau0 and the heads: how many picks changed here and on how many items of the split (counted
    independently below); DAS's picks against its blank-input picks and its most common set."""
    from explorer import adaptivity, samples

    at = app.run()
    at.switch_page("pages/compare.py").run()
    _no_exception(at)
    assert any("DAS's own picks" in c.value for c in at.caption)  # nothing moved yet: it says so
    at.pills(key="cmp_heads").set_value([0]).run()
    _no_exception(at)
    text = next(c.value for c in at.caption if "picks change** on this sample" in c.value)
    opts = samples.app_datasets()[0]["default_options"]
    ds = samples.open_dataset("synthetic-volumes", "test", opts)
    model = catalogue.load_model(str(REPO / "checkpoints" / "synthetic-volumes-das.pt"))
    change = adaptivity.pick_change(model, ds[0][0], heads=[0])
    share = adaptivity.split_change(model, adaptivity.stack_items(ds, 64), heads=[0])
    assert f"**{change.changed} of 14 picks change**" in text, text
    assert f"**{share:.0%}** of the first 64 test items" in text, text
    assert 0 < share < 1  # h0 alone moves some items' picks, not all
    changed = adaptivity.changed_items(model, adaptivity.stack_items(ds, 64), heads=[0])
    if change.changed == 0:  # the default sample keeps its picks: one click goes to an item where they move
        at.button(key="cmp_go_changed").click().run()
        _no_exception(at)
        assert at.sidebar.number_input(key="ds_index").value == changed[0]
        text = next(c.value for c in at.caption if "picks change** on this sample" in c.value)
        moved = adaptivity.pick_change(model, ds[changed[0]][0], heads=[0]).changed
        assert moved > 0 and f"**{moved} of 14 picks change**" in text, text
        at.sidebar.number_input(key="ds_index").set_value(0).run()

    at.toggle(key="cmp_prior").set_value(True).run()
    _no_exception(at)
    fig = json.loads(next(c for c in at.get("plotly_chart") if c.key == "cmp_prior_fig").proto.spec)
    rows = fig["layout"]["yaxis"]["ticktext"]
    assert rows == ["DAS, this sample", "DAS, blank input", "DAS, most common set"]
    train = adaptivity.stack_items(samples.open_dataset("synthetic-volumes", "train", opts), 128)
    view = adaptivity.prior_view(adaptivity.own_picks(model, ds[0][0]), adaptivity.blank_picks(model, (28, 1, 28, 28)),
                                 *adaptivity.modal_set(model, train))
    cap = next(c.value for c in at.caption if "all-zero" in c.value)
    assert f"**{view.shared_blank}** are also its picks on an all-zero" in cap, cap
    assert f"**{view.shared_modal}** are in the set it picks most often on the first 128" in cap, cap


def _train_one_epoch(at) -> list:
    """Submit the Train page's form with small_cnn for one epoch and wait for the run (the real CLI) to finish."""
    at.selectbox(key="tr_backbone").set_value("small_cnn")
    at.number_input(key="tr_epochs").set_value(1)
    at.button[0].click().run()
    _no_exception(at)
    assert at.success, [e.value for e in at.error]
    deadline = time.time() + 180
    runs = []
    while time.time() < deadline:
        runs = jobs.list_jobs(jobs.RUNS_ROOT)
        if runs and runs[0]["status"].get("state") in jobs.TERMINAL:
            break
        time.sleep(0.5)
    assert runs and runs[0]["status"]["state"] == "finished", runs and runs[0]["status"]
    return runs


def test_your_own_npz_trains_from_the_train_page_and_serves_a_matching_upload(app, tmp_path):
    """An .npz in the MedMNIST layout made here trains from the Train page (the real CLI, 1 epoch, small_cnn);
    its DAS model is then the one Compare offers, and picks, for an uploaded volume."""
    import numpy as np

    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 24), ("val", 8), ("test", 8)):
        y = np.arange(n) % 2
        x = rng.integers(0, 60, (n, 8, 16, 16)).astype(np.uint8)
        x[y == 1, 3:5] += 150  # class 1: two bright slices
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = x, y[:, None]
    npz = tmp_path / "mine.npz"
    np.savez(npz, **arrays)

    at = app.run()
    at.switch_page("pages/train.py").run()
    at.selectbox(key="tr_dataset").set_value("Your own data…")
    at.text_input(key="tr_own_path").input(str(tmp_path / "missing.npz"))
    at.button[0].click().run()
    assert at.error and "does not exist" in at.error[0].value  # one sentence, no run started
    assert not jobs.list_jobs(jobs.RUNS_ROOT)
    at.selectbox(key="tr_dataset").set_value("Your own data…")
    at.text_input(key="tr_own_path").input(str(npz))
    runs = _train_one_epoch(at)
    assert (runs[0]["settings"]["dataset"], runs[0]["settings"]["root"]) == ("npz", str(npz))

    at.switch_page("pages/explore.py").run()
    at.sidebar.selectbox(key="ds_name").set_value("Upload a file…").run()
    at.sidebar.file_uploader(key="upload_file").upload("scan.npy", _npy_bytes((20, 32, 32))).run()
    at.switch_page("pages/compare.py").run()
    _no_exception(at)
    picker = at.selectbox(key="cmp_das")
    assert "DAS · npz · trained here" in picker.value, picker.options  # your model, picked for the upload
    assert _das_strip_tag(at).startswith("trained on npz · trained here")
    assert any("your own data" in c.value for c in at.caption)
    assert any("resampled to T=8" in m.value for m in at.markdown)  # the upload as your model takes it


def test_your_own_folder_of_clips_trains_and_serves_an_uploaded_clip(app, tmp_path):
    """A folder with one subfolder of clips per class trains from the Train page (the real CLI); its DAS model is
    the one Compare picks for an uploaded clip, and it names the folder's classes."""
    from data_fixtures import make_video_folder, write_clip

    names = [f"{c}/{c}_{i}.mp4" for c in ("calm", "busy") for i in range(8)]
    root = make_video_folder(tmp_path / "clips", names, n=12)
    at = app.run()
    at.switch_page("pages/train.py").run()
    at.selectbox(key="tr_dataset").set_value("Your own data…")
    at.text_input(key="tr_own_path").input(str(root))
    runs = _train_one_epoch(at)
    assert runs[0]["settings"]["dataset"] == "video-folder"

    clip = write_clip(tmp_path / "new.mp4", n=20)
    at.switch_page("pages/explore.py").run()
    at.sidebar.selectbox(key="ds_name").set_value("Upload a file…").run()
    at.sidebar.file_uploader(key="upload_file").upload("new.mp4", clip.read_bytes()).run()
    at.switch_page("pages/compare.py").run()
    _no_exception(at)
    assert "DAS · video-folder · trained here" in at.selectbox(key="cmp_das").value
    cap = next(c.value for c in at.caption if "your own data" in c.value)
    assert "busy" in cap and "calm" in cap  # the folder's classes
