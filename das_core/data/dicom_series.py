"""DICOM series: a folder of single-slice DICOM files, or a ``.zip`` of them, as one ``(T, C, H, W)`` volume.

Files: every file with the ``DICM`` marker or a ``.dcm`` / ``.dicom`` / ``.ima`` extension, found
recursively in the folder (hidden files and ``__MACOSX`` skipped) or read from the zip in memory
(``safezip``: unsafe member paths refused, unpacked size capped by the decode budget). DICOM files
without pixels (reports, DICOMDIR, presentation states) are left out and counted in
``meta["skipped_files"]``.

Order: by ``ImagePositionPatient`` projected on the slice normal (the cross product of the two
``ImageOrientationPatient`` vectors), lowest first; by ``InstanceNumber`` when a slice has no
position; by file name when neither is given. Geometry: a series ordered by position is brought to the
display convention of ``orientation`` by its direction cosines (a coronal or sagittal series becomes axial
slices reformatted from its own, ``meta["acquired_plane"]`` and ``meta["note"]`` say so; its
``stored_shape`` is the acquired [slices, rows, columns]); otherwise it is shown as stored, with the markers
its ImageOrientationPatient gives. Intensities: each slice's
``RescaleSlope``/``RescaleIntercept`` is applied (CT -> Hounsfield units), then ``window=(center,
width)`` if given, else min-max over the slices read; ``meta["value_range"]`` holds the rescaled
values that became 0 and 1 (the app reads it to window CT in HU) and ``meta["default_window"]`` the
file's ``WindowCenter``/``WindowWidth`` ([center, width] in rescaled units), when it has one.
``meta["spacing"]`` is ``[slice spacing, row spacing, column spacing]`` in mm: the median step between
positions (else ``SpacingBetweenSlices`` / ``SliceThickness``) and ``PixelSpacing``; None when unknown.

Refused with one sentence each: two series in one zip or folder, slices of different sizes or
orientations, missing slices (a step between positions over ``GAP_FACTOR`` x the median step),
duplicate positions, multi-frame files, truncated or unreadable slices, no image at all, and a
series that would decode past the decode budget (checked before any pixel is decoded).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from das_core.errors import DataError

from .arrays import SizeLike, frames_to_sequence, normalise_intensity, parse_size, resample_indices
from .budget import check_budget, decode_budget, format_bytes
from .orientation import DISPLAY_LABELS, acquired_plane, display_axes, edge_labels, to_display
from .dicom import _DICOM_ERRORS, _header_float, _header_int, _spacing, dcmread_bounded, is_monochrome1
from .safezip import MAX_MEMBERS, read_zip_members

__all__ = ["read_dicom_series", "SLICE_EXTENSIONS", "GAP_FACTOR"]

SLICE_EXTENSIONS = (".dcm", ".dicom", ".ima")
GAP_FACTOR = 1.5  # a step between positions over 1.5 x the median step means slices are missing
_ORIENT_TOL = 1e-2  # direction cosines of one series agree to about this


@dataclass
class _Slice:
    """One image file of the series: its name in the folder or zip, its data set and position."""

    name: str
    ds: Any
    pos: Optional[float] = None  # along the slice normal, mm


def _looks_dicom(name: str, head: bytes) -> bool:
    return head[128:132] == b"DICM" or Path(name).suffix.lower() in SLICE_EXTENSIONS


def _gather_folder(folder: Path, shown: str, budget: int) -> Tuple[List[Tuple[str, bytes]], int]:
    """The DICOM-looking files under ``folder`` (recursively, name order) read into memory; and the count left out."""
    paths: List[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__MACOSX")
        paths += [Path(root) / f for f in sorted(files) if not f.startswith(".")]
        if len(paths) > MAX_MEMBERS:
            raise DataError(f"{shown} holds more than {MAX_MEMBERS} files, more than one series has; choose the "
                            f"folder of one series.")
    chosen, skipped = [], 0
    for p in paths:
        try:
            with open(p, "rb") as fh:
                head = fh.read(132)
        except OSError:
            skipped += 1
            continue
        if _looks_dicom(p.name, head) and p.name.upper() != "DICOMDIR":
            chosen.append(p)
        else:
            skipped += 1
    total = sum(p.stat().st_size for p in chosen)
    check_budget(shown, total, budget, f"{len(chosen)} DICOM files read into memory")
    return [(p.relative_to(folder).as_posix(), p.read_bytes()) for p in chosen], skipped


def _gather_zip(path: Path, shown: str, budget: int) -> Tuple[List[Tuple[str, bytes]], int]:
    """The DICOM-looking members of a zip, in memory; and the count of files left out."""
    members, skipped = read_zip_members(path, budget, shown=shown)
    chosen = [(n, b) for n, b in members if _looks_dicom(n, b[:132]) and Path(n).name.upper() != "DICOMDIR"]
    return chosen, skipped + len(members) - len(chosen)


def _parse(files: List[Tuple[str, bytes]], shown: str, budget: int) -> Tuple[List[_Slice], int]:
    """Parse every file; returns the image slices and the count of DICOM files without pixels."""
    images, no_pixels = [], 0
    for name, data in files:
        ds = dcmread_bounded(io.BytesIO(data), f"{name} in {shown}", budget)
        if "PixelData" in ds:
            images.append(_Slice(name, ds))
        elif _expects_pixels(ds):
            raise DataError(f"{name} in {shown} is an image DICOM whose pixel data is missing, so it is truncated; "
                            f"replace it with the complete file or export the series again.")
        else:
            no_pixels += 1
    return images, no_pixels


def _expects_pixels(ds) -> bool:
    """True when a data set without PixelData should have had it: it has Rows, or an image storage SOP class."""
    from pydicom.uid import UID

    sop = ds.get("SOPClassUID") or getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID")
    try:
        return "Rows" in ds or "Image Storage" in UID(str(sop)).name
    except (TypeError, ValueError):
        return "Rows" in ds


def _one_series(slices: List[_Slice], shown: str) -> List[_Slice]:
    """The slices, when they all belong to one series (one ``SeriesInstanceUID``); else a DataError naming them."""
    groups: Dict[str, List[_Slice]] = {}
    for s in slices:
        groups.setdefault(str(s.ds.get("SeriesInstanceUID", "") or ""), []).append(s)
    if len(groups) == 1:
        return slices
    parts = []
    for uid, g in sorted(groups.items(), key=lambda kv: -len(kv[1]))[:3]:
        desc = str(g[0].ds.get("SeriesDescription", "") or "no description")
        parts.append(f"{uid or 'no UID'} ({desc!r}, {len(g)} slices)")
    more = f" and {len(groups) - 3} more" if len(groups) > 3 else ""
    raise DataError(f"{shown} holds {len(groups)} series: {'; '.join(parts)}{more}; upload one series per zip or "
                    f"folder.")


def _check_sizes(slices: List[_Slice], shown: str) -> Tuple[int, int, int, int]:
    """(rows, columns, samples per pixel, bits allocated) shared by every slice; else a DataError."""
    sizes: Dict[Tuple[int, int, int, int], List[str]] = {}
    for s in slices:
        what = f"{s.name} in {shown}"
        frames = _header_int(s.ds, "NumberOfFrames", 1, what)
        if frames > 1:
            raise DataError(f"{what} is a multi-frame DICOM ({frames} frames), not one slice of a series; upload "
                            f"that file on its own as .dcm.")
        key = (_header_int(s.ds, "Rows", 0, what), _header_int(s.ds, "Columns", 0, what),
               max(1, _header_int(s.ds, "SamplesPerPixel", 1, what)), _header_int(s.ds, "BitsAllocated", 16, what))
        sizes.setdefault(key, []).append(s.name)
    if len(sizes) > 1:
        ranked = sorted(sizes.items(), key=lambda kv: -len(kv[1]))
        desc = ", ".join(f"{len(v)} of {k[1]} x {k[0]}" + (f" x {k[2]}" if k[2] > 1 else "") for k, v in ranked[:3])
        raise DataError(f"the slices of {shown} have different sizes ({desc}, e.g. {ranked[1][1][0]}); upload one "
                        f"series whose slices share one size.")
    (rows, cols, spp, bits), = sizes
    if rows < 1 or cols < 1:
        raise DataError(f"the slices of {shown} declare {rows} x {cols} pixels; export the series again.")
    return rows, cols, spp, bits


def _floats(ds, tag: str, n: int) -> Optional[np.ndarray]:
    """A header value of exactly ``n`` finite numbers as float64, else None."""
    v = ds.get(tag)
    try:
        a = np.asarray([float(x) for x in v], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return a if a.shape == (n,) and np.all(np.isfinite(a)) else None


def _order(slices: List[_Slice], shown: str) -> Tuple[List[_Slice], str]:
    """Slices sorted along the slice normal (``pos`` set), else by InstanceNumber, else by name; and the method."""
    iops = [_floats(s.ds, "ImageOrientationPatient", 6) for s in slices]
    ipps = [_floats(s.ds, "ImagePositionPatient", 3) for s in slices]
    if all(o is not None for o in iops) and all(p is not None for p in ipps):
        ref = iops[0]
        bad = next((s for s, o in zip(slices, iops) if np.max(np.abs(o - ref)) > _ORIENT_TOL), None)
        if bad is not None:
            raise DataError(f"the slices of {shown} have different orientations (e.g. {slices[0].name} and "
                            f"{bad.name}, as when a localizer is mixed in); upload one series of parallel slices.")
        normal = np.cross(ref[:3], ref[3:])  # row direction x column direction
        norm = float(np.linalg.norm(normal))
        if norm > 1e-6:
            for s, p in zip(slices, ipps):
                s.pos = float(p @ normal) / norm
            return sorted(slices, key=lambda s: s.pos), "position"
    nums = [s.ds.get("InstanceNumber") for s in slices]
    try:
        keys = [int(float(n)) for n in nums]
    except (TypeError, ValueError):
        return slices, "file name"  # already in name order
    if len(set(keys)) < len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        names = [s.name for s, k in zip(slices, keys) if k == dup][:2]
        raise DataError(f"the slices of {shown} repeat InstanceNumber {dup} ({' and '.join(names)}) and give no "
                        f"positions, so duplicate files cannot be told apart; remove the duplicates.")
    order = np.argsort(keys, kind="stable")
    return [slices[i] for i in order], "instance number"


def _check_steps(slices: List[_Slice], shown: str) -> Optional[float]:
    """The median step between positions (mm); duplicate positions and gaps are DataErrors. None without positions."""
    if len(slices) < 2 or slices[0].pos is None:
        return None
    pos = np.array([s.pos for s in slices])
    steps = np.diff(pos)  # >= 0: sorted
    med = float(np.median(steps))
    dup = np.flatnonzero(steps <= max(1e-3, 0.01 * med))
    if dup.size:
        a, b = slices[dup[0]], slices[dup[0] + 1]
        raise DataError(f"{dup.size} slice(s) of {shown} repeat a position ({a.name} and {b.name} both lie at "
                        f"{a.pos:.2f} mm: duplicate files, or several echoes or phases in one series); remove the "
                        f"duplicates or upload one echo or phase.")
    gaps = np.flatnonzero(steps > GAP_FACTOR * med + 1e-3) if len(slices) >= 3 else np.array([], int)
    if gaps.size:
        i = int(gaps[0])
        missing = max(1, int(round(steps[i] / med)) - 1)
        raise DataError(f"{shown} is missing slices: {slices[i].name} and {slices[i + 1].name} are "
                        f"{steps[i]:.2f} mm apart where the other slices are {med:.2f} mm apart (about {missing} "
                        f"missing{f', {gaps.size} gaps in all' if gaps.size > 1 else ''}); upload the complete series.")
    return med


def _series_spacing(ds, step: Optional[float]) -> Optional[List[float]]:
    """[slice, row, column] spacing in mm, or None when a part is unknown."""
    if step is None:
        for tag in ("SpacingBetweenSlices", "SliceThickness"):
            try:
                v = abs(float(ds.get(tag)))
            except (TypeError, ValueError):
                continue
            if np.isfinite(v) and v > 0:
                step = v
                break
    rc = _spacing(ds)
    if step is None or rc is None:
        return None
    return [round(float(step), 6), float(rc[0]), float(rc[1])]


def _default_window(ds) -> Optional[List[float]]:
    """The file's first ``WindowCenter``/``WindowWidth`` as [center, width] (rescaled units), else None."""
    vals = []
    for tag in ("WindowCenter", "WindowWidth"):
        v = ds.get(tag)
        if v is not None and not isinstance(v, (str, bytes)) and hasattr(v, "__len__"):
            v = v[0] if len(v) else None
        try:
            vals.append(float(v))
        except (TypeError, ValueError):
            return None
    return vals if all(np.isfinite(vals)) and vals[1] > 0 else None


