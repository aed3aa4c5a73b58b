"""Background training jobs for the app: start, queue, stop and list runs of `python -m das_core train`.

All job state lives on disk in the run folder, never in a browser session, so a page reload (or a
second browser tab) sees the same runs. The files and their names are `das_core.runs`' (`RunPaths`):

    <root>/<YYYYmmdd-HHMMSS-ffffff>-<method>/
        train-config.json  the run's TrainConfig; the CLI reads it (`train --config FILE`)
        job.json           the request: settings (the TrainConfig), command line, created, launcher pid
        status.json        "queued" (written here), then running|finished|failed|stopped (the CLI writes
                           running/finished; the launcher writes stopped, and failed when the CLI dies
                           without saying why)
        train.log          the CLI's stdout and stderr; launcher.log the launcher's own output
        stop               present once a stop was requested
        + what the CLI writes: config.json, metrics.jsonl, summary.json, best.pt

`start_run` spawns a detached launcher process (`python -m explorer.launcher <run dir>`, its own
process group; see `explorer.launcher`), which waits for a free slot and then runs the CLI as its
child. With the default max_parallel=1 (2-core machines), runs started at the same time from two
tabs run one after the other, and both finish.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence, Union

from das_core.errors import ConfigError
from das_core.runs import RunPaths, read_json, read_metrics, write_json

from .launcher import TERMINAL, alive, now, set_state

if TYPE_CHECKING:  # for annotations only: the engine loads torch, which listing and stopping runs never needs
    from das_core import TrainConfig

__all__ = [
    "RUNS_ROOT", "PROJECT_ROOT", "TERMINAL", "train_command", "start_run", "resume_run", "stop_run", "run_state",
    "list_jobs",
    "read_metrics",
]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The app's runs; DAS_APP_RUNS overrides it (the browser tests use a private folder).
RUNS_ROOT = Path(os.environ.get("DAS_APP_RUNS") or PROJECT_ROOT / "runs" / "app")
STOP_WAIT_SECONDS = 15


def train_command(config_path: Union[str, Path]) -> list[str]:
    """The CLI command line that trains the TrainConfig stored (as JSON) in `config_path`."""
    return [sys.executable, "-m", "das_core", "train", "--config", str(config_path)]


def _new_run_dir(root: Path, method: str) -> Path:
    """A fresh, empty run folder `<root>/<timestamp>-<method>`."""
    for _ in range(100):
        out = root / f"{_dt.datetime.now().strftime('%Y%m%d-%H%M%S-%f')}-{method}"
        try:
            out.mkdir()
            return out
        except FileExistsError:
            time.sleep(0.001)
    raise FileExistsError(f"no free run folder name under {root}")


def _spawn_launcher(paths: RunPaths) -> int:
    """Start the detached launcher of run `paths` (own session); returns its pid."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PROJECT_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("OMP_NUM_THREADS", "1")  # leave a core for the app on small machines
    with open(paths.launcher_log, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "explorer.launcher", str(paths.root)], cwd=str(PROJECT_ROOT),
                                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    return proc.pid


def start_run(config: "TrainConfig", root: Union[str, Path, None] = None, *,
              command: Optional[Sequence[str]] = None, max_parallel: int = 1) -> Path:
    """Queue a training run and return its folder at once (the work happens in the background).

    Args:
        config: the run's `das_core.TrainConfig` (its `out` and `progress` are set here).
        root: the folder of the app's runs (default RUNS_ROOT).
        command: replaces the CLI command line (tests use a stand-in); "{out}" in it becomes the folder.
        max_parallel: runs of `root` that may train at the same time.

    Raises:
        ConfigError: one sentence for an invalid setting (unknown method, ...).
    """
    config.validate()
    root = Path(root if root is not None else RUNS_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^a-z0-9]+", "-", f"{config.dataset}-{config.method}".lower()).strip("-")[:60]
    paths = RunPaths.of(_new_run_dir(root, name))  # <time>-<data set>-<method>: readable in the runs table
    config = dataclasses.replace(config, out=str(paths.root), progress=False)
    settings = dataclasses.asdict(config)
    write_json(paths.train_config, settings)
    cmd = [c.replace("{out}", str(paths.root)) for c in command] if command else train_command(paths.train_config)
    job = {"settings": settings, "command": cmd, "created": now(), "max_parallel": int(max_parallel),
           "cwd": str(PROJECT_ROOT)}
    _queue(paths, job, int(config.epochs), "waiting for a free training slot")
    return paths.root


