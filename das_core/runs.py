"""The layout of a training run folder, and helpers to write and read it.

    <out>/config.json    the TrainConfig (dataclasses.asdict)
    <out>/metrics.jsonl  one JSON line per epoch: epoch, train_loss, val_loss, val_auc,
                         val_balanced_accuracy, val_accuracy, seconds, lr
    <out>/status.json    {"state": running|finished|failed|stopped, "pid", "pid_start", "epoch",
                         "epochs", "message", "updated"}, written atomically; "pid_start" is the
                         writer's start time (/proc/<pid>/stat field 22), so a pid the kernel
                         gave to another process since does not count as the run
    <out>/summary.json   test metrics: balanced_accuracy, auc, accuracy, confusion_matrix, classes,
                         best_epoch, config, test_size, seconds, ...
    <out>/best.pt        best checkpoint (early-stopping criterion)
    <out>/last.pt        latest checkpoint with optimizer state (for --resume)
    <out>/probe.json     bench's selection probes of best.pt (hit rate, picks-only AUC, ...)
    <out>/diagnostics.jsonl  sampler diagnostics during training, when asked for (engine/diagnostics.py)

Runs started by the app's job launcher (`explorer.jobs`) also hold:

    <out>/job.json           the request: settings, created, max_parallel, launcher pid and start
                             time (never a command line: the launcher builds the command itself)
    <out>/train-config.json  the TrainConfig the CLI reads (`python -m das_core train --config ...`)
    <out>/train.log          the CLI's stdout and stderr
    <out>/launcher.log       the launcher's own output
    <out>/stop               present once a stop was requested

JSON files are written atomically (temporary file + os.replace), so a reader never sees half a file;
a full disk raises `DiskFullError` (one sentence) and leaves the previous file.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from .atomic import atomic_write
from .errors import disk_full


__all__ = [
    "RunPaths", "write_json", "read_json", "append_jsonl", "read_metrics", "write_status", "read_status",
    "read_summary", "read_config", "list_runs", "is_finished", "best_validation_auc", "STATES", "ACTIVE_STATES", "TERMINAL_STATES",
    "RESUMABLE_STATES", "process_start", "pid_alive",
    "process_group", "process_cmdline",
]

# "interrupted" is never written by a run: `explorer.jobs.run_state` reads a queued/running run whose
# processes are gone as interrupted
STATES = ("queued", "running", "finished", "failed", "stopped", "interrupted")
ACTIVE_STATES = ("queued", "running")  # a run that is waiting for or holding a training slot
TERMINAL_STATES = tuple(s for s in STATES if s not in ACTIVE_STATES)
RESUMABLE_STATES = ("stopped", "failed", "interrupted")  # Resume continues these from their last.pt


@dataclass(frozen=True)
class RunPaths:
    """The files of run folder `root`."""

    root: Path

    @classmethod
    def of(cls, out: Union[str, Path]) -> "RunPaths":
        return cls(Path(out))

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def status(self) -> Path:
        return self.root / "status.json"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def best(self) -> Path:
        return self.root / "best.pt"

    @property
    def last(self) -> Path:
        return self.root / "last.pt"

    @property
    def diagnostics(self) -> Path:
        return self.root / "diagnostics.jsonl"

    @property
    def probe(self) -> Path:
        return self.root / "probe.json"

    @property
    def job(self) -> Path:
        return self.root / "job.json"

    @property
    def train_config(self) -> Path:
        return self.root / "train-config.json"

    @property
    def train_log(self) -> Path:
        return self.root / "train.log"

    @property
    def launcher_log(self) -> Path:
        return self.root / "launcher.log"

    @property
    def stop(self) -> Path:
        return self.root / "stop"


def write_json(path: Union[str, Path], data: Any) -> Path:
    """Write `data` as indented JSON atomically (see `das_core.atomic.atomic_write`)."""
    with atomic_write(path, "w") as fh:
        json.dump(data, fh, indent=2, allow_nan=False, default=str)
        fh.write("\n")
    return Path(path)


def read_json(path: Union[str, Path], default: Any = None) -> Any:
    """Parsed JSON of `path`, or `default` when the file is missing or unreadable."""
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return default


def append_jsonl(path: Union[str, Path], record: dict) -> None:
    """Append one JSON line (flushed and fsynced); a failed write is cut off again, so the file never ends
    in half a line (a full disk: `DiskFullError`)."""
    path = Path(path)
    line = json.dumps(record, allow_nan=False, default=str) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as fh:
            size = fh.tell()
            try:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
            except BaseException:
                try:
                    fh.truncate(size)
                except (OSError, ValueError):
                    pass
                raise
    except OSError as err:
        full = disk_full(err, path.parent)
        if full is not None and full is not err:
            raise full from err
        raise


def read_metrics(out: Union[str, Path]) -> list[dict]:
    """The per-epoch records of run `out` (a torn last line is skipped)."""
    records = []
    try:
        with open(RunPaths.of(out).metrics) as fh:
            for line in fh:
                line = line.strip()
                if line:
                    try:
                        records.append(json.loads(line))
                    except ValueError:
                        pass
    except OSError:
        pass
    return records


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def write_status(out: Union[str, Path], state: str, *, epoch: int = 0, epochs: int = 0, message: str = "", **extra) -> dict:
    """Write `status.json` atomically and return it (with this process's pid and start time)."""
    assert state in STATES, state
    status = {"state": state, "pid": os.getpid(), "pid_start": process_start(os.getpid()), "epoch": int(epoch),
              "epochs": int(epochs), "message": message, "updated": _now(), **extra}
    write_json(RunPaths.of(out).status, status)
    return status


# ----------------------------------------------------------------------------- processes (Linux /proc)

def _as_pid(pid: Any) -> Optional[int]:
    """`pid` as a process id > 0 (0 and negative ids address process groups, never one run), else None."""
    if isinstance(pid, bool):
        return None
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return None
    return pid if pid > 0 else None


def _stat_fields(pid: int) -> Optional[list[str]]:
    """/proc/<pid>/stat from field 3 (state) on, or None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None


def _stat_int(pid: Any, index: int) -> Optional[int]:
    """Integer field `index` (counted after the command name) of /proc/<pid>/stat, or None."""
    pid = _as_pid(pid)
    fields = _stat_fields(pid) if pid is not None else None
    try:
        return int(fields[index]) if fields else None
    except (IndexError, ValueError):
        return None


def process_start(pid: Any) -> Optional[int]:
    """The start time of process `pid` (clock ticks after boot, /proc/<pid>/stat field 22), or None."""
    return _stat_int(pid, 19)


def process_group(pid: Any) -> Optional[int]:
    """The process group of `pid` (/proc/<pid>/stat field 5), or None."""
    return _stat_int(pid, 2)


def process_cmdline(pid: Any) -> Optional[list[str]]:
    """The command line of `pid` (/proc/<pid>/cmdline), or None where it cannot be read."""
    pid = _as_pid(pid)
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0")[:-1]] if raw else None


def pid_alive(pid: Any, start: Any = None) -> bool:
    """True while process `pid` runs and, when `start` is given, is the process that started then (not one
    the kernel gave the same pid later). A zombie (exited, not yet reaped) is not alive."""
    pid = _as_pid(pid)
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:
        pass  # it exists, under another user
    except OSError:
        return False
    fields = _stat_fields(pid)
    if fields is None:  # gone since os.kill, or no /proc at all (not Linux: os.kill's answer stands)
        return not os.path.isdir("/proc/self")
    if fields[0][:1] == "Z":
        return False
    if start is not None:
        try:
            return len(fields) > 19 and int(fields[19]) == int(start)
        except (TypeError, ValueError):
            return False
    return True


def read_status(out: Union[str, Path]) -> Optional[dict]:
    """`status.json` of run `out` plus `"alive"`: False for a "running" run whose process is gone (or whose
    pid now belongs to another process)."""
    status = read_json(RunPaths.of(out).status)
    if not isinstance(status, dict):
        return None
    status["alive"] = status.get("state") == "running" and pid_alive(status.get("pid"), status.get("pid_start"))
    return status


def read_summary(out: Union[str, Path]) -> Optional[dict]:
    return read_json(RunPaths.of(out).summary)


def read_config(out: Union[str, Path]) -> Optional[dict]:
    return read_json(RunPaths.of(out).config)


def best_validation_auc(out: Union[str, Path], metric: str = "val_auc") -> Optional[float]:
    """The validation AUC (or another `metric` of the epoch record, e.g. "val_balanced_accuracy") of the epoch
    run `out` kept as best (None when its metrics do not say)."""
    best = None
    best_epoch = (read_summary(out) or {}).get("best_epoch")
    for rec in read_metrics(out):
        if rec.get("epoch") == best_epoch:
            best = rec.get(metric)
    return best


def is_finished(out: Union[str, Path]) -> bool:
    """True when run `out` finished and wrote its summary."""
    status = read_json(RunPaths.of(out).status) or {}
    return status.get("state") == "finished" and RunPaths.of(out).summary.is_file()


def list_runs(root: Union[str, Path] = "runs") -> list[Path]:
    """Run folders (those with a config.json) under `root`, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = [p.parent for p in root.rglob("config.json")]
    return sorted(runs, key=lambda p: p.stat().st_mtime, reverse=True)
