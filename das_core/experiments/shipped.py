"""The shipped demo checkpoints (`python -m das_core checkpoints`): the main grid's own runs, and demo runs.

The Compare page's models are the runs the Results page reports: for every data set in
`SHIPPED_SETS` and every method, the seed-0 run at ratio 0.5 of the main grid (`make bench`,
`runs/bench-main`) is copied with its large weights stored as int8 (`das_core.quantize`, ~1 MB per
MobileNetV3-Small file, so `checkpoints/` stays under 32 MiB with all nine methods). Each compacted file is evaluated
again on its test split; `checkpoints/manifest.json` records, per file, the run it came from, the
run's own test metrics and selection probe (hit rate, distinct pick sets), the compacted file's test
metrics, and the `train` command that re-creates the run.

`DEMO_SETS` ship from their own short runs instead of the grid: the POCUS lung clips (`make pocus-demo`,
`runs/pocus-demo`), small-CNN models (~30-290 kB each) trained on the CC BY clips only, since most POCUS
clips are non-commercial. They are shipped only when named (`--datasets pocus-lung`), and every call
merges into the existing manifest: the entries of the sets it does not ship stay as they are.
"""

from __future__ import annotations

import datetime as _dt
import json
import shlex
import time
from pathlib import Path
from typing import Optional

from ..checkpoints import compact_checkpoint, manifest_entries
from ..cli_options import to_argv
from ..engine import TrainConfig
from ..engine.evaluate import evaluate_checkpoint
from ..errors import ConfigError
from ..runs import is_finished, read_config, read_summary, write_json
from ..samplers import list_samplers
from .probes import selection_probe

__all__ = ["SHIPPED_SETS", "DEMO_SETS", "make_checkpoints", "MAX_TOTAL_BYTES"]

# (file stem, the grid's data-set folder): the data sets the app offers a trained model for
SHIPPED_SETS = [
    ("synthetic-volumes", "synthetic-volumes-moving"),
    ("vesselmnist3d-28", "vesselmnist3d"),
    ("adrenalmnist3d-28", "adrenalmnist3d"),
]
# (file stem, the data-set folder in its runs folder, its runs folder, the command that trains the runs):
# sets shipped from their own demo runs, only when named in `datasets`
DEMO_SETS = [
    ("pocus-lung", "pocus-lung", "runs/pocus-demo", "make pocus-demo"),
]
GRID_RUNS_DIR = "runs/bench-main"
MAX_TOTAL_BYTES = 32 * 1024 * 1024  # the whole checkpoints/ folder: the .pt files and manifest.json (9 methods x 3 sets ~ 30 MB)

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
        **_licence_fields(c, s),
    }


def _licence_fields(config: dict, summary: dict) -> dict:
    """`train_licences` and a sentence on what the weights were trained and evaluated on, for a run whose
    data set kept clips of other licences out of training (`train_licences`); {} otherwise."""
    licences = (config.get("dataset_options") or {}).get("train_licences")
    if not licences:
        return {}
    licences = [licences] if isinstance(licences, str) else list(licences)
    sizes = {k: summary.get(f"{k}_size") for k in ("train", "val", "test")}
    return {"train_licences": licences, "split_sizes": sizes,
            "licence_note": f"Trained only on clips licensed {' or '.join(licences)} ({sizes['train']} clips); the "
                            f"clips under other licences were used for validation ({sizes['val']}) and testing "
                            f"({sizes['test']}) only, never for training."}


def _description(entries: dict) -> tuple[str, str]:
    """The manifest's description and re-create command, for the sets it holds."""
    def demo(file: str):
        return next((stem for stem, *_ in DEMO_SETS if file.startswith(stem + "-")), None)

    stems = {demo(f) for f in entries}
    text = ["Demo checkpoints for the DAS Explorer app, copied with int8 weights."]
    recreate = []
    if None in stems:
        text.append("Synthetic, VesselMNIST3D and AdrenalMNIST3D: the seed-0 runs at ratio 0.5 of the main benchmark "
                    "grid (docs/results.md, `make bench`; MobileNetV3-Small).")
        recreate.append("make bench && python -m das_core checkpoints")
    for stem, _, runs, target in DEMO_SETS:
        if stem in stems:
            text.append(f"{stem}: short seed-0 demo runs at ratio 0.5 (`{target}`, {runs}; small CNN), trained on the "
                        f"clips whose licence is listed in each entry's `train_licences` only, validated and tested "
                        f"on the clips under the other licences.")
            recreate.append(target)
    text.append("`run_metrics` are the run's own test metrics and selection probe, `metrics` those of the shipped "
                "int8 file, evaluated again on the same test split.")
    return " ".join(text), "; ".join(recreate)


