"""Runs that cannot be turned against the server: resume builds its command from the run's checked config
(a planted job.json never runs), a run whose processes died reads as interrupted and resumable, train.log is
written as the run goes, a full disk is one sentence with nothing half-written, and an export folder is
complete or absent.

Fast except one real 1-epoch CLI run (tiny synthetic data, small_cnn) started by a resume.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import torch

from das_core import TrainConfig
from das_core.errors import ConfigError, DiskFullError
from das_core.runs import RunPaths, append_jsonl, process_start, read_json, write_json, write_status
from explorer import jobs

REPO = Path(__file__).resolve().parents[1]
DAS = REPO / "checkpoints" / "synthetic-volumes-das.pt"
TORCH_FULL = "[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0"
TINY_OPTIONS = {"num_frames": 8, "size": 16, "num_samples": 16, "moving": True}


def _sentence(folder) -> str:
    return f"No space left on {folder}: free space or choose another folder."


def _tiny_config(out: Path, **kw) -> TrainConfig:
    base = dict(dataset="synthetic-volumes", dataset_options=dict(TINY_OPTIONS), method="das", epochs=1,
                batch_size=8, backbone="small_cnn", device="cpu", threads=1, min_epochs=1, out=str(out),
                progress=False)
    base.update(kw)
    return TrainConfig(**base)


def _stopped_run(root: Path, config_kw=None, job_extra=None) -> Path:
    """A stopped app run folder (as jobs.start_run + a stop leave it), without its launcher."""
    run = root / "20260101-000000-000000-synthetic-volumes-das"
    run.mkdir(parents=True)
    paths = RunPaths.of(run)
    settings = dataclasses.asdict(_tiny_config(run, **(config_kw or {})))
    write_json(paths.train_config, settings)
    write_json(paths.job, {"settings": settings, "created": "2026-01-01T00:00:00+00:00", **(job_extra or {})})
    write_status(run, "stopped", epoch=0, epochs=1, message="stopped by the user")
    return run


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _wait(run, states=jobs.TERMINAL, timeout=120.0) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = jobs.run_state(run)
        if st.get("state") in states:
            return st
        time.sleep(0.2)
    log = Path(run) / "train.log"
    raise AssertionError(f"{run} stuck in {jobs.run_state(run)}; train.log: "
                         f"{log.read_text(errors='replace')[-2000:] if log.exists() else ''}")


# ----------------------------------------------------------------------------- 1. resume never runs a stored argv

def test_a_planted_job_command_never_runs_and_resume_trains_from_the_config(tmp_path):
    pwned = Path(f"/tmp/pwned-{uuid.uuid4().hex}")
    # a planted cwd with its own das_core: `python -m das_core` run there would import it
    evil = tmp_path / "evil"
    (evil / "das_core").mkdir(parents=True)
    (evil / "das_core" / "__init__.py").write_text(f"open({str(pwned)!r}, 'w').close()\n")
    (evil / "das_core" / "__main__.py").write_text(f"open({str(pwned)!r}, 'w').close()\n")
    run = _stopped_run(tmp_path / "runs", job_extra={"command": ["sh", "-c", f"touch {pwned}"], "cwd": str(evil)})
    paths = RunPaths.of(run)
    try:
        assert jobs.resume_command(run) == [sys.executable, "-m", "das_core", "train", "--config",
                                            str(paths.train_config), "--out", str(run)]
        jobs.resume_run(run)
        job = read_json(paths.job)
        assert "command" not in job and "cwd" not in job and job["launcher_pid"] > 0
        st = _wait(run)
        log = paths.train_log.read_text()
        assert st["state"] == "finished", (st, log[-2000:])
        assert not pwned.exists()
        assert "epoch 1/1" in log and "loading data" in log  # the trainer's log lines reach train.log
        assert (run / "best.pt").is_file() and read_json(paths.config)["resume"] is True
    finally:
        pwned.unlink(missing_ok=True)


def test_a_job_or_config_that_does_not_match_is_refused_in_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "_spawn_launcher", lambda *a, **k: pytest.fail("a refused resume started a launcher"))

    def refused(run, words):
        with pytest.raises(ConfigError) as err:
            jobs.resume_run(run)
        text = str(err.value)
        assert words in text and text.endswith(".") and ". " not in text, text
        assert read_json(RunPaths.of(run).status)["state"] == "stopped"  # nothing queued

    run = _stopped_run(tmp_path / "a")
    job = read_json(RunPaths.of(run).job)
    write_json(RunPaths.of(run).job, {**job, "settings": {**job["settings"], "method": "uniform", "epochs": 99}})
    refused(run, "job.json does not match its train-config.json")
    write_json(RunPaths.of(run).job, ["sh", "-c", "touch /tmp/x"])
    refused(run, "job.json does not match")

    for i, (bad, words) in enumerate([({"epochs": "5"}, "epochs must be a positive integer"),
                                      ({"backbone": "sh -c id"}, "not one `train` accepts"),
                                      ({"heads": "4"}, "does not read back the same"),
                                      ({"method": "nope"}, "Unknown method")]):
        run = _stopped_run(tmp_path / f"b{i}")
        cfg = read_json(RunPaths.of(run).train_config)
        write_json(RunPaths.of(run).train_config, {**cfg, **bad})
        refused(run, "is not a valid training config")
        refused(run, words)


def test_behind_the_login_only_the_user_who_started_a_run_may_stop_or_resume_it(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(jobs, "_spawn_launcher", lambda *a, **k: started.append(a) or _dead_pid())
    run = _stopped_run(tmp_path / "o", job_extra={"owner": "alice"})
    for act in (lambda: jobs.resume_run(run, user="mallory"), lambda: jobs.stop_run(run, user="mallory")):
        with pytest.raises(ConfigError, match="was started by another user; only they can"):
            act()
    assert not started and not RunPaths.of(run).stop.exists()
    jobs.resume_run(run, user="alice")  # the owner may, and the resumed run keeps its owner
    assert len(started) == 1 and read_json(RunPaths.of(run).job)["owner"] == "alice"
    free = _stopped_run(tmp_path / "f")  # started on this machine without a login: no owner
    jobs.resume_run(free, user="mallory")
    assert len(started) == 2


# ----------------------------------------------------------------------------- 2. a dead launcher reads as interrupted

def test_a_running_run_whose_processes_are_gone_is_interrupted_and_resumable(tmp_path, monkeypatch):
    run = _stopped_run(tmp_path / "runs")
    paths = RunPaths.of(run)
    dead = _dead_pid()
    job = read_json(paths.job)
    write_json(paths.job, {**job, "launcher_pid": dead, "launcher_start": 12345})
    write_json(paths.status, {"state": "running", "pid": dead, "pid_start": 12345, "epoch": 2, "epochs": 5,
                              "message": "epoch 2/5: val AUC 0.6", "updated": "2026-01-01T00:00:00+00:00"})
    st = jobs.run_state(run)
    assert st["state"] == "interrupted"
    assert "see train.log" not in st["message"] and "before writing anything to train.log" in st["message"]
    assert "epoch 2/5" in st["message"] and "after 2 of 5 epochs" in st["message"]
    assert [r["status"]["state"] for r in jobs.list_jobs(tmp_path / "runs")] == ["interrupted"]

    paths.train_log.write_text("2026-01-01 00:00:00 running: epoch 2/5: val AUC 0.6\n")
    st = jobs.run_state(run)
    assert "see train.log" in st["message"] and "epoch 2/5: val AUC 0.6" in st["message"]

    # the pids now belong to other processes (this one: alive, but started at another time)
    write_json(paths.job, {**job, "launcher_pid": os.getpid(), "launcher_start": process_start(os.getpid()) + 1})
    write_json(paths.status, {**read_json(paths.status), "pid": os.getpid(),
                              "pid_start": process_start(os.getpid()) - 1})
    assert jobs.run_state(run)["state"] == "interrupted"
    # ... or is alive from its start but not this run's process (a pid planted in job.json is never signalled)
    write_json(paths.job, {**job, "launcher_pid": os.getpid(), "launcher_start": process_start(os.getpid())})
    assert jobs.run_state(run)["state"] == "interrupted"

    spawned = []
    monkeypatch.setattr(jobs, "_spawn_launcher", lambda p: spawned.append(p.root) or 0)
    jobs.resume_run(run)  # no "... is running" refusal
    assert spawned == [run] and read_json(paths.status)["state"] == "queued"


# ----------------------------------------------------------------------------- 3. train.log as the run goes

def test_a_run_killed_with_its_launcher_keeps_its_last_log_line_and_is_resumable(tmp_path, monkeypatch):
    line = f"epoch 3/9: val AUC 0.7 {uuid.uuid4().hex[:6]}"
    # a stand-in that prints without flushing, then hangs: only unbuffered output reaches train.log
    cmd = [sys.executable, "-c", f"import time\nprint({line!r})\ntime.sleep(120)"]
    run = jobs.start_run(TrainConfig(method="das", epochs=9), tmp_path / "runs", command=cmd)
    paths = RunPaths.of(run)
    deadline = time.time() + 60
    while time.time() < deadline and line not in (paths.train_log.read_text() if paths.train_log.exists() else ""):
        time.sleep(0.1)
    assert line in paths.train_log.read_text()
    assert jobs.run_state(run)["state"] == "running"
    launcher = read_json(paths.job)["launcher_pid"]
    os.killpg(launcher, signal.SIGKILL)  # the launcher and its child, together
    st = _wait(run, ("interrupted",), timeout=30)
    assert read_json(paths.status)["state"] == "running"  # nobody wrote a final state
    assert "see train.log" in st["message"] and line in st["message"]
    spawned = []
    monkeypatch.setattr(jobs, "_spawn_launcher", lambda p: spawned.append(p.root) or 0)
    jobs.resume_run(run)
    assert spawned == [run]


# ----------------------------------------------------------------------------- 4. disk full

def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".") and ".tmp" in p.name]


def test_a_full_disk_while_saving_a_checkpoint_is_one_sentence_and_leaves_no_file(tmp_path, monkeypatch):
    from das_core import SubsampledClassifier, make_sampler
    from das_core.checkpoints import save_checkpoint

    def full_save(obj, fh, *a, **k):
        fh.write(b"PK\x03\x04 half a checkpoint")
        raise RuntimeError(TORCH_FULL)

    model = SubsampledClassifier(make_sampler("uniform", 8, 4), "small_cnn", 2, 1)
    folder = tmp_path / "run"
    monkeypatch.setattr(torch, "save", full_save)
    with pytest.raises(DiskFullError) as err:
        save_checkpoint(folder / "best.pt", model, {})
    assert str(err.value) == _sentence(folder) and isinstance(err.value, OSError)
    assert list(folder.iterdir()) == []

    # os.replace (and any write) with ENOSPC: the old file stays, the temporary file is gone
    write_json(folder / "status.json", {"state": "running"})

    def no_space(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(DiskFullError, match="^No space left on "):
        write_json(folder / "status.json", {"state": "failed"})
    monkeypatch.undo()
    assert read_json(folder / "status.json") == {"state": "running"} and _no_temp_files(folder)

    # an appended metrics line that cannot be written is cut off again
    append_jsonl(folder / "metrics.jsonl", {"epoch": 0})
    before = (folder / "metrics.jsonl").read_bytes()
    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(DiskFullError):
        append_jsonl(folder / "metrics.jsonl", {"epoch": 1})
    monkeypatch.undo()
    assert (folder / "metrics.jsonl").read_bytes() == before


def test_training_into_a_full_disk_says_so_in_the_cli_and_the_status(tmp_path, monkeypatch, capsys):
    from das_core import cli

    def full_save(obj, fh, *a, **k):
        fh.write(b"PK\x03\x04 half a checkpoint")
        raise RuntimeError(TORCH_FULL)

    out = tmp_path / "run"
    monkeypatch.setattr(torch, "save", full_save)
    capsys.readouterr()
    rc = cli.main(["train", "--dataset", "synthetic-volumes", "--frames", "8", "--size", "16", "--num-samples", "16",
                   "--method", "uniform", "--epochs", "1", "--backbone", "small_cnn", "--batch-size", "8",
                   "--out", str(out), "--no-progress", "--device", "cpu", "--threads", "1"])
    assert rc == 2
    assert capsys.readouterr().err == f"error: {_sentence(out)}\n"
    status = read_json(out / "status.json")
    assert status["state"] == "failed" and status["message"] == _sentence(out)  # what the Train page shows
    assert not (out / "best.pt").exists() and not (out / "last.pt").exists() and _no_temp_files(out)


# ----------------------------------------------------------------------------- 5. exports: complete or absent

def _study():
    from das_core.export import study_from_tensor

    return study_from_tensor(torch.rand(12, 1, 20, 20, generator=torch.Generator().manual_seed(0)), "s",
                             dataset="synthetic-volumes")


def test_an_export_whose_third_write_fails_leaves_no_folder(tmp_path, monkeypatch):
    from das_core.export import ExportSettings, core, export_study

    real = core.atomic_write
    calls = []

    def failing_third(error):
        def atomic_write(path, mode="wb"):
            calls.append(Path(path).name)
            if len(calls) == 3:
                raise error
            return real(path, mode)
        return atomic_write

    parent = tmp_path / "exports"
    parent.mkdir()
    out = parent / "study"
    settings = ExportSettings(min_size=64, threads=1)
    monkeypatch.setattr(core, "atomic_write", failing_third(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(DiskFullError) as err:
        export_study([str(DAS)], _study(), out, settings=settings)
    assert str(err.value) == _sentence(out)
    assert calls == ["picks.csv", "picks.json", "picks.png"]
    assert list(parent.iterdir()) == []  # neither the export folder nor its temporary sibling

    calls.clear()
    monkeypatch.setattr(core, "atomic_write", failing_third(RuntimeError("encoder crashed")))
    with pytest.raises(ConfigError) as err:
        export_study([str(DAS)], _study(), out, settings=settings)
    assert str(err.value).startswith(f"The export could not be written to {out} ") and ". " not in str(err.value)
    assert list(parent.iterdir()) == []


def test_an_export_replaces_an_earlier_one_whole_and_refuses_a_folder_of_other_files(tmp_path):
    from das_core.export import ARTEFACTS, ExportSettings, export_study

    out = tmp_path / "study"
    out.mkdir()
    (out / "picks.csv").write_text("an earlier export\n")
    written = export_study([str(DAS)], _study(), out, settings=ExportSettings(min_size=64, threads=1))
    assert set(written) == set(ARTEFACTS) and all(p.parent == out and p.stat().st_size for p in written.values())
    assert sorted(p.name for p in out.iterdir()) == sorted(ARTEFACTS)
    assert "an earlier export" not in (out / "picks.csv").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study"]  # no temporary or old folder left

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="already holds other files"):
        export_study([str(DAS)], _study(), mine, settings=ExportSettings(min_size=64, threads=1))
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
