"""Save and load `SubsampledClassifier` checkpoints safely.

A checkpoint file is a plain dict written with `torch.save`:

    {"format": "das_core.checkpoint", "format_version": 2,
     "state_dict": {name: Tensor}, "meta": {...JSON-able...}, "extra": {...tensors / JSON-able...},
     "int8_scales": {name: Tensor}, "packing": {...}}   # only in compacted files (int8/float16, packed)

It holds only tensors and plain data, and is read with `torch.load(path, weights_only=True)`, so
loading never unpickles arbitrary objects: a file carrying pickled objects is refused with a
`CheckpointError`. `extra` holds resume state (optimizer state, epoch, early-stopping counters).

Writes are atomic: the file is written to a temporary file in the same folder, flushed, fsynced and
moved over the target with `os.replace`, so a process killed mid-write leaves the previous file intact.

`meta` keys: `model` (the `ModelSpec` as a dict: method, num_frames, num_selected, backbone,
num_classes, in_channels, frame_size, pooling, dropout, sampler_options), dataset, root,
dataset_options, classes, seed, ratio, metrics (optional), versions {das_core, torch}, created.
Checkpoints written before the spec existed kept the spec's fields at the top level of `meta`;
`read_checkpoint` moves them under `model`, so they still load.

`compact_checkpoint(src, dst)` writes a copy whose large weights are int8 (`das_core.quantize`; the
shipped demo checkpoints); every reader expands them back to float32.

Public entry point: `das_core.load_model(path)` -> the model in eval mode, with `model.spec` and
`model.meta`.
"""

from __future__ import annotations

import datetime as _dt
import math
import pickle
from pathlib import Path
from typing import Any, Optional, Union

import torch
from torch import nn

from . import __version__
from .atomic import atomic_write
from .errors import CheckpointError, DASError
from .model import SubsampledClassifier
from .quantize import compact_state, expand_state, pack_state, unpack_state
from .spec import ModelSpec


__all__ = [
    "manifest_entries",
    "FORMAT", "save_checkpoint", "load_checkpoint", "load_model", "read_checkpoint", "model_spec",
    "check_compatible", "atomic_torch_save", "jsonable", "compact_checkpoint",
]

FORMAT = "das_core.checkpoint"
FORMAT_VERSION = 2  # 2: the model spec under meta["model"]; 1: its fields at the top level of meta
_SPEC_FIELDS = ("method", "num_frames", "num_selected", "backbone", "num_classes", "in_channels", "frame_size",
                "pooling", "dropout", "sampler_options")


def manifest_entries(folder: Union[str, Path]) -> list[dict]:
    """The entries of `<folder>/manifest.json`, the record of the shipped checkpoints (one dict per file, as
    `python -m das_core checkpoints` writes them); [] when the manifest is missing or unreadable. Also reads
    the older layouts: a bare list, or the list under "entries"."""
    import json

    try:
        data = json.loads((Path(folder) / "manifest.json").read_text())
    except (OSError, ValueError):
        return []
    if isinstance(data, dict):
        data = data.get("checkpoints") or data.get("entries") or []
    return [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []


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
    return {"das_core": str(__version__), "torch": str(torch.__version__)}


def save_checkpoint(
    path: Union[str, Path], model: nn.Module, meta: Optional[dict] = None, *, extra: Optional[dict] = None
) -> Path:
    """Write `model`'s weights and `meta` atomically to `path`.

    Args:
        path: target file (its folder is created).
        model: a `SubsampledClassifier` (a DDP wrapper is unwrapped).
        meta: dataset, dataset_options, classes, metrics, ... (JSON-able); `model` (the spec) is
            filled in from the model.
        extra: resume state: tensors and plain data only (e.g. `optimizer.state_dict()`).

    Returns:
        the path written.
    """
    model = getattr(model, "module", model)
    try:
        spec = model.spec
    except DASError as err:
        raise CheckpointError(f"This model cannot be saved as a das_core checkpoint ({err})") from None
    full_meta = {"dataset": None, "dataset_options": {}, "classes": None, "metrics": None}
    full_meta.update(jsonable({k: v for k, v in (meta or {}).items() if k not in _SPEC_FIELDS}))
    full_meta["model"] = jsonable(spec.to_dict())
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
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path.name} has no metadata; re-create it with python -m das_core train.")
    if "model" not in meta:  # format 1: the spec's fields at the top level
        meta = {k: v for k, v in meta.items() if k not in _SPEC_FIELDS or k == "frame_size"}
        meta["model"] = {k: payload["meta"][k] for k in _SPEC_FIELDS if k in payload["meta"]}
        payload["meta"] = meta
    try:
        ModelSpec.from_dict(meta["model"])
    except DASError as err:
        raise CheckpointError(f"{path.name} describes a model that cannot be built ({err}); "
                              f"re-create it with python -m das_core train.") from None
    scales, packing = payload.pop("int8_scales", None), payload.pop("packing", None)
    if scales is not None:  # a compacted file: int8 / float16 weights back to float32
        try:
            state = unpack_state(payload["state_dict"], packing) if packing else payload["state_dict"]
            payload["state_dict"] = expand_state(state, scales)
        except (KeyError, ValueError, TypeError, AttributeError) as err:
            raise CheckpointError(f"The int8 weights in {path.name} do not match their scales ({err}); "
                                  f"the file is corrupt, re-create it.") from None
        payload["meta"]["int8_weights"] = sorted(scales)
    return payload


