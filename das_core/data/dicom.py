"""DICOM files via pydicom: a multi-frame (cine) DICOM becomes one ``(T, C, H, W)`` sequence.

Pixel data: ``ds.pixel_array`` (pydicom converts YBR JPEG frames to RGB; JPEG baseline needs
pillow). Intensities: ``RescaleSlope``/``RescaleIntercept`` are applied when present (CT -> HU);
then ``window=(center, width)`` if given, else 8-bit data is divided by 255 and anything else
is min-max normalised. fps: ``CineRate`` (0018,0040), else ``1000 / FrameTime`` (0018,1063).
spacing: ``PixelSpacing`` (mm) or the ultrasound region's ``PhysicalDeltaY/X`` (cm -> mm).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from das_core.errors import DataError

from .arrays import SizeLike, frames_to_sequence, normalise_intensity, parse_size, resample_indices
from .base import SequenceDataset
from .paths import require_file

__all__ = ["read_dicom", "DicomSequenceDataset", "echo_cine_path", "ECHO_CINE"]

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
            return [abs(float(dy)) * 10.0, abs(float(dx)) * 10.0]  # cm -> mm, (row, col)
    return None


def read_dicom(path: Path, num_frames: Optional[int] = None, size: SizeLike = None, grayscale: bool = True,
               window: Optional[Tuple[float, float]] = None) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """Read a (multi-frame) DICOM file.

    Args:
        path: the ``.dcm`` file.
        num_frames: T, frames ``round(linspace(0, n-1, T))``; None keeps all.
        size: output frame size; None keeps the native size.
        grayscale: C = 1 (default) or C = 3.
        window: ``(center, width)`` in rescaled units (HU for CT).

    Returns:
        float32 ``(T, C, H, W)`` in [0, 1] and meta (``source``, ``original_frames``, ``spacing``,
        ``fps``, ``modality``, ``photometric``, ``original_size``, ``frame_indices``).
    """
    import pydicom

    path = require_file(path, what="DICOM file", empty_fix="replace it with a complete DICOM file")
    name = path.name
    try:
        ds = pydicom.dcmread(path, force=True)
    except Exception as e:
        raise DataError(f"{name} is not a readable DICOM file ({type(e).__name__}); export it again as DICOM.") from None
    if "PixelData" not in ds:
        raise DataError(f"{name} holds no image (no PixelData); choose an image DICOM, not a report or index file.")
    try:
        arr = ds.pixel_array
    except Exception as e:
        raise DataError(f"the pixels of {name} cannot be decoded ({type(e).__name__}: the file may be truncated "
                        f"or need a codec plugin such as pillow or pylibjpeg); re-export it uncompressed.") from None
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    # -> (N, H, W, C)
    if n_frames == 1:
        arr = arr[None]
    if spp == 1:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[0] == 0:
        raise DataError(f"{name} decodes to an array of shape {tuple(arr.shape)}, not frames; check the file.")
    slope = float(ds.get("RescaleSlope", 1) or 1)
    inter = float(ds.get("RescaleIntercept", 0) or 0)
    idx = resample_indices(arr.shape[0], num_frames)
    sel = arr[idx]
    if window is None and sel.dtype == np.uint8 and slope == 1 and inter == 0:
        x = frames_to_sequence(sel, grayscale, size, scale=255.0)
    else:
        vals = sel.astype(np.float32) * slope + inter
        x = frames_to_sequence(normalise_intensity(vals, window, name), grayscale, size, scale=1.0)
    meta = {"source": str(path), "original_frames": int(arr.shape[0]), "spacing": _spacing(ds), "fps": _fps(ds),
            "modality": str(ds.get("Modality", "")), "photometric": str(ds.get("PhotometricInterpretation", "")),
            "original_size": [int(arr.shape[1]), int(arr.shape[2])], "frame_indices": idx.tolist()}
    return x, meta


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
                 size: SizeLike = 64, grayscale: bool = True, classes: Optional[List[str]] = None) -> None:
        self.name = name
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
            self._cached[i] = read_dicom(self.paths[i], self.num_frames, self.size, self.grayscale)
        return self._cached[i]

    def __getitem__(self, i: int):
        i = self._check_index(i)
        x, _ = self._load(i)
        return x.clone(), 0

    def meta(self, i: int) -> Dict[str, Any]:
        i = self._check_index(i)
        return dict(self._load(i)[1])
