"""Helpers for the data-layer tests: where the shared data is, and tiny files made on the fly."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pytest


def shared_data() -> Optional[Path]:
    """``$DAS_DATA_ROOT`` or ``<repo>/../shared/data`` (None when absent)."""
    env = os.environ.get("DAS_DATA_ROOT")
    if env and Path(env).is_dir():
        return Path(env)
    p = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return p if p.is_dir() else None


def medmnist_dir() -> Path:
    base = shared_data()
    if base is None:
        pytest.skip("shared data folder (../shared/data or $DAS_DATA_ROOT) is absent")
    d = base / "medmnist3d" if (base / "medmnist3d").is_dir() else base
    if not (d / "adrenalmnist3d.npz").is_file():
        pytest.skip(f"MedMNIST files are not in {d}")
    return d


def pocus_dir() -> Path:
    base = shared_data()
    d = base / "pocus_lung_videos" if base is not None else None
    if d is None or not d.is_dir():
        pytest.skip("POCUS clips (../shared/data/pocus_lung_videos) are absent")
    return d


def gray_frames(n: int, h: int = 32, w: int = 48, step: int = 20) -> np.ndarray:
    """``(n, h, w, 3)`` uint8 frames; frame t is a flat gray of value ``step * t`` (mod 256)."""
    return np.stack([np.full((h, w, 3), (step * t) % 256, np.uint8) for t in range(n)])


def write_clip(path: Path, n: int = 10, h: int = 32, w: int = 48, step: int = 20) -> Path:
    """Write a tiny clip (mp4/avi/mov via ffmpeg, gif via pillow) whose frame t has value ``step*t``."""
    import imageio.v3 as iio

    path.parent.mkdir(parents=True, exist_ok=True)
    fr = gray_frames(n, h, w, step)
    ext = path.suffix.lower()
    if ext == ".gif":
        iio.imwrite(path, fr, duration=100, loop=0)
    elif ext == ".avi":
        iio.imwrite(path, fr, fps=10, plugin="FFMPEG", codec="mjpeg")
    else:
        iio.imwrite(path, fr, fps=10, plugin="FFMPEG")
    return path


def make_video_folder(root: Path, names: Sequence[str], n: int = 6) -> Path:
    """Create ``root/<name>`` clips (names may hold sub-folders); returns root."""
    for i, name in enumerate(names):
        write_clip(root / name, n=n, step=10 + i)
    return root


def write_dicom(path: Path, frames: np.ndarray, cine_rate: Optional[float] = 25.0,
                frame_time: Optional[float] = None) -> Path:
    """A minimal uncompressed multi-frame ultrasound DICOM of uint8 ``(N, H, W)`` frames."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"  # US multi-frame
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.NumberOfFrames = int(frames.shape[0])
    ds.Rows, ds.Columns = int(frames.shape[1]), int(frames.shape[2])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    if cine_rate is not None:
        ds.CineRate = int(cine_rate)
    if frame_time is not None:
        ds.FrameTime = str(frame_time)
    ds.PixelData = np.ascontiguousarray(frames.astype(np.uint8)).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path
