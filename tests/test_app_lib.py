"""The app's helpers (no browser, no streamlit): explorer.samples, .methods, .catalogue, .figures, .jobs."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from das_core import TrainConfig, list_samplers
from das_core.errors import ConfigError, DataError
from das_core.experiments.results import aggregate, mean_std_text
from das_core.runs import RunPaths
from das_core.samplers import SAMPLERS
from explorer import catalogue, figures, jobs, lineup, methods, samples

REPO = Path(__file__).resolve().parents[1]

T, K = 16, 8


def _x(seed=0, T=T):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(T, 1, 20, 20, generator=g)


@pytest.fixture(scope="module")
def models():
    return {m: lineup.ModelChoice(m, methods.untrained_model(m, T, K, frame_size=20)) for m in list_samplers()}


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout


def test_das_core_never_imports_streamlit():
    """Every das_core module imports without streamlit or plotly (everything in the library runs without a browser)."""
    code = ("import importlib, pkgutil, sys, das_core\n"
            "names = [m.name for m in pkgutil.walk_packages(das_core.__path__, 'das_core.')"
            " if not m.name.endswith('__main__')]\n"
            "for name in names:\n"
            "    importlib.import_module(name)\n"
            "print(len(names), 'streamlit' in sys.modules, 'plotly' in sys.modules)")
    count, streamlit, plotly = _python(code).split()
    assert int(count) >= 20  # the walk reached the subpackages (samplers, data, engine, experiments)
    assert (streamlit, plotly) == ("False", "False")


def test_job_launcher_starts_without_torch():
    code = "import sys, explorer.launcher, explorer.jobs; print('torch' in sys.modules)"
    assert _python(code).strip() == "False"


def test_one_colour_per_method():
    assert set(figures.METHOD_COLORS) == set(SAMPLERS)
    assert len(set(figures.METHOD_COLORS.values())) == len(figures.METHOD_COLORS)
    assert figures.method_order() == list_samplers()
    assert [figures.method_label(m) for m in list_samplers()] == [
        "Full sequence", "Uniform", "Random", "DPS", "ADPS", "DAS", "Central", "Edge energy", "PGA-DPS"]
    assert figures.method_label("not-registered") == "not-registered"


def test_images():
    x = _x()
    img = figures.to_uint8(x[0])
    assert img.dtype == np.uint8 and img.shape == (20, 20)
    assert figures.to_uint8(np.full((4, 4), 0.5), window=(0.5, 0.2))[0, 0] in (127, 128)
    assert figures.to_uint8(np.full((4, 4), 0.9), window=(0.5, 0.2))[0, 0] == 255
    s = figures.strip(x, [1, 3, 5], "das", tile=40)
    assert s.shape[0] == 48 and s.shape[2] == 3
    assert figures.cine_mp4(x, fps=10)[4:8] == b"ftyp"  # an MP4 the browser plays with pause and seek
    assert figures.montage([x, x, x], ncols=2).ndim == 3


def test_compare_methods_and_figures(models):
    x = _x()
    res = methods.compare_methods(x, models, methods.LiveControls(tau0=0.5))
    assert list(res) == list_samplers()
    assert len(res["full"].indices) == T and all(len(r.indices) == K for m, r in res.items() if m != "full")
    das = res["das"]
    assert das.head_scores.shape == (4, T) and das.soft.shape == (K, T) and das.hard.shape == (K, T)
    assert np.allclose(das.soft.sum(-1), 1, atol=1e-4) and das.probs.shape == (2,)
    figs = [figures.fig_timeline({m: r.indices for m, r in res.items()}, T, [3]),
            figures.fig_attention(das.head_scores, [True, False, True, True], das.indices),
            figures.fig_matrix(das.soft, "soft"), figures.fig_dps_logits(res["dps"].scores, res["dps"].indices),
            figures.fig_adps_steps(res["adps"].indices, res["adps"].pick_rank, T),
            figures.fig_confidence([{"method": m, "predicted": "a", "confidence": r.confidence, "correct": True}
                                for m, r in res.items()], "a"),
            figures.fig_feature_curves(samples.feature_curves(x), current=2, informative=[3]),
            figures.fig_orthogonal(x, 2, 5, 6, window=(0.5, 1.0)),
            figures.fig_training_curves([{"epoch": 0, "train_loss": 0.7, "val_loss": 0.6, "val_auc": 0.5}])]
    for f in figs:
        assert f.layout.xaxis.title.text, f.layout.title.text  # every figure labels its x axis


def test_tau0_changes_soft_rows_not_deterministic_picks(models):
    model = methods.untrained_model("das", T, K, frame_size=20)
    torch.manual_seed(0)  # an untrained DAS scores every frame the same: give its score layer some weights
    torch.nn.init.normal_(model.sampler.head_skip.weight)
    x = _x(1)
    lo = methods.run_on_sample(model, x, controls=methods.LiveControls(tau0=0.05), classify=False)
    hi = methods.run_on_sample(model, x, controls=methods.LiveControls(tau0=5.0), classify=False)
    assert lo.indices == hi.indices  # argmax does not depend on tau
    assert not np.allclose(lo.soft, hi.soft)
    assert methods.soft_entropy(lo.soft) < methods.soft_entropy(hi.soft)
    sw = methods.tau_sweep(model, x, taus=[0.01, 10.0], draws=6)
    assert sw["entropy"][0] < sw["entropy"][1]
    assert sw["changed"][0] <= sw["changed"][1] and sw["changed"][1] > 0


def test_heads_toggle(models):
    model = models["das"].model
    r = methods.run_on_sample(model, _x(2), controls=methods.LiveControls(heads=(0,)))
    assert np.all(r.head_scores[1:] == 0)


def test_results_aggregation(tmp_path):
    assert catalogue.load_benchmark(tmp_path / "none.csv") == (None, None)
    p = tmp_path / "r.csv"
    p.write_text("dataset,method,ratio,k,T,seed,auc,balanced_accuracy,accuracy,seconds,run\n"
                 "d,das,0.5,14,28,0,0.8,0.7,0.7,10,a\n"
                 "d,das,0.5,14,28,1,0.9,0.8,0.8,11,b\n"
                 "d,full,1.0,28,28,0,0.85,0.75,0.75,12,c\n")
    rows, agg = catalogue.load_benchmark(p)
    assert len(rows) == 3
    das = next(r for r in agg if r["method"] == "das")
    assert das["n"] == 2 and das["auc_mean"] == pytest.approx(0.85)
    assert mean_std_text(das["auc_mean"], das["auc_std"]).startswith("0.850 ± 0.07")
    assert next(r for r in catalogue.summary_rows(agg) if r["method"] == "das")["auc"].startswith("0.850 ± 0.07")
    table = catalogue.results_table(agg, 0.5, "auc")
    assert list(table[0]) == ["data set", "Full sequence", "DAS"]  # one row per data set, the names every page shows
    assert table[0]["DAS"].startswith("0.850 ± 0.07")
    vessel = aggregate([{"dataset": "vesselmnist3d", "method": "das", "ratio": 0.5, "auc": 0.75}])
    assert catalogue.results_table(vessel, 0.5, "auc")[0]["paper DAS / ADPS"] == "0.752 / 0.739"
    fig = figures.fig_metric_vs_ratio(agg, "auc", "d")
    assert len(fig.data) == 1 and len(fig.data[0].x) == 2  # one ratio: a bar per method, full and DAS


def test_speed_formats(tmp_path):
    assert catalogue.load_speed(tmp_path / "x.json") is None
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"das": {"ms": 1.0}, "full": {"ms": 2.0}}))
    rows = catalogue.load_speed(p)
    assert {r["method"] for r in rows} == {"das", "full"}
    assert len(figures.fig_speed(rows, "ms", "ms").data[0].y) == 2
    p.write_text("{broken")
    with pytest.raises(DataError):
        catalogue.load_speed(p)


def test_list_checkpoints(tmp_path):
    ship = tmp_path / "checkpoints"
    ship.mkdir()
    (ship / "a.pt").write_bytes(b"x")
    (ship / "manifest.json").write_text(json.dumps({"checkpoints": [
        {"file": "a.pt", "dataset": "d", "method": "das", "k": 14, "T": 28, "metrics": {"test_auc": 0.9}},
        {"file": "missing.pt", "dataset": "d", "method": "dps"}]}))
    run = tmp_path / "runs" / "app" / "r1"
    run.mkdir(parents=True)
    (run / "best.pt").write_bytes(b"x")
    (run / "config.json").write_text(json.dumps({"dataset": "d", "method": "dps"}))
    (run / "status.json").write_text(json.dumps({"state": "finished"}))
    unfinished = tmp_path / "runs" / "app" / "r2"
    unfinished.mkdir()
    (unfinished / "best.pt").write_bytes(b"x")
    (unfinished / "status.json").write_text(json.dumps({"state": "running"}))
    entries = catalogue.list_checkpoints(ship, [tmp_path / "runs", tmp_path / "runs" / "app"])
    assert [(e.method, e.origin) for e in entries] == [("das", "shipped"), ("dps", "trained here")]
    assert "AUC 0.900" in entries[0].label


def test_corrupt_upload_is_one_data_error():
    with pytest.raises(DataError) as err:
        samples.load_upload(b"definitely not a volume", "broken.npy")
    assert "broken.npy" in str(err.value) or "npy" in str(err.value)


# ----------------------------------------------------------------------------- jobs

FAKE = """
import json, sys, time, pathlib, os
out = pathlib.Path(sys.argv[sys.argv.index('--out') + 1])
epochs = int(sys.argv[sys.argv.index('--epochs') + 1])
fail = '--fail' in sys.argv
t_start = time.time()
(out / 'config.json').write_text(json.dumps({'dataset': 'd', 'method': 'das'}))
for e in range(epochs):
    (out / 'status.json').write_text(json.dumps({'state': 'running', 'pid': os.getpid(), 'epoch': e, 'epochs': epochs}))
    time.sleep(float(os.environ.get('FAKE_EPOCH_S', '0.4')))
    with open(out / 'metrics.jsonl', 'a') as fh:
        fh.write(json.dumps({'epoch': e, 'train_loss': 1.0 / (e + 1), 'val_auc': 0.5}) + '\\n')
