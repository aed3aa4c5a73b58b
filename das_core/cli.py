"""`python -m das_core train | evaluate | bench | speed | checkpoints | export` (see `--help` of each).

The flags of `train`, `bench`, `speed` and `export` are generated from their dataclasses (`TrainConfig`,
`BenchConfig`, `SpeedConfig`, `ExportSettings`; see `das_core.cli_options`), which hold the only defaults.
`train --config FILE` reads a JSON of `TrainConfig` fields (what the app's job launcher writes);
flags given beside it override the file.

User errors (`DASError`) print `error: <message>` and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

import torch

from . import distributed as dist_utils
from .cli_options import add_data_args, add_dataclass_args, dataset_options_from_args, given
from .engine import TrainConfig, evaluate_checkpoint, fit
from .engine.precision import PRECISIONS
from .errors import ConfigError, DASError
from .experiments.ablation import AblationConfig, run_ablation
from .experiments.bench import GRID_FIELDS, BenchConfig, run_bench
from .experiments.shipped import make_checkpoints
from .experiments.speed import SpeedConfig, run_speed
from .export import (ExportSettings, dataset_options_for, export_study, load_export_models, prepare_out_dir,
                     settings_from, study_from_dataset, study_from_file)
from .runs import write_json

__all__ = ["main", "build_parser", "config_from_args"]


def _read_config_file(path: str) -> TrainConfig:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"--config {path} is not a readable JSON file ({type(err).__name__}); "
                          f"write one with the TrainConfig fields, e.g. {{\"method\": \"das\", \"epochs\": 3}}.") from None
    return TrainConfig.from_dict(data)


def _merged(base: TrainConfig, args, *, exclude: Sequence[str] = ()) -> TrainConfig:
    """`base` with the flags the user gave (data flags merge into base.dataset_options)."""
    values = given(args, TrainConfig, exclude=exclude)
    if "sampler_options" in values:
        values["sampler_options"] = {**base.sampler_options, **values["sampler_options"]}
    data = dataset_options_from_args(args)
    if data:
        values["dataset_options"] = {**base.dataset_options, **data}
    return dataclasses.replace(base, **values)


def config_from_args(args) -> TrainConfig:
    """`TrainConfig` of parsed `train` arguments: the --config file (or the defaults), then the flags."""
    base = _read_config_file(args.config) if args.config else TrainConfig()
    return _merged(base, args)


def _metrics_line(m: dict) -> str:
    def f(v):
        return "n/a" if v is None else f"{v:.4f}"

    return f"balanced_accuracy {f(m.get('balanced_accuracy'))}  auc {f(m.get('auc'))}  accuracy {f(m.get('accuracy'))}"


def cmd_train(args) -> int:
    config = config_from_args(args)
    summary = fit(config)
    if dist_utils.is_distributed():
        # every rank reports what it ended with, so a test can check the ranks agree
        report = {"rank": dist_utils.rank(), "world_size": dist_utils.world_size(),
                  "checksum": summary.get("param_checksum"), "auc": summary.get("auc"),
                  "balanced_accuracy": summary.get("balanced_accuracy"), "test_loss": summary.get("test_loss")}
        print(json.dumps({"ddp_rank_report": report}), flush=True)
        rank_dir = os.environ.get("DAS_RANK_REPORT_DIR")
        if rank_dir:
            write_json(os.path.join(rank_dir, f"rank{dist_utils.rank()}.json"), report)
    if dist_utils.is_main():
        print(f"test ({summary.get('test_size')} items, best epoch {summary.get('best_epoch')}): {_metrics_line(summary)}")
        print(f"run folder: {config.run_dir}")
    return 0


def cmd_evaluate(args) -> int:
    result = evaluate_checkpoint(args.checkpoint, split=args.split, dataset=args.dataset, root=args.root,
                                 dataset_options=dataset_options_from_args(args) or None, batch_size=args.batch_size,
                                 device=args.device, max_batches=args.max_eval_batches, precision=args.precision)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['dataset']} {result['split']} ({result['n']} items), {result['method']}: {_metrics_line(result)}")
        print("confusion matrix (rows = true class " + ", ".join(result["classes"]) + "):")
        for row in result["confusion_matrix"]:
            print("  " + " ".join(f"{v:5d}" for v in row))
    return 0


def cmd_bench(args) -> int:
    train = _merged(BenchConfig().train, args, exclude=GRID_FIELDS)
    cfg = BenchConfig(train=train, **given(args, BenchConfig))
    command = "python -m das_core " + " ".join(sys.argv[1:]) if args.command_line is None else args.command_line
    run_bench(cfg, command=command)
    return 0


def cmd_paired(args) -> int:
    from .experiments.paired import PairedConfig, run_paired

    run_paired(PairedConfig(**given(args, PairedConfig)))
    return 0


def cmd_replication(args) -> int:
    from .experiments.replication import ReplicationConfig, run_replication

    run_replication(ReplicationConfig(**given(args, ReplicationConfig)))
    return 0


def cmd_static_control(args) -> int:
    from .experiments.static_control import shipped_static_controls

    rows = shipped_static_controls(args.checkpoint_dir, args.out, device=args.device, datasets=args.datasets)
    for r in rows:
        d = r["own_minus_modal"]
        print(f"{r['file']}: own {r['auc_own']:.3f}, modal {r['auc_modal']:.3f}, own - modal {d['diff']:+.3f} "
              f"[{d['lo']:+.3f}, {d['hi']:+.3f}]")
    return 0


def cmd_ablation(args) -> int:
    run_ablation(AblationConfig(**given(args, AblationConfig)))
    return 0


def cmd_speed(args) -> int:
    run_speed(SpeedConfig(**given(args, SpeedConfig)))
    return 0


def cmd_checkpoints(args) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    make_checkpoints(out_dir=args.out_dir, runs_dir=args.runs_dir, datasets=args.datasets, methods=args.methods,
                     seed=args.seed, ratio=args.ratio, device=args.device)
    return 0


def _export_study(args, models):
    """The study of `export`: the --input file (data flags are load_sequence options) or item --index
    of --dataset (with the options of a checkpoint trained on it, then the data flags)."""
    from .data import load_sequence

    given_opts = dataset_options_from_args(args)
    if args.input is not None:
        accepted = set(inspect.signature(load_sequence).parameters) - {"source", "filename", "grayscale"}
        unknown = sorted(set(given_opts) - accepted)
        if unknown:
            raise ConfigError(f"--input files take no {', '.join(unknown)} option; the reader takes "
                              f"{', '.join(sorted(accepted))} (e.g. --data-option window=[40,400]).")
        return study_from_file(args.input, **given_opts)  # colour kept for display; 1-channel models see gray
    name = args.dataset or models[0].meta.get("dataset")
    if not name:
        raise ConfigError(f"{models[0].name} does not say which data set it was trained on; name the study with "
                          f"--input FILE or --dataset NAME --index I.")
    options = dataset_options_for(name, [m.meta for m in models], given_opts)
    return study_from_dataset(name, args.index, split=args.split, root=args.root, options=options)


def cmd_export(args) -> int:
    settings = settings_from(**given(args, ExportSettings))
    if args.input is not None and args.dataset is not None:
        raise ConfigError("Name the study with --input FILE or with --dataset NAME --index I, not both.")
    out = prepare_out_dir(args.out)
    models = load_export_models(args.checkpoint)
    study = _export_study(args, models)
    written = export_study(models, study, out, settings=settings)
    print(f"{study.name}: {len(models)} checkpoint(s); wrote {', '.join(written)} to {out}")
    return 0


def _add_train_parser(sub) -> None:
    """Add the `train` subcommand (TrainConfig flags, data flags, --config) to `sub`."""
    p = sub.add_parser("train", help="train one model (also under torchrun for data-parallel)",
                       description="Train a sampler + backbone classifier; writes config.json, metrics.jsonl, "
                                   "status.json, summary.json, best.pt and last.pt to --out.")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="a JSON file of TrainConfig fields (flags given beside it override it)")
    add_dataclass_args(p, TrainConfig)
    add_data_args(p)
    p.set_defaults(func=cmd_train)


def _add_evaluate_parser(sub) -> None:
    """Add the `evaluate` subcommand (a checkpoint on a split) to `sub`."""
    p = sub.add_parser("evaluate", help="evaluate a checkpoint on a split",
                       description="Reload a checkpoint and print its metrics on a split of its data set.")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    add_data_args(p, dataset=True)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="fp32", choices=PRECISIONS,
                   help="fp32, or the backbone and head under torch.autocast: bf16 (CPU or CUDA), fp16 (CUDA)")
    p.add_argument("--max-eval-batches", type=int, default=None)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=cmd_evaluate)


def _add_bench_parser(sub) -> None:
    """Add the `bench` subcommand (BenchConfig flags plus the non-grid TrainConfig flags) to `sub`."""
    p = sub.add_parser("bench", help="grid of data sets x methods x seeds x ratios -> results tables",
                       description="Run (or resume) a benchmark grid; finished runs are skipped. Writes results.csv "
                                   "and results.md to --out-dir and rewrites the page --results-md. Every other flag "
                                   "is a training setting of every run (as in `train`).")
    add_dataclass_args(p, BenchConfig)
    add_dataclass_args(p, TrainConfig, exclude=GRID_FIELDS)
    add_data_args(p)
    p.add_argument("--command-line", default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_bench)


def _add_paired_parser(sub) -> None:
    """Add the `paired` subcommand (PairedConfig flags) to `sub`; imports its config lazily."""
    from .experiments.paired import PairedConfig

    p = sub.add_parser("paired", help="paired differences with CIs and the static controls of a grid -> paired.md",
                       description="Read a bench grid's finished runs; per data set and ratio, every method minus "
                                   "uniform, minus the best static/heuristic baseline (by validation AUC) and minus "
                                   "full, paired by seed (95% bootstrap CI, sign-flip p); and each adaptive run's own "
                                   "picks vs its modal and blank-input pick sets. Writes paired.md and paired.json to "
                                   "--out-dir; the bench page includes paired.md.")
    add_dataclass_args(p, PairedConfig)
    p.set_defaults(func=cmd_paired)


def _add_replication_parser(sub) -> None:
    """Add the `replication` subcommand (ReplicationConfig flags) to `sub`; imports its config lazily."""
    from .experiments.replication import ReplicationConfig

    p = sub.add_parser("replication", help="the same grid run on two machines: runs and conclusions compared",
                       description="Read two results.csv files of one grid (e.g. run on two CPUs); per run the "
                                   "difference of test AUC, per cell each method's mean and its paired difference to "
                                   "uniform within each grid, and whether both grids call the same separation.")
    add_dataclass_args(p, ReplicationConfig)
    p.set_defaults(func=cmd_replication)


def _add_static_control_parser(sub) -> None:
    """Add the `static-control` subcommand (the shipped checkpoints' static controls) to `sub`."""
    p = sub.add_parser("static-control", help="own picks vs the modal and blank-input sets of the shipped checkpoints",
                       description="For every shipped checkpoint of an adaptive sampler (checkpoints/manifest.json): "
                                   "its test AUC with its own picks, with the pick set it makes most often on the "
                                   "train split, and with its picks on a blank input, with item-level bootstrap CIs.")
    p.add_argument("--checkpoint-dir", default="checkpoints")
    p.add_argument("--out", default="docs/results/static_control_shipped.md")
    p.add_argument("--datasets", nargs="+", default=None)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_static_control)


