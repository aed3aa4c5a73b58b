"""CLI: a 1-epoch run on tiny synthetic data, then `evaluate` reloads the checkpoint to the same metrics."""

import json

import pytest

from das_core import cli

TINY = ["--dataset", "synthetic-volumes", "--frames", "8", "--size", "16", "--num-samples", "16", "--moving"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    rc = cli.main(["train", *TINY, "--method", "das", "--epochs", "1", "--backbone", "small_cnn", "--batch-size", "8",
                   "--out", str(out), "--no-progress", "--device", "cpu"])
    assert rc == 0
    return out


def test_train_writes_run_folder(run_dir):
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 1
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("balanced_accuracy", "auc", "accuracy"):
        assert key in summary
    assert summary["config"]["dataset_options"] == {"num_frames": 8, "size": 16, "moving": True, "num_samples": 16}
    assert (run_dir / "best.pt").is_file() and (run_dir / "last.pt").is_file()


def test_evaluate_reloads_to_the_same_metrics(run_dir, capsys):
    summary = json.loads((run_dir / "summary.json").read_text())
    capsys.readouterr()
    assert cli.main(["evaluate", "--checkpoint", str(run_dir / "best.pt"), "--json", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["confusion_matrix"] == summary["confusion_matrix"]
    for key in ("balanced_accuracy", "auc", "accuracy"):
        assert result[key] == (pytest.approx(summary[key]) if summary[key] is not None else None)
    assert cli.main(["evaluate", "--checkpoint", str(run_dir / "best.pt"), "--device", "cpu"]) == 0
    assert "balanced_accuracy" in capsys.readouterr().out
    # bf16 autocast: the same items, metrics close to fp32's (the picks are float32 either way)
    assert cli.main(["evaluate", "--checkpoint", str(run_dir / "best.pt"), "--json", "--device", "cpu",
                     "--precision", "bf16"]) == 0
    mixed = json.loads(capsys.readouterr().out)
    assert mixed["n"] == result["n"] and abs(mixed["accuracy"] - result["accuracy"]) <= 0.25
    assert cli.main(["evaluate", "--checkpoint", str(run_dir / "best.pt"), "--device", "cpu",
                     "--precision", "fp16"]) == 2
    assert "fp16 needs a CUDA device" in capsys.readouterr().err


def test_user_errors_exit_2_without_traceback(tmp_path, capsys):
    assert cli.main(["evaluate", "--checkpoint", str(tmp_path / "missing.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    cfg = tmp_path / "cfg.json"  # a config file's data set is checked by the registry: one sentence, exit 2
    cfg.write_text('{"dataset": "no-such-set"}')
    assert cli.main(["train", "--config", str(cfg), "--epochs", "1", "--out", str(tmp_path / "r"),
                     "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no-such-set" in err and "synthetic-volumes" in err
    with pytest.raises(SystemExit) as e:  # a --dataset flag is one of the registry's names (argparse's choices)
        cli.main(["train", "--dataset", "no-such-set", "--epochs", "1", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "invalid choice: 'no-such-set'" in err and "Traceback" not in err


def test_evaluate_refuses_mismatched_data(run_dir, capsys):
    rc = cli.main(["evaluate", "--checkpoint", str(run_dir / "best.pt"), "--dataset", "synthetic-volumes",
                   "--frames", "12", "--size", "16", "--num-samples", "4"])
    assert rc == 2
    assert "choose a matching checkpoint or data set" in capsys.readouterr().err


@pytest.mark.parametrize("cmd", ["train", "evaluate", "bench", "speed", "checkpoints"])
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([cmd, "--help"])
    assert exc.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_bench_fold_grid_gives_one_run_folder_per_fold():
    from das_core.experiments.bench import BenchConfig, _grid, run_folder

    cfg = BenchConfig(datasets=["pocus-lung"], methods=["uniform", "das"], seeds=[0], folds=3)
    cells = list(_grid(cfg))
    assert len(cells) == 2 * 3
    assert {c[2]["fold"] for c in cells} == {0, 1, 2} and all(c[2]["num_folds"] == 3 for c in cells)
    folders = {run_folder(cfg, c[3], c[4], c[5], c[6], c[7]) for c in cells}
    assert len(folders) == 6 and all(str(f).endswith(("-f0", "-f1", "-f2")) for f in folders)
    assert all(c[7] is None for c in _grid(BenchConfig(datasets=["synthetic-volumes"], methods=["das"], seeds=[0])))


def test_bench_writes_tables_with_probes_and_resumes(tmp_path, monkeypatch):
    """A tiny grid end to end: CSV + Markdown + page with the hit rate and the picks-only probe; a rerun skips."""
    import csv

    from das_core.experiments import executor

    args = ["bench", "--datasets", "synthetic-volumes:moving", "--methods", "uniform", "das", "--seeds", "0",
            "--epochs", "1", "--min-epochs", "1", "--backbone", "small_cnn", "--frames", "8", "--size", "16",
            "--data-option", 'num_samples={"train": 48, "val": 16, "test": 24}', "--device", "cpu",
            "--runs-dir", str(tmp_path / "runs"), "--out-dir", str(tmp_path / "out"),
            "--results-md", str(tmp_path / "results.md")]
    assert cli.main(args) == 0
    rows = list(csv.DictReader(open(tmp_path / "out" / "results.csv")))
    assert {r["method"] for r in rows} == {"uniform", "das"} and all(r["backbone"] == "small_cnn" for r in rows)
    das = next(r for r in rows if r["method"] == "das")
    uniform = next(r for r in rows if r["method"] == "uniform")
    assert 0.0 <= float(das["hit_rate"]) <= 1.0 and 0.0 <= float(das["picks_auc"]) <= 1.0
    assert uniform["picks_auc"] == ""  # static picks: not probed
    assert all(0.0 <= float(r["val_auc"]) <= 1.0 for r in rows)  # the best epoch's, so committed CSVs can choose baselines
    assert uniform["distinct_picks"] == "1" and int(das["distinct_picks"]) >= 1
    assert 1.0 <= float(das["informative_rank"]) <= 8.0 and uniform["informative_rank"] == ""  # uniform has no scores
    page = (tmp_path / "results.md").read_text()
    assert "picks-only AUC" in page and "distinct pick sets" in page and "out/results.csv" in page
    calls = []
    monkeypatch.setattr(executor, "fit", lambda *a, **k: calls.append(a))
    assert cli.main(args) == 0 and calls == []  # every cell finished: nothing re-trained


def test_bench_workers_train_runs_in_parallel_processes_and_match_one_worker(tmp_path):
    """--workers 2: the same finished runs and metrics as one worker (same seeds, one thread each), and a
    rerun with workers skips them."""
    import csv

    def grid(folder, workers):
        return ["bench", "--datasets", "synthetic-volumes:fixed", "--methods", "uniform", "das", "--seeds", "0",
                "--epochs", "1", "--min-epochs", "1", "--backbone", "small_cnn", "--frames", "8", "--size", "16",
                "--data-option", 'num_samples={"train": 32, "val": 16, "test": 16}', "--device", "cpu",
                "--threads", "1", "--workers", str(workers), "--runs-dir", str(tmp_path / folder / "runs"),
                "--out-dir", str(tmp_path / folder / "out"), "--results-md", str(tmp_path / folder / "results.md")]

    def rows(folder):
        got = list(csv.DictReader(open(tmp_path / folder / "out" / "results.csv")))
        return {r["method"]: (r["auc"], r["balanced_accuracy"], r["hit_rate"]) for r in got}

    assert cli.main(grid("one", 1)) == 0 and cli.main(grid("two", 2)) == 0
    assert rows("two") == rows("one") and set(rows("two")) == {"uniform", "das"}
    summaries = sorted((tmp_path / "two" / "runs").glob("*/*/summary.json"))
    stamps = [p.stat().st_mtime_ns for p in summaries]
    assert cli.main(grid("two", 2)) == 0
    assert [p.stat().st_mtime_ns for p in summaries] == stamps  # finished: not retrained


def test_executor_rejects_zero_workers():
    from das_core.errors import ConfigError
    from das_core.experiments.executor import run_configs

    with pytest.raises(ConfigError, match="at least 1"):
        run_configs([], workers=0)


def test_picks_only_probe_separates_leaky_from_uninformative_picks():
    import random

    from das_core.experiments.probes import picks_auc as _picks_auc

    rng = random.Random(0)

    def data(n, leaky):
        picks, labels = [], []
        for _ in range(n):
            y = rng.randint(0, 1)
            frames = rng.sample(range(10), 3)
            if leaky:
                frames = sorted({0 if y else 9} | set(frames[:2]))
            picks.append(frames)
            labels.append(y)
        return picks, labels

    assert _picks_auc(*data(200, True), *data(100, True), 10) > 0.95
    assert abs(_picks_auc(*data(200, False), *data(100, False), 10) - 0.5) < 0.15
    same = [[1, 2, 3]] * 20
    assert _picks_auc(same, [0, 1] * 10, same, [1, 0] * 10, 10) == 0.5


def test_load_model_round_trips_a_cli_trained_checkpoint(run_dir):
    import torch

    import das_core
    from das_core.data import load_dataset

    model = das_core.load_model(run_dir / "best.pt")
    assert isinstance(model, das_core.SubsampledClassifier) and not model.training
    assert model.spec == das_core.ModelSpec.from_dict(model.meta["model"])
    assert (model.spec.method, model.spec.num_frames, model.spec.backbone) == ("das", 8, "small_cnn")
    rebuilt = das_core.SubsampledClassifier.from_config(model.spec)
    rebuilt.load_state_dict(model.state_dict())
    x = torch.stack([load_dataset("synthetic-volumes", split="test", **model.meta["dataset_options"])[i][0]
                     for i in range(3)])
    with torch.no_grad():
        assert torch.equal(model(x)[0], rebuilt.eval()(x)[0])


def test_config_file_plus_flag_overrides(tmp_path, monkeypatch):
    import das_core.cli as cli_mod

    seen = []
    monkeypatch.setattr(cli_mod, "fit", lambda config: seen.append(config) or {"param_checksum": 0})
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"method": "dps", "epochs": 7, "lr": 0.002, "dataset_options": {"num_frames": 8},
                                "sampler_options": {"lr_multiplier": 5}, "not_a_field": 1}))
    assert cli.main(["train", "--config", str(path), "--epochs", "2", "--size", "16", "--no-progress"]) == 0
    c = seen[0]
    assert (c.method, c.epochs, c.lr, c.progress) == ("dps", 2, 0.002, False)
    assert c.dataset_options == {"num_frames": 8, "size": 16} and c.sampler_options == {"lr_multiplier": 5}
    assert c.batch_size == 16 and c.backbone == "mobilenet_v3_small"  # TrainConfig's own defaults
    (tmp_path / "bad.json").write_text("{not json")
    assert cli.main(["train", "--config", str(tmp_path / "bad.json")]) == 2


def test_flags_and_configs_convert_both_ways():
    from das_core import TrainConfig
    from das_core.cli_options import to_argv

    cfg = TrainConfig(dataset="synthetic-volumes", dataset_options={"num_frames": 8, "moving": False, "extent": 2},
                      method="das", epochs=3, lr=2e-3, backbone="small_cnn", sampler_options={"shared_base": True},
                      sampler_warmup_epochs=1, progress=False)
    args = cli.build_parser().parse_args(["train", *to_argv(cfg)])
    assert cli.config_from_args(args) == cfg


def test_bench_report_without_runs_leaves_the_tables(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.md").write_text("kept\n")
    assert cli.main(["bench", "--report-only", "--runs-dir", str(tmp_path / "none"), "--out-dir", str(out),
                     "--results-md", str(tmp_path / "page.md")]) == 0
    assert (out / "results.md").read_text() == "kept\n" and not (tmp_path / "page.md").exists()
    assert "No finished runs" in capsys.readouterr().out


def test_one_aggregator_reproduces_the_committed_tables():
    """`make bench-report` re-aggregates to identical tables: the shipped CSVs give the shipped tables."""
    from pathlib import Path

    from das_core.experiments.bench import chance_level_sets, table
    from das_core.experiments.results import aggregate, load_results

    docs = Path(__file__).resolve().parents[1] / "docs" / "results"
    grids = [p for p in [docs, *docs.iterdir()] if (p / "results.csv").is_file()]
    assert len(grids) >= 3
    for grid in grids:
        rows = load_results(grid / "results.csv")
        # as bench writes it: a data set whose full sequence stays at chance is marked, not ranked
        assert table(aggregate(rows), chance_level_sets(rows)) == (grid / "results.md").read_text().splitlines(), grid


def test_checkpoint_metadata_never_chooses_paths(run_dir, tmp_path, capsys):
    """A crafted checkpoint's dataset/root/cache_dir are data, not instructions (issue: hostile inputs)."""
    import torch

    payload = torch.load(run_dir / "best.pt", weights_only=True)
    evil = tmp_path / "evil-cache"
    payload["meta"].update(root=str(tmp_path / "elsewhere"),
                           dataset_options={**payload["meta"]["dataset_options"], "cache_dir": str(evil)})
    torch.save(payload, tmp_path / "crafted.pt")
    assert cli.main(["evaluate", "--checkpoint", str(tmp_path / "crafted.pt"), "--json", "--device", "cpu"]) == 0
    assert not evil.exists()  # the cache folder named by the file was never created
    for bad, match in (({"dataset": "../../etc"}, "no known data set"),
                       ({"dataset": "synthetic-volumes", "dataset_options": {"num_frames": [1] * 10**3}},
                        "not a plain value")):
        payload["meta"].update(bad)
        torch.save(payload, tmp_path / "bad.pt")
        capsys.readouterr()
        assert cli.main(["evaluate", "--checkpoint", str(tmp_path / "bad.pt"), "--device", "cpu"]) == 2
        assert match in capsys.readouterr().err


def test_ablation_runs_shards_and_writes_its_page(tmp_path, monkeypatch):
    """The ablation end to end on tiny data: two shards, then the page with diagnostics from the runs."""
    import dataclasses

    import das_core.experiments.ablation as ab

    small = {"num_samples": {"train": 32, "val": 16, "test": 16}, "num_frames": 8, "size": 16}
    monkeypatch.setattr(ab, "RECIPES", {"small_cnn": dataclasses.replace(
        ab.RECIPES["small_cnn"], epochs=1, max_train_batches=2, min_epochs=1, diagnostics_every=1)})
    monkeypatch.setattr(ab, "TUNING", [("tuning", "synthetic-volumes:moving", 0.5, small)])
    monkeypatch.setattr(ab, "HELD_OUT", [])
    monkeypatch.setattr(ab, "TUNING_LOW", [])
    common = ["ablation", "--candidates", "paper", "score-function", "--backbones", "small_cnn", "--seeds", "0",
              "--device", "cpu", "--runs-dir", str(tmp_path / "runs"), "--results-md", str(tmp_path / "page.md")]
    assert cli.main([*common, "--shard", "0/2"]) == 0 and cli.main([*common, "--shard", "1/2"]) == 0
    assert cli.main([*common, "--report-only"]) == 0
    page = (tmp_path / "page.md").read_text()
    assert "| synthetic-volumes-moving | small_cnn | paper | 1 |" in page and "score-function" in page
    assert (tmp_path / "results" / "ablation" / "runs.csv").is_file()
    paper = json.loads((tmp_path / "runs" / "small_cnn" / "synthetic-volumes-moving" / "paper-s0" / "config.json")
                       .read_text())
    # the paper's reading, named explicitly: straight-through from PyTorch's init, trained jointly from step 0
    assert paper["sampler_options"] == {"score_init": "random", "estimator": "straight_through"}
    assert paper["sampler_warmup_epochs"] == 0


def test_early_stopping_on_balanced_accuracy_from_the_command_line(tmp_path):
    """--early-stopping takes any logged criterion: the best epoch is the one with the highest val_balanced_accuracy."""
    out = tmp_path / "bacc"
    assert cli.main(["train", *TINY, "--method", "uniform", "--epochs", "3", "--backbone", "small_cnn", "--batch-size", "8",
                     "--early-stopping", "val_balanced_accuracy", "--min-epochs", "0", "--patience", "5", "--out", str(out),
                     "--no-progress", "--device", "cpu"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["early_stopping"] == "val_balanced_accuracy"
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    best = max(records, key=lambda r: r["val_balanced_accuracy"])  # ties: the first, as early stopping keeps it
    assert summary["best_epoch"] == best["epoch"]