def make_checkpoints(out_dir: str = "checkpoints", runs_dir: Optional[str] = None, *, datasets=None,
                     methods=None, seed: int = 0, ratio: float = 0.5, device: str = "cpu",
                     log=print) -> dict:
    """Copy the runs into `out_dir` (int8 weights), re-evaluate each file, merge them into the manifest.

    Args:
        out_dir: the shipped folder (`<stem>-<method>.pt` and `manifest.json`).
        runs_dir: the run folders (default: `runs/bench-main`, the main grid (`make bench`), for the
            grid's sets, and each demo set's own folder, e.g. `runs/pocus-demo`).
        datasets: file stems or data-set folders to ship (default: all of `SHIPPED_SETS`; `DEMO_SETS`
            only when named, e.g. `["pocus-lung"]`).
        methods: methods to ship (default: every registered sampler).
        seed, ratio: which run of each cell.
        device: where the re-evaluation runs.

    The entries of files it does not ship are kept as they are (those whose file is gone are dropped).

    Raises:
        ConfigError: a run the set needs has not finished (run `make bench` or the set's demo target
            first), or the folder would exceed `MAX_TOTAL_BYTES`.
    """
    out = Path(out_dir)
    sets = _sets_to_ship(named=set(datasets or ()), runs_dir=runs_dir)
    wanted = [(stem, tag, runs, target, m) for stem, tag, runs, target in sets for m in (methods or list_samplers())]
    _require_finished(wanted, ratio=ratio, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    entries = {e["file"]: e for e in manifest_entries(out) if e.get("file")}
    t0 = time.time()
    for stem, tag, runs, _, method in wanted:
        file = out / f"{stem}-{method}.pt"
        entries[file.name] = _ship_one(_run_folder(runs, tag, method, ratio, seed), file, device=device, log=log)
    stale = [f for f in entries if not (out / f).is_file()]
    for f in stale:
        entries.pop(f)
    manifest = _manifest(entries)
    folder = _checked_folder_bytes(manifest)
    write_json(manifest_path, manifest)
    log(f"{len(wanted)} checkpoints in {time.time() - t0:.0f} s; {out} now holds {folder / 2**20:.2f} MiB "
        f"({len(entries)} files and the manifest)")
    return manifest


def _sets_to_ship(*, named: set, runs_dir: Optional[str]) -> list[tuple]:
    """(stem, tag, runs folder, the command that trains its runs) of each set to ship; ConfigError for a name
    that is no shipped set."""
    sets = [(stem, tag, Path(runs_dir or GRID_RUNS_DIR), "make bench") for stem, tag in SHIPPED_SETS
            if not named or stem in named or tag in named]
    sets += [(stem, tag, Path(runs_dir or runs), target) for stem, tag, runs, target in DEMO_SETS
             if stem in named or tag in named]
    unknown = named - {x for stem, tag, *_ in [*SHIPPED_SETS, *DEMO_SETS] for x in (stem, tag)}
    if unknown:
        raise ConfigError(f"Unknown shipped data set(s) {', '.join(sorted(unknown))}; choose from "
                          f"{', '.join(stem for stem, *_ in [*SHIPPED_SETS, *DEMO_SETS])}.")
    return sets


def _require_finished(wanted: list[tuple], *, ratio: float, seed: int) -> None:
    """ConfigError unless every run the wanted (stem, tag, runs, target, method) files come from has finished."""
    missing = [(_run_folder(runs, tag, m, ratio, seed), target) for _, tag, runs, target, m in wanted
               if not is_finished(_run_folder(runs, tag, m, ratio, seed))]
    if missing:
        raise ConfigError(f"{len(missing)} run(s) the checkpoints come from have not finished "
                          f"(e.g. {missing[0][0]}); run `{missing[0][1]}` first or pass --runs-dir.")


def _ship_one(run: Path, file: Path, *, device: str, log) -> dict:
    """Compact the run's best.pt into `file`, evaluate it on its test split, log it; returns its manifest entry."""
    compact_checkpoint(run / "best.pt", file)
    # the data options come from the run's own config (the checkpoint's meta may not choose lists such
    # as train_licences, nor paths: engine.evaluate.data_request)
    config = read_config(run) or {}
    evaluated = evaluate_checkpoint(file, split="test", device=device, dataset=config.get("dataset"),
                                    root=config.get("root"), dataset_options=config.get("dataset_options"))
    entry = _entry(file, run, evaluated)
    log(f"{file.name}: {file.stat().st_size / 1e6:.2f} MB, test AUC {evaluated.get('auc')} "
        f"(run: {entry['run_metrics']['test_auc']})")
    return entry


def _manifest(entries: dict) -> dict:
    """The manifest of the files `entries` holds (file name -> entry), sorted by file."""
    total = sum(e["size_bytes"] for e in entries.values())
    description, recreate = _description(entries)
    return {
        "description": description,
        "recreate": recreate,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "total_bytes": total,
        "checkpoints": sorted(entries.values(), key=lambda e: e["file"]),
    }


def _checked_folder_bytes(manifest: dict) -> int:
    """The folder's size with this manifest written; ConfigError when it would exceed `MAX_TOTAL_BYTES`."""
    folder = manifest["total_bytes"] + len(json.dumps(manifest, indent=2, allow_nan=False, default=str).encode()) + 1
    if folder > MAX_TOTAL_BYTES:
        raise ConfigError(f"The shipped checkpoints and their manifest would take {folder / 2**20:.2f} MiB, over "
                          f"the {MAX_TOTAL_BYTES / 2**20:.0f} MiB cap; ship fewer data sets or methods.")
    return folder