def _add_ablation_parser(sub) -> None:
    """Add the `ablation` subcommand (AblationConfig flags) to `sub`."""
    p = sub.add_parser("ablation", help="DAS training-recipe ablation -> docs/results-ablation.md",
                       description="Train DAS with each candidate recipe (5 seeds, both backbones, synthetic moving and "
                                   "fixed; then held-out sets), logging sampler diagnostics, and write the page.")
    add_dataclass_args(p, AblationConfig)
    p.set_defaults(func=cmd_ablation)


def _add_speed_parser(sub) -> None:
    """Add the `speed` subcommand (SpeedConfig flags) to `sub`."""
    p = sub.add_parser("speed", help="throughput / latency benchmark -> docs/speed.json, docs/speed.md",
                       description="MobileNetV3-Small inference throughput (full vs each sampler), the sampler's share "
                                   "of time, DAS vs ADPS sampling latency and training step time, in one run.")
    add_dataclass_args(p, SpeedConfig)
    p.set_defaults(func=cmd_speed)


def _add_checkpoints_parser(sub) -> None:
    """Add the `checkpoints` subcommand (re-create the shipped checkpoints) to `sub`."""
    p = sub.add_parser("checkpoints", help="re-create the shipped checkpoints in checkpoints/ from the main grid",
                       description="Copy the main grid's seed-0 runs at ratio 0.5 (make bench) of the synthetic moving "
                                   "set, VesselMNIST3D and AdrenalMNIST3D into checkpoints/ with int8 weights, "
                                   "evaluate each file again and merge them into checkpoints/manifest.json. "
                                   "--datasets pocus-lung ships the POCUS demo runs (make pocus-demo) instead; "
                                   "the entries of the sets not shipped stay as they are.")
    p.add_argument("--out-dir", default="checkpoints")
    p.add_argument("--runs-dir", default=None, help="the run folders (default: runs/bench-main for the grid's sets, "
                                                   "runs/pocus-demo for pocus-lung)")
    p.add_argument("--datasets", nargs="+", default=None,
                   help="file stems or grid folders (default: the grid's three sets; pocus-lung only when named)")
    p.add_argument("--methods", nargs="+", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ratio", type=float, default=0.5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.set_defaults(func=cmd_checkpoints)


def _add_export_parser(sub) -> None:
    """Add the `export` subcommand (one study, its checkpoints, data flags and ExportSettings flags) to `sub`."""
    p = sub.add_parser("export", help="take-it-away export of one study: picks, MP4/GIF, CSV/JSON, HTML report",
                       description="Run each checkpoint on one study (resampled to the checkpoint's T and frame "
                                   "size) and write sequence.mp4, sequence.gif, picks.png, picks.csv, picks.json "
                                   "and report.html to --out. The study is read, never copied. A research tool, "
                                   "not for diagnosis.")
    p.add_argument("--checkpoint", action="append", required=True, metavar="CKPT",
                   help="a checkpoint file; repeat for several (one row each, in this order)")
    p.add_argument("--input", default=None, metavar="FILE",
                   help="the study: a volume (.npy/.npz, NIfTI), a video, a DICOM file or series (folder or "
                        ".zip); --frames, --size and --data-option (window, axis, key) are its reader's options. "
                        "Without it the study is item --index of --dataset (default: the first checkpoint's)")
    p.add_argument("--index", type=int, default=0, help="with --dataset: the item of the split (default: 0)")
    p.add_argument("--split", default="test", choices=["train", "val", "test", "all"],
                   help="with --dataset: the split (default: test)")
    p.add_argument("--out", required=True, metavar="DIR", help="the folder to write into (created)")
    add_data_args(p, dataset=True)
    add_dataclass_args(p, ExportSettings)
    p.set_defaults(func=cmd_export)


def build_parser() -> argparse.ArgumentParser:
    """The `python -m das_core` parser with one subcommand per `cmd_*` (in `--help` order)."""
    parser = argparse.ArgumentParser(prog="python -m das_core", description="DAS Explorer: train, evaluate, benchmark.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    _add_train_parser(sub)
    _add_evaluate_parser(sub)
    _add_bench_parser(sub)
    _add_paired_parser(sub)
    _add_replication_parser(sub)
    _add_static_control_parser(sub)
    _add_ablation_parser(sub)
    _add_speed_parser(sub)
    _add_checkpoints_parser(sub)
    _add_export_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI; returns the exit status (2 for user errors)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DASError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; resume a training run with --resume.", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: this command ran out of memory; lower --batch-size, or use smaller inputs (--frames, --size).",
              file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
