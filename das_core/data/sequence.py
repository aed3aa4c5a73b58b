"""``load_sequence``: read one user file (volume, video or DICOM) into ``(T, C, H, W)`` in [0, 1].

Accepted: ``.npy`` / ``.npz`` volumes, videos (mp4/avi/mov/mpeg/gif, ...), DICOM (``.dcm``, or any
file with the ``DICM`` preamble; a multi-frame cine is one clip), a DICOM series (a folder of
single-slice DICOM files, or a ``.zip`` of them; see ``dicom_series``) and NIfTI volumes (``.nii`` /
``.nii.gz``; see ``nifti``): the readers registered below with ``readers.register_reader``, which
picks one by the file's suffix (a new format is one more decorated function; ``SUPPORTED_EXTENSIONS``
and the app's uploader follow the registry). The source may be a path (a folder for a series), raw
``bytes``, or a file-like object (e.g. ``io.BytesIO`` or Streamlit's ``UploadedFile``) together with
``filename=`` (its extension picks the reader). In-memory input is written to a private temporary
folder that is removed before the function returns, whatever happens; a zip is read in memory, never
extracted.

Hostile input: every reader checks what the file would decode to against the decode budget
(``max_decoded_bytes=``, else ``$DAS_DECODE_BUDGET_MB``, default 1024 MiB; see ``budget``) before
decoding; frames are resampled first and each distinct frame is resized once; a MemoryError is
reported as one sentence with the file's size.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Dict, Optional, Tuple, Union

import numpy as np
import torch

from das_core.errors import DataError

from .arrays import (SizeLike, check_positive_int, normalise_intensity, parse_size, resample_indices, rgb_to_gray,
                     select_frames, volume_to_sequence)
from .budget import check_budget, decode_budget, format_bytes
from .decode import VIDEO_EXTENSIONS, decode_video
from .dicom import read_dicom
from .dicom_series import read_dicom_series
from .nifti import NIFTI_EXTENSIONS, read_nifti
from .npyfile import load_array_file, npz_members, read_npz_member
from .paths import require_file
from .readers import (LiveTuple, ReadOptions, Reader, folder_reader, reader_for, register_reader, sniff_reader,
                      supported_extensions)

__all__ = ["load_sequence", "sequence_kind", "SUPPORTED_EXTENSIONS", "array_sequence"]

# every registered suffix, read from the reader registry each time it is used (a reader registered later counts)
SUPPORTED_EXTENSIONS = LiveTuple(supported_extensions)

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, BinaryIO]


def _is_dicom(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
        return len(head) == 132 and head[128:132] == b"DICM"
    except OSError:
        return False


_MAX_NAME = 255
_SPACING_BUDGET = 1 << 20  # an optional "spacing" member is a few numbers


def _npz_spacing(path: Path) -> Optional[list]:
    """The optional ``spacing`` array of a ``.npz`` (a few floats), or None when absent or unusable."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            info = npz_members(zf).get("spacing")
            if info is None:
                return None
            sp = read_npz_member(zf, info, path.name, _SPACING_BUDGET, extra_per_value=0)
    except (DataError, zipfile.BadZipFile, OSError):
        return None  # spacing is optional metadata; the array itself was read already
    vals = [float(v) for v in np.asarray(sp, dtype=np.float64).reshape(-1)[:8]]
    return vals if all(np.isfinite(vals)) else None


