"""`bench --executor ray`: a tiny grid as Ray tasks on a local 2-CPU Ray instance, resumed without redoing
a finished run; and the one-sentence error where Ray is not installed."""

import csv
import sys

import pytest

from das_core import cli
from das_core.errors import ConfigError, DataError
from das_core.experiments.executor import run_configs
from das_core.runs import is_finished


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray", reason="Ray is in requirements.txt (the [ray] extra); install it to run this test")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024 ** 2, log_to_driver=False)
    yield ray
    ray.shutdown()


def grid(tmp_path):
    return ["bench", "--executor", "ray", "--datasets", "synthetic-volumes:fixed", "--methods", "uniform", "das",
            "--seeds", "0", "--epochs", "1", "--min-epochs", "1", "--max-train-batches", "2", "--backbone", "small_cnn",
            "--frames", "8", "--size", "16", "--data-option", 'num_samples={"train": 16, "val": 8, "test": 8}',
            "--device", "cpu", "--threads", "1", "--runs-dir", str(tmp_path / "runs"),
            "--out-dir", str(tmp_path / "out"), "--results-md", str(tmp_path / "results.md")]


def test_bench_on_ray_trains_the_grid_and_a_rerun_redoes_nothing(ray_instance, tmp_path, capsys):
    assert cli.main(grid(tmp_path)) == 0
    runs = sorted((tmp_path / "runs" / "synthetic-volumes-fixed").iterdir())
    assert [r.name for r in runs] == ["das-r0.5-s0", "uniform-r0.5-s0"] and all(is_finished(r) for r in runs)
    rows = list(csv.DictReader(open(tmp_path / "out" / "results.csv")))
    assert {r["method"] for r in rows} == {"uniform", "das"}
    first = capsys.readouterr().out
    assert first.count(" -> ") == 2 and first.count(": auc ") == 2  # both submitted, both reported as they ended
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("*") if p.is_file()}

    assert cli.main(grid(tmp_path)) == 0
    assert " -> " not in capsys.readouterr().out  # nothing submitted: both runs were finished
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # and no run file rewritten


def test_a_run_error_on_ray_is_the_runs_own(ray_instance, tmp_path):
    """A run that fails in its Ray task raises the run's own error (the CLI's one-line message), not Ray's wrapper."""
    from das_core.engine import TrainConfig

    bad = TrainConfig(dataset="no-such-data-set", out=str(tmp_path / "bad"), device="cpu", progress=False)
    with pytest.raises(DataError, match="unknown data set") as exc:
        run_configs([bad], executor="ray")
    assert type(exc.value) is DataError and isinstance(exc.value.__cause__, ray_instance.exceptions.RayTaskError)


def test_ray_executor_without_ray_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'das-explorer\[ray\]'"):
        run_configs([], executor="ray")