if fail:
    print('ValueError: something broke', file=sys.stderr)
    sys.exit(3)
(out / 'summary.json').write_text(json.dumps({'auc': 0.7, 'start': t_start, 'end': time.time()}))
(out / 'status.json').write_text(json.dumps({'state': 'finished', 'epoch': epochs, 'epochs': epochs}))
"""


def _fake_cmd(tmp_path, epochs, *extra):
    script = tmp_path / "fake_cli.py"
    script.write_text(FAKE)
    return [sys.executable, str(script), "--epochs", str(epochs), *extra, "--out", "{out}"]


def _wait(run, states=jobs.TERMINAL, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = jobs.run_state(run)
        if st.get("state") in states:
            return st
        time.sleep(0.1)
    raise AssertionError(f"{run} stuck in {jobs.run_state(run)}")


def test_start_run_writes_the_config_the_cli_reads(tmp_path):
    config = TrainConfig(dataset="synthetic-volumes", method="uniform", ratio=0.5, epochs=1, tau0=2.0, heads=4,
                         max_train_batches=2)
    run = jobs.start_run(config, tmp_path / "runs", command=_fake_cmd(tmp_path, 1))
    paths = RunPaths.of(run)
    saved = json.loads(paths.train_config.read_text())
    assert saved == {**dataclasses.asdict(config), "out": str(run), "progress": False}
    assert TrainConfig.from_dict(saved) == dataclasses.replace(config, out=str(run), progress=False)
    assert json.loads(paths.job.read_text())["settings"] == saved
    cmd = jobs.train_command(paths.train_config)
    assert cmd[1:] == ["-m", "das_core", "train", "--config", str(paths.train_config)]
    assert _wait(run)["state"] == "finished"
    with pytest.raises(ConfigError):
        jobs.start_run(TrainConfig(dataset="d", method="nope"), tmp_path / "runs")


def test_two_runs_started_at_once_are_queued_and_both_finish(tmp_path):
    root = tmp_path / "runs"
    a = jobs.start_run(TrainConfig(method="das", epochs=3), root, command=_fake_cmd(tmp_path, 3))
    b = jobs.start_run(TrainConfig(method="dps", epochs=2), root, command=_fake_cmd(tmp_path, 2))
    assert a != b
    assert _wait(a)["state"] == "finished"
    assert _wait(b)["state"] == "finished"
    sa, sb = (json.loads((r / "summary.json").read_text()) for r in (a, b))
    first, second = sorted((sa, sb), key=lambda s: s["start"])
    assert second["start"] >= first["end"], "one slot: the second run starts after the first ends"
    runs = jobs.list_jobs(root)
    assert {r["name"] for r in runs} == {a.name, b.name}
    assert all(len(jobs.read_metrics(r["dir"])) == r["settings"]["epochs"] for r in runs)


def test_stop_and_failure(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    monkeypatch.setenv("FAKE_EPOCH_S", "5")
    a = jobs.start_run(TrainConfig(method="das", epochs=50), root, command=_fake_cmd(tmp_path, 50))
    b = jobs.start_run(TrainConfig(method="das", epochs=50), root, command=_fake_cmd(tmp_path, 50))
    deadline = time.time() + 60  # either launcher may win the one slot
    while time.time() < deadline and "running" not in (jobs.run_state(a).get("state"), jobs.run_state(b).get("state")):
        time.sleep(0.1)
    long, queued = (a, b) if jobs.run_state(a).get("state") == "running" else (b, a)
    assert jobs.run_state(long)["state"] == "running"
    assert jobs.run_state(queued)["state"] == "queued"
    jobs.stop_run(queued)
    assert _wait(queued)["state"] == "stopped"
    jobs.stop_run(long)
    assert _wait(long)["state"] == "stopped"
    monkeypatch.setenv("FAKE_EPOCH_S", "0")
    bad = jobs.start_run(TrainConfig(method="das", epochs=1), root, command=_fake_cmd(tmp_path, 1, "--fail"))
    st = _wait(bad)
    assert st["state"] == "failed" and "something broke" in st["message"]


def test_aggregate_groups_seeds_even_when_per_run_columns_differ():
    rows = [{"dataset": "d", "method": "das", "ratio": 0.5, "k": 14.0, "T": 28.0, "seed": float(s),
             "auc": a, "hit_rate": h, "seconds": 10.0 + s, "run": f"runs/x{s}"}
            for s, (a, h) in enumerate([(0.9, 1.0), (0.8, 0.0), (0.7, 0.5)])]
    (agg,) = aggregate(rows)
    assert agg["n"] == 3
    assert agg["auc_mean"] == pytest.approx(0.8) and agg["auc_std"] == pytest.approx(0.1)


def test_result_sets_lists_the_main_grid_first_then_sub_grids(tmp_path):
    assert catalogue.result_sets(tmp_path) == []
    (tmp_path / "results" / "small_cnn").mkdir(parents=True)
    (tmp_path / "results" / "empty").mkdir()
    (tmp_path / "results" / "small_cnn" / "results.csv").write_text("dataset,backbone,method\nd,small_cnn,das\n")
    (tmp_path / "results" / "results.csv").write_text("dataset,backbone,method\nd,mobilenet_v3_small,das\n")
    (tmp_path / "results" / "mnv3_warmup").mkdir()
    (tmp_path / "results" / "mnv3_warmup" / "results.csv").write_text("dataset,backbone,method\nd,mobilenet_v3_small,das\n")
    (tmp_path / "results.md").write_text("# main\n")
    sets = catalogue.result_sets(tmp_path)
    assert [s.label for s in sets] == ["mobilenet_v3_small (main grid)", "mobilenet_v3_small (mnv3 warmup)", "small_cnn"]
    assert sets[0].page == tmp_path / "results.md" and sets[2].page is None  # no results-small_cnn.md yet
    assert not any(s.superseded or s.status for s in sets)
    (tmp_path / "results" / "small_cnn" / "status.txt").write_text("Superseded: kept\nfor the record.\n")
    (tmp_path / "results" / "status.txt").write_text("Read with care.\n")
    sets = catalogue.result_sets(tmp_path)
    assert sets[2].superseded and sets[2].status == "Superseded: kept for the record."
    assert not sets[0].superseded and sets[0].status == "Read with care."


def test_the_results_page_marks_a_superseded_grid(app):
    at = app.run()
    at.switch_page("pages/results.py").run()
    assert not at.exception
    radio = next(r for r in at.radio if r.key == "res_set")
    labels = [o for o in radio.options]
    assert any(o.endswith("· superseded") and "small_cnn" in o for o in labels), labels
    assert any(o.endswith("· superseded") and "medmnist equal" in o for o in labels), labels
    # the main grid, shown first, is current: its reading note is a caption, not a warning
    assert not at.warning and any("read main_10_seeds" in c.value for c in at.caption)


def test_a_stopped_run_is_listed_and_can_be_resumed(tmp_path, monkeypatch):
    """A stopped run's best checkpoint reaches Compare; Resume queues it again with resume=True."""
    import dataclasses

    import das_core
    from das_core.checkpoints import save_checkpoint
    from das_core.runs import RunPaths, read_json, write_json, write_status

    run = tmp_path / "runs" / "20260101-000000-000000-synthetic-volumes-das"
    paths = RunPaths.of(run)
    model = das_core.SubsampledClassifier(das_core.make_sampler("das", 8, 4), "small_cnn", 2, 1)
    save_checkpoint(paths.best, model, {"dataset": "synthetic-volumes"})
    config = das_core.TrainConfig(dataset="synthetic-volumes", method="das", out=str(run))
    write_json(paths.config, dataclasses.asdict(config))
    write_json(paths.train_config, dataclasses.asdict(config))
    write_json(paths.job, {"settings": dataclasses.asdict(config), "command": ["true"]})
    write_status(run, "stopped", epoch=2, epochs=5, message="stopped by the user")
    (run / "stop").touch()
    entries = catalogue.list_checkpoints(tmp_path / "none", tmp_path / "runs")
    assert [e.origin for e in entries] == ["stopped at epoch 2"] and entries[0].dataset == "synthetic-volumes"
    spawned = []
    monkeypatch.setattr(jobs, "_spawn_launcher", lambda p: spawned.append(p.root) or 0)
    jobs.resume_run(run)
    assert spawned == [run] and not (run / "stop").exists()
    assert read_json(paths.train_config)["resume"] is True and read_json(paths.status)["state"] == "queued"
    with pytest.raises(ConfigError, match="Only a stopped or failed run"):
        jobs.resume_run(run)


