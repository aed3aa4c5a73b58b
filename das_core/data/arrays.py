"""Array helpers shared by every loader: checks, intensity normalisation, frame resampling,
resizing and colour handling.

Conventions: sequences are ``(T, C, H, W)``; decoded video frames are ``(H, W, C)`` uint8.

Frame resampling (used for videos and DICOM cines): to get ``T`` frames from a clip of ``n``
frames we take indices ``np.round(np.linspace(0, n - 1, T))`` (numpy rounds half to even).
When ``n < T`` the same formula repeats frames, so short clips are stretched, never padded.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from das_core.errors import DataError

from .npyfile import load_array_file

__all__ = [
    "SizeLike",
    "check_finite", "check_float32_range",
    "normalise_intensity",
    "volume_stack", "volume_to_sequence",
    "resample_indices", "select_frames", "check_positive_int",
    "parse_size",
    "resize_sequence",
    "frames_to_sequence",
    "rgb_to_gray",
    "load_array_file",
]

SizeLike = Union[None, int, Tuple[int, int], Sequence[int]]

_GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


_F32_MAX = float(np.finfo(np.float32).max)


def _check_not_empty(arr: np.ndarray, name: str) -> None:
    if arr.size == 0:
        raise DataError(f"{name} holds an empty array (a dimension of size 0 in shape {tuple(arr.shape)}); "
                        f"save a non-empty volume and try again.")


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise DataError when ``arr`` is empty or holds NaN or infinite values (call it on the float32 array).

    Args:
        arr: any numeric array.
        name: file or data set name used in the message.
    """
    _check_not_empty(arr, name)
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise DataError(f"{name} holds complex numbers ({arr.dtype}); save the magnitude (numpy.abs) or the "
                        f"real part as a real-valued array.")
    if np.issubdtype(arr.dtype, np.floating):
        lo, hi = arr.min(), arr.max()  # NaN propagates; no boolean copy unless something is wrong
        if not (np.isfinite(lo) and np.isfinite(hi)):
            bad = int((~np.isfinite(arr)).sum())
            raise DataError(f"{name} contains {bad} NaN or infinite values; replace them "
                            f"(e.g. numpy.nan_to_num) before loading.")


def check_float32_range(arr: np.ndarray, name: str) -> None:
    """Raise DataError when ``arr`` would not be finite as float32 (NaN, inf, or beyond +-3.4e38).

    Checks the stored array without copying it, so a data set can refuse a file before any item is cast.

    Args:
        arr: any numeric array.
        name: file or data set name used in the message.
    """
    check_finite(arr, name)
    if np.issubdtype(arr.dtype, np.floating) and np.finfo(arr.dtype).max > _F32_MAX:
        lo, hi = float(arr.min()), float(arr.max())
        if max(abs(lo), abs(hi)) > _F32_MAX:
            raise DataError(f"{name} holds values up to {max(abs(lo), abs(hi)):.3g}, beyond the float32 range "
                            f"(3.4e38), which would become infinite; rescale the volume (e.g. divide by its "
                            f"maximum) before loading.")


