"""One display convention for every volume, and the letters at its edges.

Convention (a radiologist's axial view, as a standard axial DICOM series shows it): slices run from
inferior to superior, rows from anterior (top) to posterior, columns from the patient's right (image left)
to the patient's left. A NIfTI volume is brought to it through its affine (`nifti_to_display`), whatever
axis order or direction it was stored in (LPS, RAS, ...), so the same anatomy stored either way, and as its
DICOM series, displays the same.

`edge_labels` gives the patient direction at each edge of the displayed image (left, right, top, bottom)
and at the first and last slice, as `meta["orientation_labels"]`; the viewer writes them as markers.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

__all__ = ["DISPLAY_LABELS", "nifti_to_display", "display_shape", "edge_labels", "direction_letter"]

# the edges of the display convention (see the module docstring)
DISPLAY_LABELS = {"left": "R", "right": "L", "top": "A", "bottom": "P", "first": "I", "last": "S"}
_LPS_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))  # (towards -axis, towards +axis) of the LPS patient axes


def direction_letter(v: Sequence[float]) -> str:
    """The patient direction (R/L/A/P/I/S) a vector in DICOM's LPS patient coordinates points to most."""
    v = np.asarray(v, dtype=np.float64)
    axis = int(np.argmax(np.abs(v)))
    return _LPS_LETTERS[axis][1 if v[axis] > 0 else 0]


def edge_labels(row_dir: Sequence[float], col_dir: Sequence[float], slice_dir: Sequence[float]) -> dict:
    """The letters at the edges of an image whose columns advance along `row_dir`, whose rows advance along
    `col_dir`, and whose slices advance along `slice_dir` (LPS vectors, as DICOM's ImageOrientationPatient
    and slice normal give them)."""
    neg = [-float(c) for c in row_dir], [-float(c) for c in col_dir], [-float(c) for c in slice_dir]
    return {"left": direction_letter(neg[0]), "right": direction_letter(row_dir),
            "top": direction_letter(neg[1]), "bottom": direction_letter(col_dir),
            "first": direction_letter(neg[2]), "last": direction_letter(slice_dir)}


def _ras_orientation(affine) -> Optional[np.ndarray]:
    """nibabel's (axis, flip) orientation that brings the voxel axes to RAS+, or None for a degenerate affine."""
    from nibabel.orientations import io_orientation

    try:
        ornt = io_orientation(np.asarray(affine, dtype=np.float64))
    except Exception:  # a singular or malformed affine: the voxel order is kept
        return None
    return None if np.isnan(ornt).any() else ornt


def _display_order(per_voxel_axis: Sequence, ornt: Optional[np.ndarray]) -> list:
    """A value per voxel axis (i, j, k), e.g. sizes or zooms, in display order [slice, row, column]: the S, A, R
    axes of the reoriented volume (`ornt`), or k, j, i where the affine is degenerate (None)."""
    v = list(per_voxel_axis)[:3]
    if ornt is None:
        return [v[2], v[1], v[0]]
    ras = [None, None, None]
    for i, (axis, _) in enumerate(ornt):
        ras[int(axis)] = v[i]
    return [ras[2], ras[1], ras[0]]


def display_shape(shape_xyz: Sequence[int], affine) -> tuple[int, int, int]:
    """(slices, rows, columns) the display convention gives a volume of voxel shape (X, Y, Z) with `affine`."""
    return tuple(int(v) for v in _display_order(shape_xyz, _ras_orientation(affine)))


def nifti_to_display(vol: np.ndarray, affine, zooms: Sequence[float]) -> tuple[np.ndarray, list, dict, bool]:
    """A NIfTI voxel array (X, Y, Z) in the display convention.

    Args:
        vol: the voxels, indexed [i, j, k] as stored.
        affine: the file's voxel-to-world (RAS) affine.
        zooms: the voxel sizes along i, j, k.

    Returns:
        (seq (slices, rows, columns), spacing [slice, row, column] in the file's units, edge labels, True when
        the affine was honoured; False for a degenerate affine, where the voxel order is shown as stored).
    """
    from nibabel.orientations import apply_orientation

    ornt = _ras_orientation(affine)
    spacing = _display_order([float(v) for v in zooms[:3]], ornt)
    if ornt is None:  # shown as stored: slices along k, rows j (highest first), columns i
        return np.flip(vol.transpose(2, 1, 0), axis=1), spacing, {}, False
    ras = apply_orientation(vol, ornt)  # axes now point to R, A, S
    # (S, A, R) with rows reversed (anterior at the top) and columns reversed (the patient's right at the left)
    return np.flip(ras.transpose(2, 1, 0), axis=(1, 2)), spacing, dict(DISPLAY_LABELS), True