def test_the_speed_report_is_read_as_rows():
    """docs/speed.json (what `python -m das_core speed` writes) becomes one row per size and method."""
    rows = catalogue.load_speed(Path(__file__).resolve().parents[1] / "docs" / "speed.json")
    sizes = {r["size"] for r in rows}  # 4 sizes (28^3, 64^3, CT, ultrasound) x 2 ratios (0.5, 0.25)
    # the shipped report measured the six original methods (central, edge-energy, pgadps came later)
    measured = {r["method"] for r in rows}
    assert {"full", "uniform", "random", "dps", "adps", "das"} <= measured <= set(list_samplers()) and len(sizes) == 8
    das = next(r for r in rows if r["method"] == "das" and r["size"].startswith("28 "))
    assert das["items per second"] > 0 and 0 < das["sampler share %"] < 100 and das["train step ms"] > 0


def test_single_ratio_data_set_is_drawn_as_bars():
    agg = aggregate([{"dataset": "pocus-lung", "method": m, "ratio": r, "auc": a}
                     for m, r, a in (("full", 1.0, 0.7), ("uniform", 0.5, 0.68), ("das", 0.5, 0.69))])
    fig = figures.fig_metric_vs_ratio(agg, "auc", "pocus-lung")
    assert fig.data[0].type == "bar" and list(fig.data[0].x) == ["Full sequence (all frames)", "Uniform", "DAS"]


