"""The layout of a training run folder, and helpers to write and read it.

    <out>/config.json    the TrainConfig (dataclasses.asdict)
    <out>/metrics.jsonl  one JSON line per epoch: epoch, train_loss, val_loss, val_auc,
                         val_balanced_accuracy, val_accuracy, seconds, lr
    <out>/status.json    {"state": running|finished|failed|stopped, "pid", "epoch", "epochs",
                         "message", "updated"}, written atomically
    <out>/summary.json   test metrics: balanced_accuracy, auc, accuracy, confusion_matrix, classes,
                         best_epoch, config, test_size, seconds, ...
    <out>/best.pt        best checkpoint (early-stopping criterion)
    <out>/last.pt        latest checkpoint with optimizer state (for --resume)
    <out>/probe.json     bench's selection probes of best.pt (hit rate, picks-only AUC, ...)
    <out>/diagnostics.jsonl  sampler diagnostics during training, when asked for (engine/diagnostics.py)

Runs started by the app's job launcher (`explorer.jobs`) also hold:

    <out>/job.json           the request: settings, command line, created, launcher pid
    <out>/train-config.json  the TrainConfig the CLI reads (`python -m das_core train --config ...`)
    <out>/train.log          the CLI's stdout and stderr
    <out>/launcher.log       the launcher's own output
    <out>/stop               present once a stop was requested

JSON files are written atomically (temporary file + os.replace), so a reader never sees half a file.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from .atomic import atomic_write


__all__ = [
    "RunPaths", "write_json", "read_json", "append_jsonl", "read_metrics", "write_status", "read_status",
    "read_summary", "read_config", "list_runs", "is_finished", "STATES",
]

STATES = ("queued", "running", "finished", "failed", "stopped")


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
    """Append one JSON line (flushed and fsynced)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(json.dumps(record, allow_nan=False, default=str) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


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
    """Write `status.json` atomically and return it."""
    assert state in STATES, state
    status = {"state": state, "pid": os.getpid(), "epoch": int(epoch), "epochs": int(epochs),
              "message": message, "updated": _now(), **extra}
    write_json(RunPaths.of(out).status, status)
    return status


def _pid_alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


def read_status(out: Union[str, Path]) -> Optional[dict]:
    """`status.json` of run `out` plus `"alive"`: False for a "running" run whose process is gone."""
    status = read_json(RunPaths.of(out).status)
    if not isinstance(status, dict):
        return None
    status["alive"] = status.get("state") == "running" and _pid_alive(status.get("pid"))
    return status


def read_summary(out: Union[str, Path]) -> Optional[dict]:
    return read_json(RunPaths.of(out).summary)


def read_config(out: Union[str, Path]) -> Optional[dict]:
    return read_json(RunPaths.of(out).config)


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
