"""What the files beside a checkpoint say about its run: a `manifest.json` listing it (the shipped
checkpoints) or the run folder it sits in (`config.json`, `summary.json` of `python -m das_core train`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

__all__ = ["beside_checkpoint"]

_MANIFEST_KEYS = ("command", "training", "metrics", "ratio")
_CONFIG_KEYS = ("method", "epochs", "lr", "batch_size", "backbone", "seed", "ratio")


def _read(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def beside_checkpoint(path: Optional[str]) -> dict:
    """{"run": "manifest"|"run folder", "command", "training", "metrics", ...} from the files next to
    `path`; {} where there are none (or they are unreadable).

    Args:
        path: the checkpoint file (None: nothing to read).
    """
    if not path:
        return {}
    p = Path(path)
    manifest = _read(p.parent / "manifest.json")
    entries = manifest.get("checkpoints", []) if isinstance(manifest, dict) else manifest
    for e in entries if isinstance(entries, list) else []:
        if isinstance(e, dict) and e.get("file") == p.name:
            return {"run": "manifest", **{k: e[k] for k in _MANIFEST_KEYS if e.get(k) is not None}}
    config, summary = _read(p.parent / "config.json"), _read(p.parent / "summary.json")
    if not isinstance(config, dict) and not isinstance(summary, dict):
        return {}
    out: dict = {"run": "run folder", "run_folder": p.parent.name}
    if isinstance(config, dict):
        out["training"] = {k: config[k] for k in _CONFIG_KEYS if k in config}
    if isinstance(summary, dict):
        out["metrics"] = {k: summary[k] for k in ("auc", "balanced_accuracy", "accuracy", "best_epoch", "test_size")
                          if k in summary}
    return out
