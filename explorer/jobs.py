"""Background training jobs for the app: start, queue, stop, resume and list runs of `python -m das_core train`.

All job state lives on disk in the run folder, never in a browser session, so a page reload (or a
second browser tab) sees the same runs. The files and their names are `das_core.runs`' (`RunPaths`):

    <root>/<YYYYmmdd-HHMMSS-ffffff>-<method>/
        train-config.json  the run's TrainConfig; the CLI reads it (`train --config FILE`)
        job.json           the request: settings (the TrainConfig), created, max_parallel, launcher pid and
                           its start time; never a command line (older files may hold one: it is ignored)
        status.json        "queued" (written here), then running|finished|failed|stopped (the CLI writes
                           running/finished with its pid and start time; the launcher writes stopped, and
                           failed when the CLI dies without saying why)
        train.log          the CLI's stdout and stderr, as they are written; launcher.log the launcher's own
        stop               present once a stop was requested
        + what the CLI writes: config.json, metrics.jsonl, summary.json, best.pt

`start_run` spawns a detached launcher process (`python -m explorer.launcher <run dir> -- <command>`,
its own process group; see `explorer.launcher`), which waits for a free slot and then runs the CLI as its
child. With the default max_parallel=1 (2-core machines), runs started at the same time from two
tabs run one after the other, and both finish.

A queued or running run whose processes are all gone (the launcher killed together with the CLI, a
reboot), or whose recorded pids now belong to other processes (the start time in /proc differs), reads
as "interrupted" (`run_state`); it can be resumed like a stopped or failed one.

`resume_run` never runs a stored command: the command is built by code (`explorer.launcher.run_command`),
from the run's own train-config.json once it has passed the `TrainConfig` checks and the CLI's option
parser; a job.json whose settings differ from that config is refused with one sentence.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import fcntl
import io
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

from das_core.errors import ConfigError
from das_core.runs import (ACTIVE_STATES, RESUMABLE_STATES, RunPaths, process_cmdline, process_start, read_json,
                           read_metrics, write_json)

from .launcher import (PROJECT_ROOT, TERMINAL, alive, log_tail, now, run_command, set_state, slots_of,
                       train_command)

if TYPE_CHECKING:  # for annotations only: the engine loads torch, which listing and stopping runs never needs
    from das_core import TrainConfig

__all__ = [
    "RUNS_ROOT", "PROJECT_ROOT", "TERMINAL", "RESUMABLE", "ACTIVE", "train_command", "start_run", "resume_run",
    "resume_command", "stop_run", "run_state", "list_jobs", "read_metrics",
]

# The app's runs; DAS_APP_RUNS overrides it (the browser tests use a private folder).
RUNS_ROOT = Path(os.environ.get("DAS_APP_RUNS") or PROJECT_ROOT / "runs" / "app")
STOP_WAIT_SECONDS = 15
RESUMABLE = RESUMABLE_STATES
ACTIVE = ACTIVE_STATES


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


def _spawn_launcher(paths: RunPaths, command: Optional[Sequence[str]] = None) -> int:
    """Start the detached launcher of run `paths` (own session); returns its pid. `command`: what it runs
    (passed on its command line, never through a file); None: it builds `run_command` itself."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PROJECT_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("OMP_NUM_THREADS", "1")  # leave a core for the app on small machines
    argv = [sys.executable, "-m", "explorer.launcher", str(paths.root)] + (["--", *command] if command else [])
    with open(paths.launcher_log, "ab") as log:
        proc = subprocess.Popen(argv, cwd=str(PROJECT_ROOT), env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    return proc.pid


def _check_owner(paths: RunPaths, user: Optional[str], action: str) -> None:
    """ConfigError when the app is behind the login (`user` is the signed-in name) and run `paths` was started
    by another signed-in user. Runs started without a login (on this machine) have no owner."""
    owner = _job(paths).get("owner")
    if user and isinstance(owner, str) and owner and owner != user:
        raise ConfigError(f"{paths.root.name} was started by another user; only they can {action} it.")


def start_run(config: "TrainConfig", root: Union[str, Path, None] = None, *,
              command: Optional[Sequence[str]] = None, max_parallel: int = 1, owner: Optional[str] = None) -> Path:
    """Queue a training run and return its folder at once (the work happens in the background).

    Args:
        config: the run's `das_core.TrainConfig` (its `out` and `progress` are set here).
        root: the folder of the app's runs (default RUNS_ROOT).
        command: replaces the CLI command line (tests use a stand-in); "{out}" in it becomes the folder.
            It goes to the launcher on its command line and is not stored.
        max_parallel: runs of `root` that may train at the same time.
        owner: the signed-in user who starts it (behind the login proxy); only they may stop or resume it.

    Raises:
        ConfigError: one sentence for an invalid setting (unknown method, ...).
    """
    config.validate()
    root = Path(root if root is not None else RUNS_ROOT).absolute()
    root.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^a-z0-9]+", "-", f"{config.dataset}-{config.method}".lower()).strip("-")[:60]
    paths = RunPaths.of(_new_run_dir(root, name))  # <time>-<data set>-<method>: readable in the runs table
    config = dataclasses.replace(config, out=str(paths.root), progress=False)
    settings = dataclasses.asdict(config)
    write_json(paths.train_config, settings)
    if command:
        cmd = [c.replace("{out}", str(paths.root)) for c in command]
    else:
        cmd = train_command(paths.train_config) + ["--out", str(paths.root)]  # = run_command(paths)
    job = {"settings": settings, "created": now(), "max_parallel": int(max_parallel), "owner": owner or None}
    _queue(paths, job, int(config.epochs), "waiting for a free training slot", cmd)
    return paths.root


