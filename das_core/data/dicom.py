"""DICOM files via pydicom: a multi-frame (cine) DICOM becomes one ``(T, C, H, W)`` sequence.

Pixel data: ``ds.pixel_array`` (pydicom converts YBR JPEG frames to RGB; JPEG baseline needs
pillow). Intensities: ``RescaleSlope``/``RescaleIntercept`` are applied when present (CT -> HU);
then ``window=(center, width)`` if given, else 8-bit data is divided by 255 and anything else
is min-max normalised. fps: ``CineRate`` (0018,0040), else ``1000 / FrameTime`` (0018,1063).
spacing: ``PixelSpacing`` (mm) or the ultrasound region's ``PhysicalDeltaY/X`` (cm -> mm); a
malformed spacing is ignored (None).

Decode budget (see ``budget``): rows x columns x bits allocated x samples for every frame that is
decoded, plus the float32 output, is checked before any pixel is decoded; only the frames that
``num_frames`` selects are decoded (one at a time, each distinct frame once, resized before it is
repeated). A deflated transfer syntax (Deflated Explicit VR Little Endian) is inflated here in
bounded chunks, stopping past the budget, instead of whole by pydicom.
"""

from __future__ import annotations

from pathlib import Path
import io
import struct
import zlib
from contextlib import nullcontext
from typing import Any, BinaryIO, Dict, List, Optional, Tuple, Union

import numpy as np
import torch

from das_core.errors import DataError

from .arrays import SizeLike, frames_to_sequence, normalise_intensity, parse_size, resample_indices
from .budget import bounded_inflate, check_budget, decode_budget
from .base import SequenceDataset
from .paths import require_file

__all__ = ["read_dicom", "dcmread_bounded", "DicomSequenceDataset", "echo_cine_path", "ECHO_CINE"]

ECHO_CINE = "color3d_jpeg_baseline.dcm"


def _fps(ds) -> Optional[float]:
    for tag, conv in (("CineRate", lambda v: float(v)), ("RecommendedDisplayFrameRate", lambda v: float(v)),
                      ("FrameTime", lambda v: 1000.0 / float(v))):
        v = ds.get(tag)
        if v not in (None, ""):
            try:
                f = conv(v)
                if np.isfinite(f) and f > 0:
                    return round(f, 3)
            except (TypeError, ValueError, ZeroDivisionError):
                pass
    return None


def is_monochrome1(ds) -> bool:
    """True for PhotometricInterpretation MONOCHROME1 (the lowest value is white): the readers invert it."""
    return str(ds.get("PhotometricInterpretation", "") or "").strip().upper() == "MONOCHROME1"


def _spacing(ds) -> Optional[List[float]]:
    ps = ds.get("PixelSpacing")
    if ps is not None:
        try:
            return [float(ps[0]), float(ps[1])]
        except (TypeError, ValueError, IndexError):
            pass
    regions = ds.get("SequenceOfUltrasoundRegions")
    if regions:
        r = regions[0]
        dx, dy = r.get("PhysicalDeltaX"), r.get("PhysicalDeltaY")
        if dx is not None and dy is not None:
            try:
                sp = [abs(float(dy)) * 10.0, abs(float(dx)) * 10.0]  # cm -> mm, (row, col)
            except (TypeError, ValueError):
                return None  # e.g. a two-valued PhysicalDeltaX: spacing is optional, leave it out
            return sp if all(np.isfinite(sp)) else None
    return None


# what pydicom raises on a malformed file or element (DataError, a ValueError, is re-raised first)
_DICOM_ERRORS = (OSError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError, NotImplementedError,
                 RuntimeError, struct.error, zlib.error)


def _header_int(ds, tag: str, default: int, name: str) -> int:
    """A whole, non-negative header value (Rows, Columns, NumberOfFrames, ...), else a one-sentence DataError."""
    v = ds.get(tag, default)
    if v in (None, ""):
        return default
    try:
        f = float(v)
        if not (np.isfinite(f) and f >= 0 and f == int(f)):
            raise ValueError
        return int(f)
    except (TypeError, ValueError):
        raise DataError(f"{name} has {tag} {str(v)[:40]!r}, which is not a whole number; fix the header or "
                        f"export the file again.") from None


def _header_float(ds, tag: str, default: float, name: str) -> float:
    """A finite float header value (RescaleSlope, RescaleIntercept), else a one-sentence DataError."""
    v = ds.get(tag, default)
    if v in (None, ""):
        return default
    try:
        f = float(v)
    except (TypeError, ValueError):
        f = float("nan")
    if not np.isfinite(f):
        raise DataError(f"{name} has {tag} {str(v)[:40]!r}, which is not one finite number; fix the header or "
                        f"export the file again.")
    if tag == "RescaleSlope" and f == 0:
        return default  # a zero slope is treated as absent, as before
    return f


