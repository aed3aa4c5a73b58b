"""One display convention for every volume, and the letters at its edges.

Convention (a radiologist's axial view, as a standard axial DICOM series shows it): slices run from
inferior to superior, rows from anterior (top) to posterior, columns from the patient's right (image left)
to the patient's left. A NIfTI volume is brought to it through its affine (`nifti_to_display`) and a DICOM series through its direction cosines
(`display_axes` on the slice normal and the ImageOrientationPatient vectors), whatever axis order or direction
it was stored in (LPS, RAS, a sagittal or coronal acquisition, ...), so the same anatomy stored either way, and as
its DICOM series, displays the same. One rule decides for both (`display_axes`): each array axis goes to the
patient axis it points along most (the permutation with the largest total alignment), reversed where it points
the other way.

`edge_labels` gives the patient direction at each edge of the displayed image (left, right, top, bottom)
and at the first and last slice, as `meta["orientation_labels"]`; the viewer writes them as markers.
"""

from __future__ import annotations

from typing import Optional, Sequence

import itertools

import numpy as np

__all__ = ["DISPLAY_LABELS", "nifti_to_display", "display_shape", "edge_labels", "direction_letter", "display_axes",
           "to_display", "acquired_plane"]

# the edges of the display convention (see the module docstring)
DISPLAY_LABELS = {"left": "R", "right": "L", "top": "A", "bottom": "P", "first": "I", "last": "S"}
_LPS_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))  # (towards -axis, towards +axis) of the LPS patient axes
_DISPLAY_TARGETS = (2, 1, 0)  # display [slice, row, column] advance along LPS +z (S), +y (P), +x (L)
_PLANES = ("sagittal", "coronal", "axial")  # the plane whose normal is LPS x, y, z


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


def display_axes(directions: Sequence[Sequence[float]]) -> Optional[tuple[tuple[int, ...], tuple[bool, ...]]]:
    """How an array whose axes 0, 1, 2 advance along `directions` (LPS vectors) becomes the display convention.

    Returns:
        (perm, flips): display axis b (slice, row, column) is array axis perm[b], reversed where flips[b]; each
        array axis goes to the patient axis it points along most (over the 6 permutations, the largest total
        |cosine|; an oblique volume goes to its nearest orthogonal orientation). None when the directions are
        not finite, zero or (nearly) coplanar: the caller shows the array as stored.
    """
    d = np.asarray(directions, dtype=np.float64)
    if d.shape != (3, 3) or not np.all(np.isfinite(d)):
        return None
    norms = np.linalg.norm(d, axis=1)
    if np.any(norms < 1e-9):
        return None
    u = d / norms[:, None]
    if abs(float(np.linalg.det(u))) < 1e-3:
        return None
    perm = max(itertools.permutations(range(3)),
               key=lambda p: sum(abs(u[p[b], _DISPLAY_TARGETS[b]]) for b in range(3)))
    return tuple(perm), tuple(bool(u[perm[b], _DISPLAY_TARGETS[b]] < 0) for b in range(3))


def to_display(vol: np.ndarray, perm: Sequence[int], flips: Sequence[bool]) -> np.ndarray:
    """`vol` (3 spatial axes first, any trailing axes kept) permuted and flipped as `display_axes` says (a view)."""
    out = vol.transpose(*perm, *range(3, vol.ndim))
    axes = tuple(b for b in range(3) if flips[b])
    return np.flip(out, axis=axes) if axes else out


def acquired_plane(normal: Sequence[float]) -> str:
    """"axial", "coronal" or "sagittal": the plane of slices whose normal (LPS) is `normal`."""
    return _PLANES[int(np.argmax(np.abs(np.asarray(normal, dtype=np.float64))))]


def _affine_axes(affine) -> Optional[tuple[tuple[int, ...], tuple[bool, ...]]]:
    """`display_axes` of a NIfTI volume: its affine's voxel-axis columns, RAS world turned into LPS."""
    try:
        a = np.asarray(affine, dtype=np.float64)[:3, :3]
    except (TypeError, ValueError):
        return None
    if a.shape != (3, 3):
        return None
    return display_axes((a * np.array([[-1.0], [-1.0], [1.0]])).T)  # row b: voxel axis b's LPS direction


def display_shape(shape_xyz: Sequence[int], affine) -> tuple[int, int, int]:
    """(slices, rows, columns) the display convention gives a volume of voxel shape (X, Y, Z) with `affine`."""
    v = list(shape_xyz)[:3]
    geo = _affine_axes(affine)
    return tuple(int(v[i]) for i in (geo[0] if geo else (2, 1, 0)))


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
    geo = _affine_axes(affine)
    z = [float(v) for v in zooms[:3]]
    if geo is None:  # shown as stored: slices along k, rows j (highest first), columns i
        return np.flip(vol.transpose(2, 1, 0), axis=1), [z[2], z[1], z[0]], {}, False
    perm, flips = geo
    return to_display(vol, perm, flips), [z[i] for i in perm], dict(DISPLAY_LABELS), True
