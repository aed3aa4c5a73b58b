"""NIfTI volumes (``.nii`` / ``.nii.gz``, NIfTI-1 or NIfTI-2) via nibabel, as ``(T, C, H, W)`` in [0, 1].

Orientation: the affine is honoured (`das_core.data.orientation`): the volume is brought to one display
convention, slices from inferior to superior, rows from anterior (top) to posterior, columns from the
patient's right (image left) to the left, as a standard axial DICOM series shows it, whatever axis order
it was stored in (LPS and RAS files of the same anatomy display the same). ``meta["orientation_labels"]``
names the patient direction at each image edge. A degenerate affine leaves the voxel order as stored
(slices along ``k``, rows ``j`` highest first, columns ``i``) and says so in ``meta["note"]``.
Intensities: nibabel applies ``scl_slope`` / ``scl_inter``; then ``window=(center, width)`` if given,
else min-max (``meta["value_range"]`` holds the values that became 0 and 1, so the app windows a CT in
HU); the header's ``cal_min`` / ``cal_max`` display range, when set, is ``meta["default_window"]``.
``meta["spacing"]`` is the header zooms reordered to ``[slice, row, column]`` of the display;
``meta["orientation"]`` the axis codes of the affine (``nibabel.aff2axcodes``, e.g. "RAS").

4D (or higher) files: the first volume is read and the rest are left out; ``meta["volumes"]`` says how
many there were and ``meta["note"]`` says so in words. A 2D file is one slice.

Decode budget: the header's shape x (stored bytes + 8 for the scaled copy + 4 for the float32 copy) plus
the output is checked before any voxel is read; a ``.nii.gz`` is inflated only as far as the header's
shape needs. Corrupt, truncated, RGB or complex files are refused with one sentence.
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from das_core.errors import DataError

from .arrays import SizeLike, normalise_intensity, parse_size, resample_indices, select_frames
from .budget import check_budget, decode_budget, format_bytes
from .orientation import display_shape, nifti_to_display
from .paths import require_file

__all__ = ["read_nifti", "NIFTI_EXTENSIONS", "is_nifti_name"]

NIFTI_EXTENSIONS = (".nii", ".nii.gz")
# what nibabel raises on a malformed header or short data (DataError, a ValueError, is re-raised first)
_NIFTI_ERRORS = (OSError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError, zlib.error)


def is_nifti_name(name: str) -> bool:
    """True for a ``.nii`` or ``.nii.gz`` file name (case-insensitive)."""
    return str(name).lower().endswith(NIFTI_EXTENSIONS)


def _errors() -> tuple:
    """What nibabel raises on a bad file: its own errors and the builtin ones."""
    from nibabel.filebasedimages import ImageFileError
    from nibabel.spatialimages import HeaderDataError, ImageDataError

    return (ImageFileError, HeaderDataError, ImageDataError) + _NIFTI_ERRORS


def _load(path: Path, name: str):
    import nibabel

    try:
        img = nibabel.load(str(path), mmap=False)
    except _errors() as e:
        raise DataError(f"{name} is not a readable NIfTI file ({type(e).__name__}: it may be truncated or not "
                        f"NIfTI); export it again as .nii or .nii.gz.") from None
    if not isinstance(img, (nibabel.Nifti1Image, nibabel.Nifti2Image)):
        raise DataError(f"{name} is a {type(img).__name__}, not a NIfTI image; export it again as .nii or .nii.gz.")
    return img


def _orientation(affine) -> Optional[str]:
    import nibabel

    try:
        codes = nibabel.aff2axcodes(affine)
    except Exception:  # a singular or malformed affine: orientation is optional metadata
        return None
    return "".join(c or "?" for c in codes[:3])


def _display_range(hdr) -> Optional[List[float]]:
    """``cal_min`` / ``cal_max`` as [center, width], or None when unset."""
    try:
        lo, hi = float(hdr["cal_min"]), float(hdr["cal_max"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        return None
    return [(lo + hi) / 2.0, hi - lo]


def read_nifti(path: Path, num_frames: Optional[int] = None, size: SizeLike = None, grayscale: bool = True,
               window: Optional[Tuple[float, float]] = None,
               max_decoded_bytes: Optional[int] = None) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """Read a NIfTI volume; slices along the third voxel axis become the frames.

    Args:
        path: the ``.nii`` or ``.nii.gz`` file.
        num_frames: T slices ``round(linspace(0, n-1, T))``; None keeps all.
        size: output slice size, int or ``(H, W)``; None keeps the native size.
        grayscale: C = 1 (default) or C = 3 (the gray value repeated).
        window: ``(center, width)`` in the file's scaled units (HU for CT); None: min-max.
        max_decoded_bytes: the decode cap in bytes (default ``$DAS_DECODE_BUDGET_MB`` or 1024 MiB).

    Returns:
        float32 ``(T, C, H, W)`` in [0, 1] and meta (``kind`` "volume", ``orientation``, ``spacing``,
        ``original_shape``, ``value_range``, ``window``, ``default_window``, ``volumes``, ``frame_indices``, ...).
    """
    path = require_file(path, what="NIfTI file", empty_fix="replace it with a complete NIfTI file")
    name = path.name
    budget = decode_budget(max_decoded_bytes)
    hw = parse_size(size)
    img = _load(path, name)
    shape = tuple(int(s) for s in img.shape)
    dtype = img.get_data_dtype()
    _check_scalar_volume(name=name, shape=shape, dtype=dtype)
    xyz = (shape + (1,))[:3]  # (X, Y, Z): a 2D file is one slice
    volumes = math.prod(shape[3:]) if len(shape) > 3 else 1
    n_slices, n_rows, n_cols = display_shape(xyz, img.affine)
    idx = resample_indices(n_slices, num_frames)
    _check_volume_budget(name=name, xyz=xyz, dtype=dtype, n_out=len(idx), c_out=1 if grayscale else 3,
                         out_hw=hw or (n_rows, n_cols), budget=budget)
    vol = _read_first_volume(img, shape=shape, xyz=xyz, name=name)  # (X, Y, Z) as stored
    norm = normalise_intensity(vol, window, name)  # float32 (X, Y, Z) in [0, 1]
    disp, spacing, labels, honoured = nifti_to_display(norm, img.affine, _zooms(img.header))  # (slices, rows, columns)
    seq = np.ascontiguousarray(disp)[:, None]  # (T, 1, H, W)
    meta = _nifti_meta(img, path=path, shape=shape, dtype=dtype, seq=seq, vol=vol, spacing=spacing, labels=labels,
                       honoured=honoured, window=window, volumes=volumes, idx=idx)
    return _to_output(seq, idx=idx, size=size, grayscale=grayscale), meta


def _check_scalar_volume(*, name: str, shape: Tuple[int, ...], dtype: np.dtype) -> None:
    """A DataError unless each voxel is one real number and ``shape`` holds at least one slice."""
    if dtype.fields is not None or not (np.issubdtype(dtype, np.number) or dtype == bool) \
            or np.issubdtype(dtype, np.complexfloating):
        kind = "RGB" if dtype.fields is not None else f"{dtype}"
        raise DataError(f"{name} holds {kind} voxels, not one real number per voxel; save a scalar volume.")
    if len(shape) < 2 or 0 in shape:
        raise DataError(f"{name} has shape {shape}, which holds no slice; export a 3D volume.")


def _check_volume_budget(*, name: str, xyz: Tuple[int, int, int], dtype: np.dtype, n_out: int, c_out: int,
                         out_hw: Tuple[int, int], budget: int) -> None:
    """A DataError when one volume, its scaled and float32 copies and the (n_out, c_out, H, W) output exceed it."""
    X, Y, Z = xyz
    out_bytes = n_out * c_out * out_hw[0] * out_hw[1] * 4
    check_budget(name, X * Y * Z * (dtype.itemsize + 12) + out_bytes, budget,
                 f"one volume of {X} x {Y} x {Z} {dtype}, its scaled and float32 copies and "
                 f"{format_bytes(out_bytes)} of output")


def _read_first_volume(img, *, shape: Tuple[int, ...], xyz: Tuple[int, int, int], name: str) -> np.ndarray:
    """The first volume's voxels as stored, ``(X, Y, Z)``; a one-sentence DataError when they cannot be read."""
    slicer = (slice(None),) * min(3, len(shape)) + (0,) * max(0, len(shape) - 3)
    try:
        vol = np.asarray(img.dataobj[slicer])
    except DataError:
        raise
    except _errors() as e:
        raise DataError(f"the voxels of {name} cannot be read ({type(e).__name__}: the file is truncated or "
                        f"corrupt); export it again as .nii or .nii.gz.") from None
    return vol.reshape(*xyz)


