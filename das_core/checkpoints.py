"""Save and load `SubsampledClassifier` checkpoints safely.

A checkpoint file is a plain dict written with `torch.save`:

    {"format": "das_core.checkpoint", "format_version": 1,
     "state_dict": {name: Tensor}, "meta": {...JSON-able...}, "extra": {...tensors / JSON-able...}}

It holds only tensors and plain data, and is read with `torch.load(path, weights_only=True)`, so
loading never unpickles arbitrary objects: a file carrying pickled objects is refused with a
`CheckpointError`. `extra` holds resume state (optimizer state, epoch, early-stopping counters).

Writes are atomic: the file is written to a temporary file in the same folder, flushed, fsynced and
moved over the target with `os.replace`, so a process killed mid-write leaves the previous file intact.

`meta` keys (what `load_checkpoint` needs to rebuild the model): dataset, dataset_options, method,
num_frames, num_selected, sampler_options, backbone, num_classes, in_channels, frame_size, pooling,
classes, versions {das_core, torch}, metrics (optional), created.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import pickle
from pathlib import Path
from typing import Any, Optional, Union

import torch
from torch import nn

from .atomic import atomic_write
from .errors import CheckpointError


__all__ = [
    "FORMAT", "save_checkpoint", "load_checkpoint", "read_checkpoint", "model_meta", "build_model",
    "check_compatible", "atomic_torch_save", "jsonable",
]

FORMAT = "das_core.checkpoint"
FORMAT_VERSION = 1
_REQUIRED = ("method", "num_frames", "num_selected", "backbone", "num_classes", "in_channels")


def jsonable(value: Any) -> Any:
    """Plain JSON-able copy of `value` (tuples -> lists, numpy/torch scalars -> numbers, NaN -> None)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return jsonable(value.tolist())
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return str(value)  # plain str, also for subclasses such as torch's TorchVersion
    if value is None or isinstance(value, (bool, int, float)):
        return type(value)(value) if value is not None else None
    if isinstance(value, Path):
        return str(value)
    return str(value)


def atomic_torch_save(obj: Any, path: Union[str, Path]) -> Path:
    """`torch.save(obj, path)` atomically (see `das_core.atomic.atomic_write`)."""
    with atomic_write(path, "wb") as fh:
        torch.save(obj, fh)
    return Path(path)


def _versions() -> dict:
    from . import __version__

    return {"das_core": str(__version__), "torch": str(torch.__version__)}


def model_meta(model: nn.Module) -> dict:
    """The architecture part of a checkpoint's meta, read off a `SubsampledClassifier`."""
    from .backbones import BACKBONES

    sampler = model.sampler
    if model.backbone_name not in BACKBONES:
        raise CheckpointError(
            f"A model with a custom backbone ({model.backbone_name}) cannot be rebuilt from a checkpoint; "
            f"use one of {', '.join(BACKBONES)} or save its state_dict yourself."
        )
    dropout = next((m.p for m in model.head if isinstance(m, nn.Dropout)), 0.0)
    return {
        "method": sampler.name,
        "num_frames": int(sampler.num_frames),
        "num_selected": int(sampler.num_selected),
        "sampler_options": jsonable(sampler.options),
        "backbone": model.backbone_name,
        "num_classes": int(model.num_classes),
        "in_channels": int(model.in_channels),
        "pooling": model.pooling,
        "dropout": float(dropout),
    }