def test_orthogonal_views_draw_the_crosshair_upright_with_the_slice_spacing(tmp_path):
    buf = io.BytesIO()
    np.savez(buf, volume=np.random.default_rng(0).random((10, 32, 32)).astype("float32"),
             spacing=np.array([3.0, 1.0, 1.0]))
    s = samples.load_upload(buf.getvalue(), "ct.npz", num_frames=10, size=32)
    assert samples.display_aspect(s) == pytest.approx(3.0)  # 3 mm slices, 1 mm pixels
    fig = figures.fig_orthogonal(s.x, 4, 10, 20, aspect=samples.display_aspect(s))
    assert len(fig.layout.shapes) == 6  # a vertical and a horizontal crosshair line in each view
    assert fig.layout.yaxis.autorange == "reversed" and fig.layout.yaxis2.autorange is True  # slice 0 at the bottom
    assert fig.layout.yaxis2.scaleratio == pytest.approx(3.0)


@pytest.mark.parametrize("k, T, kw", [(3, 5, dict(zmax=1.0, colorscale="Oranges", frame_word="slice")),
                                      (20, 40, {}), (14, 28, dict(colorscale="Greys"))])
def test_fig_matrix_equals_validated_construction(k, T, kw):
    """fig_matrix skips plotly's validation (Compare rebuilds it on every tau0 step): what reaches the browser
    must equal the validated construction, property for property."""
    import plotly.graph_objects as go
    import plotly.io as pio

    a = np.random.default_rng(k).random((k, T))
    rows = [f"row {j}" for j in range(k)]
    word = kw.get("frame_word", "frame")
    ref = go.Figure(go.Heatmap(z=a, x=list(range(T)), y=rows, colorscale=kw.get("colorscale", "Blues"), zmin=0,
                               zmax=kw.get("zmax", max(1e-9, float(a.max()))),
                               colorbar=dict(title="weight", thickness=12),
                               hovertemplate="%{y}, " + word + " %{x}: %{z:.3f}<extra></extra>"))
    ref.update_xaxes(title_text=f"{word} index t")
    ref.update_yaxes(title_text="row j (picked frame)", autorange="reversed", tickvals=rows if k <= 16 else None)
    ref = figures._layout(ref, "title", height=min(520, 110 + 16 * k), margin=dict(l=90, r=20, t=40, b=45))
    fast = figures.fig_matrix(a, "title", rows, **kw)
    assert json.loads(pio.to_json(fast, validate=False)) == json.loads(pio.to_json(ref, validate=False))