def compact_checkpoint(src: Union[str, Path], dst: Union[str, Path], *, min_numel: int = 1024) -> Path:
    """Write `src`'s model (weights and meta; no resume state) to `dst` with its large weights as int8."""
    payload = read_checkpoint(src)
    state, scales = compact_state(payload["state_dict"], min_numel=min_numel)
    packed, layout = pack_state(state)
    meta = {k: v for k, v in payload["meta"].items() if k != "int8_weights"}
    out = {"format": FORMAT, "format_version": FORMAT_VERSION, "state_dict": packed, "meta": meta,
           "int8_scales": scales, "packing": layout}
    return atomic_torch_save(out, dst)


def model_spec(meta: dict) -> ModelSpec:
    """The `ModelSpec` of a checkpoint's meta (as `read_checkpoint` returns it)."""
    return ModelSpec.from_dict(meta["model"])


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
    spec = model_spec(meta)
    model = SubsampledClassifier.from_config(spec)
    state = payload["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"The weights in {Path(path).name} are not a state dict; the file is corrupt, re-create it.")
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError) as err:
        first = str(err).split("\n")[1].strip() if "\n" in str(err) else str(err)[:160]
        raise CheckpointError(
            f"The weights in {Path(path).name} do not fit the {spec.method}/{spec.backbone} model its "
            f"metadata describes ({first}); the file is corrupt or was edited, re-create it."
        ) from None
    model.meta = meta
    model.to(map_location if not callable(map_location) else "cpu").eval()
    if with_extra:
        return model, meta, payload.get("extra") or {}
    return model, meta


def load_model(path: Union[str, Path], map_location="cpu") -> SubsampledClassifier:
    """The `SubsampledClassifier` a checkpoint holds, in eval mode, with `model.spec` (its `ModelSpec`)
    and `model.meta` (data set, classes, metrics, ...). CheckpointError with one sentence otherwise."""
    model, _ = load_checkpoint(path, map_location=map_location)
    return model


def _dataset_shape(dataset) -> tuple[int, int, int]:
    x = dataset[0][0]  # (T, C, H, W)
    return int(x.shape[0]), int(x.shape[1]), int(x.shape[-1])


def check_compatible(meta: dict, dataset) -> None:
    """Raise `CheckpointError` when `dataset`'s items cannot go through the checkpoint's model.

    Checks T (frames) and C (channels) against the checkpoint, and the number of classes where the
    data set has labels. Frame size may differ (both backbones pool globally) but is reported.
    """
    T, C, S = _dataset_shape(dataset)
    spec = model_spec(meta)
    mT, mC = spec.num_frames, spec.in_channels
    trained = meta.get("dataset") or "unknown data"
    ms = spec.frame_size
    name = getattr(dataset, "name", "the selected data")
    if (T, C) != (mT, mC):
        raise CheckpointError(
            f"This checkpoint was trained on {trained} with T={mT} frames of {mC} channel(s)"
            f"{f' at {ms}x{ms}' if ms else ''}; the selected data ({name}) has T={T} frames of {C} channel(s) "
            f"at {S}x{S}; choose a matching checkpoint or data set."
        )
    classes = getattr(dataset, "classes", None)
    if classes is not None and len(classes) != spec.num_classes:
        raise CheckpointError(
            f"This checkpoint was trained on {trained} with {spec.num_classes} classes; the selected data "
            f"({name}) has {len(classes)}; choose a matching checkpoint or data set."
        )
