"""`evaluate_checkpoint`: reload a checkpoint and measure it on a split of its data set."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from ..checkpoints import check_compatible, load_checkpoint, model_spec
from ..data import dataset_names, load_dataset
from ..errors import CheckpointError
from .config import TrainConfig
from .loop import evaluate_model
from .precision import check_precision
from .setup import data_info, make_loader, resolve_device

__all__ = ["evaluate_checkpoint", "data_request"]

# load_dataset options that name files or folders: never taken from a checkpoint (its metadata is data,
# not instructions: a crafted file must not choose what is read or where decoded clips are written)
PATH_OPTIONS = ("root", "manifest", "cache_dir", "licence_manifest")


def data_request(meta: dict) -> tuple[str, dict]:
    """(data set name, dataset_options) a checkpoint's meta asks for, checked: a known data set name and
    options of plain JSON values, with the options that name paths dropped."""
    name = meta.get("dataset")
    names = dataset_names()  # the registry now: a data set registered after import counts
    if not isinstance(name, str) or name not in names:
        raise CheckpointError(f"The checkpoint names no known data set ({str(name)[:60]!r}); pass --dataset "
                              f"(one of {', '.join(names)}) and --root.")
    options = meta.get("dataset_options") or {}
    if not isinstance(options, dict):
        raise CheckpointError("The checkpoint's dataset_options are not a dict; pass the data options yourself.")
    plain = (bool, int, float, str, type(None))
    kept = {}
    for key, value in options.items():
        if key in PATH_OPTIONS:
            continue
        if isinstance(value, dict):
            ok = all(isinstance(k, str) and isinstance(v, (int, float)) for k, v in value.items())
        elif isinstance(value, (list, tuple)):  # e.g. train_licences: a few short strings
            ok = len(value) <= 32 and all(isinstance(v, str) and len(v) <= 64 for v in value)
        else:
            ok = isinstance(value, plain) and not (isinstance(value, str) and len(value) > 64)
        if not isinstance(key, str) or not ok:
            raise CheckpointError(f"The checkpoint's data option {str(key)[:40]!r} is not a plain value; pass the "
                                  f"data options yourself (--dataset, --frames, --size, ...).")
        kept[key] = value
    return name, kept


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
    precision: str = "fp32",
) -> dict:
    """Metrics of `checkpoint` on a split of its data set (or of `dataset`, overridden); `precision` "bf16"
    or "fp16" runs the backbone and head under `torch.autocast` (das_core.engine.precision).

    The data set's name and plain options may come from the checkpoint; paths (`root`, cache and
    manifest folders) come only from the arguments and the environment (`data_request`).
    Returns the metrics dict plus "classes", "split", "dataset", "checkpoint", "method".
    """
    dev = resolve_device(device)
    check_precision(precision, dev)
    model, meta = load_checkpoint(checkpoint, map_location="cpu")
    spec = model_spec(meta)
    if dataset is None:
        name, opts = data_request(meta)
    else:
        name, opts = dataset, {}
    opts.update(dataset_options or {})
    ds = load_dataset(name, split=split, root=root, **opts)
    check_compatible(meta, ds)
    model.to(dev)
    loader = make_loader(ds, TrainConfig(batch_size=batch_size, device=str(dev)))
    result = evaluate_model(model, loader, dev, num_classes=spec.num_classes, max_batches=max_batches,
                            precision=precision)
    result.update(classes=data_info(ds).classes, split=split, dataset=name, checkpoint=str(checkpoint),
                  method=spec.method)
    return result
