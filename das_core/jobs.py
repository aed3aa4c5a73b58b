"""Background training jobs for the app: start, queue, stop and list runs of `python -m das_core train`.

All job state lives on disk in the run folder, never in a browser session, so a page reload (or a
second browser tab) sees the same runs:

    <root>/<YYYYmmdd-HHMMSS-ffffff>-<method>/
        job.json      the request: settings, the command line, created, launcher pid
        status.json   "queued" (written here), then running|finished|failed|stopped (the CLI writes
                      running/finished; this module writes queued, stopped, and failed when the CLI
                      dies without saying why)
        train.log     the CLI's stdout and stderr
        stop          present once a stop was requested
        + what the CLI writes: config.json, metrics.jsonl, summary.json, best.pt

`start_run` spawns a detached launcher process (`python das_core/jobs.py <run dir>`, its own process
group). The launcher waits for a free slot, then runs the CLI as its child. Slots are `fcntl` file
locks `<root>/.slot-<i>.lock`, i in [0, max_parallel): the kernel releases a lock when its holder
dies, so a crashed run never blocks the queue. With the default max_parallel=1 (2-core machines),
runs started at the same time from two tabs run one after the other, and both finish.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

try:
    from .errors import ConfigError
except ImportError:  # run as a script by the launcher (no package import, so no torch import: fast start)
    ConfigError = ValueError  # type: ignore[misc,assignment]

__all__ = [
    "RUNS_ROOT", "PROJECT_ROOT", "train_command", "start_run", "stop_run", "run_state", "list_jobs",
    "read_metrics", "TERMINAL",
]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The app's runs; DAS_APP_RUNS overrides it (the browser tests use a private folder).
RUNS_ROOT = Path(os.environ.get("DAS_APP_RUNS") or PROJECT_ROOT / "runs" / "app")
TERMINAL = ("finished", "failed", "stopped")
_METHODS = ("full", "uniform", "random", "dps", "adps", "das")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def _read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return default


def _alive(pid: Any) -> bool:
    try:
        pid = int(pid)
        os.kill(pid, 0)
    except (OSError, ValueError, TypeError):
        return False
    try:  # a zombie (exited, not yet reaped by its parent) is not alive
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def train_command(settings: Mapping[str, Any], out: Union[str, Path]) -> list[str]:
    """The CLI command line for `settings` (dataset, method, ratio, epochs, backbone, tau0, heads,
    frames, size, max_train_batches, max_eval_batches, num_samples, seed, threads; None values are
    left out)."""
    method = str(settings.get("method", "das")).lower()
    if method not in _METHODS:
        raise ConfigError(f"Unknown method {method!r}; choose one of {', '.join(_METHODS)}.")
    if not settings.get("dataset"):
        raise ConfigError("Choose a data set to train on.")
    cmd = [sys.executable, "-m", "das_core", "train", "--dataset", str(settings["dataset"]), "--method", method]
    flags = [("ratio", "--ratio"), ("epochs", "--epochs"), ("backbone", "--backbone"), ("frames", "--frames"),
             ("size", "--size"), ("max_train_batches", "--max-train-batches"),
             ("max_eval_batches", "--max-eval-batches"), ("num_samples", "--num-samples"), ("seed", "--seed"),
             ("threads", "--threads")]
    if method in ("dps", "adps", "das"):
        flags.append(("tau0", "--tau0"))
    if method == "das":
        flags.append(("heads", "--heads"))
    for key, flag in flags:
        v = settings.get(key)
        if v is not None and v != "":
            cmd += [flag, str(v)]
    return cmd + ["--no-progress", "--out", str(out)]


def start_run(settings: Mapping[str, Any], root: Union[str, Path, None] = None, *,
              command: Optional[Sequence[str]] = None, max_parallel: int = 1) -> Path:
    """Queue a training run and return its folder at once (the work happens in the background).

    `command` replaces the CLI command line (tests use a stand-in); "{out}" in it becomes the folder.
    """
    root = Path(root if root is not None else RUNS_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    method = str(settings.get("method", "run")).lower()
    for _ in range(100):
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        out = root / f"{stamp}-{method}"
        try:
            out.mkdir()
            break
        except FileExistsError:
            time.sleep(0.001)
    cmd = [c.replace("{out}", str(out)) for c in command] if command else train_command(settings, out)
    job = {"settings": dict(settings), "command": cmd, "created": _now(), "max_parallel": int(max_parallel),
           "cwd": str(PROJECT_ROOT)}
    _write_json(out / "job.json", job)
    _write_json(out / "status.json", {"state": "queued", "pid": None, "epoch": 0,
                                      "epochs": int(settings.get("epochs") or 0),
                                      "message": "waiting for a free training slot", "updated": _now()})
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PROJECT_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("OMP_NUM_THREADS", "1")  # leave a core for the app on small machines
    with open(out / "launcher.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), str(out)], cwd=str(PROJECT_ROOT), env=env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    job["launcher_pid"] = proc.pid
    _write_json(out / "job.json", job)
    return out


def stop_run(out: Union[str, Path]) -> None:
    """Ask run `out` to stop: a queued run leaves the queue, a running one is terminated."""
    out = Path(out)
    (out / "stop").touch()
    pid = (_read_json(out / "job.json", {}) or {}).get("launcher_pid")
    if _alive(pid):
        try:
            os.killpg(int(pid), signal.SIGTERM)  # the launcher and the CLI (same process group)
        except (OSError, ValueError):
            pass
        deadline = time.time() + 15
        while _alive(pid) and time.time() < deadline:
            time.sleep(0.05)
    status = _read_json(out / "status.json", {}) or {}
    if status.get("state") in ("queued", "running") and not _alive(pid):
        # the launcher died before it could record the stop (e.g. signalled while starting up)
        status.update(state="stopped", message="stopped by the user", updated=_now())
        _write_json(out / "status.json", status)


def read_metrics(out: Union[str, Path]) -> list[dict]:
    rows = []
    try:
        for line in (Path(out) / "metrics.jsonl").read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass  # a torn last line
    except OSError:
        pass
    return rows


def run_state(out: Union[str, Path]) -> dict:
    """status.json of run `out`; a queued/running run whose launcher is gone reads as "failed"."""
    out = Path(out)
    status = dict(_read_json(out / "status.json", {}) or {})
    state = status.get("state", "unknown")
    if state in ("queued", "running"):
        job = _read_json(out / "job.json", {}) or {}
        pid = job.get("launcher_pid")
        if pid is not None and not _alive(pid):
            # the launcher may have just written a final state: read once more before declaring failure
            status = dict(_read_json(out / "status.json", {}) or {})
            if status.get("state") in ("queued", "running"):
                status.update(state="failed", message="the training process ended without a final status; see train.log")
    return status


def list_jobs(root: Union[str, Path, None] = None) -> list[dict]:
    """Runs under `root` (default RUNS_ROOT), newest first: name, dir, settings, status, last metrics, summary."""
    root = Path(root if root is not None else RUNS_ROOT)
    if not root.is_dir():
        return []
    out = []
    for d in sorted((p for p in root.iterdir() if p.is_dir() and (p / "job.json").is_file()),
                    key=lambda p: p.name, reverse=True):
        job = _read_json(d / "job.json", {}) or {}
        metrics = read_metrics(d)
        out.append({"name": d.name, "dir": str(d), "settings": job.get("settings", {}), "status": run_state(d),
                    "last": metrics[-1] if metrics else {}, "summary": _read_json(d / "summary.json"),
                    "created": job.get("created")})
    return out


def _log_tail(path: Path, n: int = 400) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return ""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return (lines[-1] if lines else "")[-n:]


def _launch(out: Path) -> int:
    """The launcher: wait for a slot, run the CLI, make sure a final state is written."""
    job = _read_json(out / "job.json", {}) or {}
    root = out.parent
    n = max(1, int(job.get("max_parallel", 1)))
    child: dict[str, Optional[subprocess.Popen]] = {"p": None}

    def final(state: str, message: str) -> None:
        cur = _read_json(out / "status.json", {}) or {}
        cur.update(state=state, message=message, updated=_now())
        _write_json(out / "status.json", cur)

    def on_term(signum, frame):
        p = child["p"]
        if p is not None and p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        final("stopped", "stopped by the user")
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    slot = None
    while slot is None:
        if (out / "stop").exists():
            final("stopped", "stopped before it started")
            return 0
        for i in range(n):
            fh = open(root / f".slot-{i}.lock", "a")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                slot = fh
                break
            except OSError:
                fh.close()
        if slot is None:
            time.sleep(0.5)
    final("running", "starting")
    with open(out / "train.log", "ab") as log:
        child["p"] = subprocess.Popen(job["command"], cwd=job.get("cwd") or str(PROJECT_ROOT), stdout=log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        rc = child["p"].wait()
    status = _read_json(out / "status.json", {}) or {}
    if (out / "stop").exists() and status.get("state") != "finished":
        final("stopped", "stopped by the user")
    elif rc != 0 and status.get("state") != "failed":
        final("failed", _log_tail(out / "train.log") or f"the training command exited with code {rc}")
    elif rc == 0 and status.get("state") not in TERMINAL:
        final("finished", "done")
    slot.close()
    return 0


if __name__ == "__main__":  # python das_core/jobs.py <run dir> (also works as python -m das_core.jobs)
    sys.exit(_launch(Path(sys.argv[1])))
