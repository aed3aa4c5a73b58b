"""The training engine: `TrainConfig` and `fit(config, callback=None, stop_event=None) -> summary`.

Recipe (the paper's defaults): Adam, batch 16, lr 1e-4, the learned samplers' own parameter groups
(`model.parameter_groups(lr)`: DPS logits at lr x 10); the loss goes through
`model.training_loss` (ADPS averages over its step predictions). Per epoch: train, evaluate on the
validation split, append a line to `metrics.jsonl`, keep `best.pt` and `last.pt`. At the end the
best checkpoint is evaluated on the test split (scikit-learn metrics) and `summary.json` written.

Early stopping: `early_stopping="val_auc"` (the default) keeps the epoch with the highest
validation AUC; `"val_loss"` the lowest validation loss. METHOD.md's calibration found that the
validation loss is often lowest at epoch 0 while AUC still improves, so raw loss stopping keeps an
untrained model: hence `min_epochs` (no epoch before it can become "best" and no stop happens
before it) and `patience` (epochs without improvement before stopping). `"none"` trains all
epochs and keeps the last epoch as best. Where AUC is undefined (one class in the validation
split), -val_loss is used instead.

Class imbalance (`balance`): "weighted_loss" (default) weights the cross-entropy by
N / (C * count_c) of the training labels; "sampler" draws training items with a
WeightedRandomSampler (not under DDP, where it falls back to the weighted loss); "none".

Scale-out: under `torchrun` (WORLD_SIZE > 1) the same `fit` runs data-parallel with
DistributedDataParallel (gloo on CPU, NCCL on CUDA) and a DistributedSampler over the training
split; every rank evaluates the full validation/test split itself (identical weights, identical
results, no gather needed) and only rank 0 writes files.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from . import distributed as dist_utils
from .checkpoints import load_checkpoint, read_checkpoint, save_checkpoint
from .errors import ConfigError, DASError
from .metrics import classification_metrics
from .model import SubsampledClassifier
from .runs import RunPaths, append_jsonl, write_json, write_status
from .samplers import SAMPLERS, make_sampler, num_selected_for_ratio, sampler_options

__all__ = ["TrainConfig", "fit", "evaluate_model", "evaluate_checkpoint", "build_model_for", "load_splits",
           "resolve_device", "StopTraining"]

EARLY_STOPPING = ("val_auc", "val_loss", "none")
BALANCE = ("weighted_loss", "sampler", "none")


@dataclass
class TrainConfig:
    """Everything a training run needs; JSON-able with `dataclasses.asdict`.

    Args:
        dataset: data set name for `das_core.data.load_dataset` (e.g. "synthetic-volumes").
        root: data root (folder or file) where the data set needs one.
        dataset_options: options for `load_dataset` (num_frames, size, moving, fold, num_folds, ...).
        method: sampler name (full, uniform, random, dps, adps, das).
        ratio: sampling ratio k / T (used when `k` is None).
        k: frames to keep (overrides `ratio`).
        epochs: maximum epochs.
        batch_size: batch size (per process under DDP).
        lr: Adam learning rate of the network (the DPS logits get x10 via parameter_groups).
        weight_decay: Adam weight decay.
        seed: seed of weights, data order and noise.
        heads: DAS attention heads.
        tau0: base temperature of the learned samplers (None: each sampler's default).
        backbone: "mobilenet_v3_small" (the paper's) or "small_cnn".
        out: run folder (see `das_core.runs`).
        early_stopping: "val_auc" (default), "val_loss" or "none".
        patience: epochs without improvement before stopping.
        min_epochs: epochs before any epoch can count as best and before stopping.
        balance: "weighted_loss" (default), "sampler" or "none".
        device: "auto" (CUDA when available), "cpu", "cuda", "cuda:1", ...
        num_workers: DataLoader workers.
        max_train_batches: cap on training batches per epoch (quick runs).
        max_eval_batches: cap on validation/test batches (quick runs; None = whole split).
        sampler_warmup_epochs: epochs at the start in which a learned sampler (DPS, ADPS, DAS) is not
            updated: its picks stay the near-random Gumbel picks of its initial scores while the
            backbone learns. Without it, DAS with a from-scratch MobileNetV3-Small learned to *avoid*
            the informative slice (hit rate 0; see docs/results.md) before the backbone could use it.
        threads: torch CPU threads (None: leave torch's default).
        resume: continue from `out/last.pt` when it exists.
        progress: tqdm progress bars (rank 0).
    """

    dataset: str = "synthetic-volumes"
    root: Optional[str] = None
    dataset_options: dict = field(default_factory=dict)
    method: str = "das"
    ratio: float = 0.5
    k: Optional[int] = None
    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-4
    weight_decay: float = 0.0
    seed: int = 0
    heads: int = 4
    tau0: Optional[float] = None
    backbone: str = "mobilenet_v3_small"
    out: str = "runs/train"
    early_stopping: str = "val_auc"
    patience: int = 5
    min_epochs: int = 3
    balance: str = "weighted_loss"
    device: str = "auto"
    num_workers: int = 0
    max_train_batches: Optional[int] = None
    max_eval_batches: Optional[int] = None
    sampler_warmup_epochs: int = 0
    threads: Optional[int] = None
    resume: bool = False
    progress: bool = False

    def validate(self) -> "TrainConfig":
        """Raise ConfigError for out-of-range options; returns self."""
        if self.method not in SAMPLERS:
            raise ConfigError(f"Unknown method {self.method!r}; choose one of {', '.join(SAMPLERS)}.")
        if self.early_stopping not in EARLY_STOPPING:
            raise ConfigError(f"early_stopping must be one of {', '.join(EARLY_STOPPING)}, got {self.early_stopping!r}.")
        if self.balance not in BALANCE:
            raise ConfigError(f"balance must be one of {', '.join(BALANCE)}, got {self.balance!r}.")
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}.")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr!r}; the paper uses 1e-4.")
        if self.patience < 1 or self.min_epochs < 0:
            raise ConfigError("patience must be >= 1 and min_epochs >= 0; for example --patience 5 --min-epochs 3.")
        if not isinstance(self.sampler_warmup_epochs, int) or self.sampler_warmup_epochs < 0:
            raise ConfigError(f"sampler_warmup_epochs must be an integer >= 0, got {self.sampler_warmup_epochs!r}.")
        for name in ("max_train_batches", "max_eval_batches"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise ConfigError(f"{name} must be a positive integer or None, got {v!r}.")
        if self.k is None:
            num_selected_for_ratio(10, self.ratio)  # range check of the ratio
        return self

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """A config from a dict (unknown keys are ignored, e.g. an older config.json)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class StopTraining(Exception):
    """Raised inside the loop when `stop_event` is set."""


# --------------------------------------------------------------------------------------------- setup

def resolve_device(name: str = "auto") -> torch.device:
    """"auto" -> CUDA when available, else CPU; under torchrun on CUDA the local rank's GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"Device {name!r} was requested but CUDA is not available; use --device cpu or auto.")
        if name == "cuda" and dist_utils.is_distributed():
            name = f"cuda:{dist_utils.local_rank()}"
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def load_splits(config: TrainConfig) -> dict[str, Dataset]:
    """{"train", "val", "test"} data sets of `config` via `das_core.data.load_dataset`."""
    from .data import load_dataset

    return {s: load_dataset(config.dataset, split=s, root=config.root, **dict(config.dataset_options))
            for s in ("train", "val", "test")}


def _item_shape(ds: Dataset) -> tuple[int, int, int]:
    x = ds[0][0]  # (T, C, H, W)
    if not isinstance(x, Tensor) or x.dim() != 4:
        raise ConfigError(f"Data set items must be (T, C, H, W) tensors, got {getattr(x, 'shape', type(x))}.")
    return int(x.shape[0]), int(x.shape[1]), int(x.shape[-1])


def _labels(ds: Dataset) -> list[int]:
    labels = getattr(ds, "labels", None)
    if labels is None:
        labels = [int(ds[i][1]) for i in range(len(ds))]
    return [int(v) for v in labels]


def _classes(ds: Dataset) -> list[str]:
    classes = getattr(ds, "classes", None)
    if classes is None:
        classes = [str(c) for c in range(max(_labels(ds)) + 1)]
    return [str(c) for c in classes]


def build_model_for(config: TrainConfig, num_frames: int, in_channels: int, num_classes: int, frame_size: int) -> SubsampledClassifier:
    """The `SubsampledClassifier` of `config` for data of the given shape."""
    k = num_frames if config.method == "full" else (config.k or num_selected_for_ratio(num_frames, config.ratio))
    opts = sampler_options(config.method, {"tau0": config.tau0, "heads": config.heads, "in_channels": in_channels,
                                           "seed": config.seed})
    sampler = make_sampler(config.method, num_frames, k, **opts)
    return SubsampledClassifier(sampler, backbone=config.backbone, num_classes=num_classes,
                                in_channels=in_channels, frame_size=frame_size)


class _LossModule(nn.Module):
    """forward(x, y) -> (loss, logits) via `model.training_loss`, so DDP sees a forward call."""

    def __init__(self, model: SubsampledClassifier, criterion: Callable):
        super().__init__()
        self.model = model
        self.criterion = criterion

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        loss, logits, _ = self.model.training_loss(x, y, self.criterion)
        return loss, logits


def _should_stop(stop_event) -> bool:
    if stop_event is None:
        return False
    if hasattr(stop_event, "is_set"):
        return bool(stop_event.is_set())
    return bool(stop_event())


# ---------------------------------------------------------------------------------------- evaluation

@torch.no_grad()
def evaluate_model(
    model: SubsampledClassifier,
    loader: DataLoader,
    device: torch.device,
    *,
    num_classes: int,
    max_batches: Optional[int] = None,
    stop_event=None,
) -> dict:
    """Eval-mode pass over `loader`: `classification_metrics` plus mean cross-entropy `loss`."""
    was_training = model.training
    model.eval()
    probs, ys, total, n = [], [], 0.0, 0
    try:
        for i, (x, y) in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            if _should_stop(stop_event):
                raise StopTraining()
            x, y = x.to(device, non_blocking=True), torch.as_tensor(y).to(device)
            logits, _ = model(x)
            total += float(F.cross_entropy(logits.float(), y, reduction="sum"))
            n += len(y)
            probs.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
            ys.append(y.cpu().numpy())
    finally:
        model.train(was_training)
    p = np.concatenate(probs) if probs else np.zeros((0, num_classes))
    yy = np.concatenate(ys) if ys else np.zeros((0,), dtype=int)
    return classification_metrics(yy, p, num_classes=num_classes, loss=total / max(n, 1) if n else None)


def _loader(ds: Dataset, config: TrainConfig, *, shuffle: bool, sampler=None, generator=None) -> DataLoader:
    return DataLoader(ds, batch_size=config.batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      num_workers=config.num_workers, generator=generator, drop_last=False,
                      persistent_workers=config.num_workers > 0)


def evaluate_checkpoint(
    checkpoint: Union[str, Path],
    *,
    split: str = "test",
    dataset: Optional[str] = None,
    root: Optional[str] = None,
    dataset_options: Optional[dict] = None,
    batch_size: int = 16,
    device: str = "auto",
    max_batches: Optional[int] = None,
) -> dict:
    """Reload `checkpoint` and evaluate it on a split of its data set (or of `dataset`, overridden).

    Returns the metrics dict plus "classes", "split", "dataset", "checkpoint".
    """
    from .checkpoints import check_compatible
    from .data import load_dataset

    dev = resolve_device(device)
    model, meta = load_checkpoint(checkpoint, map_location="cpu")
    name = dataset or meta.get("dataset")
    if not name:
        raise ConfigError("The checkpoint does not name its data set; pass --dataset (and --root).")
    opts = dict(meta.get("dataset_options") or {}) if dataset is None else {}
    opts.update(dataset_options or {})
    ds = load_dataset(name, split=split, root=root if root is not None else (meta.get("root") if dataset is None else None), **opts)
    check_compatible(meta, ds)
    model.to(dev)
    cfg = TrainConfig(batch_size=batch_size)
    result = evaluate_model(model, _loader(ds, cfg, shuffle=False), dev, num_classes=int(meta["num_classes"]),
                            max_batches=max_batches)
    result.update(classes=_classes(ds), split=split, dataset=name, checkpoint=str(checkpoint), method=meta["method"])
    return result


# ------------------------------------------------------------------------------------------ training

def _score(metrics: dict, criterion: str) -> float:
    """Higher is better."""
    loss = metrics.get("loss")
    loss = float("inf") if loss is None else loss
    if criterion == "val_loss":
        return -loss
    auc = metrics.get("auc")
    return auc if auc is not None else -loss


def fit(config: TrainConfig, callback: Optional[Callable[[dict], Any]] = None, stop_event=None, *,
        datasets: Optional[dict] = None) -> dict:
    """Train `config.method` on `config.dataset`, write the run folder `config.out`, return the summary.

    Args:
        config: the run's `TrainConfig`.
        callback: called with event dicts: {"type": "start", ...}, {"type": "batch", "epoch",
            "step", "steps", "loss"}, {"type": "epoch", "epoch", "train_loss", "val_loss",
            "val_auc", "val_balanced_accuracy", "val_accuracy", "seconds", "lr", "best"},
            {"type": "end", "state", "summary"}.
        datasets: {"train", "val", "test"} data sets to use instead of `load_dataset(config.dataset)`
            (tests, notebooks); the config still names the data set in the run's files.
        stop_event: a threading.Event-like (`is_set()`) or a callable returning bool; checked
            between batches, the run then stops cleanly (status "stopped", last/best kept).

    Returns:
        the summary dict (also written to `summary.json`); `{"state": "stopped", ...}` when stopped.
    """
    config.validate()
    dist_utils.init_from_env(config.device)
    rank0 = dist_utils.is_main()
    paths = RunPaths.of(config.out)
    emit = (lambda ev: callback(ev)) if (callback is not None and rank0) else (lambda ev: None)
    state = {"epoch": 0}
    t_start = time.time()
    if config.threads:
        torch.set_num_threads(int(config.threads))
    if rank0:
        paths.root.mkdir(parents=True, exist_ok=True)
        write_json(paths.config, dataclasses.asdict(config))
        write_status(config.out, "running", epoch=0, epochs=config.epochs, message="loading data")
    try:
        summary = _fit(config, paths, emit, stop_event, state, t_start, datasets)
    except StopTraining:
        summary = {"state": "stopped", "epoch": state["epoch"], "config": dataclasses.asdict(config)}
        if rank0:
            write_status(config.out, "stopped", epoch=state["epoch"], epochs=config.epochs,
                         message="stopped by the user; resume with --resume")
        emit({"type": "end", "state": "stopped", "summary": summary})
        return summary
    except BaseException as err:
        if rank0:
            msg = str(err) if isinstance(err, DASError) else f"{type(err).__name__}: {err}"
            write_status(config.out, "failed", epoch=state["epoch"], epochs=config.epochs, message=msg)
        raise
    finally:
        dist_utils.barrier()
    if rank0:
        write_status(config.out, "finished", epoch=state["epoch"], epochs=config.epochs,
                     message=f"best epoch {summary['best_epoch']}")
    emit({"type": "end", "state": "finished", "summary": summary})
    return summary


def _fit(config: TrainConfig, paths: RunPaths, emit, stop_event, state: dict, t_start: float,
         datasets: Optional[dict]) -> dict:
    rank0 = dist_utils.is_main()
    device = resolve_device(config.device)
    seed_everything(config.seed)
    splits = datasets if datasets is not None else load_splits(config)
    train_ds, val_ds, test_ds = splits["train"], splits["val"], splits["test"]
    T, C, S = _item_shape(train_ds)
    classes = _classes(train_ds)
    num_classes = len(classes)
    labels = _labels(train_ds)

    model = build_model_for(config, T, C, num_classes, S).to(device)
    optimizer = torch.optim.Adam(model.parameter_groups(config.lr), lr=config.lr, weight_decay=config.weight_decay)
    meta = {
        "dataset": config.dataset, "root": config.root, "dataset_options": dict(config.dataset_options),
        "classes": classes, "frame_size": S, "seed": config.seed, "ratio": config.ratio,
    }

    # class imbalance
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=num_classes).astype(float)
    weights = None
    balance = config.balance
    if balance == "sampler" and dist_utils.world_size() > 1:
        balance = "weighted_loss"
    if balance == "weighted_loss":
        w = len(labels) / (num_classes * np.maximum(counts, 1.0))
        weights = torch.tensor(w, dtype=torch.float32, device=device)
    criterion = lambda logits, y: F.cross_entropy(logits, y, weight=weights)  # noqa: E731

    # resume
    start_epoch, best_score, best_epoch, bad_epochs = 0, -math.inf, -1, 0
    if config.resume and paths.last.is_file():
        payload = read_checkpoint(paths.last)
        extra = payload.get("extra") or {}
        try:
            model.load_state_dict(payload["state_dict"])
        except RuntimeError:
            from .errors import CheckpointError

            raise CheckpointError(f"{paths.last} was made with other settings than this run; resume with the "
                                  f"same options or choose a new --out folder.") from None
        if "optimizer" in extra:
            optimizer.load_state_dict(extra["optimizer"])
        start_epoch = int(extra.get("epoch", -1)) + 1
        best_score = float(extra.get("best_score", -math.inf)) if extra.get("best_score") is not None else -math.inf
        best_epoch = int(extra.get("best_epoch", -1))
        bad_epochs = int(extra.get("bad_epochs", 0))
        if "rng" in extra:
            torch.set_rng_state(extra["rng"])
        if rank0 and start_epoch > 0:
            _truncate_metrics(paths, start_epoch)

    net = _LossModule(model, criterion)
    if dist_utils.world_size() > 1:
        net = dist_utils.wrap_ddp(net, device)

    train_sampler = None
    if dist_utils.world_size() > 1:
        from torch.utils.data.distributed import DistributedSampler

        train_sampler = DistributedSampler(train_ds, shuffle=True, seed=config.seed)
    elif balance == "sampler":
        sw = (1.0 / np.maximum(counts, 1.0))[np.asarray(labels, dtype=int)]
        g = torch.Generator().manual_seed(config.seed)
        train_sampler = WeightedRandomSampler(torch.as_tensor(sw, dtype=torch.double), len(labels), generator=g)
    g = torch.Generator().manual_seed(config.seed)
    train_loader = _loader(train_ds, config, shuffle=True, sampler=train_sampler, generator=g)
    val_loader = _loader(val_ds, config, shuffle=False)
    test_loader = _loader(test_ds, config, shuffle=False)

    steps = len(train_loader) if config.max_train_batches is None else min(len(train_loader), config.max_train_batches)
    emit({"type": "start", "epochs": config.epochs, "steps": steps, "num_frames": T, "num_selected": model.sampler.num_selected,
          "classes": classes, "device": str(device), "world_size": dist_utils.world_size(), "start_epoch": start_epoch})
    pbar = None
    if config.progress and rank0:
        from tqdm.auto import tqdm

        pbar = tqdm(total=(config.epochs - start_epoch) * steps, desc=f"{config.method} {config.dataset}", unit="batch",
                    dynamic_ncols=True)

    epoch = start_epoch - 1
    try:
        for epoch in range(start_epoch, config.epochs):
            state["epoch"] = epoch
            t0 = time.time()
            if hasattr(train_sampler, "set_epoch"):
                train_sampler.set_epoch(epoch)
            g.manual_seed(config.seed * 1000 + epoch)  # a resumed run sees the same data order
            net.train()
            total, n = 0.0, 0
            for step, (x, y) in enumerate(train_loader):
                if step >= steps:
                    break
                if _should_stop(stop_event):
                    raise StopTraining()
                x, y = x.to(device, non_blocking=True), torch.as_tensor(y).to(device)
                loss, _ = net(x, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if epoch < config.sampler_warmup_epochs:  # sampler frozen: Adam skips parameters without .grad
                    for p in model.sampler.parameters():
                        p.grad = None
                optimizer.step()
                lv = float(loss.detach())
                total += lv * len(y)
                n += len(y)
                emit({"type": "batch", "epoch": epoch, "step": step + 1, "steps": steps, "loss": lv})
                if pbar is not None:
                    pbar.update(1)
                    pbar.set_postfix(epoch=epoch, loss=f"{lv:.3f}")
            train_loss = dist_utils.mean_across_ranks(total / max(n, 1), device)
            val = evaluate_model(model, val_loader, device, num_classes=num_classes,
                                 max_batches=config.max_eval_batches, stop_event=stop_event)
            record = {
                "epoch": epoch, "train_loss": train_loss, "val_loss": val.get("loss"), "val_auc": val.get("auc"),
                "val_balanced_accuracy": val.get("balanced_accuracy"), "val_accuracy": val.get("accuracy"),
                "seconds": round(time.time() - t0, 3), "lr": optimizer.param_groups[-1]["lr"],
            }
            improved = False
            if config.early_stopping == "none":
                improved = True
            elif epoch + 1 >= config.min_epochs or epoch == config.epochs - 1:
                score = _score(val, config.early_stopping)
                if best_epoch < 0 or score > best_score:
                    best_score, improved = score, True
            if improved:
                best_epoch, bad_epochs = epoch, 0
            elif epoch + 1 >= config.min_epochs:
                bad_epochs += 1
            record["best"] = improved
            if rank0:
                append_jsonl(paths.metrics, {k: v for k, v in record.items() if k != "best"})
                if improved:
                    save_checkpoint(paths.best, model, {**meta, "metrics": {"epoch": epoch, **{k: v for k, v in record.items() if k.startswith("val_")}}})
                save_checkpoint(paths.last, model, meta, extra={
                    "optimizer": optimizer.state_dict(), "epoch": epoch,
                    "best_score": None if not math.isfinite(best_score) else best_score,
                    "best_epoch": best_epoch, "bad_epochs": bad_epochs, "rng": torch.get_rng_state(),
                })
                write_status(config.out, "running", epoch=epoch + 1, epochs=config.epochs,
                             message=f"epoch {epoch + 1}/{config.epochs}: val AUC {_fmt(val.get('auc'))}, val loss {_fmt(val.get('loss'))}")
            emit({"type": "epoch", **record, "epochs": config.epochs})
            if pbar is not None:
                pbar.write(f"epoch {epoch}: train_loss {train_loss:.4f} val_loss {_fmt(val.get('loss'))} "
                           f"val_auc {_fmt(val.get('auc'))} val_bacc {_fmt(val.get('balanced_accuracy'))}"
                           + (" *" if improved else ""))
            if (config.early_stopping != "none" and epoch + 1 >= config.min_epochs
                    and bad_epochs >= config.patience):
                break
    finally:
        if pbar is not None:
            pbar.close()
    state["epoch"] = epoch + 1

    # test the best checkpoint
    dist_utils.barrier()
    best_model, _ = load_checkpoint(paths.best, map_location="cpu")
    best_model.to(device)
    test = evaluate_model(best_model, test_loader, device, num_classes=num_classes,
                          max_batches=config.max_eval_batches, stop_event=None)
    summary = {
        "balanced_accuracy": test["balanced_accuracy"], "auc": test["auc"], "accuracy": test["accuracy"],
        "confusion_matrix": test["confusion_matrix"], "test_loss": test.get("loss"), "classes": classes,
        "best_epoch": best_epoch, "epochs_run": epoch + 1 - 0, "config": dataclasses.asdict(config),
        "test_size": test["n"], "seconds": round(time.time() - t_start, 3), "num_frames": T,
        "num_selected": model.sampler.num_selected, "frame_size": S, "in_channels": C,
        "train_size": len(train_ds), "val_size": len(val_ds), "world_size": dist_utils.world_size(),
        "device": str(device), "threads": torch.get_num_threads(), "state": "finished",
        # this process's own final weights (last epoch): equal on every rank when DDP kept them in sync
        "param_checksum": dist_utils.param_checksum(model),
    }
    if rank0:
        write_json(paths.summary, summary)
        # record the test metrics in best.pt too (what the app shows for a checkpoint)
        bm, bmeta = load_checkpoint(paths.best)
        bmeta = dict(bmeta)
        bmeta["metrics"] = {**(bmeta.get("metrics") or {}), "test_balanced_accuracy": test["balanced_accuracy"],
                            "test_auc": test["auc"], "test_accuracy": test["accuracy"]}
        save_checkpoint(paths.best, bm, bmeta)
    return summary


def _truncate_metrics(paths: RunPaths, start_epoch: int) -> None:
    """Drop metric lines of epochs >= start_epoch (a killed run may have logged one past last.pt)."""
    from .runs import read_metrics

    kept = [r for r in read_metrics(paths.root) if int(r.get("epoch", 0)) < start_epoch]
    tmp = paths.metrics.with_suffix(".jsonl.tmp")
    with open(tmp, "w") as fh:
        for r in kept:
            import json

            fh.write(json.dumps(r) + "\n")
    os.replace(tmp, paths.metrics)


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.4f}"
