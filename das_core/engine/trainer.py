"""`fit(config)`: a training run in labelled phases (setup, resume, epochs, test, summary).

Per epoch: train (`loop.train_one_epoch`), evaluate on the validation split, append a line to
`metrics.jsonl`, let `EarlyStopping` decide, write best.pt / last.pt (`checkpointing`). At the end
the best checkpoint is evaluated on the test split and `summary.json` is written. The run folder's
layout is `das_core.runs`.

Scale-out: under `torchrun` (WORLD_SIZE > 1) the same `fit` runs data-parallel with
DistributedDataParallel (gloo on CPU, NCCL on CUDA) and a DistributedSampler over the training
split; every rank evaluates the full validation/test split itself (identical weights, identical
results, no gather needed) and only rank 0 writes files.

Log: each phase and epoch is logged to the `das_core.train` logger; with DAS_TRAIN_LOG=stdout (what the
app's launcher sets) a handler writes it to stdout, flushed line by line, so a killed run's log keeps its
last lines. A full disk (a checkpoint or a JSON file that cannot be written) fails the run with one
sentence, `DiskFullError`: "No space left on <run folder>: free space or choose another folder."
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from typing import Any, Callable, Optional

import torch
from tqdm.auto import tqdm

from .. import distributed as dist_utils
from ..errors import DASError, disk_full
from ..runs import RunPaths, append_jsonl, write_json, write_status
from . import checkpointing
from .config import TrainConfig
from .diagnostics import SamplerDiagnostics
from .early_stopping import EarlyStopping
from .loop import LossModule, StopTraining, evaluate_model, train_one_epoch
from .precision import check_precision, grad_scaler
from .setup import (build_model_for, data_info, load_splits, make_criterion, make_loader, make_optimizer,
                    resolve_device, seed_everything, train_loader)

__all__ = ["fit", "log"]

log = logging.getLogger("das_core.train")


class _StdoutHandler(logging.StreamHandler):
    """Writes to the current `sys.stdout` (looked up per record) and flushes after every line."""

    def __init__(self):
        super().__init__(sys.stdout)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)  # StreamHandler flushes after each record


def _log_to_stdout_if_asked() -> None:
    """With DAS_TRAIN_LOG=stdout: the `das_core.train` log goes to stdout (once per process)."""
    if os.environ.get("DAS_TRAIN_LOG") != "stdout" or any(isinstance(h, _StdoutHandler) for h in log.handlers):
        return
    handler = _StdoutHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def fit(config: TrainConfig, callback: Optional[Callable[[dict], Any]] = None, stop_event=None, *,
        datasets: Optional[dict] = None) -> dict:
    """Train `config.method` on `config.dataset`, write the run folder, return the summary.

    Args:
        config: the run's `TrainConfig`.
        callback: called with event dicts: {"type": "start", ...}, {"type": "batch", "epoch",
            "step", "steps", "loss"}, {"type": "epoch", "epoch", "train_loss", "val_loss",
            "val_auc", "val_balanced_accuracy", "val_accuracy", "seconds", "lr", "best"},
            {"type": "end", "state", "summary"}.
        stop_event: a threading.Event-like (`is_set()`) or a callable returning bool; checked
            between batches, the run then stops cleanly (status "stopped", last/best kept).
        datasets: {"train", "val", "test"} data sets to use instead of `load_dataset(config.dataset)`
            (tests, notebooks); the config still names the data set in the run's files.

    Returns:
        the summary dict (also written to `summary.json`); `{"state": "stopped", ...}` when stopped.
    """
    config = dataclasses.replace(config, out=str(config.run_dir)).validate()
    dist_utils.init_from_env(config.device)
    _log_to_stdout_if_asked()
    run = _Run(config, callback, stop_event)
    if run.rank0:
        try:
            run.paths.root.mkdir(parents=True, exist_ok=True)
            write_json(run.paths.config, dataclasses.asdict(config))
            run.status("running", "loading data")
        except OSError as err:
            full = disk_full(err, run.paths.root)
            if full is not None and full is not err:
                raise full from err
            raise
    if config.threads:
        torch.set_num_threads(int(config.threads))
    try:
        summary = run.train(datasets)
    except StopTraining:
        summary = {"state": "stopped", "epoch": run.epoch, "config": dataclasses.asdict(config)}
        run.status("stopped", "stopped by the user; resume with --resume")
        run.emit({"type": "end", "state": "stopped", "summary": summary})
        return summary
    except BaseException as err:
        full = disk_full(err, run.paths.root)  # torch's "unexpected pos" and ENOSPC: one sentence
        shown = full if full is not None else err
        message = str(shown) if isinstance(shown, DASError) else f"{type(err).__name__}: {err}"
        try:
            run.status("failed", message)
        except OSError:  # the disk is full: status.json keeps its last state
            pass
        if full is not None and full is not err:
            raise full from err
        raise
    finally:
        dist_utils.barrier()
    run.status("finished", f"best epoch {summary['best_epoch']}")
    run.emit({"type": "end", "state": "finished", "summary": summary})
    return summary


def sampler_progress(epoch: int, warmup_epochs: int, epochs: int) -> float:
    """How far a learned sampler's training has come at `epoch`: 0 up to the first epoch after the warm-up, 1 at
    the last of `epochs` (linear between)."""
    if epoch <= warmup_epochs:
        return 0.0
    span = epochs - 1 - warmup_epochs  # the epochs after the first one that trains the sampler
    return 1.0 if span <= 0 else min(1.0, (epoch - warmup_epochs) / span)


class _Run:
    """The state of one `fit` call; each method is one phase."""

    def __init__(self, config: TrainConfig, callback, stop_event):
        self.config = config
        self.paths = RunPaths.of(config.out)
        self.rank0 = dist_utils.is_main()
        self.callback = callback if self.rank0 else None
        self.stop_event = stop_event
        self.epoch = 0
        self.t_start = time.time()
        self.train_steps, self.train_seconds = 0, 0.0  # optimizer steps and their wall time, this process

    def emit(self, event: dict) -> None:
        if self.callback is not None:
            self.callback(event)

    def status(self, state: str, message: str) -> None:
        if self.rank0:
            log.info("%s: %s", state, message)  # info: silent unless a handler is set (DAS_TRAIN_LOG)
            write_status(self.config.out, state, epoch=self.epoch, epochs=self.config.epochs, message=message)

    # ------------------------------------------------------------------ phases

    def train(self, datasets: Optional[dict]) -> dict:
        """Set up (device, data, model, resume), train the epochs, then test best.pt: the summary."""
        cfg = self.config
        device = resolve_device(cfg.device)
        check_precision(cfg.precision, device)
        self.scaler = grad_scaler(device, cfg.precision)
        seed_everything(cfg.seed)
        splits = datasets if datasets is not None else load_splits(cfg)
        info = data_info(splits["train"])
        model = build_model_for(cfg, info).to(device)
        optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay)
        meta = {"dataset": cfg.dataset, "root": cfg.root, "dataset_options": dict(cfg.dataset_options),
                "classes": info.classes, "seed": cfg.seed, "ratio": cfg.ratio}
        stopping = EarlyStopping(cfg.early_stopping, cfg.min_epochs_for(), cfg.patience,
                                 cfg.epochs)
        start = checkpointing.resume(self.paths, model, optimizer, stopping, rank0=self.rank0) if cfg.resume else 0

        criterion = make_criterion(cfg, info, device)
        net = LossModule(model, criterion)
        if dist_utils.world_size() > 1:
            net = dist_utils.wrap_ddp(net, device)
        g = torch.Generator().manual_seed(cfg.seed)
        loader = train_loader(splits["train"], cfg, info, g)
        val_loader = make_loader(splits["val"], cfg)
        steps = len(loader) if cfg.max_train_batches is None else min(len(loader), cfg.max_train_batches)
        self.emit({"type": "start", "epochs": cfg.epochs, "steps": steps, "num_frames": info.num_frames,
                   "num_selected": model.sampler.num_selected, "classes": info.classes, "device": str(device),
                   "world_size": dist_utils.world_size(), "start_epoch": start})

        self.diagnostics = None
        if cfg.diagnostics_every and self.rank0 and dist_utils.world_size() == 1:
            self.diagnostics = SamplerDiagnostics(model, splits["train"], criterion, device, seed=cfg.seed)
            self.log_diagnostics(model, start * steps)
        epoch = self._train_epochs(net, model, optimizer, loader, val_loader, device, info, g=g, start=start,
                                   steps=steps, stopping=stopping, meta=meta)
        self.epoch = epoch + 1
        return self.test_and_summarise(model, splits, info, device, stopping)

    def _train_epochs(self, net, model, optimizer, loader, val_loader, device, info, *, g: torch.Generator,
                      start: int, steps: int, stopping: EarlyStopping, meta: dict) -> int:
        """Epochs ``start`` .. until `stopping` says stop (under a progress bar when asked): the last epoch run."""
        cfg = self.config
        pbar = tqdm(total=(cfg.epochs - start) * steps, desc=f"{cfg.method} {cfg.dataset}", unit="batch",
                    dynamic_ncols=True) if cfg.progress and self.rank0 else None
        epoch = start - 1
        try:
            for epoch in range(start, cfg.epochs):
                self.epoch = epoch
                if hasattr(loader.sampler, "set_epoch"):
                    loader.sampler.set_epoch(epoch)
                g.manual_seed(cfg.seed * 1000 + epoch)  # a resumed run sees the same data order
                record = self.one_epoch(net, model, optimizer, loader, val_loader, device, info, epoch, steps, pbar)
                improved = stopping.update(epoch, record)
                record["best"] = improved
                self.epoch = epoch + 1
                self._record_epoch(model, optimizer, epoch=epoch, record=record, improved=improved,
                                   stopping=stopping, meta=meta, pbar=pbar)
                if stopping.should_stop(epoch):
                    break
        finally:
            if pbar is not None:
                pbar.close()
        return epoch

    def _record_epoch(self, model, optimizer, *, epoch: int, record: dict, improved: bool, stopping: EarlyStopping,
                      meta: dict, pbar) -> None:
        """Write the epoch (rank 0: metrics line, checkpoints, status), emit it and show it on the progress bar."""
        cfg = self.config
        if self.rank0:
            append_jsonl(self.paths.metrics, {k: v for k, v in record.items() if k != "best"})
            checkpointing.save_epoch(self.paths, model, meta, optimizer, epoch, stopping, record, improved)
            self.status("running", f"epoch {epoch + 1}/{cfg.epochs}: val AUC {_fmt(record['val_auc'])}, "
                                   f"val loss {_fmt(record['val_loss'])}")
        self.emit({"type": "epoch", **record, "epochs": cfg.epochs})
        if pbar is not None:
            pbar.write(f"epoch {epoch}: train_loss {record['train_loss']:.4f} val_loss {_fmt(record['val_loss'])} "
                       f"val_auc {_fmt(record['val_auc'])} val_bacc {_fmt(record['val_balanced_accuracy'])}"
                       + (" *" if improved else ""))

    def one_epoch(self, net, model, optimizer, loader, val_loader, device, info, epoch: int, steps: int, pbar) -> dict:
        cfg = self.config
        t0 = time.time()
        done_steps = [0]

        def on_batch(step: int, loss: float) -> None:
            done_steps[0] += 1
            self.emit({"type": "batch", "epoch": epoch, "step": step + 1, "steps": steps, "loss": loss})
            done = epoch * steps + step + 1
            if self.diagnostics is not None and done % cfg.diagnostics_every == 0:
                self.log_diagnostics(model, done)
            if pbar is not None:
                pbar.update(1)
                pbar.set_postfix(epoch=epoch, loss=f"{loss:.3f}")

        # the warm-up applies to every method (the same recipe): a learned sampler is frozen, and with
        # warmup_frames="all" every method's task network trains on all T frames first (uniform, random, full too)
        warming_up = epoch < cfg.warmup_epochs
        if callable(getattr(model.sampler, "set_training_progress", None)):  # anneals the noise where noise_end < 1
            model.sampler.set_training_progress(sampler_progress(epoch, cfg.warmup_epochs, cfg.epochs))
        total, n = train_one_epoch(net, model, loader, optimizer, device, steps=steps, freeze_sampler=warming_up,
                                   all_frames=warming_up and cfg.warmup_frames == "all", stop_event=self.stop_event,
                                   on_batch=on_batch, precision=cfg.precision, scaler=self.scaler)
        self.train_steps += done_steps[0]
        self.train_seconds += time.time() - t0
        train_loss = dist_utils.mean_across_ranks(total / max(n, 1), device)
        val = evaluate_model(model, val_loader, device, num_classes=info.num_classes,
                             max_batches=cfg.max_eval_batches, stop_event=self.stop_event, precision=cfg.precision)
        return {"epoch": epoch, "train_loss": train_loss, "val_loss": val.get("loss"), "val_auc": val.get("auc"),
                "val_balanced_accuracy": val.get("balanced_accuracy"), "val_accuracy": val.get("accuracy"),
                "seconds": round(time.time() - t0, 3), "lr": optimizer.param_groups[-1]["lr"]}

    def log_diagnostics(self, model, step: int) -> None:
        record = self.diagnostics(model, step)
        if record is not None:
            append_jsonl(self.paths.diagnostics, record)

    def test_and_summarise(self, model, splits: dict, info, device, stopping: EarlyStopping) -> dict:
        """Evaluate best.pt on the test split, write summary.json and the test metrics into best.pt."""
        cfg = self.config
        dist_utils.barrier()
        best = checkpointing.load_best(self.paths, device)
        test = evaluate_model(best, make_loader(splits["test"], cfg), device, num_classes=info.num_classes,
                              max_batches=cfg.max_eval_batches, precision=cfg.precision)
        summary = {
            "balanced_accuracy": test["balanced_accuracy"], "auc": test["auc"], "accuracy": test["accuracy"],
            "confusion_matrix": test["confusion_matrix"], "test_loss": test.get("loss"), "classes": info.classes,
            "best_epoch": stopping.best_epoch, "epochs_run": self.epoch, "config": dataclasses.asdict(cfg),
            "test_size": test["n"], "seconds": round(time.time() - self.t_start, 3), "num_frames": info.num_frames,
            "num_selected": model.sampler.num_selected, "frame_size": info.frame_size,
            "in_channels": info.in_channels, "train_size": len(splits["train"]), "val_size": len(splits["val"]),
            "world_size": dist_utils.world_size(), "device": str(device), "threads": torch.get_num_threads(),
            "state": "finished", "train_steps": self.train_steps,
            "warmup_all_methods": True,  # the warm-up applied to this run whatever its method (older runs: learned only)
            "train_steps_per_s": round(self.train_steps / self.train_seconds, 3) if self.train_seconds else None,
            # this process's own final weights (last epoch): equal on every rank when DDP kept them in sync
            "param_checksum": dist_utils.param_checksum(model),
        }
        if self.rank0:
            write_json(self.paths.summary, summary)
            checkpointing.record_test_metrics(self.paths, best, test)
        return summary


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.4f}"