def dcmread_bounded(src: Union[Path, BinaryIO], name: str, budget: int):
    """``pydicom.dcmread(src, force=True)``, but a deflated data set is inflated here within the budget.

    Args:
        src: a DICOM file path, or a binary file object positioned at its start (e.g. ``io.BytesIO``).
        name: the file name the messages name.
        budget: the most bytes a deflated data set may inflate to.
    """
    import pydicom
    from pydicom.filereader import _read_file_meta_info, read_preamble
    from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

    try:
        with (open(src, "rb") if isinstance(src, (str, Path)) else nullcontext(src)) as fh:
            start = fh.tell()
            read_preamble(fh, True)
            meta = _read_file_meta_info(fh)
            if meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
                fh.seek(start)
                return pydicom.dcmread(fh, force=True)
            body = bounded_inflate(fh, name, budget)
        meta.TransferSyntaxUID = ExplicitVRLittleEndian  # the inflated data set is explicit VR little endian
        ds = pydicom.dcmread(io.BytesIO(body), force=True)
        ds.file_meta = meta
        ds.set_original_encoding(False, True)
        return ds
    except DataError:
        raise
    except _DICOM_ERRORS as e:
        raise DataError(f"{name} is not a readable DICOM file ({type(e).__name__}); export it again as DICOM.") from None


def _decode_frames(ds, idx: np.ndarray, n_frames: int):
    """The distinct frames ``idx`` selects, decoded one at a time: ``(uniq_frames (U, H, W, C), inverse)``."""
    from pydicom.pixels import pixel_array

    uniq, inv = np.unique(idx, return_inverse=True)
    out = []
    for i in uniq:
        a = pixel_array(ds, index=int(i)) if n_frames > 1 else pixel_array(ds)
        out.append(a if a.ndim == 3 else a[..., None])
    return np.stack(out), inv.reshape(-1)


def read_dicom(path: Path, num_frames: Optional[int] = None, size: SizeLike = None, grayscale: bool = True,
               window: Optional[Tuple[float, float]] = None,
               max_decoded_bytes: Optional[int] = None) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """Read a (multi-frame) DICOM file.

    Args:
        path: the ``.dcm`` file.
        num_frames: T, frames ``round(linspace(0, n-1, T))``; None keeps all.
        size: output frame size; None keeps the native size.
        grayscale: C = 1 (default) or C = 3.
        window: ``(center, width)`` in rescaled units (HU for CT).
        max_decoded_bytes: the decode cap in bytes (default ``$DAS_DECODE_BUDGET_MB`` or 1024 MiB).

    Returns:
        float32 ``(T, C, H, W)`` in [0, 1] and meta (``source``, ``original_frames``, ``spacing``,
        ``fps``, ``modality``, ``photometric``, ``original_size``, ``frame_indices``).
    """
    path = require_file(path, what="DICOM file", empty_fix="replace it with a complete DICOM file")
    name = path.name
    budget = decode_budget(max_decoded_bytes)
    ds = dcmread_bounded(path, name, budget)
    if "PixelData" not in ds:
        raise DataError(f"{name} holds no image (no PixelData); choose an image DICOM, not a report or index file.")
    n_frames, spp, rows, cols, bits = _frame_geometry(ds, name=name)
    slope = _header_float(ds, "RescaleSlope", 1.0, name)
    inter = _header_float(ds, "RescaleIntercept", 0.0, name)
    idx = resample_indices(n_frames, num_frames)
    _check_dicom_budget(name=name, idx=idx, rows=rows, cols=cols, spp=spp, bits=bits,
                        out_hw=parse_size(size) or (rows, cols), c_out=1 if grayscale else 3, budget=budget)
    arr, inv = _decode_checked(ds, idx=idx, n_frames=n_frames, name=name)  # arr (U, H, W, C)
    x = _to_unit_sequence(arr, window=window, slope=slope, inter=inter, grayscale=grayscale, size=size, name=name)
    x = x[torch.from_numpy(inv)].contiguous()  # (U, C, H, W) -> (T, C, H, W)
    inverted = is_monochrome1(ds)
    if inverted:  # the lowest value is white: shown as a viewer shows it
        x = 1.0 - x
    return x, _dicom_meta(ds, path=path, n_frames=n_frames, arr=arr, idx=idx, inverted=inverted)


def _frame_geometry(ds, *, name: str) -> Tuple[int, int, int, int, int]:
    """(frames, samples per pixel, rows, columns, bits allocated) from the header; a DataError on no pixels."""
    n_frames = max(1, _header_int(ds, "NumberOfFrames", 1, name))
    spp = max(1, _header_int(ds, "SamplesPerPixel", 1, name))
    rows, cols = _header_int(ds, "Rows", 0, name), _header_int(ds, "Columns", 0, name)
    bits = _header_int(ds, "BitsAllocated", 8, name)
    if rows < 1 or cols < 1:
        raise DataError(f"{name} declares {rows} x {cols} pixels; export the image again.")
    return n_frames, spp, rows, cols, bits


