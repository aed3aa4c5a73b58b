"""The shipped demo checkpoints (`python -m das_core checkpoints`): every method on a few data sets,
small CNN, ratio 0.5, a capped CPU budget; `checkpoints/manifest.json` records each file's data
set, k, T, test metrics and the command that re-creates it.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import shlex
import shutil
import time
from pathlib import Path
from typing import Optional

from ..cli_options import to_argv
from ..engine import TrainConfig, fit
from ..runs import is_finished, read_json, read_summary, write_json
from ..samplers import list_samplers

__all__ = ["CHECKPOINT_SETS", "make_checkpoints"]

CHECKPOINT_SETS = [
    # (file stem, data set, dataset options, epochs, max train batches, lr)
    ("synthetic-volumes", "synthetic-volumes", {"moving": True, "num_frames": 28, "size": 28}, 8, 20, 2e-3),
    ("vesselmnist3d-28", "vesselmnist3d", {"size": 28}, 3, 20, 1e-3),
    ("adrenalmnist3d-28", "adrenalmnist3d", {"size": 28}, 3, 20, 1e-3),
]


def make_checkpoints(out_dir: str = "checkpoints", runs_dir: str = "runs/checkpoints", datasets=None, methods=None,
                     epochs: Optional[int] = None, max_train_batches: Optional[int] = None, threads: Optional[int] = None,
                     seed: int = 0, log=print) -> dict:
    """Train every method on every `CHECKPOINT_SETS` entry (small_cnn, ratio 0.5, capped) and ship the best.pt files.

    Each checkpoint goes to `out_dir/<stem>-<method>.pt`; `out_dir/manifest.json` lists file, dataset,
    method, k, T, backbone, test metrics and the command that re-creates it. Runs already finished in
    `runs_dir` are reused (the command is resumable).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest = read_json(manifest_path, {}) or {}
    entries = {e["file"]: e for e in manifest.get("checkpoints", [])}
    t_all = time.time()
    for stem, name, opts, ep, mtb, lr in CHECKPOINT_SETS:
        if datasets and name not in datasets and stem not in datasets:
            continue
        for method in methods or list_samplers():
            run = Path(runs_dir) / stem / method
            cfg = TrainConfig(dataset=name, dataset_options=dict(opts), method=method, ratio=0.5, epochs=epochs or ep,
                              batch_size=16, lr=lr, seed=seed, backbone="small_cnn", out=str(run),
                              early_stopping="val_auc", min_epochs=1, patience=3,
                              max_train_batches=max_train_batches or mtb, threads=threads, resume=True, progress=False)
            if not is_finished(run):
                log(f"checkpoint {stem} {method} -> {run}")
                fit(cfg)
            s = read_summary(run)
            file = f"{stem}-{method}.pt"
            shutil.copyfile(run / "best.pt", out / file)
            cmd = shlex.join(["python", "-m", "das_core", "train",
                              *to_argv(dataclasses.replace(cfg, resume=False, threads=None, progress=True))])
            entries[file] = {
                "file": file, "dataset": name, "dataset_options": opts, "method": method,
                "k": s.get("num_selected"), "T": s.get("num_frames"), "frame_size": s.get("frame_size"),
                "backbone": "small_cnn", "ratio": 0.5, "classes": s.get("classes"),
                "metrics": {"test_balanced_accuracy": s.get("balanced_accuracy"), "test_auc": s.get("auc"),
                            "test_accuracy": s.get("accuracy"), "test_size": s.get("test_size"),
                            "best_epoch": s.get("best_epoch")},
                "training": {"epochs": cfg.epochs, "max_train_batches": cfg.max_train_batches, "batch_size": 16,
                             "lr": lr, "seed": seed, "seconds": s.get("seconds")},
                "size_bytes": (out / file).stat().st_size,
                "command": cmd,
            }
            manifest = {
                "description": "Demo checkpoints for the DAS Explorer app: small_cnn backbone, ratio 0.5, trained "
                               "with a capped CPU budget (few epochs, at most max_train_batches batches of 16 per "
                               "epoch, lr 1e-3, 2e-3 on the synthetic set) so all 18 train in about 15 minutes on 2 free CPU "
                               "cores (total_training_seconds is the measured sum; the shipped set took longer because "
                               "benchmark runs shared the cores). They show the samplers at work; they are not tuned "
                               "models, one seed each, and their metrics are not the benchmark (docs/results.md).",
                "recreate": "python -m das_core checkpoints",
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "checkpoints": sorted(entries.values(), key=lambda e: e["file"]),
            }
            manifest["total_training_seconds"] = round(sum((e["training"].get("seconds") or 0)
                                                           for e in manifest["checkpoints"]), 1)
            write_json(manifest_path, manifest)
    log(f"checkpoints done in {time.time() - t_all:.0f} s")
    return manifest