def _decode(slices: List[_Slice], uniq: np.ndarray, shape: Tuple[int, int, int], shown: str) -> np.ndarray:
    """Rescaled float32 pixels ``(U, H, W, C)`` of the slices ``uniq`` picks, decoded one at a time."""
    from pydicom.pixels import pixel_array

    rows, cols, spp = shape
    out = np.empty((len(uniq), rows, cols, spp), np.float32)  # (U, H, W, C)
    for j, i in enumerate(uniq):
        s = slices[int(i)]
        what = f"{s.name} in {shown}"
        try:
            a = pixel_array(s.ds)
        except DataError:
            raise
        except _DICOM_ERRORS as e:
            raise DataError(f"the pixels of {what} cannot be decoded ({type(e).__name__}: the file may be "
                            f"truncated or need a codec plugin such as pylibjpeg); export the series again "
                            f"uncompressed.") from None
        if a.shape[:2] != (rows, cols):
            raise DataError(f"{what} decodes to shape {tuple(a.shape)}, not its declared {rows} x {cols}; export the "
                            f"series again.")
        slope = _header_float(s.ds, "RescaleSlope", 1.0, what)
        inter = _header_float(s.ds, "RescaleIntercept", 0.0, what)
        dst = out[j]
        np.multiply(a.reshape(rows, cols, spp), np.float32(slope), out=dst, casting="unsafe")
        dst += np.float32(inter)
    return out