def array_sequence(arr: np.ndarray, name: str, options: ReadOptions) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """A numeric array as a sequence, as a ``.npy``'s contents are read: a volume (D, H, W) sliced along
    ``options.axis``, or frames (T, H, W, C) / (T, C, H, W); leading batch dims of size 1 dropped; normalised
    to [0, 1] (``options.window`` or min-max), resampled and resized within the decode budget. What a reader
    that returns an array gets.

    Args:
        arr: the array (bool, integer or float; never objects or complex numbers).
        name: the file's name, for messages.
        options: the `ReadOptions` of the call.
    """
    arr = np.asarray(arr)
    if arr.dtype.hasobject or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or \
            np.issubdtype(arr.dtype, np.complexfloating):
        raise DataError(f"{name} was read as {arr.dtype} values, not real numbers; its reader must return a "
                        f"numeric array.")
    window, axis, num_frames, size = options.window, options.axis, options.num_frames, options.size
    grayscale, budget = options.grayscale, options.max_decoded_bytes
    while arr.ndim > 3 and arr.shape[0] == 1 and not (arr.ndim == 4 and arr.shape[-1] in (1, 3, 4)):
        arr = arr[0]  # drop leading batch dims of size 1
    norm = normalise_intensity(arr, window, name)  # float32 (bool -> 0/1), [0, 1]; finite after the cast
    if norm.ndim == 3:
        seq = volume_to_sequence(norm, axis, name)  # (T, 1, H, W)
        layout = "DHW"
    elif norm.ndim == 4 and norm.shape[-1] in (1, 3, 4) and norm.shape[1] not in (1, 3):
        seq = np.moveaxis(norm[..., :3] if norm.shape[-1] == 4 else norm, -1, 1)  # (T, C, H, W)
        layout = "THWC"
    elif norm.ndim == 4 and norm.shape[1] in (1, 3):
        seq = norm
        layout = "TCHW"
    else:
        raise DataError(f"{name} has shape {tuple(arr.shape)}, which is not a volume (D, H, W) or frames "
                        f"(T, H, W, C) / (T, C, H, W); save a 3D volume per file.")
    idx = resample_indices(seq.shape[0], num_frames)
    hw = parse_size(size) or tuple(seq.shape[-2:])
    c = 1 if grayscale else int(seq.shape[1])
    out_bytes = len(idx) * c * hw[0] * hw[1] * 4
    check_budget(name, arr.nbytes + norm.nbytes + out_bytes, budget,
                 f"{format_bytes(out_bytes)} of it the float32 output of {len(idx)} frames of {hw[0]} x {hw[1]}")
    meta = {"original_frames": int(seq.shape[0]), "spacing": None, "fps": None, "kind": "volume",
            "original_shape": list(arr.shape), "dtype": str(arr.dtype), "layout": layout,
            "value_range": [float(np.min(arr)), float(np.max(arr))], "window": list(window) if window else None,
            "frame_indices": idx.tolist()}
    x = torch.from_numpy(seq)
    if grayscale and x.shape[1] == 3:
        x = torch.from_numpy(rgb_to_gray(np.moveaxis(seq, 1, -1))).permute(0, 3, 1, 2)
    return select_frames(x, idx, size).to(torch.float32).clamp_(0, 1), meta


# ---------------------------------------------------------------- the built-in readers (registration order is
# the order of SUPPORTED_EXTENSIONS and of content sniffing)

@register_reader(suffixes=(".npy", ".npz"), kind="volume", name="array")
def _read_array(path: Path, o: ReadOptions) -> Tuple[torch.Tensor, Dict[str, Any]]:
    x, meta = array_sequence(load_array_file(path, o.key, max_decoded_bytes=o.max_decoded_bytes), path.name, o)
    if path.suffix.lower() == ".npz":
        meta["spacing"] = _npz_spacing(path)
    return x, meta


@register_reader(suffixes=VIDEO_EXTENSIONS, kind="video", name="video")
def _read_video(path: Path, o: ReadOptions) -> Tuple[torch.Tensor, Dict[str, Any]]:
    frames, info = decode_video(path, o.num_frames, o.size, o.grayscale, timeout_s=o.decode_timeout,
                                max_decoded_bytes=o.max_decoded_bytes)
    return frames.to(torch.float32).div_(255.0), {
        "original_frames": info["original_frames"], "spacing": None, "fps": info["fps"], "kind": "video",
        "original_size": info["original_size"], "frame_indices": info["frame_indices"]}


# any file with the DICM preamble is read as DICOM, whatever its name (viewers export files without a suffix)
@register_reader(suffixes=(".dcm", ".dicom"), kind="auto", name="dicom", sniff=_is_dicom)
def _read_dicom(path: Path, o: ReadOptions) -> Tuple[torch.Tensor, Dict[str, Any]]:
    x, meta = read_dicom(path, o.num_frames, o.size, o.grayscale, o.window, max_decoded_bytes=o.max_decoded_bytes)
    meta["kind"] = "video" if meta["original_frames"] > 1 else "image"  # a cine is a clip; one image, one slice
    return x, meta