def _zooms(hdr) -> List[float]:
    """The header's voxel sizes of the first three axes (1.0 where absent), rounded to 6 decimals."""
    return [round(float(z), 6) for z in (tuple(hdr.get_zooms()) + (1.0, 1.0, 1.0))[:3]]


def _nifti_meta(img, *, path: Path, shape: Tuple[int, ...], dtype: np.dtype, seq: np.ndarray, vol: np.ndarray,
                spacing, labels, honoured: bool, window: Optional[Tuple[float, float]], volumes: int,
                idx: np.ndarray) -> Dict[str, Any]:
    """`read_nifti`'s meta for the (T, 1, H, W) display ``seq`` of the stored (X, Y, Z) ``vol``, notes included."""
    name = path.name
    meta = {"source": str(path), "kind": "volume", "original_frames": int(seq.shape[0]), "num_slices": int(seq.shape[0]),
            "original_shape": [int(v) for v in seq.shape[:1] + seq.shape[2:]], "stored_shape": list(shape),
            "spacing": spacing, "fps": None, "orientation_labels": labels or None,
            "orientation": _orientation(img.affine), "dtype": str(dtype),
            "layout": "slices I->S, rows A->P, columns R->L (the affine honoured)" if honoured
            else "k, j (flipped), i (as stored: the affine is degenerate)",
            "value_range": [float(vol.min()), float(vol.max())], "window": list(window) if window else None,
            "default_window": _display_range(img.header), "volumes": volumes, "frame_indices": idx.tolist()}
    if volumes > 1:
        meta["volume_index"] = 0
        meta["note"] = f"{name} holds {volumes} volumes ({shape}); the first is shown."
    if not honoured:
        meta["note"] = (meta.get("note", "") + f" The affine of {name} is degenerate, so the slices are shown in "
                        f"the stored voxel order, with no orientation markers.").strip()
    return meta


def _to_output(seq: np.ndarray, *, idx: np.ndarray, size: SizeLike, grayscale: bool) -> torch.Tensor:
    """(T, 1, H, W) display slices -> the selected float32 (T', C, H', W') frames in [0, 1]."""
    x = torch.from_numpy(seq)
    if not grayscale:
        x = x.expand(-1, 3, -1, -1)
    return select_frames(x, idx, size).to(torch.float32).clamp_(0, 1).contiguous()
