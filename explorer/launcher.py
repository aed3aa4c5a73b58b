"""The detached process behind one app training run: wait for a free slot, run the command, make sure
a final state is written.

Run as `python -m explorer.launcher <run dir>` by `explorer.jobs.start_run`. It imports only the
standard library and `das_core.runs` (no torch), so it starts at once; the training command it runs
is a child process in the same process group, so stopping the launcher's group stops both.

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
from typing import IO, Any, Optional

from das_core.runs import RunPaths, read_json, write_json

__all__ = ["TERMINAL", "now", "alive", "set_state", "launch"]

TERMINAL = ("finished", "failed", "stopped")
POLL_SECONDS = 0.5


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def alive(pid: Any) -> bool:
    """True while process `pid` runs (a zombie, exited but not yet reaped, is not alive)."""
    try:
        pid = int(pid)
        os.kill(pid, 0)
    except (OSError, ValueError, TypeError):
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def set_state(paths: RunPaths, state: str, message: str) -> None:
    """Update `state`, `message` and `updated` of the run's status.json, keeping its other fields."""
    status = read_json(paths.status, {}) or {}
    status.update(state=state, message=message, updated=now())
    write_json(paths.status, status)


def _log_tail(path: Path, n: int = 400) -> str:
    """The last non-empty line of a log (at most n characters)."""
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return ""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return (lines[-1] if lines else "")[-n:]


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
        set_state(paths, "stopped", "stopped by the user")
        os._exit(0)

    return handler


def _finish(paths: RunPaths, rc: int) -> None:
    """Write the final state the command did not write itself."""
    state = (read_json(paths.status, {}) or {}).get("state")
    if paths.stop.exists() and state != "finished":
        set_state(paths, "stopped", "stopped by the user")
    elif rc != 0 and state != "failed":
        set_state(paths, "failed", _log_tail(paths.train_log) or f"the training command exited with code {rc}")
    elif rc == 0 and state not in TERMINAL:
        set_state(paths, "finished", "done")


def launch(out: Path) -> int:
    """Run the job of run folder `out`: wait for a slot, run its command, write its final state.

    Args:
        out: a run folder holding the job.json that `explorer.jobs.start_run` wrote.
    """
    paths = RunPaths.of(out)
    job = read_json(paths.job, {}) or {}
    child: dict = {"p": None}
    signal.signal(signal.SIGTERM, _on_term(paths, child))
    slot = None
    while slot is None:
        if paths.stop.exists():
            set_state(paths, "stopped", "stopped before it started")
            return 0
        slot = _acquire_slot(paths.root.parent, max(1, int(job.get("max_parallel", 1))))
        if slot is None:
            time.sleep(POLL_SECONDS)
    set_state(paths, "running", "starting")
    with open(paths.train_log, "ab") as log:
        child["p"] = subprocess.Popen(job["command"], cwd=job.get("cwd") or None, stdout=log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        rc = child["p"].wait()
    _finish(paths, rc)
    slot.close()
    return 0


if __name__ == "__main__":  # python -m explorer.launcher <run dir>
    sys.exit(launch(Path(sys.argv[1])))
