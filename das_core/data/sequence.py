"""``load_sequence``: read one user file (volume, video or DICOM) into ``(T, C, H, W)`` in [0, 1].

Accepted: ``.npy`` / ``.npz`` volumes, videos (mp4/avi/mov/mpeg/gif, ...), DICOM (``.dcm``, or any
file with the ``DICM`` preamble). The source may be a path, raw ``bytes``, or a file-like object
(e.g. ``io.BytesIO`` or Streamlit's ``UploadedFile``) together with ``filename=`` (its extension
picks the reader). In-memory input is written to a private temporary folder that is removed
before the function returns, whatever happens.
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

from .arrays import (SizeLike, normalise_intensity, resample_indices, resize_sequence, rgb_to_gray,
                     volume_to_sequence, load_array_file)
from .decode import VIDEO_EXTENSIONS, decode_video
from .dicom import read_dicom
from .paths import require_file

__all__ = ["load_sequence", "SUPPORTED_EXTENSIONS"]

ARRAY_EXTENSIONS = (".npy", ".npz")
DICOM_EXTENSIONS = (".dcm", ".dicom")
SUPPORTED_EXTENSIONS = ARRAY_EXTENSIONS + VIDEO_EXTENSIONS + DICOM_EXTENSIONS

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, BinaryIO]


def _is_dicom(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
        return len(head) == 132 and head[128:132] == b"DICM"
    except OSError:
        return False


def _array_sequence(path: Path, window, axis: int, key: Optional[str]) -> Tuple[torch.Tensor, Dict[str, Any]]:
    name = path.name
    arr = load_array_file(path, key)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    while arr.ndim > 3 and arr.shape[0] == 1 and not (arr.ndim == 4 and arr.shape[-1] in (1, 3, 4)):
        arr = arr[0]  # drop leading batch dims of size 1
    norm = normalise_intensity(arr, window, name)  # float32, [0, 1]; checks NaN/inf and emptiness
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
    meta = {"original_frames": int(seq.shape[0]), "spacing": None, "fps": None, "kind": "volume",
            "original_shape": list(arr.shape), "dtype": str(arr.dtype), "layout": layout,
            "value_range": [float(np.min(arr)), float(np.max(arr))], "window": list(window) if window else None}
    if path.suffix.lower() == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                if "spacing" in z.files:
                    meta["spacing"] = [float(v) for v in np.asarray(z["spacing"]).reshape(-1)]
        except Exception:
            pass
    return torch.from_numpy(np.ascontiguousarray(seq)).to(torch.float32), meta


def _load_path(path: Path, window, axis: int, num_frames: Optional[int], size: SizeLike, grayscale: bool,
               key: Optional[str], decode_timeout: float) -> Tuple[torch.Tensor, Dict[str, Any]]:
    require_file(path, empty_fix="upload the complete file again")
    name = path.name
    ext = path.suffix.lower()
    if ext in ARRAY_EXTENSIONS:
        x, meta = _array_sequence(path, window, axis, key)
        if grayscale and x.shape[1] == 3:
            x = torch.from_numpy(rgb_to_gray(x.permute(0, 2, 3, 1).numpy())).permute(0, 3, 1, 2).contiguous()
        idx = resample_indices(x.shape[0], num_frames)
        x = resize_sequence(x[torch.from_numpy(idx)], size).clamp_(0, 1)
        meta["frame_indices"] = idx.tolist()
    elif ext in VIDEO_EXTENSIONS:
        frames, info = decode_video(path, num_frames, size, grayscale, timeout_s=decode_timeout)
        x = frames.to(torch.float32).div_(255.0)
        meta = {"original_frames": info["original_frames"], "spacing": None, "fps": info["fps"], "kind": "video",
                "original_size": info["original_size"], "frame_indices": info["frame_indices"]}
    elif ext in DICOM_EXTENSIONS or _is_dicom(path):
        x, meta = read_dicom(path, num_frames, size, grayscale, window)
        meta["kind"] = "video" if meta["original_frames"] > 1 else "image"
    else:
        raise DataError(f"{name} has an unsupported type {ext or '(no extension)'!r}; use one of "
                        f"{', '.join(SUPPORTED_EXTENSIONS)}.")
    meta["source"] = str(path)
    meta["shape"] = list(x.shape)
    return x.contiguous(), meta


def load_sequence(source: Source, *, filename: Optional[str] = None, window: Optional[Tuple[float, float]] = None,
                  axis: int = 0, num_frames: Optional[int] = None, size: SizeLike = None, grayscale: bool = True,
                  key: Optional[str] = None, decode_timeout: float = 120.0) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """Read one file into a ``(T, C, H, W)`` float32 tensor in [0, 1] and a meta dict.

    Args:
        source: a path, ``bytes``, or a file-like object with ``read()``.
        filename: name of in-memory input (its extension picks the reader); default ``source.name``.
        window: ``(center, width)`` intensity window (e.g. HU for CT volumes / CT DICOM); default
            min-max normalisation for arrays, /255 for 8-bit video and DICOM.
        axis: slicing axis for 3D arrays (default 0).
        num_frames: resample to T frames ``round(linspace(0, n-1, T))``; None keeps all.
        size: frame size, int or ``(H, W)``; None keeps the native size.
        grayscale: C = 1 (default) for colour input; False keeps RGB (C = 3).
        key: array name inside a ``.npz`` with several arrays.
        decode_timeout: seconds allowed for decoding a video.

    Returns:
        ``(x, meta)``; meta has ``source`` (the path, or the given file name for in-memory input),
        ``original_frames``, ``spacing``, ``fps``, ``kind``, ``frame_indices``, ``shape`` and more.
    """
    if isinstance(source, (str, os.PathLike)):
        return _load_path(Path(source).expanduser(), window, axis, num_frames, size, grayscale, key, decode_timeout)
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
    name = filename or getattr(source, "name", None)
    if not name or not isinstance(name, str):
        raise DataError("in-memory input needs a file name to tell its type; pass filename='clip.mp4' (or .npy, .dcm).")
    base = re.sub(r"[^A-Za-z0-9._+()\- ]", "_", Path(name).name).strip() or "upload"
    if not data:
        raise DataError(f"{base} is empty (0 bytes); upload the complete file again.")
    with tempfile.TemporaryDirectory(prefix="das_upload_") as tmp:
        p = Path(tmp) / base
        p.write_bytes(data)
        x, meta = _load_path(p, window, axis, num_frames, size, grayscale, key, decode_timeout)
    meta["source"] = name
    meta["uploaded"] = True
    return x, meta