def normalise_intensity(arr: np.ndarray, window: Optional[Tuple[float, float]] = None,
                        name: str = "array") -> np.ndarray:
    """Map any intensity range to float32 in [0, 1].

    The array is cast to float32 first (bool becomes 0/1) and the float32 values are checked to be
    finite, so a float64 value beyond the float32 range is a DataError, never a silent NaN.

    Args:
        arr: numeric array of any shape (complex is refused).
        window: ``(center, width)`` in the array's units (e.g. Hounsfield units for CT):
            values map linearly from ``center - width/2 .. center + width/2`` to 0..1, clipped.
            None: min-max normalisation over the whole array (a constant array becomes 0,
            or keeps its value when it already lies in [0, 1]).
        name: used in error messages.

    Returns:
        float32 array, same shape.
    """
    _check_not_empty(arr, name)
    if np.issubdtype(arr.dtype, np.complexfloating):
        check_finite(arr, name)  # refuses complex with one sentence
    with np.errstate(over="ignore", invalid="ignore"):
        a = arr.astype(np.float32, copy=False)
    try:
        check_finite(a, name)  # after the cast: a float64 1e300 is inf here
    except DataError:
        check_float32_range(arr, name)  # says "beyond the float32 range" when that is the cause
        raise
    if window is not None:
        try:
            center, width = float(window[0]), float(window[1])
        except (TypeError, ValueError, IndexError):
            raise DataError(f"window={window!r} for {name} is not a (center, width) pair; "
                            f"pass e.g. window=(40, 400).") from None
        if not (width > 0 and np.isfinite(width) and np.isfinite(center)):
            raise DataError(f"window width {width} for {name} must be positive and finite; pass e.g. window=(40, 400).")
        lo = center - width / 2.0
        return np.clip((a - lo) / width, 0.0, 1.0).astype(np.float32, copy=False)
    lo, hi = float(a.min()), float(a.max())
    if hi - lo <= 0:
        if 0.0 <= lo <= 1.0:
            return np.full_like(a, lo, dtype=np.float32)
        return np.zeros_like(a, dtype=np.float32)
    if hi - lo < _F32_MAX:
        return ((a - lo) / (hi - lo)).astype(np.float32, copy=False)
    # a range wider than float32 holds: halve first so the differences stay finite
    return ((a * np.float32(0.5) - np.float32(lo * 0.5)) / np.float32((hi - lo) * 0.5)).astype(np.float32, copy=False)


def volume_stack(imgs: np.ndarray, what: str, fix: str) -> np.ndarray:
    """A stack of volumes (N, D, H, W); a trailing channel of 1 is dropped, any other rank is a DataError.

    Args:
        imgs: the array read from a MedMNIST-layout file.
        what: how the message names it (file and key).
        fix: the fix the message names.
    """
    if imgs.ndim == 5 and imgs.shape[-1] == 1:
        imgs = imgs[..., 0]
    if imgs.ndim != 4:
        raise DataError(f"{what} has shape {tuple(imgs.shape)} but must be (N, D, H, W); {fix}.")
    return imgs


def volume_to_sequence(vol: np.ndarray, axis: int = 0, name: str = "volume") -> np.ndarray:
    """Slice a ``(D, H, W)`` volume along ``axis`` into a ``(T, 1, H', W')`` sequence.

    Args:
        vol: 3D array.
        axis: 0, 1 or 2 (negative allowed); the frames are the slices along it, in order.
        name: used in error messages.
    """
    if vol.ndim != 3:
        raise DataError(f"{name} has shape {tuple(vol.shape)} but a volume must be 3D (D, H, W); "
                        f"save one volume per file.")
    if axis not in (0, 1, 2, -1, -2, -3):
        raise DataError(f"axis={axis!r} for {name} is not a volume axis; pass axis=0, 1 or 2.")
    return np.moveaxis(vol, axis, 0)[:, None]  # (T, 1, H, W)


def resample_indices(n: int, num_frames: Optional[int]) -> np.ndarray:
    """Indices of ``num_frames`` frames spread uniformly over ``n``: ``round(linspace(0, n-1, T))``.

    Args:
        n: frames available (>= 1).
        num_frames: frames wanted; None keeps all ``n``.

    Returns:
        int64 array of length T (repeats indices when ``n < T``).
    """
    if n < 1:
        raise DataError("a clip with zero frames cannot be resampled; check the file decodes.")
    if num_frames is None:
        return np.arange(n, dtype=np.int64)
    num_frames = check_positive_int(num_frames, "num_frames", "32")
    return np.round(np.linspace(0, n - 1, int(num_frames))).astype(np.int64)


def check_positive_int(value, what: str, example: str) -> Optional[int]:
    """``value`` as an int >= 1 (None stays None), else a one-sentence DataError.

    Args:
        value: the option given (``num_frames``, ...).
        what: the option name for the message.
        example: a good value for the message.
    """
    if value is None:
        return None
    v = _whole(value)
    if v is None or v < 1:
        raise DataError(f"{what}={value!r} is not a positive int; pass e.g. {what}={example}.")
    return v