def _check_dicom_budget(*, name: str, idx: np.ndarray, rows: int, cols: int, spp: int, bits: int,
                        out_hw: Tuple[int, int], c_out: int, budget: int) -> None:
    """A DataError when the distinct frames of ``idx``, their float32 copy and the output exceed ``budget``."""
    n_uniq = len(np.unique(idx))
    per_frame = rows * cols * spp
    est = n_uniq * per_frame * (max(bits, 8) // 8 + 4) + len(idx) * c_out * out_hw[0] * out_hw[1] * 4
    check_budget(name, est, budget, f"{n_uniq} frames of {cols} x {rows} x {spp} samples at {bits} bits, "
                 f"their float32 copy and the output")


def _decode_checked(ds, *, idx: np.ndarray, n_frames: int, name: str) -> Tuple[np.ndarray, np.ndarray]:
    """`_decode_frames`, its failures and a non-frame result as one-sentence DataErrors: (arr (U, H, W, C), inverse)."""
    try:
        arr, inv = _decode_frames(ds, idx, n_frames)
    except DataError:
        raise
    except _DICOM_ERRORS as e:
        raise DataError(f"the pixels of {name} cannot be decoded ({type(e).__name__}: the file may be truncated "
                        f"or need a codec plugin such as pillow or pylibjpeg); re-export it uncompressed.") from None
    if arr.ndim != 4 or arr.shape[0] == 0:
        raise DataError(f"{name} decodes to an array of shape {tuple(arr.shape)}, not frames; check the file.")
    return arr, inv


def _to_unit_sequence(arr: np.ndarray, *, window: Optional[Tuple[float, float]], slope: float, inter: float,
                      grayscale: bool, size: SizeLike, name: str) -> torch.Tensor:
    """(U, H, W, C) stored pixels -> (U, C, H, W) in [0, 1]: 8-bit / 255, else rescaled, windowed or min-max."""
    if window is None and arr.dtype == np.uint8 and slope == 1 and inter == 0:
        return frames_to_sequence(arr, grayscale, size, scale=255.0)
    vals = arr.astype(np.float32) * np.float32(slope) + np.float32(inter)
    return frames_to_sequence(normalise_intensity(vals, window, name), grayscale, size, scale=1.0)


def _dicom_meta(ds, *, path: Path, n_frames: int, arr: np.ndarray, idx: np.ndarray, inverted: bool) -> Dict[str, Any]:
    """`read_dicom`'s meta: source, frames, spacing, fps, modality, ..., and ``inverted`` for MONOCHROME1."""
    meta = {"source": str(path), "original_frames": n_frames, "spacing": _spacing(ds), "fps": _fps(ds),
            "modality": str(ds.get("Modality", "")), "photometric": str(ds.get("PhotometricInterpretation", "")),
            "original_size": [int(arr.shape[1]), int(arr.shape[2])], "frame_indices": idx.tolist()}
    if inverted:
        meta["inverted"] = True
    return meta


def echo_cine_path() -> Optional[Path]:
    """Path of the pydicom-data echocardiography cine, or None when pydicom-data is missing.

    Never downloads (``download=False``).
    """
    try:
        from pydicom.data import get_testdata_file

        p = get_testdata_file(ECHO_CINE, download=False)
    except Exception:
        return None
    return Path(p) if p else None


class DicomSequenceDataset(SequenceDataset):
    """One or more DICOM cines as an (unlabelled by default) data set.

    Args:
        paths: DICOM files.
        name: registry name.
        num_frames: T (default 32).
        size: frame size (default 64).
        grayscale: C = 1 (default).
        classes: class names (default ``["unlabelled"]``); every item has label 0.
        split: accepted for API symmetry; every split holds the same items.
    """

    kind = "video"

    def __init__(self, paths: List[Path], *, name: str = "dicom", split: str = "all", num_frames: int = 32,
                 size: SizeLike = 64, grayscale: bool = True, classes: Optional[List[str]] = None,
                 max_decoded_bytes: Optional[int] = None) -> None:
        self.name = name
        self.max_decoded_bytes = max_decoded_bytes
        self.split = split
        self.task = "unlabelled"
        self.paths = [Path(p) for p in paths]
        self.num_frames = int(num_frames)
        self.size = parse_size(size)
        self.grayscale = grayscale
        self.classes = list(classes or ["unlabelled"])
        self.labels = [0] * len(self.paths)
        self._cached: Dict[int, Tuple[torch.Tensor, Dict[str, Any]]] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def _load(self, i: int):
        if i not in self._cached:
            self._cached[i] = read_dicom(self.paths[i], self.num_frames, self.size, self.grayscale,
                                         max_decoded_bytes=self.max_decoded_bytes)
        return self._cached[i]

    def __getitem__(self, i: int):
        i = self._check_index(i)
        x, _ = self._load(i)
        return x.clone(), 0

    def meta(self, i: int) -> Dict[str, Any]:
        i = self._check_index(i)
        return dict(self._load(i)[1])