def _geometry(iop: Optional[np.ndarray], method: str) -> Optional[Tuple[Tuple[int, ...], Tuple[bool, ...]]]:
    """`orientation.display_axes` of the stacked series [slice, row, column]: slices ordered along the normal
    (only known when they were ordered by position), rows along the column direction and columns along the row
    direction of ImageOrientationPatient ``iop`` (6 floats, or None). None when unknown, or when the series is
    already in the convention."""
    if method != "position" or iop is None:
        return None
    geo = display_axes([np.cross(iop[:3], iop[3:]), iop[3:], iop[:3]])
    return None if geo is None or geo == ((0, 1, 2), (False, False, False)) else geo


@dataclass(frozen=True, eq=False)
class _Display:
    """How the stored series maps onto the displayed one, and which stored slices are decoded for it."""

    perm: Tuple[int, ...]  # display axis i is stored axis perm[i] of [slice, row, column]
    flips: Tuple[bool, ...]  # display axis i runs reversed
    stored: Tuple[int, int, int]  # (n, rows, cols) as acquired
    shape: Tuple[int, int, int]  # (n_disp, h_disp, w_disp)
    idx: np.ndarray  # (T,) the display's slices shown (the study's slice numbers)
    uniq: np.ndarray  # (U,) the stored slices to decode, ascending
    inv: np.ndarray  # (T,) or (n,): per shown (or, reformatted, stored) slice its row of `uniq`


