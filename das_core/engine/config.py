"""`TrainConfig`: every setting of a training run, and the only place its defaults live.

The CLI generates its `train` (and `bench`) flags from these fields (`das_core.cli_options`), the
app's job launcher writes a config file that `python -m das_core train --config FILE` reads, and
bench builds one per grid cell. Each field's `metadata` carries its help text and, where the flag
differs from the field name, the flag (`--sampler-warmup` for `sampler_warmup_epochs`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from ..cli_options import option as _opt
from ..errors import ConfigError
from ..nn.backbones import BACKBONES, DEFAULT_BACKBONE
from ..samplers import list_samplers, num_selected_for_ratio
from .early_stopping import CRITERIA
from .precision import PRECISIONS, check_precision

__all__ = ["TrainConfig", "EARLY_STOPPING", "BALANCE", "WARMUP_FRAMES", "BACKBONE_CHOICES"]


def _data():
    """das_core.data, imported when first needed (the CLI's --dataset choices read its registry then)."""
    from .. import data

    return data


EARLY_STOPPING = CRITERIA  # the metrics of the epoch record early stopping can watch, and "none"
BALANCE = ("weighted_loss", "sampler", "none")
WARMUP_FRAMES = ("picks", "all")
BACKBONE_CHOICES = tuple(BACKBONES)


@dataclass
class TrainConfig:
    """Everything a training run needs; JSON-able with `dataclasses.asdict`.

    Recipe defaults follow the paper: Adam, batch 16, lr 1e-4, ratio 0.5, MobileNetV3-Small. See each
    field's help (`python -m das_core train --help` prints the same text).
    """

    dataset: str = _opt("synthetic-volumes", "data set name for das_core.data.load_dataset",
                        choices=lambda: _data().dataset_names(), type=lambda s: _data().registry.dataset_key(s),
                        metavar="NAME")
    root: Optional[str] = _opt(None, "data folder or file, where the data set needs one")
    dataset_options: dict = _opt({}, "options for load_dataset (num_frames, size, moving, fold, num_folds, ...)",
                                 cli=False)
    method: str = _opt("das", "sampler: a registered name (das_core.list_samplers())")
    ratio: float = _opt(0.5, "sampling ratio k/T (the paper's 0.5); used when k is not given")
    k: Optional[int] = _opt(None, "frames to keep (overrides the ratio)")
    epochs: int = _opt(10, "maximum epochs")
    batch_size: int = _opt(16, "batch size, per process under DDP (the paper's 16)")
    lr: float = _opt(1e-4, "Adam learning rate of the network (the paper's 1e-4; DPS logits get x10)")
    weight_decay: float = _opt(0.0, "Adam weight decay")
    seed: int = _opt(0, "seed of weights, data order and noise")
    heads: int = _opt(4, "attention heads (samplers whose options include heads: DAS)")
    tau0: Optional[float] = _opt(None, "base temperature of the learned samplers (default: each sampler's own)")
    sampler_options: dict = _opt({}, "other sampler options, e.g. {\"shared_base\": true} for DAS", flag="sampler-option")
    backbone: str = _opt(DEFAULT_BACKBONE, "per-frame network (MobileNetV3-Small is the paper's)",
                         choices=BACKBONE_CHOICES)
    out: Optional[str] = _opt(None, "run folder (default runs/<dataset>-<method>-s<seed>)")
    early_stopping: str = _opt("val_auc", "criterion of the best epoch and of stopping", choices=EARLY_STOPPING)
    patience: int = _opt(5, "epochs without improvement before stopping")
    min_epochs: int = _opt(3, "epochs before any epoch can count as best and before stopping (for a learned sampler "
                                 "at least its warm-up + 1: a warm-up checkpoint holds an untrained sampler)")
    balance: str = _opt("weighted_loss", "class-imbalance handling", choices=BALANCE)
    device: str = _opt("auto", "auto (CUDA when available), cpu, cuda, cuda:1, ...")
    precision: str = _opt("fp32", "fp32, or mixed precision with torch.autocast for the backbone and head: bf16 (CPU "
                                  "or CUDA) or fp16 (CUDA, with a gradient scaler); the sampler stays float32",
                          choices=PRECISIONS)
    num_workers: int = _opt(0, "DataLoader workers")
    max_train_batches: Optional[int] = _opt(None, "cap on training batches per epoch (quick runs)")
    max_eval_batches: Optional[int] = _opt(None, "cap on validation/test batches (quick runs; default: whole split)")
    sampler_warmup_epochs: Optional[int] = _opt(None, "first epochs in which a learned sampler is not updated (the "
                                                      "task network learns first; with warmup_frames=all every method's "
                                                      "network trains on all frames in them); default: a quarter of the epochs, "
                                                      "rounded down; 0: trained jointly from the first step (the "
                                                      "paper's reading)", flag="sampler-warmup")
    warmup_frames: str = _opt("all", "what the task network sees during the sampler warm-up: all T frames (it learns "
                                     "to use every frame before the sampler learns which to keep; the default), or "
                                     "the sampler's training picks", choices=WARMUP_FRAMES)
    diagnostics_every: int = _opt(0, "log sampler diagnostics (score spread vs noise, the gradient at the informative "
                                     "frame) every N steps to diagnostics.jsonl; synthetic sets only; 0: off")
    threads: Optional[int] = _opt(None, "torch CPU threads (default: torch's own)")
    resume: bool = _opt(False, "continue from <out>/last.pt when it exists")
    progress: bool = _opt(True, "tqdm progress bars (rank 0)")

    @property
    def run_dir(self) -> Path:
        """The run folder: `out`, or runs/<dataset>-<method>-s<seed>."""
        return Path(self.out or f"runs/{self.dataset}-{self.method}-s{self.seed}")

    @property
    def warmup_epochs(self) -> int:
        """The sampler warm-up in epochs: `sampler_warmup_epochs`, or a quarter of `epochs` when it is None
        (why: docs/results-ablation.md, second round)."""
        return self.epochs // 4 if self.sampler_warmup_epochs is None else self.sampler_warmup_epochs

    def min_epochs_for(self, learned: bool = True) -> int:
        """The epochs before any can count as best and before stopping: `min_epochs`, and at least the warm-up plus
        one for every method (the warm-up applies to all of them, so they share one recipe). A warm-up epoch's
        checkpoint holds a sampler that has not trained yet, or a network that has only seen all frames; counting
        it let a longer run's best epoch be one (docs/results/diagnostics/round2/README.md). `learned` is kept
        for callers of the old signature and no longer changes the answer."""
        if self.warmup_epochs > 0:
            return max(self.min_epochs, self.warmup_epochs + 1)
        return self.min_epochs

    def num_selected(self, num_frames: int) -> int:
        """k for sequences of `num_frames` frames."""
        return self.k if self.k is not None else num_selected_for_ratio(num_frames, self.ratio)

    def validate(self) -> "TrainConfig":
        """Raise ConfigError for out-of-range options; returns self."""
        if self.method not in list_samplers():
            raise ConfigError(f"Unknown method {self.method!r}; choose one of {', '.join(list_samplers())}.")
        if self.early_stopping not in EARLY_STOPPING:
            raise ConfigError(f"early_stopping must be one of {', '.join(EARLY_STOPPING)}, got {self.early_stopping!r}.")
        if self.balance not in BALANCE:
            raise ConfigError(f"balance must be one of {', '.join(BALANCE)}, got {self.balance!r}.")
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}.")
        if not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr!r}; the paper uses 1e-4.")
        if self.patience < 1 or self.min_epochs < 0:
            raise ConfigError("patience must be >= 1 and min_epochs >= 0; for example --patience 5 --min-epochs 3.")
        if not isinstance(self.diagnostics_every, int) or self.diagnostics_every < 0:
            raise ConfigError(f"diagnostics_every must be an integer >= 0, got {self.diagnostics_every!r}.")
        w = self.sampler_warmup_epochs
        if w is not None and (not isinstance(w, int) or isinstance(w, bool) or w < 0):
            raise ConfigError(f"sampler_warmup_epochs must be an integer >= 0 (or None: a quarter of the epochs), "
                              f"got {w!r}.")
        if self.warmup_frames not in WARMUP_FRAMES:
            raise ConfigError(f"warmup_frames must be one of {', '.join(WARMUP_FRAMES)}, got {self.warmup_frames!r}.")
        check_precision(self.precision)  # fp16 on CPU is refused when the device is known (the trainer)
        for name in ("max_train_batches", "max_eval_batches"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise ConfigError(f"{name} must be a positive integer or None, got {v!r}.")
        for name in ("dataset_options", "sampler_options"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"{name} must be a dict of option names to values.")
        if self.k is None:
            num_selected_for_ratio(10, self.ratio)  # range check of the ratio
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        """A config from a dict (unknown keys are ignored, e.g. an older config.json)."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"A training config must be a JSON object of settings, got {type(data).__name__}.")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