def test_trusted_figures_equal_their_validated_construction():
    """The figures Compare rebuilds on a control change skip plotly's validation (`figures._trusted_figure`):
    each must equal what the validated construction of the same spec sends, property for property (a typo in
    a property name, a value plotly would coerce, would show up here)."""
    import plotly.graph_objects as go
    import plotly.io as pio

    T = 12
    picks = {m: list(range(0, T, 3)) for m in list_samplers()}
    heads = np.random.default_rng(0).random((4, T))
    rows = [{"method": m, "predicted": "a", "confidence": 0.6, "correct": ok}
            for m, ok in zip(picks, [True, False, None, True, True, False])]
    built = [figures.fig_timeline(picks, T, [2, 3], "slice"), figures.fig_timeline(picks, T),
             figures.fig_attention(heads, [True, False, True, True], picks["das"], "slice", scale=(0.0, 1.0)),
             figures.fig_attention(heads), figures.fig_confidence(rows, "a"), figures.fig_confidence(rows, None),
             figures.fig_matrix(heads, "m", colorscale="Greys")]
    for fig in built:
        validated = go.Figure(fig.to_dict())
        assert json.loads(pio.to_json(fig, validate=False)) == json.loads(pio.to_json(validated, validate=False))


def test_serve_preloads_then_runs_streamlit(monkeypatch):
    """`python -m explorer.serve ARGS` = `streamlit run app.py ARGS`, with the app's imports preloaded in a
    thread; a module that fails to import is skipped (the page reports it)."""
    from explorer import serve

    took = serve.preload(["json", "no_such_module_for_das_tests"])
    assert list(took) == ["json"]
    started, ran = [], []
    monkeypatch.setattr(serve.threading, "Thread", lambda target, **kw: type("T", (), {
        "start": lambda self: started.append(target)})())
    import streamlit.web.cli as cli

    monkeypatch.setattr(cli, "main", lambda: ran.append(list(sys.argv)) or 0)
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # serve.main sets it for streamlit; restored afterwards
    monkeypatch.setattr(serve, "redact_session_ids", lambda: None)  # (tested in test_network.py)
    with pytest.raises(SystemExit) as stop:
        serve.main(["--server.port", "9999"])
    assert stop.value.code == 0 and started == [serve._preload_when_serving]
    assert ran == [["streamlit", "run", str(serve.ROOT / "app.py"), "--server.port", "9999", "--server.address",
                    "127.0.0.1"]]
    with pytest.raises(SystemExit) as stop:  # another address: one sentence, exit 2, Streamlit never started
        serve.main(["--server.address", "0.0.0.0"])
    assert stop.value.code == 2 and len(ran) == 1
    assert "torch" in serve.PRELOAD and "pages._common" not in serve.PRELOAD
    ui = [m for m in serve.PRELOAD if m.startswith("pages.ui")]  # every helper module, the package first
    assert ui == ["pages.ui", "pages.ui.guards", "pages.ui.keys", "pages.ui.session", "pages.ui.caches",
                  "pages.ui.captions", "pages.ui.data_picker", "pages.ui.upload", "pages.ui.hu_window", "pages.ui.timing"]
    assert sorted(ui[1:]) == sorted(f"pages.ui.{p.stem}" for p in (serve.ROOT / "pages" / "ui").glob("[!_]*.py"))