def _display(*, n: int, rows: int, cols: int, geo, num_frames: Optional[int]) -> _Display:
    """The ``_Display`` of an ``(n, rows, cols)`` series under ``geo`` (None: shown as stored), with T slices."""
    perm, flips = geo if geo else ((0, 1, 2), (False, False, False))
    stored = (n, rows, cols)
    n_disp, h_disp, w_disp = (stored[i] for i in perm)
    idx = resample_indices(n_disp, num_frames)  # the display's slices (the study's slice numbers)
    if perm[0] == 0:  # the slices stay slices: decode only those shown, in display order
        wanted = (n - 1 - idx) if flips[0] else idx
    else:  # reformatted from the acquired plane: every stored slice holds part of each displayed one
        wanted = np.arange(n)
    uniq, inv = np.unique(wanted, return_inverse=True)
    return _Display(perm=perm, flips=flips, stored=stored, shape=(n_disp, h_disp, w_disp), idx=idx, uniq=uniq,
                    inv=inv)


def _gather(source: Path, *, shown: str, budget: int) -> Tuple[List[Tuple[str, bytes]], int]:
    """The DICOM-looking files of a folder or zip ``source`` in memory, and the count left out; DataError if none."""
    if source.is_dir():
        files, skipped = _gather_folder(source, shown, budget)
    else:
        files, skipped = _gather_zip(source, shown, budget)
    if not files:
        raise DataError(f"{shown} holds no DICOM files (none with the DICM marker or a .dcm extension); "
                        f"{'zip' if not source.is_dir() else 'choose'} the folder of one series' .dcm slices "
                        f"(a .nii or .npy goes on its own, unzipped).")
    return files, skipped