# a zip of one DICOM series; a folder path is read the same way
@register_reader(suffixes=(".zip",), kind="volume", name="dicom-series", folders=True)
def _read_series(path: Path, o: ReadOptions) -> Tuple[torch.Tensor, Dict[str, Any]]:
    return read_dicom_series(path, o.num_frames, o.size, o.grayscale, o.window, max_decoded_bytes=o.max_decoded_bytes)


@register_reader(suffixes=NIFTI_EXTENSIONS, kind="volume", name="nifti")
def _read_nifti(path: Path, o: ReadOptions) -> Tuple[torch.Tensor, Dict[str, Any]]:
    return read_nifti(path, o.num_frames, o.size, o.grayscale, o.window, max_decoded_bytes=o.max_decoded_bytes)


def _choose_reader(path: Path) -> Reader:
    """The registered reader of `path`: a folder's, its suffix's, else one that recognises its content."""
    if path.is_dir():
        reader = folder_reader()
        if reader is None:
            raise DataError(f"{path.name} is a folder, and no registered reader reads folders; pass a file.")
        return reader
    require_file(path, empty_fix="upload the complete file again")
    reader = reader_for(path.name) or sniff_reader(path)
    if reader is None:
        ext = path.suffix.lower()
        raise DataError(f"{path.name} has an unsupported type {ext or '(no extension)'!r}; use one of "
                        f"{', '.join(supported_extensions())}, or a folder of DICOM slices.")
    return reader


def _load_path(path: Path, options: ReadOptions) -> Tuple[torch.Tensor, Dict[str, Any]]:
    reader = _choose_reader(path)
    out = reader.read(path, options)
    if isinstance(out, np.ndarray):  # a reader that returns the array: read as an .npy's contents
        x, meta = array_sequence(out, path.name, options)
        meta.pop("kind")
    elif isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], torch.Tensor) and out[0].dim() == 4:
        x, meta = out[0], dict(out[1] or {})
    else:
        raise DataError(f"the {reader.name!r} reader gave no (T, C, H, W) tensor and meta dict (nor an array) for "
                        f"{path.name}; fix the reader to return one.")
    if reader.kind != "auto":
        meta.setdefault("kind", reader.kind)
    meta["source"] = str(path)
    meta["shape"] = list(x.shape)
    return x.contiguous(), meta


def sequence_kind(meta: Dict[str, Any], default: str = "volume") -> str:
    """"video" or "volume": what `load_sequence`'s meta says (`kind`, which it sets from the reader's registered
    kind where the reader left it out; a DICOM "image" is a one-frame volume), else the registered kind of the
    reader of its `source`'s suffix, else "video" where it has a frame rate, else `default`. The one rule for the
    app and the export."""
    meta = meta or {}
    kind = meta.get("kind")
    if kind in ("video", "volume"):
        return str(kind)
    if kind == "image":
        return "volume"
    reader = reader_for(meta["source"]) if isinstance(meta.get("source"), str) else None
    if reader is not None and reader.kind in ("video", "volume"):
        return reader.kind
    return "video" if meta.get("fps") else default


def _guarded_load(path: Path, shown: str, options: ReadOptions) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """``_load_path`` with a MemoryError reported as one sentence naming the file and its size."""
    try:
        return _load_path(path, options)
    except MemoryError:
        try:
            size = format_bytes(path.stat().st_size)
        except OSError:
            size = "unknown size"
        raise DataError(f"{shown} ({size} on disk) ran out of memory while decoding; lower the decode cap "
                        f"(max_decoded_bytes= or DAS_DECODE_BUDGET_MB) so it is refused early, or pass a "
                        f"smaller size= / num_frames=, or use a machine with more memory.") from None


