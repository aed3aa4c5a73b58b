"""`evaluate_checkpoint`: reload a checkpoint and measure it on a split of its data set."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from ..checkpoints import check_compatible, load_checkpoint, model_spec
from ..data import load_dataset
from ..errors import ConfigError
from .config import TrainConfig
from .loop import evaluate_model
from .setup import data_info, make_loader, resolve_device

__all__ = ["evaluate_checkpoint"]


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
    """Metrics of `checkpoint` on a split of its data set (or of `dataset`, overridden).

    Returns the metrics dict plus "classes", "split", "dataset", "checkpoint", "method".
    """
    dev = resolve_device(device)
    model, meta = load_checkpoint(checkpoint, map_location="cpu")
    spec = model_spec(meta)
    name = dataset or meta.get("dataset")
    if not name:
        raise ConfigError("The checkpoint does not name its data set; pass --dataset (and --root).")
    opts = dict(meta.get("dataset_options") or {}) if dataset is None else {}
    opts.update(dataset_options or {})
    ds = load_dataset(name, split=split, root=root if root is not None else (meta.get("root") if dataset is None else None),
                      **opts)
    check_compatible(meta, ds)
    model.to(dev)
    loader = make_loader(ds, TrainConfig(batch_size=batch_size))
    result = evaluate_model(model, loader, dev, num_classes=spec.num_classes, max_batches=max_batches)
    result.update(classes=data_info(ds).classes, split=split, dataset=name, checkpoint=str(checkpoint),
                  method=spec.method)
    return result
