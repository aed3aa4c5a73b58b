"""The detached process behind one app training run: wait for a free slot, run the command, make sure
a final state is written.

Run as `python -m explorer.launcher <run dir> [-- COMMAND...]` by `explorer.jobs`. It imports only the
standard library and `das_core.runs` (no torch), so it starts at once; the training command it runs
is a child process in the same process group, so stopping the launcher's group stops both.

The command is never read from the run folder: it is the one the spawning process passed on this
process's own command line (`explorer.jobs.start_run`: the CLI, or a test's stand-in), or else the
one `run_command` builds: `[sys.executable, "-m", "das_core", "train", "--config",
<run>/train-config.json, "--out", <run>]`, run in the project folder. A planted job.json can change
neither what runs nor where.

Its output goes to train.log as it is written: the child runs with PYTHONUNBUFFERED=1 and
DAS_TRAIN_LOG=stdout (the trainer then logs each phase and epoch to stdout, flushed line by line), so
a run killed with SIGKILL keeps its last lines.

Slots are `fcntl` file locks `<root>/.slot-<i>.lock`, i in [0, max_parallel): the kernel releases a
lock when its holder dies, so a crashed run never blocks the queue.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, Optional, Sequence

from das_core.runs import TERMINAL_STATES, RunPaths, pid_alive, read_json, write_json

__all__ = ["TERMINAL", "PROJECT_ROOT", "MAX_PARALLEL", "now", "alive", "set_state", "log_tail", "train_command",
           "run_command", "slots_of", "launch"]

# "interrupted" is never written to disk: `explorer.jobs.run_state` reads it off a run whose processes are gone
TERMINAL = TERMINAL_STATES
POLL_SECONDS = 0.5
PROJECT_ROOT = Path(__file__).resolve().parents[1]
MAX_PARALLEL = 64  # the most slots a job.json may ask for (a larger or odd value reads as 1)


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def alive(pid: Any, start: Any = None) -> bool:
    """True while process `pid` runs (a zombie is not alive) and, when `start` is given, is the process that
    started then (`das_core.runs.pid_alive`)."""
    return pid_alive(pid, start)


def set_state(paths: RunPaths, state: str, message: str) -> None:
    """Update `state`, `message` and `updated` of the run's status.json, keeping its other fields."""
    status = read_json(paths.status, {}) or {}
    if not isinstance(status, dict):
        status = {}
    status.update(state=state, message=message, updated=now())
    write_json(paths.status, status)


def log_tail(path: Path, n: int = 400) -> str:
    """The last non-empty line of a log (at most n characters; the CLI's "error: " prefix dropped), or ""."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in text.replace("\r", "\n").splitlines() if ln.strip()]
    line = lines[-1] if lines else ""
    return (line[len("error: "):] if line.startswith("error: ") else line)[-n:]


def train_command(config_path: "str | os.PathLike") -> list[str]:
    """The CLI command line that trains the TrainConfig stored (as JSON) in `config_path`."""
    return [sys.executable, "-m", "das_core", "train", "--config", str(config_path)]


def run_command(paths: RunPaths) -> list[str]:
    """The command of run `paths`, built here and nowhere read from disk: `train_command` of its
    train-config.json, its output folder pinned to the run folder (a flag beside --config wins)."""
    return train_command(paths.train_config) + ["--out", str(paths.root)]


def slots_of(job: Any) -> int:
    """The job's `max_parallel`: an integer in [1, MAX_PARALLEL], else 1."""
    v = job.get("max_parallel", 1) if isinstance(job, dict) else 1
    return v if isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_PARALLEL else 1


def _acquire_slot(root: Path, slots: int) -> Optional[IO]:
    """An open, exclusively locked slot file, or None when all `slots` are taken."""
    for i in range(slots):
        fh = open(root / f".slot-{i}.lock", "a")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fh
        except OSError:
            fh.close()
    return None


def _record(paths: RunPaths, state: str, message: str) -> None:
    """`set_state`, but a state that cannot be written (a full disk) only goes to launcher.log."""
    try:
        set_state(paths, state, message)
    except OSError as err:
        print(f"launcher: could not record {state!r} ({err}): {message}", file=sys.stderr, flush=True)


def _on_term(paths: RunPaths, child: dict):
    """SIGTERM handler: stop the command, record "stopped", exit."""

    def handler(signum, frame):
        p = child.get("p")
        if p is not None and p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        _record(paths, "stopped", "stopped by the user")
        os._exit(0)

    return handler


def _failure_message(paths: RunPaths, rc: int) -> str:
    """What is known of a command that exited with `rc` without recording its failure."""
    tail = log_tail(paths.train_log)
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        what = f"the training process was killed by {name}" + (" (out of memory?)" if -rc == signal.SIGKILL else "")
        return f"{what}; see train.log (its last line: {tail})" if tail else f"{what} before it wrote to train.log"
    return tail or f"the training command exited with code {rc} without writing anything to train.log"


def _finish(paths: RunPaths, rc: int) -> None:
    """Write the final state the command did not write itself."""
    status = read_json(paths.status, {}) or {}
    state = status.get("state") if isinstance(status, dict) else None
    if paths.stop.exists() and state != "finished":
        _record(paths, "stopped", "stopped by the user")
    elif rc != 0 and state != "failed":
        _record(paths, "failed", _failure_message(paths, rc))
    elif rc == 0 and state not in TERMINAL:
        _record(paths, "finished", "done")


def _child_env() -> dict:
    """The command's environment: unbuffered output, the trainer's log lines on stdout, the project importable."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["DAS_TRAIN_LOG"] = "stdout"
    env["PYTHONPATH"] = str(PROJECT_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def launch(out: Path, command: Optional[Sequence[str]] = None) -> int:
    """Run the job of run folder `out`: wait for a slot, run its command, write its final state.

    Args:
        out: a run folder holding the job.json and train-config.json that `explorer.jobs` wrote.
        command: the command line the spawning process passed (a test's stand-in, or the CLI); None:
            `run_command(out)`. Nothing in the run folder is ever run as a command.
    """
    paths = RunPaths.of(out)
    cmd = list(command) if command else run_command(paths)
    child: dict = {"p": None}
    signal.signal(signal.SIGTERM, _on_term(paths, child))
    slots = slots_of(read_json(paths.job, {}))
    slot = None
    while slot is None:
        if paths.stop.exists():
            _record(paths, "stopped", "stopped before it started")
            return 0
        slot = _acquire_slot(paths.root.parent, slots)
        if slot is None:
            time.sleep(POLL_SECONDS)
    _record(paths, "running", "starting")
    with open(paths.train_log, "ab", buffering=0) as log:
        child["p"] = subprocess.Popen(cmd, cwd=str(PROJECT_ROOT), env=_child_env(), stdout=log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        rc = child["p"].wait()
    _finish(paths, rc)
    slot.close()
    return 0


def _parse_argv(argv: Sequence[str]) -> tuple[Path, Optional[list[str]]]:
    """`<run dir> [-- COMMAND...]` -> (run dir, command or None)."""
    if not argv:
        raise SystemExit("usage: python -m explorer.launcher <run dir> [-- COMMAND...]")
    rest = list(argv[1:])
    command = rest[rest.index("--") + 1:] if "--" in rest else None
    return Path(argv[0]), command or None


if __name__ == "__main__":  # python -m explorer.launcher <run dir> [-- COMMAND...]
    sys.exit(launch(*_parse_argv(sys.argv[1:])))