def _upload_name(name: Any) -> str:
    """The file name of in-memory input, checked: a plain name of 1..255 characters with an extension."""
    if not name or not isinstance(name, str):
        raise DataError("in-memory input needs a file name to tell its type; pass filename='clip.mp4' (or .npy, .dcm).")
    shown = name[:40] + ("..." if len(name) > 40 else "")
    if len(name) > _MAX_NAME:
        raise DataError(f"filename {shown!r} is {len(name)} characters long, over {_MAX_NAME}; pass a short "
                        f"name such as filename='clip.mp4'.")
    if "/" in name or "\\" in name or "\0" in name or name.strip() in (".", ".."):
        raise DataError(f"filename {shown!r} is a path, not a file name; pass just the name, e.g. "
                        f"filename='clip.mp4'.")
    return name


def load_sequence(source: Source, *, filename: Optional[str] = None, window: Optional[Tuple[float, float]] = None,
                  axis: int = 0, num_frames: Optional[int] = None, size: SizeLike = None, grayscale: bool = True,
                  key: Optional[str] = None, decode_timeout: float = 120.0,
                  max_decoded_bytes: Optional[int] = None) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """Read one file into a ``(T, C, H, W)`` float32 tensor in [0, 1] and a meta dict.

    Args:
        source: a path (a file, or a folder of one DICOM series), ``bytes``, or a file-like object with
            ``read()``.
        filename: name of in-memory input (its extension picks the reader); default ``source.name``.
        window: ``(center, width)`` intensity window (e.g. HU for CT volumes / CT DICOM); default
            min-max normalisation for arrays, DICOM series and NIfTI (``meta["value_range"]`` then holds
            the values that became 0 and 1), /255 for 8-bit video and DICOM.
        axis: slicing axis for 3D arrays (default 0); a NIfTI is sliced along its third voxel axis and
            a DICOM series along the slice normal.
        num_frames: resample to T frames ``round(linspace(0, n-1, T))``; None keeps all.
        size: frame size, int or ``(H, W)``; None keeps the native size.
        grayscale: C = 1 (default) for colour input; False keeps RGB (C = 3).
        key: array name inside a ``.npz`` with several arrays.
        decode_timeout: seconds allowed for decoding a video.
        max_decoded_bytes: the decode cap in bytes: a file that would decode to more (stored data plus
            its float32 copy and output) is refused before decoding; default ``$DAS_DECODE_BUDGET_MB``
            (MiB) or 1024 MiB.

    Returns:
        ``(x, meta)``; meta has ``source`` (the path, or the given file name for in-memory input),
        ``original_frames``, ``spacing``, ``fps``, ``kind``, ``frame_indices``, ``shape`` and more.
    """
    num_frames = check_positive_int(num_frames, "num_frames", "32")
    parse_size(size)
    budget = decode_budget(max_decoded_bytes)
    opts = ReadOptions(window=window, axis=axis, num_frames=num_frames, size=size, grayscale=grayscale, key=key,
                       decode_timeout=decode_timeout, max_decoded_bytes=budget)
    if isinstance(source, (str, os.PathLike)):
        p = Path(source).expanduser()
        return _guarded_load(p, p.name, opts)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif hasattr(source, "read"):
        if hasattr(source, "seek"):
            try:
                source.seek(0)
            except Exception:
                pass
        data = source.read()
        if isinstance(data, str):
            raise DataError("the upload was opened in text mode; open it in binary mode ('rb').")
    else:
        raise DataError(f"load_sequence got a {type(source).__name__}; pass a path, bytes or a binary file object.")
    own = getattr(source, "name", None)  # an open file's name may be a full path: keep its last part
    name = _upload_name(filename if filename is not None else (Path(own).name if isinstance(own, str) else own))
    base = re.sub(r"[^A-Za-z0-9._+()\- ]", "_", Path(name).name).strip() or "upload"
    if not data:
        raise DataError(f"{base} is empty (0 bytes); upload the complete file again.")
    with tempfile.TemporaryDirectory(prefix="das_upload_") as tmp:
        p = Path(tmp) / base
        p.write_bytes(data)
        x, meta = _guarded_load(p, base, opts)
    meta["source"] = name
    meta["uploaded"] = True
    return x, meta
