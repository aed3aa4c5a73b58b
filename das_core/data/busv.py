"""BUSV-style video folders: one folder of frame images per video, plus a JSON split file.

Layout (as distributed with CVA-Net, Lin et al. MICCAI 2022)::

    root/
      rawframes/            (optional level; the class folders may sit directly in root)
        benign/<video_id>/000000.png, 000001.png, ...
        malignant/<video_id>/...
      train.json, val.json  (COCO-VID style: {"videos": [{"name": "benign/<video_id>", ...}]})
    or
      split.json            ({"train": [...], "val": [...], "test": [...]}, names as
                             "benign/<video_id>" or just "<video_id>")

The class of a video is the folder above it. A video listed in no split list is left out of
train/val/test (it still appears in ``split="all"``). When the split files give no ``test``
list, the given ``val`` list is used as ``test`` and ``val`` is carved (stratified) out of
``train``; when there is no split file at all, the stratified splitter is used.

Frames are sorted by the numbers in their names (natural sort), and only the ``T`` frames
``round(linspace(0, n-1, T))`` are read.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from das_core.errors import DataError

from .arrays import SizeLike, frames_to_sequence, resample_indices
from .clips import Clip
from .decode import IMAGE_EXTENSIONS, is_video_file, to_uint8

__all__ = ["is_busv_layout", "discover_busv", "frame_files", "decode_frame_folder"]


def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


def frame_files(folder: Path) -> List[Path]:
    """Image files directly inside ``folder``, naturally sorted."""
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
                  key=_natural_key)


def _frames_root(root: Path) -> Path:
    return root / "rawframes" if (root / "rawframes").is_dir() else root


def _frame_folders(root: Path) -> List[Path]:
    base = _frames_root(root)
    out = []
    for d in sorted(p for p in base.rglob("*") if p.is_dir()):
        if any(f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS for f in d.iterdir()):
            out.append(d)
    return out


def is_busv_layout(root: Path) -> bool:
    """True when ``root`` holds folders of frame images and no video files."""
    root = Path(root)
    if not root.is_dir():
        return False
    if any(p.is_file() and is_video_file(p) for p in root.rglob("*")):
        return False
    return bool(_frame_folders(root))


def _names_from_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError) as e:
        raise DataError(f"split file {path.name} is not valid JSON ({type(e).__name__}); fix or remove it.") from None


def _video_names(obj: Any, fname: str) -> List[str]:
    """Names from a list of str, a list of dicts, or a COCO-VID dict with ``videos``."""
    if isinstance(obj, dict) and "videos" in obj:
        obj = obj["videos"]
    if not isinstance(obj, list):
        raise DataError(f"split file {fname} must hold a list of video names or a 'videos' list; fix its layout.")
    names = []
    for v in obj:
        if isinstance(v, str):
            names.append(v)
        elif isinstance(v, dict):
            n = v.get("name") or v.get("file_name") or v.get("video") or v.get("id")
            if n is None:
                raise DataError(f"split file {fname} has a video entry without a name; add 'name' to it.")
            names.append(str(n))
        else:
            names.append(str(v))
    return [n.replace("\\", "/").strip("/") for n in names]


def _read_splits(root: Path, split_file: Optional[Path]) -> Optional[Dict[str, List[str]]]:
    if split_file is not None:
        split_file = Path(split_file)
        if not split_file.is_file():
            raise DataError(f"split file {split_file.name} does not exist; check split_file=.")
        obj = _names_from_json(split_file)
        if not isinstance(obj, dict) or not any(k in obj for k in ("train", "val", "test")):
            raise DataError(f"split file {split_file.name} needs keys train/val/test; fix its layout.")
        return {k: _video_names(obj[k], split_file.name) for k in ("train", "val", "test") if k in obj}
    for n in ("split.json", "splits.json"):
        if (root / n).is_file():
            return _read_splits(root, root / n)
    per = {k: root / f"{k}.json" for k in ("train", "val", "test") if (root / f"{k}.json").is_file()}
    if per:
        return {k: _video_names(_names_from_json(p), p.name) for k, p in per.items()}
    return None


def discover_busv(root: Path, split_file: Optional[Path] = None) -> Tuple[List[Clip], bool]:
    """List the frame folders of a BUSV-style root.

    Args:
        root: the data root.
        split_file: JSON split file; default ``split.json``/``splits.json`` or ``train.json`` etc.

    Returns:
        ``(clips, has_splits)``; each clip's ``split`` is filled from the split file.
    """
    root = Path(root)
    base = _frames_root(root)
    folders = _frame_folders(root)
    if not folders:
        raise DataError(f"no folders of frame images found under {root.name}; expected "
                        f"<root>/rawframes/<class>/<video>/000000.png.")
    clips = []
    for d in folders:
        rel = d.relative_to(base).as_posix()
        parts = rel.split("/")
        if len(parts) < 2:
            raise DataError(f"frame folder {rel} is not inside a class folder; move it to <class>/{rel}.")
        clips.append(Clip(d, rel, parts[0], group=None, split=None))
    splits = _read_splits(root, split_file)
    if splits is not None:
        lookup: Dict[str, str] = {}
        for k, names in splits.items():
            for n in names:
                lookup[n] = k
        for c in clips:
            c.split = lookup.get(c.rel) or lookup.get(c.rel.split("/", 1)[-1]) or lookup.get(Path(c.rel).name)
        if "test" not in splits:  # e.g. CVA-Net ships train.json + val.json only
            for c in clips:
                if c.split == "val":
                    c.split = "test"
    return clips, splits is not None


def decode_frame_folder(folder: Path, num_frames: Optional[int] = None, size: SizeLike = None,
                        grayscale: bool = True) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """Read the frames ``round(linspace(0, n-1, T))`` of a frame folder.

    Returns:
        uint8 ``(T, C, H, W)`` and info (``original_frames``, ``fps`` None, ``original_size``,
        ``frame_indices``).
    """
    import imageio.v3 as iio

    files = frame_files(Path(folder))
    if not files:
        raise DataError(f"frame folder {Path(folder).name} holds no images; add frames or remove it.")
    idx = resample_indices(len(files), num_frames)
    uniq = np.unique(idx)
    frames = {}
    orig = None
    for i in uniq:
        f = files[int(i)]
        try:
            if f.stat().st_size == 0:
                raise ValueError("empty")
            img = np.asarray(iio.imread(f))
        except Exception as e:
            raise DataError(f"frame {f.name} in {Path(folder).name} cannot be read ({type(e).__name__}); "
                            f"replace the image.") from None
        if orig is None:
            orig = img.shape[:2]
        elif img.shape[:2] != orig:
            raise DataError(f"frame {f.name} in {Path(folder).name} is {img.shape[:2]} but earlier frames "
                            f"are {orig}; make all frames of a video the same size.")
        if img.ndim == 2:
            img = img[..., None]
        frames[int(i)] = img
    stack = np.stack([frames[int(i)] for i in idx])  # (T, H, W, C)
    if stack.dtype == np.uint16:
        scale = 65535.0
    else:
        scale = 255.0
    out = to_uint8(frames_to_sequence(stack, grayscale, size, scale=scale))
    return out, {"original_frames": len(files), "fps": None, "original_size": list(orig),
                 "frame_indices": idx.tolist()}
