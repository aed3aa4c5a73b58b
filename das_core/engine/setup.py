"""Phase 1 of a run: device, seeds, data, the model spec, the loss and the loaders."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler
from torch.utils.data.distributed import DistributedSampler

from .. import distributed as dist_utils
from ..data import load_dataset
from ..errors import ConfigError
from ..nn.model import SubsampledClassifier
from ..nn.spec import ModelSpec
from ..samplers import sampler_class, sampler_options
from .config import TrainConfig

__all__ = ["resolve_device", "seed_everything", "load_splits", "DataInfo", "data_info", "model_spec_for",
           "build_model_for", "make_optimizer", "make_criterion", "make_loader", "train_loader"]


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
    return {s: load_dataset(config.dataset, split=s, root=config.root, **dict(config.dataset_options))
            for s in ("train", "val", "test")}


@dataclass
class DataInfo:
    """What the model needs to know about the training data."""

    num_frames: int
    in_channels: int
    frame_size: int
    classes: list
    labels: list  # training labels, for class weights

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def data_info(ds: Dataset) -> DataInfo:
    """Shape (from the first item), class names and labels of a training split."""
    x = ds[0][0]  # (T, C, H, W)
    if not isinstance(x, Tensor) or x.dim() != 4:
        raise ConfigError(f"Data set items must be (T, C, H, W) tensors, got {getattr(x, 'shape', type(x))}.")
    labels = getattr(ds, "labels", None)
    if labels is None:
        labels = [int(ds[i][1]) for i in range(len(ds))]
    labels = [int(v) for v in labels]
    classes = getattr(ds, "classes", None)
    if classes is None:
        classes = [str(c) for c in range(max(labels) + 1)]
    return DataInfo(int(x.shape[0]), int(x.shape[1]), int(x.shape[-1]), [str(c) for c in classes], labels)


def model_spec_for(config: TrainConfig, info: DataInfo) -> ModelSpec:
    """The `ModelSpec` of `config` for data shaped like `info`; each sampler gets the options it declares."""
    cls = sampler_class(config.method)
    k = info.num_frames if not cls.takes_k else config.num_selected(info.num_frames)
    wanted = {"tau0": config.tau0, "heads": config.heads, "in_channels": info.in_channels, "seed": config.seed,
              **config.sampler_options}
    return ModelSpec(method=cls.name, num_frames=info.num_frames, num_selected=k, backbone=config.backbone,
                     num_classes=info.num_classes, in_channels=info.in_channels, frame_size=info.frame_size,
                     sampler_options=sampler_options(config.method, wanted))


def build_model_for(config: TrainConfig, info: DataInfo) -> SubsampledClassifier:
    """A freshly initialised `SubsampledClassifier` of `config` for data shaped like `info`."""
    return SubsampledClassifier.from_config(model_spec_for(config, info))


def make_optimizer(model: SubsampledClassifier, lr: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam over `model.parameter_groups(lr)`; the fused kernel where every parameter is a float on CPU or
    CUDA (one pass per step instead of a dozen small ops per tensor: 4.5 -> 1.0 ms per step for
    MobileNetV3-Small on one CPU thread, docs/speed.md)."""
    params = list(model.parameters())
    fused = bool(params) and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.Adam(model.parameter_groups(lr), lr=lr, weight_decay=weight_decay, fused=fused)


def _balance(config: TrainConfig) -> str:
    """The class-imbalance handling in force: a weighted sampler is not combined with DDP's sampler."""
    return "weighted_loss" if config.balance == "sampler" and dist_utils.world_size() > 1 else config.balance


def _class_counts(info: DataInfo) -> np.ndarray:
    return np.bincount(np.asarray(info.labels, dtype=int), minlength=info.num_classes).astype(float)


def make_criterion(config: TrainConfig, info: DataInfo, device: torch.device):
    """Cross-entropy, weighted by N / (C * count_c) of the training labels under "weighted_loss"."""
    weights = None
    if _balance(config) == "weighted_loss":
        w = len(info.labels) / (info.num_classes * np.maximum(_class_counts(info), 1.0))
        weights = torch.tensor(w, dtype=torch.float32, device=device)
    return lambda logits, y, reduction="mean": F.cross_entropy(logits, y, weight=weights, reduction=reduction)


def make_loader(ds: Dataset, config: TrainConfig, *, shuffle: bool = False, sampler=None,
                generator: Optional[torch.Generator] = None) -> DataLoader:
    """A loader of `config.batch_size` items; for a CUDA run the batches come in pinned memory, so the
    loop's `non_blocking` copies to the GPU overlap the next step."""
    return DataLoader(ds, batch_size=config.batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      num_workers=config.num_workers, generator=generator, drop_last=False,
                      persistent_workers=config.num_workers > 0, pin_memory=_runs_on_cuda(config.device))


def _runs_on_cuda(device: str) -> bool:
    return torch.cuda.is_available() and (device == "auto" or str(device).startswith("cuda"))


def train_loader(ds: Dataset, config: TrainConfig, info: DataInfo, generator: torch.Generator) -> DataLoader:
    """The training loader: DDP's DistributedSampler, a class-balanced sampler, or a seeded shuffle."""
    sampler = None
    if dist_utils.world_size() > 1:
        sampler = DistributedSampler(ds, shuffle=True, seed=config.seed)
    elif _balance(config) == "sampler":
        sw = (1.0 / np.maximum(_class_counts(info), 1.0))[np.asarray(info.labels, dtype=int)]
        g = torch.Generator().manual_seed(config.seed)
        sampler = WeightedRandomSampler(torch.as_tensor(sw, dtype=torch.double), len(info.labels), generator=g)
    return make_loader(ds, config, shuffle=True, sampler=sampler, generator=generator)