def _whole(value) -> Optional[int]:
    """An int, a numpy int or a whole float as int; anything else (bool, str, 2.5, nan) -> None."""
    if isinstance(value, bool) or isinstance(value, np.bool_):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        return int(value)
    return None


def select_frames(x: torch.Tensor, idx: np.ndarray, size: SizeLike) -> torch.Tensor:
    """Frames ``idx`` of ``(N, C, H, W)`` resized to ``size``: each distinct frame is resized once, then
    repeated, so repeating frames to reach T never multiplies native-size frames.

    Args:
        x: the frames (any float or int dtype).
        idx: frame indices (may repeat).
        size: output size (see ``parse_size``); None keeps the native size.
    """
    uniq, inv = np.unique(idx, return_inverse=True)
    y = resize_sequence(x[torch.from_numpy(uniq)], size)
    return y[torch.from_numpy(inv.reshape(-1))]


def parse_size(size: SizeLike) -> Optional[Tuple[int, int]]:
    """``None`` -> None (keep), ``64`` -> (64, 64), ``(h, w)`` -> (h, w)."""
    if size is None:
        return None
    bad = DataError(f"size={size!r} is not an int or (height, width); pass e.g. size=64.")
    if isinstance(size, (str, bytes)):
        raise bad
    if not hasattr(size, "__iter__"):
        h = w = _whole(size)
    else:
        vals = [_whole(v) for v in size]
        if len(vals) != 2:
            raise bad
        h, w = vals
    if h is None or w is None:
        raise bad
    if h < 1 or w < 1:
        raise DataError(f"size={size!r} must be positive; pass e.g. size=64.")
    return h, w


def resize_sequence(x: torch.Tensor, size: SizeLike) -> torch.Tensor:
    """Resize every frame of ``(T, C, H, W)`` to ``size`` (whole frame, aspect not kept).

    Downscaling uses area averaging, upscaling bilinear interpolation.
    """
    hw = parse_size(size)
    if hw is None or tuple(x.shape[-2:]) == hw:
        return x
    down = hw[0] <= x.shape[-2] and hw[1] <= x.shape[-1]
    xf = x.to(torch.float32)
    if down:
        return F.interpolate(xf, size=hw, mode="area")
    return F.interpolate(xf, size=hw, mode="bilinear", align_corners=False)


def rgb_to_gray(frames: np.ndarray) -> np.ndarray:
    """``(..., 3)`` RGB -> ``(..., 1)`` luminance (ITU-R 601 weights), float32."""
    return (frames[..., :3].astype(np.float32) @ _GRAY_WEIGHTS)[..., None]


def frames_to_sequence(frames: np.ndarray, grayscale: bool, size: SizeLike,
                       scale: float = 255.0) -> torch.Tensor:
    """Stack of ``(N, H, W[, C])`` frames -> float32 ``(N, C, h, w)`` in [0, 1].

    Args:
        frames: uint8 (or other) frames; C may be 1, 3 or 4 (alpha dropped).
        grayscale: True -> C = 1 (luminance); False -> C = 3 (gray is repeated).
        size: output size (see ``parse_size``); None keeps the frame size.
        scale: value that maps to 1.0 (255 for 8-bit).
    """
    f = np.asarray(frames)
    if f.ndim == 3:
        f = f[..., None]
    if f.ndim != 4:
        raise DataError(f"frames of shape {tuple(f.shape)} are not (N, H, W[, C]); check the file.")
    c = f.shape[-1]
    if c == 4:
        f = f[..., :3]
        c = 3
    if c == 2:  # gray + alpha
        f = f[..., :1]
        c = 1
    if grayscale and c == 3:
        g = rgb_to_gray(f)
    elif not grayscale and c == 1:
        g = np.repeat(f.astype(np.float32), 3, axis=-1)
    else:
        g = f.astype(np.float32)
    x = torch.from_numpy(np.ascontiguousarray(g)).permute(0, 3, 1, 2)  # (N, C, H, W)
    x = resize_sequence(x / float(scale), size)
    return x.clamp_(0.0, 1.0).contiguous()
