"""`python -m das_core train | evaluate | bench | speed | checkpoints` (see `--help` of each).

User errors (`DASError`) print `error: <message>` and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, Sequence

from .errors import DASError

__all__ = ["main", "build_parser", "config_from_args"]


def _add_data_args(p: argparse.ArgumentParser, *, defaults: bool = True) -> None:
    p.add_argument("--dataset", default="synthetic-volumes" if defaults else None,
                   help="data set name (synthetic-volumes, synthetic-video, vesselmnist3d, adrenalmnist3d, "
                        "video-folder, pocus-lung, npz)")
    p.add_argument("--root", default=None, help="data folder or file, where the data set needs one")
    p.add_argument("--frames", type=int, default=None, help="T: frames per sequence (synthetic/video sets)")
    p.add_argument("--size", type=int, default=None, help="frame size H = W (28 or 64 for MedMNIST)")
    mv = p.add_mutually_exclusive_group()
    mv.add_argument("--moving", dest="moving", action="store_true", default=None,
                    help="synthetic: the informative structure moves between samples")
    mv.add_argument("--fixed", dest="moving", action="store_false", help="synthetic: the structure stays at fixed frames")
    p.add_argument("--fold", type=int, default=None, help="cross-validation fold (video sets)")
    p.add_argument("--num-folds", type=int, default=None, help="number of folds (video sets)")
    p.add_argument("--num-samples", type=int, default=None, help="synthetic: items per data set")
    p.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                   help="any other load_dataset option (JSON value), repeatable")


def dataset_options_from_args(args) -> dict:
    """The `dataset_options` dict of the data arguments (unset ones are left out)."""
    opts = {}
    for key, name in (("frames", "num_frames"), ("size", "size"), ("moving", "moving"), ("fold", "fold"),
                      ("num_folds", "num_folds"), ("num_samples", "num_samples")):
        v = getattr(args, key, None)
        if v is not None:
            opts[name] = v
    for item in getattr(args, "data_option", []) or []:
        if "=" not in item:
            from .errors import ConfigError

            raise ConfigError(f"--data-option expects KEY=VALUE, got {item!r}; for example --data-option extent=3.")
        k, v = item.split("=", 1)
        try:
            opts[k] = json.loads(v)
        except ValueError:
            opts[k] = v
    return opts


def _add_train_args(p: argparse.ArgumentParser) -> None:
    from .samplers import SAMPLERS

    _add_data_args(p)
    p.add_argument("--method", default="das", choices=list(SAMPLERS), help="sampler (default das)")
    p.add_argument("--ratio", type=float, default=0.5, help="sampling ratio k/T (default 0.5, the paper's)")
    p.add_argument("--k", type=int, default=None, help="frames to keep (overrides --ratio)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=16, help="batch size (default 16, the paper's)")
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default 1e-4, the paper's)")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--heads", type=int, default=4, help="DAS attention heads")
    p.add_argument("--tau0", type=float, default=None, help="base temperature (default: each sampler's own)")
    p.add_argument("--backbone", default="mobilenet_v3_small", choices=["mobilenet_v3_small", "small_cnn"])
    p.add_argument("--out", default=None, help="run folder (default runs/<dataset>-<method>-s<seed>)")
    p.add_argument("--early-stopping", default="val_auc", choices=["val_auc", "val_loss", "none"],
                   help="criterion for the best epoch and stopping (default val_auc)")
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--min-epochs", type=int, default=3)
    p.add_argument("--balance", default="weighted_loss", choices=["weighted_loss", "sampler", "none"],
                   help="class-imbalance handling (default weighted_loss)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:1")
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--max-train-batches", type=int, default=None, help="cap training batches per epoch")
    p.add_argument("--max-eval-batches", type=int, default=None, help="cap validation/test batches")
    p.add_argument("--sampler-warmup", type=int, default=0, metavar="EPOCHS",
                   help="first epochs in which a learned sampler is not updated (the backbone learns first)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")


def config_from_args(args):
    """`TrainConfig` of parsed `train` arguments."""
    from .train import TrainConfig

    out = args.out or f"runs/{args.dataset}-{args.method}-s{args.seed}"
    return TrainConfig(
        dataset=args.dataset, root=args.root, dataset_options=dataset_options_from_args(args), method=args.method,
        ratio=args.ratio, k=args.k, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        weight_decay=args.weight_decay, seed=args.seed, heads=args.heads, tau0=args.tau0, backbone=args.backbone,
        out=out, early_stopping=args.early_stopping, patience=args.patience, min_epochs=args.min_epochs,
        balance=args.balance, device=args.device, num_workers=args.num_workers,
        max_train_batches=args.max_train_batches, max_eval_batches=args.max_eval_batches, threads=args.threads,
        sampler_warmup_epochs=args.sampler_warmup,
        resume=args.resume, progress=not args.no_progress,
    )


def _metrics_line(m: dict) -> str:
    def f(v):
        return "n/a" if v is None else f"{v:.4f}"

    return f"balanced_accuracy {f(m.get('balanced_accuracy'))}  auc {f(m.get('auc'))}  accuracy {f(m.get('accuracy'))}"


def cmd_train(args) -> int:
    import os

    from . import distributed as dist_utils
    from .train import fit

    config = config_from_args(args)
    summary = fit(config)
    if dist_utils.is_distributed():
        # every rank reports what it ended with, so a test can check the ranks agree
        from .runs import write_json

        report = {"rank": dist_utils.rank(), "world_size": dist_utils.world_size(),
                  "checksum": summary.get("param_checksum"), "auc": summary.get("auc"),
                  "balanced_accuracy": summary.get("balanced_accuracy"), "test_loss": summary.get("test_loss")}
        print(json.dumps({"ddp_rank_report": report}), flush=True)
        rank_dir = os.environ.get("DAS_RANK_REPORT_DIR")
        if rank_dir:
            write_json(os.path.join(rank_dir, f"rank{dist_utils.rank()}.json"), report)
    if dist_utils.is_main():
        print(f"test ({summary.get('test_size')} items, best epoch {summary.get('best_epoch')}): {_metrics_line(summary)}")
        print(f"run folder: {config.out}")
    return 0


def cmd_evaluate(args) -> int:
    from .train import evaluate_checkpoint

    opts = dataset_options_from_args(args)
    result = evaluate_checkpoint(args.checkpoint, split=args.split, dataset=args.dataset, root=args.root,
                                 dataset_options=opts or None, batch_size=args.batch_size, device=args.device,
                                 max_batches=args.max_eval_batches)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['dataset']} {result['split']} ({result['n']} items), {result['method']}: {_metrics_line(result)}")
        print("confusion matrix (rows = true class " + ", ".join(result["classes"]) + "):")
        for row in result["confusion_matrix"]:
            print("  " + " ".join(f"{v:5d}" for v in row))
    return 0


def cmd_bench(args) -> int:
    from .bench import BenchConfig, run_bench

    cfg = BenchConfig(
        datasets=args.datasets, methods=args.methods, seeds=args.seeds, ratios=args.ratios, epochs=args.epochs,
        backbone=args.backbone, batch_size=args.batch_size, lr=args.lr, max_train_batches=args.max_train_batches,
        max_eval_batches=args.max_eval_batches, runs_dir=args.runs_dir, out_dir=args.out_dir,
        results_md=args.results_md, early_stopping=args.early_stopping, min_epochs=args.min_epochs,
        patience=args.patience, threads=args.threads, device=args.device, dataset_options=dataset_options_from_args(args),
        root=args.root, report_only=args.report_only, folds=args.folds, sampler_warmup_epochs=args.sampler_warmup,
    )
    run_bench(cfg, command="python -m das_core " + " ".join(sys.argv[1:]) if args.command_line is None else args.command_line)
    return 0


def cmd_speed(args) -> int:
    from .speed import SpeedConfig, run_speed

    cfg = SpeedConfig(sizes=args.sizes, ratio=args.ratio, batch_size=args.batch_size, repeats=args.repeats,
                      threads=args.threads, backbone=args.backbone, out_json=args.out_json, out_md=args.out_md,
                      train_steps=args.train_steps, device=args.device)
    run_speed(cfg)
    return 0


def cmd_checkpoints(args) -> int:
    from .bench import make_checkpoints

    make_checkpoints(out_dir=args.out_dir, runs_dir=args.runs_dir, datasets=args.datasets, methods=args.methods,
                     epochs=args.epochs, max_train_batches=args.max_train_batches, threads=args.threads,
                     seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .samplers import SAMPLERS

    parser = argparse.ArgumentParser(prog="python -m das_core", description="DAS Explorer: train, evaluate, benchmark.")
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("train", help="train one model (also under torchrun for data-parallel)",
                       description="Train a sampler + backbone classifier; writes config.json, metrics.jsonl, "
                                   "status.json, summary.json, best.pt and last.pt to --out.")
    _add_train_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a checkpoint on a split",
                       description="Reload a checkpoint and print its metrics on a split of its data set.")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    _add_data_args(p, defaults=False)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default="auto")
    p.add_argument("--max-eval-batches", type=int, default=None)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("bench", help="grid of data sets x methods x seeds x ratios -> results tables",
                       description="Run (or resume) a benchmark grid; finished runs are skipped. Writes results.csv, "
                                   "results.md and a plot to --out-dir and rewrites docs/results.md.")
    p.add_argument("--datasets", nargs="+", default=["synthetic-volumes:moving", "synthetic-volumes:fixed"],
                   help="data sets; NAME:moving / NAME:fixed set the synthetic structure")
    p.add_argument("--methods", nargs="+", default=list(SAMPLERS), choices=list(SAMPLERS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--ratios", nargs="+", type=float, default=[0.5])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--backbone", default="small_cnn", choices=["mobilenet_v3_small", "small_cnn"])
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--early-stopping", default="val_auc", choices=["val_auc", "val_loss", "none"])
    p.add_argument("--min-epochs", type=int, default=3)
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--max-train-batches", type=int, default=None)
    p.add_argument("--max-eval-batches", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--root", default=None, help="data root (MedMNIST folder, ...)")
    p.add_argument("--frames", type=int, default=None)
    p.add_argument("--size", type=int, default=None)
    p.add_argument("--num-samples", type=int, default=None)
    p.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--runs-dir", default="runs/bench", help="per-run folders (git-ignored)")
    p.add_argument("--out-dir", default="docs/results", help="results.csv, results.md, plot")
    p.add_argument("--results-md", default="docs/results.md", help="the page rewritten with the table")
    p.add_argument("--report-only", action="store_true", help="only re-aggregate finished runs")
    p.add_argument("--folds", type=int, default=None,
                   help="k-fold cross-validation: run every cell on folds 0..K-1 (video folders, e.g. pocus-lung)")
    p.add_argument("--sampler-warmup", type=int, default=0, metavar="EPOCHS",
                   help="first epochs in which learned samplers are not updated (use a separate --runs-dir)")
    p.add_argument("--command-line", default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("speed", help="throughput / latency benchmark -> docs/speed.json, docs/speed.md",
                       description="MobileNetV3-Small inference throughput (full vs each sampler), the sampler's share "
                                   "of time, DAS vs ADPS sampling latency and training step time, in one run.")
    p.add_argument("--sizes", nargs="+", type=int, default=[28, 64])
    p.add_argument("--ratio", type=float, default=0.5)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--train-steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--backbone", default="mobilenet_v3_small")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out-json", default="docs/speed.json")
    p.add_argument("--out-md", default="docs/speed.md")
    p.set_defaults(func=cmd_speed)

    p = sub.add_parser("checkpoints", help="re-create the shipped checkpoints in checkpoints/",
                       description="Train every method on the synthetic default, VesselMNIST3D and AdrenalMNIST3D "
                                   "(small_cnn, ratio 0.5, capped epochs/batches) and write checkpoints/manifest.json.")
    p.add_argument("--out-dir", default="checkpoints")
    p.add_argument("--runs-dir", default="runs/checkpoints")
    p.add_argument("--datasets", nargs="+", default=None)
    p.add_argument("--methods", nargs="+", default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--max-train-batches", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_checkpoints)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