def _image_slices(files: List[Tuple[str, bytes]], *, shown: str, budget: int) -> Tuple[List[_Slice], int]:
    """``_parse`` the files; DataError when none of them holds an image."""
    slices, no_pixels = _parse(files, shown, budget)
    if not slices:
        raise DataError(f"{shown} holds {len(files)} DICOM file(s) but no image (no PixelData: reports, DICOMDIR "
                        f"or other non-image objects); upload the image slices of one series.")
    return slices, no_pixels


def _check_pixel_budget(*, files: List[Tuple[str, bytes]], disp: _Display, sizes: Tuple[int, int, int, int],
                        hw: Optional[Tuple[int, int]], grayscale: bool, shown: str, budget: int) -> None:
    """DataError when the files, the decoded slices, their float32 copies and the output pass ``budget``."""
    rows, cols, spp, bits = sizes
    out_hw = hw or disp.shape[1:]
    c_out = 1 if grayscale else 3
    raw = sum(len(b) for _, b in files)
    est = (raw + len(disp.uniq) * rows * cols * spp * (max(bits, 8) // 8 + 8)
           + len(disp.idx) * c_out * out_hw[0] * out_hw[1] * 4)
    check_budget(shown, est, budget, f"{format_bytes(raw)} of files, {len(disp.uniq)} slices of {cols} x {rows} at "
                 f"{bits} bits, their float32 copies and the output")


def _series_meta(*, source: Path, slices: List[_Slice], disp: _Display, spp: int, bits: int,
                 step: Optional[float], method: str, vals: np.ndarray, window, skipped: int) -> Dict[str, Any]:
    """The series' meta as shown before any reorientation; ``vals`` is the ``(U, H, W, C)`` rescaled pixels."""
    first = slices[0].ds
    n_disp, h_disp, w_disp = disp.shape
    spacing = _series_spacing(first, step)
    meta = {"source": str(source), "kind": "volume", "original_frames": n_disp, "num_slices": n_disp,
            "original_shape": [n_disp, h_disp, w_disp] + ([spp] if spp > 1 else []),
            "spacing": [spacing[i] for i in disp.perm] if spacing else None,
            "fps": None, "modality": str(first.get("Modality", "") or ""),
            "series_description": str(first.get("SeriesDescription", "") or ""),
            "series_uid": str(first.get("SeriesInstanceUID", "") or ""),
            "photometric": str(first.get("PhotometricInterpretation", "") or ""), "layout": "DHW",
            "dtype": f"{'' if first.get('PixelRepresentation', 0) == 1 else 'u'}int{bits}", "order": method,
            "slice_positions": None, "value_range": [float(vals.min()), float(vals.max())],
            "window": list(window) if window else None,
            "default_window": _default_window(first), "skipped_files": skipped,
            "frame_indices": disp.idx.tolist()}
    if disp.perm[0] == 0 and method == "position":
        pos = [round(s.pos, 4) for s in slices]
        meta["slice_positions"] = pos[::-1] if disp.flips[0] else pos  # mm along the slice normal, display order
    return meta


def _to_display_convention(vals: np.ndarray, *, disp: _Display, iop: np.ndarray, meta: Dict[str, Any], shown: str
                           ) -> Tuple[np.ndarray, np.ndarray]:
    """``(vals, inv)`` of a series brought to the display convention; adds its orientation to ``meta``."""
    vals = np.ascontiguousarray(to_display(vals, disp.perm, disp.flips))  # (U', H', W', C)
    inv = disp.inv
    if disp.perm[0] == 0:  # vals holds the shown slices only: display slice t is row `inv` of `uniq`, reversed
        inv = (len(disp.uniq) - 1 - inv) if disp.flips[0] else inv
    else:  # the whole reformatted volume: keep the displayed slices
        shown_slices, inv = np.unique(disp.idx, return_inverse=True)
        vals = vals[shown_slices]
    plane = acquired_plane(np.cross(iop[:3], iop[3:]))
    meta.update(orientation_labels=dict(DISPLAY_LABELS), acquired_plane=plane, stored_shape=list(disp.stored),
                layout=f"slices I->S, rows A->P, columns R->L (the {plane} series reoriented by its direction "
                       f"cosines)")
    if plane != "axial":
        meta["note"] = (f"{shown} is a {plane} series; it is shown in the display convention, as axial slices "
                        f"reformatted from its {disp.stored[0]} {plane} slices (its own plane is an orthogonal view).")
    return vals, inv


def _add_stored_orientation(meta: Dict[str, Any], *, iop: Optional[np.ndarray], method: str) -> None:
    """Add the edge labels (and, ordered by position, the plane) of a series shown as stored, where ``iop`` has them."""
    if iop is not None and np.linalg.norm(np.cross(iop[:3], iop[3:])) > 1e-6:
        meta["orientation_labels"] = edge_labels(iop[:3], iop[3:], np.cross(iop[:3], iop[3:]))
        if method == "position":
            meta["acquired_plane"] = acquired_plane(np.cross(iop[:3], iop[3:]))


def _to_unit_sequence(vals: np.ndarray, *, first, window, shown: str, grayscale: bool, size: SizeLike,
                      meta: Dict[str, Any]) -> torch.Tensor:
    """``(U, H, W, C)`` rescaled pixels -> ``(U, C, h, w)`` float32 in [0, 1], MONOCHROME1 inverted (noted in meta)."""
    unit = normalise_intensity(vals, window, shown)
    if is_monochrome1(first):  # the lowest value is white: shown as a viewer shows it
        unit = 1.0 - unit
        meta["inverted"] = True
    return frames_to_sequence(unit, grayscale, size, scale=1.0)  # (U, C, h, w)


def read_dicom_series(source: Path, num_frames: Optional[int] = None, size: SizeLike = None, grayscale: bool = True,
                      window: Optional[Tuple[float, float]] = None, max_decoded_bytes: Optional[int] = None,
                      shown: Optional[str] = None) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """Read one DICOM series from a folder or a ``.zip`` into a ``(T, C, H, W)`` float32 tensor in [0, 1].

    Args:
        source: a folder of single-slice DICOM files, or a ``.zip`` of them.
        num_frames: T slices ``round(linspace(0, n-1, T))`` of the ordered series; None keeps all.
        size: output slice size, int or ``(H, W)``; None keeps the native size.
        grayscale: C = 1 (default) or C = 3.
        window: ``(center, width)`` in rescaled units (HU for CT); None: min-max over the slices read (those
            shown, or every stored slice where a coronal or sagittal series is reformatted).
        max_decoded_bytes: the decode cap in bytes (default ``$DAS_DECODE_BUDGET_MB`` or 1024 MiB); it caps
            the unpacked files and, separately, their decoded pixels with the float32 copies and output.
        shown: how messages name the source (default its name).

    Returns:
        ``(x, meta)``; meta has ``kind`` "volume", ``num_slices``, ``original_frames``, ``original_shape``
        ``[n, H, W]``, ``spacing``, ``value_range``, ``window``, ``default_window``, ``modality``,
        ``series_description``, ``series_uid``, ``order``, ``slice_positions``, ``frame_indices``, ...
    """
    source = Path(source)
    shown = shown or source.name
    budget = decode_budget(max_decoded_bytes)
    hw = parse_size(size)
    files, skipped = _gather(source, shown=shown, budget=budget)
    slices, no_pixels = _image_slices(files, shown=shown, budget=budget)
    slices = _one_series(slices, shown)
    rows, cols, spp, bits = _check_sizes(slices, shown)
    slices, method = _order(slices, shown)
    step = _check_steps(slices, shown)
    first = slices[0].ds
    iop = _floats(first, "ImageOrientationPatient", 6)  # read once: the geometry and the markers both use it
    geo = _geometry(iop, method)  # None: shown as stored (no positions, or already in the display convention)
    disp = _display(n=len(slices), rows=rows, cols=cols, geo=geo, num_frames=num_frames)
    _check_pixel_budget(files=files, disp=disp, sizes=(rows, cols, spp, bits), hw=hw, grayscale=grayscale,
                        shown=shown, budget=budget)
    vals = _decode(slices, disp.uniq, (rows, cols, spp), shown)  # (U, H, W, C) rescaled, stored order
    meta = _series_meta(source=source, slices=slices, disp=disp, spp=spp, bits=bits, step=step, method=method,
                        vals=vals, window=window, skipped=skipped + no_pixels)
    if geo is not None:
        vals, inv = _to_display_convention(vals, disp=disp, iop=iop, meta=meta, shown=shown)
    else:
        inv = disp.inv
        _add_stored_orientation(meta, iop=iop, method=method)
    x = _to_unit_sequence(vals, first=first, window=window, shown=shown, grayscale=grayscale, size=size, meta=meta)
    return x[torch.from_numpy(inv.reshape(-1))].contiguous(), meta
