"""The shipped demo checkpoints (`python -m das_core checkpoints`): the main grid's own runs.

The Compare page's models are the runs the Results page reports: for every data set in
`SHIPPED_SETS` and every method, the seed-0 run at ratio 0.5 of the main grid (`make bench`,
`runs/bench-main`) is copied with its large weights stored as int8 (`das_core.quantize`, ~1 MB per
MobileNetV3-Small file, so `checkpoints/` stays under 20 MB). Each compacted file is evaluated
again on its test split; `checkpoints/manifest.json` records, per file, the run it came from, the
run's own test metrics and selection probe (hit rate, distinct pick sets), the compacted file's test
metrics, and the `train` command that re-creates the run.
"""

from __future__ import annotations

import datetime as _dt
import shlex
import time
from pathlib import Path

from ..checkpoints import compact_checkpoint
from ..cli_options import to_argv
from ..engine import TrainConfig
from ..engine.evaluate import evaluate_checkpoint
from ..errors import ConfigError
from ..runs import is_finished, read_config, read_json, read_summary, write_json
from ..samplers import list_samplers
from .probes import selection_probe

__all__ = ["SHIPPED_SETS", "make_checkpoints", "MAX_TOTAL_BYTES"]

# (file stem, the grid's data-set folder): the data sets the app offers a trained model for
SHIPPED_SETS = [
    ("synthetic-volumes", "synthetic-volumes-moving"),
    ("vesselmnist3d-28", "vesselmnist3d"),
    ("adrenalmnist3d-28", "adrenalmnist3d"),
]
MAX_TOTAL_BYTES = 20 * 1024 * 1024

_METRICS = ("balanced_accuracy", "auc", "accuracy")


def _run_folder(runs_dir: Path, tag: str, method: str, ratio: float, seed: int) -> Path:
    return runs_dir / tag / f"{method}-r{1.0 if method == 'full' else ratio:g}-s{seed}"


def _entry(file: Path, run: Path, evaluated: dict) -> dict:
    s, c = read_summary(run) or {}, read_config(run) or {}
    probe = selection_probe(run)
    cfg = TrainConfig.from_dict(c)
    return {
        "file": file.name, "dataset": c.get("dataset"), "dataset_options": c.get("dataset_options") or {},
        "method": c.get("method"), "k": s.get("num_selected"), "T": s.get("num_frames"),
        "frame_size": s.get("frame_size"), "backbone": c.get("backbone"), "ratio": c.get("ratio"),
        "classes": s.get("classes"),
        "metrics": {**{f"test_{m}": evaluated.get(m) for m in _METRICS}, "test_size": s.get("test_size"),
                    "best_epoch": s.get("best_epoch")},
        "run": run.as_posix(),
        "run_metrics": {**{f"test_{m}": s.get(m) for m in _METRICS}, **{k: probe.get(k) for k in
                        ("hit_rate", "informative_rank", "distinct_picks", "picks_auc")}},
        "training": {"epochs": c.get("epochs"), "epochs_run": s.get("epochs_run"),
                     "max_train_batches": c.get("max_train_batches"), "batch_size": c.get("batch_size"),
                     "lr": c.get("lr"), "seed": c.get("seed"), "seconds": s.get("seconds")},
        "weights": "int8 per output channel for tensors of >= 1024 elements, float32 otherwise",
        "size_bytes": file.stat().st_size,
        "command": shlex.join(["python", "-m", "das_core", "train", *to_argv(cfg.__class__(**{
            **cfg.__dict__, "resume": False, "threads": None, "progress": True}))]),
    }


def make_checkpoints(out_dir: str = "checkpoints", runs_dir: str = "runs/bench-main", *, datasets=None,
                     methods=None, seed: int = 0, ratio: float = 0.5, device: str = "cpu",
                     log=print) -> dict:
    """Copy the grid's runs into `out_dir` (int8 weights), re-evaluate each file, write the manifest.

    Args:
        out_dir: the shipped folder (`<stem>-<method>.pt` and `manifest.json`).
        runs_dir: the main grid's run folders (`make bench`).
        datasets: file stems or grid folders to ship (default: all of `SHIPPED_SETS`).
        methods: methods to ship (default: every registered sampler).
        seed, ratio: which run of each cell.
        device: where the re-evaluation runs.

    Raises:
        ConfigError: a run the set needs has not finished (run `make bench` first), or the files
            would exceed `MAX_TOTAL_BYTES`.
    """
    out, runs = Path(out_dir), Path(runs_dir)
    sets = [(stem, tag) for stem, tag in SHIPPED_SETS if not datasets or stem in datasets or tag in datasets]
    wanted = [(stem, tag, m) for stem, tag in sets for m in (methods or list_samplers())]
    missing = [_run_folder(runs, tag, m, ratio, seed) for _, tag, m in wanted
               if not is_finished(_run_folder(runs, tag, m, ratio, seed))]
    if missing:
        raise ConfigError(f"{len(missing)} grid run(s) the checkpoints come from have not finished "
                          f"(e.g. {missing[0]}); run `make bench` first or pass --runs-dir.")
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    entries = {e["file"]: e for e in (read_json(manifest_path, {}) or {}).get("checkpoints", [])}
    t0 = time.time()
    for stem, tag, method in wanted:
        run = _run_folder(runs, tag, method, ratio, seed)
        file = out / f"{stem}-{method}.pt"
        compact_checkpoint(run / "best.pt", file)
        evaluated = evaluate_checkpoint(file, split="test", device=device)
        entries[file.name] = _entry(file, run, evaluated)
        log(f"{file.name}: {file.stat().st_size / 1e6:.2f} MB, test AUC {evaluated.get('auc')} "
            f"(run: {entries[file.name]['run_metrics']['test_auc']})")
    stale = [f for f in entries if not (out / f).is_file()]
    for f in stale:
        entries.pop(f)
    total = sum(e["size_bytes"] for e in entries.values())
    if total > MAX_TOTAL_BYTES:
        raise ConfigError(f"The shipped checkpoints take {total / 2**20:.1f} MiB, over the "
                          f"{MAX_TOTAL_BYTES / 2**20:.0f} MiB cap; ship fewer data sets or methods.")
    manifest = {
        "description": "Demo checkpoints for the DAS Explorer app: the seed-0 runs at ratio 0.5 of the main "
                       "benchmark grid (docs/results.md, `make bench`; MobileNetV3-Small), copied with int8 "
                       "weights. `run_metrics` are the run's own test metrics and selection probe, `metrics` "
                       "those of the shipped int8 file, evaluated again on the same test split.",
        "recreate": "make bench && python -m das_core checkpoints",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "total_bytes": total,
        "checkpoints": sorted(entries.values(), key=lambda e: e["file"]),
    }
    write_json(manifest_path, manifest)
    log(f"{len(wanted)} checkpoints in {time.time() - t0:.0f} s, {total / 2**20:.1f} MiB in {out}")
    return manifest