def save_checkpoint(
    path: Union[str, Path], model: nn.Module, meta: Optional[dict] = None, *, extra: Optional[dict] = None
) -> Path:
    """Write `model`'s weights and `meta` atomically to `path`.

    Args:
        path: target file (its folder is created).
        model: a `SubsampledClassifier` (a DDP wrapper is unwrapped).
        meta: dataset, dataset_options, classes, frame_size, metrics, ... (JSON-able); the
            architecture keys (method, num_frames, ...) are filled in from the model.
        extra: resume state: tensors and plain data only (e.g. `optimizer.state_dict()`).

    Returns:
        the path written.
    """
    model = getattr(model, "module", model)
    full_meta = {"dataset": None, "dataset_options": {}, "classes": None, "frame_size": None, "metrics": None}
    full_meta.update(jsonable(meta or {}))
    full_meta.update(model_meta(model))
    full_meta["versions"] = _versions()
    full_meta["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "state_dict": state, "meta": full_meta}
    if extra:
        payload["extra"] = extra
    return atomic_torch_save(payload, path)


def read_checkpoint(path: Union[str, Path], map_location="cpu") -> dict:
    """The raw payload dict of a checkpoint file (weights-only load; no model is built)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {path} does not exist; check the path or train a model first.")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if "global" not in str(err).lower():  # GLOBAL opcode = a pickled object; anything else = junk
            raise CheckpointError(
                f"{path.name} is not a readable checkpoint (not a torch file); "
                f"choose a file written by das_core (python -m das_core train)."
            ) from None
        raise CheckpointError(
            f"{path.name} contains pickled Python objects, which are never loaded for safety; "
            f"use a checkpoint written by das_core.checkpoints.save_checkpoint."
        ) from None
    except Exception as err:  # zip/format errors, truncated files
        raise CheckpointError(
            f"{path.name} is not a readable checkpoint ({type(err).__name__}); "
            f"choose a file written by das_core (python -m das_core train)."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "state_dict" not in payload:
        raise CheckpointError(
            f"{path.name} is not a das_core checkpoint; choose a file written by das_core (python -m das_core train)."
        )
    meta = payload.get("meta")
    if not isinstance(meta, dict) or any(k not in meta for k in _REQUIRED):
        raise CheckpointError(f"{path.name} has incomplete metadata; re-create it with python -m das_core train.")
    return payload


def build_model(meta: dict) -> nn.Module:
    """A fresh `SubsampledClassifier` with the architecture `meta` describes."""
    from .errors import DASError
    from .model import SubsampledClassifier
    from .samplers import make_sampler

    try:
        sampler = make_sampler(meta["method"], int(meta["num_frames"]), int(meta["num_selected"]),
                               **dict(meta.get("sampler_options") or {}))
        return SubsampledClassifier(
            sampler,
            backbone=meta["backbone"],
            num_classes=int(meta["num_classes"]),
            in_channels=int(meta["in_channels"]),
            frame_size=int(meta.get("frame_size") or 28),
            pooling=meta.get("pooling", "mean"),
            dropout=float(meta.get("dropout", 0.0)),
        )
    except DASError as err:
        raise CheckpointError(f"The checkpoint's model cannot be rebuilt ({err}); re-create the checkpoint.") from None


def load_checkpoint(path: Union[str, Path], map_location="cpu", *, with_extra: bool = False):
    """Rebuild the model a checkpoint describes and load its weights.

    Args:
        path: a file written by `save_checkpoint`.
        map_location: device for the tensors (and the model).
        with_extra: also return the resume state.

    Returns:
        `(model in eval mode, meta)` or, with `with_extra`, `(model, meta, extra)`.

    Raises:
        CheckpointError: missing file, pickle-bearing or foreign file, or weights that do not fit the meta.
    """
    payload = read_checkpoint(path, map_location=map_location)
    meta = payload["meta"]
    model = build_model(meta)
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as err:
        first = str(err).split("\n")[1].strip() if "\n" in str(err) else str(err)[:160]
        raise CheckpointError(
            f"The weights in {Path(path).name} do not fit the {meta['method']}/{meta['backbone']} model its "
            f"metadata describes ({first}); the file is corrupt or was edited, re-create it."
        ) from None
    model.to(map_location if not callable(map_location) else "cpu").eval()
    if with_extra:
        return model, meta, payload.get("extra") or {}
    return model, meta


def _dataset_shape(dataset) -> tuple[int, int, int]:
    x = dataset[0][0]  # (T, C, H, W)
    return int(x.shape[0]), int(x.shape[1]), int(x.shape[-1])


def check_compatible(meta: dict, dataset) -> None:
    """Raise `CheckpointError` when `dataset`'s items cannot go through the checkpoint's model.

    Checks T (frames) and C (channels) against the checkpoint, and the number of classes where the
    data set has labels. Frame size may differ (both backbones pool globally) but is reported.
    """
    T, C, S = _dataset_shape(dataset)
    mT, mC = int(meta["num_frames"]), int(meta["in_channels"])
    trained = meta.get("dataset") or "unknown data"
    ms = meta.get("frame_size")
    name = getattr(dataset, "name", "the selected data")
    if (T, C) != (mT, mC):
        raise CheckpointError(
            f"This checkpoint was trained on {trained} with T={mT} frames of {mC} channel(s)"
            f"{f' at {ms}x{ms}' if ms else ''}; the selected data ({name}) has T={T} frames of {C} channel(s) "
            f"at {S}x{S}; choose a matching checkpoint or data set."
        )
    classes = getattr(dataset, "classes", None)
    if classes is not None and len(classes) != int(meta["num_classes"]):
        raise CheckpointError(
            f"This checkpoint was trained on {trained} with {meta['num_classes']} classes; the selected data "
            f"({name}) has {len(classes)}; choose a matching checkpoint or data set."
        )