def _queue(paths: RunPaths, job: dict, epochs: int, message: str, command: Optional[Sequence[str]] = None) -> None:
    """Mark run `paths` queued and start its launcher, recording the launcher's pid and start time in job.json."""
    write_json(paths.job, job)
    write_json(paths.status, {"state": "queued", "pid": None, "epoch": 0, "epochs": epochs, "message": message,
                              "updated": now()})
    pid = _spawn_launcher(paths, command) if command else _spawn_launcher(paths)
    job["launcher_pid"] = pid
    job["launcher_start"] = process_start(pid)
    write_json(paths.job, job)


# ----------------------------------------------------------------------------- resume

def _close(a: Any, b: Any) -> bool:
    """`a == b`, floats within 1e-6 relative (a config's floats pass the CLI as `%g` text), recursively."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, float) or isinstance(b, float):
        return (isinstance(a, (int, float)) and isinstance(b, (int, float))
                and math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12))
    return type(a) is type(b) and a == b


def _resume_config(paths: RunPaths) -> "TrainConfig":
    """The run's own TrainConfig (train-config.json, else config.json) for a resume: out pinned to the run
    folder, progress off, resume on; checked by `TrainConfig.validate` and by the CLI's option parser (the
    flags `to_argv` makes of it must parse back to the same config)."""
    from das_core import TrainConfig
    from das_core.cli import build_parser, config_from_args
    from das_core.cli_options import to_argv

    name = paths.root.name
    source = paths.train_config if paths.train_config.is_file() else paths.config
    data = read_json(source)
    if data is None:
        raise ConfigError(f"{name} has no readable {paths.train_config.name}; start a new run instead.")
    try:
        config = dataclasses.replace(TrainConfig.from_dict(data), out=str(paths.root), progress=False, resume=True)
        config.validate()
        sink = io.StringIO()
        try:
            with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
                args = build_parser().parse_args(["train", *to_argv(config)])
        except SystemExit:
            said = (sink.getvalue().strip().splitlines() or ["rejected"])[-1]
            raise ConfigError(f"a setting is not one `train` accepts: {said}") from None
        if not _close(dataclasses.asdict(config_from_args(args)), dataclasses.asdict(config)):
            raise ConfigError("a setting does not read back the same through `train`'s options")
    except (ConfigError, TypeError, ValueError) as err:
        raise ConfigError(f"{name} cannot be resumed: its {source.name} is not a valid training config "
                          f"({str(err).rstrip('.')}); start a new run instead.") from None
    return config


def _check_job(paths: RunPaths, config: "TrainConfig") -> dict:
    """The run's job.json when it is a JSON object whose settings (if any) are `config`'s; else ConfigError."""
    from das_core import TrainConfig

    job = read_json(paths.job)
    settings = job.get("settings") if isinstance(job, dict) else None
    ok = isinstance(job, dict) and (settings is None or isinstance(settings, dict))
    if ok and settings is not None:
        try:
            theirs = dataclasses.replace(TrainConfig.from_dict(settings), out=config.out, progress=config.progress,
                                         resume=config.resume)
            ok = _close(dataclasses.asdict(theirs), dataclasses.asdict(config))
        except (ConfigError, TypeError, ValueError):
            ok = False
    if not ok:
        raise ConfigError(f"{paths.root.name} cannot be resumed: its {paths.job.name} does not match its "
                          f"{paths.train_config.name}; start a new run instead.")
    return job


def resume_command(out: Union[str, Path]) -> list[str]:
    """The command a resume of run `out` runs, after the checks of `resume_run` (ConfigError, one sentence):
    always `[sys.executable, "-m", "das_core", "train", "--config", <run>/train-config.json, "--out", <run>]`,
    never one read from the run folder."""
    paths = RunPaths.of(Path(out).absolute())
    _check_job(paths, _resume_config(paths))
    return run_command(paths)


@contextlib.contextmanager
def _run_lock(paths: RunPaths):
    """An exclusive lock of run `paths` (two tabs resuming it at once: the second sees it queued)."""
    with open(paths.root / ".resume.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def resume_run(out: Union[str, Path], user: Optional[str] = None) -> None:
    """Queue a stopped, failed or interrupted run again; it continues from its last.pt (`TrainConfig.resume`).

    Args:
        user: the signed-in user asking (behind the login proxy), None without a login.

    Raises:
        ConfigError: one sentence: the run is queued/running, its config is not a valid one, its job.json
            does not match it, or another signed-in user started it.
    """
    paths = RunPaths.of(Path(out).absolute())  # the launcher runs in the project folder
    if not paths.root.is_dir():
        raise ConfigError(f"There is no run {paths.root.name}; start a new run instead.")
    with _run_lock(paths):
        _check_owner(paths, user, "resume")
        state = run_state(paths.root).get("state")
        if state not in RESUMABLE:
            raise ConfigError(f"Only a stopped or failed run can be resumed (or an interrupted one); "
                              f"{paths.root.name} is {state or 'unknown'}.")
        config = _resume_config(paths)
        old = _check_job(paths, config)
        settings = dataclasses.asdict(config)
        write_json(paths.train_config, settings)  # the checked config, as the launcher's command reads it
        paths.stop.unlink(missing_ok=True)
        job = {"settings": settings, "created": old.get("created") if isinstance(old.get("created"), str) else now(),
               "resumed": now(), "max_parallel": slots_of(old),
               "owner": old.get("owner") if isinstance(old.get("owner"), str) else None}
        _queue(paths, job, int(config.epochs), "resuming: waiting for a free training slot")


# ----------------------------------------------------------------------------- liveness, stop

def _pid(v: Any) -> Optional[int]:
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def _job(paths: RunPaths) -> dict:
    job = read_json(paths.job, {})
    return job if isinstance(job, dict) else {}


def _status(paths: RunPaths) -> dict:
    status = read_json(paths.status, {})
    return dict(status) if isinstance(status, dict) else {}


def _mentions_run(cmdline: Optional[list[str]], paths: RunPaths) -> bool:
    """True when a command line names run folder `paths` (its unique timestamped name), or cannot be read
    on a system without /proc."""
    if cmdline is None:
        return not os.path.isdir("/proc/self")
    return any(paths.root.name in arg for arg in cmdline)


def _launcher_of(paths: RunPaths, job: dict) -> Optional[int]:
    """The pid of run `paths`' launcher while it runs: the recorded pid, started at the recorded time, running
    `explorer.launcher` for this run folder (a pid in a planted job.json is never signalled)."""
    pid = _pid(job.get("launcher_pid"))
    if pid is None or not alive(pid, job.get("launcher_start")):
        return None
    cmd = process_cmdline(pid)
    if cmd is not None and "explorer.launcher" not in cmd:
        return None
    return pid if _mentions_run(cmd, paths) else None


def _trainer_of(paths: RunPaths, status: dict) -> Optional[int]:
    """The pid of the process status.json names (the CLI), while that process runs this run."""
    pid = _pid(status.get("pid"))
    if pid is None or not alive(pid, status.get("pid_start")):
        return None
    return pid if _mentions_run(process_cmdline(pid), paths) else None


def _active(paths: RunPaths, status: dict, job: dict) -> bool:
    """False when every process recorded for a queued/running run is gone (or is another process now)."""
    known = []
    if _pid(job.get("launcher_pid")) is not None:
        known.append(_launcher_of(paths, job) is not None)
    if status.get("state") == "running" and _pid(status.get("pid")) is not None:
        known.append(_trainer_of(paths, status) is not None)
    return any(known) if known else True  # nothing recorded yet (just queued): not known to be gone


def _interrupted_message(paths: RunPaths, status: dict) -> str:
    """What is known of a run whose processes ended without a final status."""
    if status.get("state") == "queued":
        what = "its launcher ended while it waited for a training slot"
    else:
        e, total = status.get("epoch"), status.get("epochs")
        at = f" after {e} of {total} epochs" if isinstance(e, int) and isinstance(total, int) and total else ""
        what = f"the training process ended{at} without a final status (killed with its launcher?)"
    tail = log_tail(paths.train_log)
    if tail:
        return f"{what}; see train.log (its last line: {tail})"
    last = status.get("message")
    return f"{what}, before writing anything to train.log" + (f" (its last status: {last})" if last else "")


def run_state(out: Union[str, Path]) -> dict:
    """status.json of run `out`; a queued/running run whose processes are gone reads as "interrupted"."""
    paths = RunPaths.of(out)
    status = _status(paths)
    if status.get("state") in ACTIVE and not _active(paths, status, _job(paths)):
        # the launcher may have just written a final state: read once more before calling it interrupted
        status = _status(paths)
        if status.get("state") in ACTIVE and not _active(paths, status, _job(paths)):
            status.update(state="interrupted", message=_interrupted_message(paths, status))
    return status


def _signal(pid: int, sig: int, *, group: bool) -> None:
    try:
        (os.killpg if group else os.kill)(pid, sig)
    except OSError:
        pass


def stop_run(out: Union[str, Path], user: Optional[str] = None) -> None:
    """Ask run `out` to stop: a queued run leaves the queue, a running one is terminated. Only the run's own
    launcher (its process group) or, where the launcher is gone, its own CLI process is signalled. `user`: the
    signed-in user asking (ConfigError when another signed-in user started the run)."""
    paths = RunPaths.of(out)
    _check_owner(paths, user, "stop")
    paths.stop.touch()
    job = _job(paths)
    launcher = _launcher_of(paths, job)
    if launcher is not None:
        _signal(launcher, signal.SIGTERM, group=True)  # the launcher and the CLI (same process group)
        deadline = time.time() + STOP_WAIT_SECONDS
        while _launcher_of(paths, job) is not None and time.time() < deadline:
            time.sleep(0.05)
    else:
        trainer = _trainer_of(paths, _status(paths)) if _status(paths).get("state") == "running" else None
        if trainer is not None:  # a CLI whose launcher died: stop it alone
            _signal(trainer, signal.SIGTERM, group=False)
            deadline = time.time() + STOP_WAIT_SECONDS
            while _trainer_of(paths, _status(paths)) is not None and time.time() < deadline:
                time.sleep(0.05)
    status = _status(paths)
    if status.get("state") in ACTIVE and not _active(paths, status, _job(paths)):
        # the launcher died before it could record the stop (e.g. signalled while starting up)
        set_state(paths, "stopped", "stopped by the user")


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
        job = _job(paths)
        settings = job.get("settings")
        metrics = read_metrics(d)
        out.append({"name": d.name, "dir": str(d), "settings": settings if isinstance(settings, dict) else {},
                    "status": run_state(d), "last": metrics[-1] if metrics else {}, "summary": read_json(paths.summary),
                    "created": job.get("created")})
    return out
