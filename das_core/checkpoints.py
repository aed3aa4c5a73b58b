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

A checkpoint can come from anyone (the app lists uploads and run folders), so before torch reads a file its zip
directory is checked (`check_archive`): at most `MAX_RECORDS` records, the declared unpacked size of every record
and of all of them within the decode budget (`das_core.data.budget`, 1 GiB unless `$DAS_DECODE_BUDGET_MB`),
the pickled part (`data.pkl`) within `MAX_PICKLE_BYTES`, and no compressed record that unpacks to more than
`MAX_COMPRESSION_RATIO` times its packed size (torch writes every record stored; its reader allocates what a
record declares). Once read, the tensors' logical size (a view may be far larger than its storage) must be
within the same budget. The model's spec is then checked (`ModelSpec.from_dict`: every field and sampler option
bounded), the model's size counted without building it (`das_core.nn.model.MAX_MODEL_BYTES`) and compared
with the weights the file holds, and only then is the model built. `manifest_entries` lists only files
inside the manifest's folder.

Public entry point: `das_core.load_model(path)` -> the model in eval mode, with `model.spec` and
`model.meta`.
"""

from __future__ import annotations

import datetime as _dt
import math
import pickle
import zipfile
from pathlib import Path
from typing import Any, Optional, Union

import torch
from torch import nn

from . import __version__
from .atomic import atomic_write
from .data.budget import BUDGET_ENV, decode_budget, format_bytes
from .data.safezip import unsafe_member_name
from .errors import CheckpointError, DASError
from .nn.model import SubsampledClassifier, check_model_size
from .nn.spec import ModelSpec
from .quantize import compact_state, expand_state, pack_state, unpack_state


__all__ = [
    "manifest_entries",
    "FORMAT", "save_checkpoint", "load_checkpoint", "load_model", "read_checkpoint", "model_spec",
    "check_compatible", "atomic_torch_save", "jsonable", "compact_checkpoint", "check_archive",
    "MAX_RECORDS", "MAX_PICKLE_BYTES", "MAX_COMPRESSION_RATIO",
]

# Limits of the zip directory of a checkpoint, checked before torch reads a byte of it (`check_archive`):
MAX_RECORDS = 100_000  # tensors + a few: a MobileNetV3-Small checkpoint has ~260, with its optimizer state ~800
MAX_PICKLE_BYTES = 16 << 20  # data.pkl (meta, names, optimizer layout): ~30 KB in the shipped files
MAX_COMPRESSION_RATIO = 100  # unpacked / packed of a compressed record (torch itself stores every record)
_RATIO_FLOOR = 1 << 20  # records that unpack to less than this are not held to the ratio

FORMAT = "das_core.checkpoint"
FORMAT_VERSION = 2  # 2: the model spec under meta["model"]; 1: its fields at the top level of meta
_SPEC_FIELDS = ("method", "num_frames", "num_selected", "backbone", "num_classes", "in_channels", "frame_size",
                "pooling", "dropout", "sampler_options")


def _inside(folder: Path, name: Any) -> bool:
    """True when `name` (a manifest entry's "file") is a relative path that stays inside `folder`, symlinks
    resolved: not absolute, no drive letter, no `..` part, and not a link that points out of the folder."""
    if not isinstance(name, str) or not name.strip() or unsafe_member_name(name) or Path(name).is_absolute():
        return False
    try:
        root = folder.resolve()
        return (root / name).resolve().is_relative_to(root)
    except (OSError, RuntimeError, ValueError):  # a symlink loop, an odd name
        return False


def manifest_entries(folder: Union[str, Path]) -> list[dict]:
    """The entries of `<folder>/manifest.json`, the record of the shipped checkpoints (one dict per file, as
    `python -m das_core checkpoints` writes them); [] when the manifest is missing or unreadable. Also reads
    the older layouts: a bare list, or the list under "entries".

    An entry whose "file" is not a relative path inside `folder` (absolute, with `..`, or a symlink out of the
    folder) is left out: the manifest lists shipped files, and a file elsewhere is not shipped."""
    import json

    folder = Path(folder)
    try:
        data = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return []
    if isinstance(data, dict):
        data = data.get("checkpoints") or data.get("entries") or []
    if not isinstance(data, list):
        return []
    return [e for e in data if isinstance(e, dict) and ("file" not in e or _inside(folder, e["file"]))]


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


def _not_readable(name: str, why: str) -> CheckpointError:
    return CheckpointError(f"{name} is not a readable checkpoint ({why}); "
                           f"choose a file written by das_core (python -m das_core train).")


def check_archive(path: Union[str, Path], budget: Optional[int] = None) -> int:
    """Check the zip directory of the torch file `path` before torch reads it; returns the bytes its records
    declare. CheckpointError with one sentence for a file that is not a zip, has more than `MAX_RECORDS`
    records, declares more than `budget` bytes unpacked (default: the decode budget, `decode_budget()`), a
    pickled part over `MAX_PICKLE_BYTES`, or a compressed record over `MAX_COMPRESSION_RATIO` (a zip bomb).
    Only the directory is read: nothing is unpacked."""
    path = Path(path)
    name = path.name
    budget = decode_budget() if budget is None else int(budget)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise _not_readable(name, "not a torch zip file") from None
    if len(infos) > MAX_RECORDS:
        raise CheckpointError(f"{name} holds {len(infos):,} records, more than the {MAX_RECORDS:,} a das_core "
                              f"checkpoint may have; choose a file written by das_core (python -m das_core train).")
    total = 0
    for info in infos:
        size, packed = int(info.file_size), int(info.compress_size)
        if info.compress_type != zipfile.ZIP_STORED and size > _RATIO_FLOOR and size > MAX_COMPRESSION_RATIO * packed:
            raise CheckpointError(
                f"{name} holds a compressed record that unpacks from {format_bytes(packed)} to {format_bytes(size)} "
                f"(more than {MAX_COMPRESSION_RATIO} times; torch never writes compressed records), so it is "
                f"refused as a zip bomb; choose a file written by das_core (python -m das_core train).")
        if info.filename.rsplit("/", 1)[-1] == "data.pkl" and size > MAX_PICKLE_BYTES:
            raise CheckpointError(
                f"{name} declares {format_bytes(size)} of pickled metadata, more than the {format_bytes(MAX_PICKLE_BYTES)} "
                f"a das_core checkpoint needs; choose a file written by das_core (python -m das_core train).")
        total += size
    if total > budget:
        raise CheckpointError(
            f"{name} declares {format_bytes(total)} of weights and data unpacked, more than the decode cap of "
            f"{format_bytes(budget)}; raise the cap with the environment variable {BUDGET_ENV} (in MiB) if the file "
            f"is trusted, or use a smaller checkpoint.")
    return total


def _check_tensor_sizes(name: str, payload: Any, budget: int) -> None:
    """The tensors a file holds may be views far larger than their storage (a stride-0 tensor of 10**9 values
    fits in a few bytes); what they would take once made dense float32 (as `expand_state` makes int8 and
    float16 weights) must be within the decode budget too."""
    total, stack, seen = 0, [payload], 0
    while stack:
        value = stack.pop()
        seen += 1
        if seen > 10 * MAX_RECORDS:
            raise CheckpointError(f"{name} holds more than {10 * MAX_RECORDS:,} values in its metadata; choose a file "
                                  f"written by das_core (python -m das_core train).")
        if isinstance(value, torch.Tensor):
            total += value.numel() * max(value.element_size(), 4)
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
    if total > budget:
        raise CheckpointError(
            f"{name} holds tensors of {format_bytes(total)} once expanded, more than the decode cap of "
            f"{format_bytes(budget)}; raise the cap with the environment variable {BUDGET_ENV} (in MiB) if the file "
            f"is trusted, or use a smaller checkpoint.")


def read_checkpoint(path: Union[str, Path], map_location="cpu") -> dict:
    """The raw payload dict of a checkpoint file (weights-only load; no model is built). The zip directory is
    checked first (`check_archive`), and the model spec of its meta validated (`ModelSpec.from_dict`)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {path} does not exist; check the path or train a model first.")
    check_archive(path)
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
    _check_tensor_sizes(path.name, payload, decode_budget())
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
        raise _cannot_build(path.name, err) from None
    scales, packing = payload.pop("int8_scales", None), payload.pop("packing", None)
    if scales is not None:  # a compacted file: int8 / float16 weights back to float32
        try:
            state = unpack_state(payload["state_dict"], packing) if packing else payload["state_dict"]
            payload["state_dict"] = expand_state(state, scales)
        except (KeyError, ValueError, TypeError, AttributeError, RuntimeError) as err:
            raise CheckpointError(f"The int8 weights in {path.name} do not match their scales ({err}); "
                                  f"the file is corrupt, re-create it.") from None
        payload["meta"]["int8_weights"] = sorted(scales)
    return payload


def _cannot_build(name: str, err: Exception) -> CheckpointError:
    return CheckpointError(f"{name} describes a model that cannot be built ({str(err).rstrip('.')}); "
                           f"re-create it with python -m das_core train.")


def _misfit(name: str, spec: ModelSpec, detail: str) -> CheckpointError:
    return CheckpointError(f"The weights in {name} do not fit the {spec.method}/{spec.backbone} model its metadata "
                           f"describes ({detail}); the file is corrupt or was edited, re-create it.")


def _state_values(state: dict) -> int:
    return sum(t.numel() for t in state.values() if isinstance(t, torch.Tensor))


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
    name = Path(path).name
    meta = payload["meta"]
    spec = model_spec(meta)
    state = payload["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"The weights in {name} are not a state dict; the file is corrupt, re-create it.")
    try:  # the model's size, counted without building it (das_core.nn.model.check_model_size)
        size = check_model_size(spec)
    except DASError as err:
        raise _cannot_build(name, err) from None
    held = _state_values(state)
    if held < size.parameters:  # fewer weights than the model has parameters: refused before it is built
        raise _misfit(name, spec, f"the file holds {held:,} weight values, the model has {size.parameters:,} "
                                  f"parameters")
    try:
        model = SubsampledClassifier.from_config(spec)
    except DASError as err:
        raise _cannot_build(name, err) from None
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError) as err:
        first = str(err).split("\n")[1].strip() if "\n" in str(err) else str(err)[:160]
        raise _misfit(name, spec, first) from None
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