def test_app_threads(monkeypatch):
    monkeypatch.delenv("DAS_APP_THREADS", raising=False)
    assert methods.app_threads(2) == 1 and methods.app_threads(1) == 1 and methods.app_threads(16) == 8
    monkeypatch.setenv("DAS_APP_THREADS", "3")
    assert methods.app_threads(2) == 3
    monkeypatch.setenv("DAS_APP_THREADS", "zero")
    assert methods.app_threads(8) == 4


def test_a_nifti_upload_keeps_its_proportions_and_gets_its_markers(tmp_path):
    """A NIfTI stored [X, Y, Z] with 2.5 mm slices of 0.8 mm pixels: the coronal/sagittal views are drawn at
    2.5 / 0.8 (not stretched by reading the stored shape as [T, H, W]), with R/L, A/P and S/I at the edges."""
    nib = pytest.importorskip("nibabel")
    vol = np.random.default_rng(0).random((48, 40, 20)).astype(np.float32)
    nib.save(nib.Nifti1Image(vol, np.diag([-0.8, -0.8, 2.5, 1.0])), str(tmp_path / "brain.nii.gz"))
    s = samples.load_upload((tmp_path / "brain.nii.gz").read_bytes(), "brain.nii.gz")
    assert tuple(s.x.shape) == (20, 1, 40, 48)
    assert samples.display_aspect(s) == pytest.approx(2.5 / 0.8)
    fig = figures.fig_orthogonal(s.x, 10, 20, 24, aspect=samples.display_aspect(s),
                                 labels=s.meta["orientation_labels"])
    marks = sorted(a.text for a in fig.layout.annotations if a.text.startswith("<b>"))
    assert marks == sorted(f"<b>{c}</b>" for c in "RLAP" + "RLSI" + "APSI")
    assert fig.layout.yaxis2.scaleratio == pytest.approx(2.5 / 0.8)


def test_one_cine_rate_rule_for_explore_and_compare():
    clip = samples.SampleData(x=torch.zeros(16, 1, 8, 8), y=None, classes=None, meta={"fps": 20, "original_frames": 64},
                              dataset="d", kind="video", key="k")
    assert samples.video_fps(clip) == pytest.approx(5.0)  # 16 of 64 frames kept: a quarter of the rate
    assert samples.video_fps(clip, 2.0) == pytest.approx(10.0)
    assert samples.video_fps(dataclasses.replace(clip, meta={"fps": 240})) == samples.MAX_CINE_RATE
    volume = dataclasses.replace(clip, meta={}, kind="volume")
    assert samples.video_fps(volume) is None and samples.DEFAULT_CINE_RATE in samples.CINE_RATES
