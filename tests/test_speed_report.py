"""`python -m das_core speed`: the size specs, and a tiny run that writes every table and target (issue 12)."""

import json

import pytest

from das_core.errors import ConfigError
from das_core.experiments.speed import SpeedConfig, parse_size, run_speed
from das_core.samplers import list_samplers


def test_size_specs():
    assert parse_size("28") == parse_size(28)
    v = parse_size(28)
    assert (v.frames, v.size, v.clinical, v.label) == (28, 28, False, "28^3")
    ct = parse_size("ct:96x192")
    assert (ct.name, ct.frames, ct.size, ct.clinical) == ("ct", 96, 192, True) and "96 x 192^2" in ct.label
    for bad in ("ct:96", "96x192", "0", ":1x2", "ct:0x5"):
        with pytest.raises(ConfigError, match="NAME:TxS|positive"):
            parse_size(bad)
    defaults = [parse_size(s) for s in SpeedConfig().sizes]
    assert [(v.frames, v.size, v.clinical) for v in defaults] == [
        (28, 28, False), (64, 64, False), (96, 192, True), (128, 128, True)]
    assert SpeedConfig().ratios == [0.5, 0.25] and SpeedConfig().clinical_batch_size == 1


def test_tiny_run_writes_every_size_ratio_table_and_target(tmp_path):
    cfg = SpeedConfig(sizes=["6", "us:5x12"], ratios=[0.5, 0.25], batch_size=2, repeats=1, train_steps=1,
                      clinical_repeats=1, clinical_train_steps=1, threads=1, backbone="small_cnn",
                      out_json=str(tmp_path / "speed.json"), out_md=str(tmp_path / "speed.md"))
    report = run_speed(cfg, log=lambda *_: None)
    data = json.loads((tmp_path / "speed.json").read_text())
    assert data["results"] == json.loads(json.dumps(report["results"]))
    got = [(r["num_frames"], r["size"], r["ratio"], r["num_selected"], r["batch_size"], r["clinical"])
           for r in data["results"]]
    assert got == [(6, 6, 0.5, 3, 2, False), (6, 6, 0.25, 2, 2, False),
                   (5, 12, 0.5, 2, 1, True), (5, 12, 0.25, 1, 1, True)]
    for r in data["results"]:
        assert set(r["inference"]) == set(list_samplers()) == set(r["train_step"])
        das = r["inference"]["das"]
        assert das["best_sampler_seconds"] <= das["sampler_seconds"] + 1e-12
        assert das["best_sampler_vs_uniform_pipeline"] == pytest.approx(
            das["best_sampler_seconds"] / r["inference"]["uniform"]["best_seconds_per_batch"])
        t = r["targets"]["das_sampler_vs_uniform_pipeline"]
        assert t["target"] == ("< 0.02" if r["clinical"] else "< 0.05") and isinstance(t["met"], bool)
        assert set(r["targets"]) == {"das_throughput_vs_full", "das_sampler_share", "das_sampler_vs_uniform_pipeline",
                                     "das_vs_adps_sampling_speedup_k14", "das_train_step_vs_uniform"}
        lat = r["study_latency_ms"]
        assert lat["adps"] > 0 and lat["das"] > 0 and lat["adps_vs_das"] == pytest.approx(lat["adps"] / lat["das"])
    env = data["environment"]
    assert "load_average" in env and "load_average_end" in env
    page = (tmp_path / "speed.md").read_text()
    for heading in ("## DAS sampler vs uniform's whole pipeline", "## ADPS latency per study", "## Targets",
                    "## 6 frames of 6x6, ratio 0.5, k = 3, batch 2", "## 5 frames of 12x12 (us, clinical), ratio 0.25"):
        assert heading in page
    assert "< 2.0%" in page and "< 5.0%" in page


def test_the_app_reads_the_report(tmp_path):
    """The app's catalogue turns the report into one row per (size, ratio) and method."""
    from explorer import catalogue

    cfg = SpeedConfig(sizes=["6"], ratios=[0.5, 0.25], batch_size=2, repeats=1, train_steps=1, threads=1,
                      backbone="small_cnn", out_json=str(tmp_path / "speed.json"), out_md=None)
    run_speed(cfg, log=lambda *_: None)
    rows = catalogue.load_speed(tmp_path / "speed.json")
    assert {r["size"] for r in rows} == {"6 x 6^2, k = 3", "6 x 6^2, k = 2"}
    assert len(rows) == 2 * len(list_samplers())


def test_render_only_adds_the_training_and_app_targets(tmp_path):
    """`speed --render-only` writes the page again from the JSON, with the targets measured by the training and
    app benchmarks (train-steps.json, app-speed.json beside the page): each with its target and met / missed."""
    cfg = SpeedConfig(sizes=["6"], ratios=[0.5], batch_size=2, repeats=1, train_steps=1, threads=1,
                      backbone="small_cnn", out_json=str(tmp_path / "speed.json"), out_md=str(tmp_path / "speed.md"))
    run_speed(cfg, log=lambda *_: None)
    first = (tmp_path / "speed.md").read_text()
    assert "Training steps per second and the app" not in first  # nothing beside it yet
    (tmp_path / "train-steps.json").write_text(json.dumps({
        "recipe": "r", "machine": "m", "methods": {"uniform": {"step_ms": 100.0, "steps_per_s": 10.0},
                                                   "das": {"step_ms": 150.0, "steps_per_s": 6.67}},
        "before": {"label": "old", "methods": {"uniform": {"step_ms": 250.0, "steps_per_s": 4.0},
                                               "das": {"step_ms": 240.0, "steps_per_s": 4.17}}}}))
    metric = {"what": "Explore cold", "rounds": [2.0, 6.0, 2.5], "median": 2.5, "max": 6.0, "target_s": 5.0,
              "met": True, "met_every_round": False}
    (tmp_path / "app-speed.json").write_text(json.dumps({
        "command": "c", "created": "t", "machine": "m", "metrics": {"explore_first_paint_cold_s": metric},
        "upload_six_methods": {"study": "s", "threads": 1, "seconds": [0.5, 0.2], "median_after_first": 0.2,
                               "target_s": 3.0, "met": True}}))
    run_speed(SpeedConfig(render_only=True, out_json=cfg.out_json, out_md=cfg.out_md), log=lambda *_: None)
    page = (tmp_path / "speed.md").read_text()
    assert page.startswith(first.split("## Training")[0][:200])
    assert "| uniform | 4.00 | 10.00 | 2.50x | yes |" in page and "| das | 4.17 | 6.67 | 1.60x | **no** |" in page
    assert "| one step of each (the grid's mix) | | | 1.96x | **no** |" in page
    assert "| Explore cold | 2.00, 6.00, 2.50 | 2.50 | < 5 s | yes | **no** |" in page
    assert "all six shipped models" in page
    with pytest.raises(ConfigError, match="run `python -m das_core speed` first"):
        run_speed(SpeedConfig(render_only=True, out_json=str(tmp_path / "none.json"), out_md=cfg.out_md))