def _queue(paths: RunPaths, job: dict, epochs: int, message: str) -> None:
    """Mark run `paths` queued and start its launcher, recording the launcher's pid in job.json."""
    write_json(paths.job, job)
    write_json(paths.status, {"state": "queued", "pid": None, "epoch": 0, "epochs": epochs, "message": message,
                              "updated": now()})
    job["launcher_pid"] = _spawn_launcher(paths)
    write_json(paths.job, job)


def resume_run(out: Union[str, Path]) -> None:
    """Queue a stopped (or failed) run again; it continues from its last.pt (`TrainConfig.resume`)."""
    paths = RunPaths.of(out)
    state = (read_json(paths.status, {}) or {}).get("state")
    if state not in ("stopped", "failed"):
        raise ConfigError(f"Only a stopped or failed run can be resumed; {paths.root.name} is {state or 'unknown'}.")
    settings = dict(read_json(paths.train_config, {}) or {})
    if not settings:
        raise ConfigError(f"{paths.root.name} has no {paths.train_config.name}; start a new run instead.")
    settings["resume"] = True
    write_json(paths.train_config, settings)
    paths.stop.unlink(missing_ok=True)
    _queue(paths, dict(read_json(paths.job, {}) or {}), int(settings.get("epochs") or 0),
           "resuming: waiting for a free training slot")


def stop_run(out: Union[str, Path]) -> None:
    """Ask run `out` to stop: a queued run leaves the queue, a running one is terminated."""
    paths = RunPaths.of(out)
    paths.stop.touch()
    pid = (read_json(paths.job, {}) or {}).get("launcher_pid")
    if alive(pid):
        try:
            os.killpg(int(pid), signal.SIGTERM)  # the launcher and the CLI (same process group)
        except (OSError, ValueError):
            pass
        deadline = time.time() + STOP_WAIT_SECONDS
        while alive(pid) and time.time() < deadline:
            time.sleep(0.05)
    state = (read_json(paths.status, {}) or {}).get("state")
    if state in ("queued", "running") and not alive(pid):
        # the launcher died before it could record the stop (e.g. signalled while starting up)
        set_state(paths, "stopped", "stopped by the user")


def run_state(out: Union[str, Path]) -> dict:
    """status.json of run `out`; a queued/running run whose launcher is gone reads as "failed"."""
    paths = RunPaths.of(out)
    status = dict(read_json(paths.status, {}) or {})
    if status.get("state", "unknown") in ("queued", "running"):
        pid = (read_json(paths.job, {}) or {}).get("launcher_pid")
        if pid is not None and not alive(pid):
            # the launcher may have just written a final state: read once more before declaring failure
            status = dict(read_json(paths.status, {}) or {})
            if status.get("state") in ("queued", "running"):
                status.update(state="failed", message="the training process ended without a final status; see train.log")
    return status


def list_jobs(root: Union[str, Path, None] = None) -> list[dict]:
    """Runs under `root` (default RUNS_ROOT), newest first: name, dir, settings, status, last metrics,
    summary, created."""
    root = Path(root if root is not None else RUNS_ROOT)
    if not root.is_dir():
        return []
    out = []
    for d in sorted((p for p in root.iterdir() if p.is_dir() and RunPaths.of(p).job.is_file()),
                    key=lambda p: p.name, reverse=True):
        paths = RunPaths.of(d)
        job = read_json(paths.job, {}) or {}
        metrics = read_metrics(d)
        out.append({"name": d.name, "dir": str(d), "settings": job.get("settings", {}), "status": run_state(d),
                    "last": metrics[-1] if metrics else {}, "summary": read_json(paths.summary),
                    "created": job.get("created")})
    return out
