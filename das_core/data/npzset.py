"""A user ``.npz`` file in the MedMNIST layout: ``train_images`` ``(N, D, H, W)``, ``train_labels``
``(N,)`` or ``(N, 1)``, and likewise ``val_*`` / ``test_*``.

Intensities: uint8 is divided by 255; bool is 0/1; any other real dtype is min-max normalised per
volume (complex is refused; values must be finite as float32).

Labels: whole numbers (integer or whole floats) from 0 to ``MAX_CLASSES - 1`` = 999 in every split;
NaN, strings, negative or larger labels are refused with one sentence. The arrays are read within
the decode budget (``max_decoded_bytes=`` or ``$DAS_DECODE_BUDGET_MB``, default 1024 MiB): the
images read plus the labels plus one volume's float32 copy must fit, checked from the npy headers
before anything is inflated.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from das_core.errors import DataError

from .arrays import check_float32_range, normalise_intensity, volume_stack, volume_to_sequence
from .budget import check_budget, decode_budget
from .npyfile import npz_members, read_npz_member
from .base import SequenceDataset
from .paths import PathLike
from .splits import SPLITS

__all__ = ["NpzVolumeDataset", "MAX_CLASSES", "check_labels"]

MAX_CLASSES = 1000


def check_labels(labels: np.ndarray, what: str, n_classes: Optional[int] = None) -> np.ndarray:
    """Labels as int64 class indices, else a one-sentence DataError.

    Args:
        labels: ``(N,)`` or ``(N, 1)`` array.
        what: how messages name it (file and array).
        n_classes: the number of class names given; default ``MAX_CLASSES``.

    Returns:
        ``(N,)`` int64 array.
    """
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise DataError(f"{what} has shape {tuple(labels.shape)} but needs one label per volume; store a (N,) "
                        f"array of class indices.")
    if labels.dtype == bool or not (np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.floating)):
        raise DataError(f"{what} holds {labels.dtype} labels; store integer class indices 0..C-1.")
    if labels.size == 0:
        return labels.astype(np.int64)
    if np.issubdtype(labels.dtype, np.floating):
        if not np.isfinite(labels).all():
            raise DataError(f"{what} holds NaN or infinite labels; store integer class indices 0..C-1.")
        if not np.all(np.mod(labels, 1) == 0):
            raise DataError(f"{what} holds non-integer labels; store class indices 0..C-1.")
    lo, hi = float(labels.min()), float(labels.max())
    if lo < 0:
        raise DataError(f"{what} holds negative labels (down to {lo:.0f}); store class indices 0..C-1.")
    limit = n_classes if n_classes is not None else MAX_CLASSES
    if hi >= limit:
        if n_classes is not None:
            raise DataError(f"{what} has label {hi:.0f} but only {n_classes} classes were given; pass all class "
                            f"names.")
        raise DataError(f"{what} has label {hi:.0f}, but at most {MAX_CLASSES} classes (labels 0..{MAX_CLASSES - 1}) "
                        f"are supported; renumber the classes 0..C-1.")
    return labels.astype(np.int64)


class NpzVolumeDataset(SequenceDataset):
    """One split of a MedMNIST-layout ``.npz`` file.

    Args:
        path: the ``.npz`` file.
        split: ``"train"``, ``"val"`` or ``"test"``.
        axis: slicing axis 0, 1 or 2 (default 0).
        classes: class names; default ``["0", "1", ...]`` up to the largest label in the file.
        name: registry name.
        max_decoded_bytes: the decode cap in bytes (default ``$DAS_DECODE_BUDGET_MB`` or 1024 MiB).
    """

    kind = "volume"

    def __init__(self, path: PathLike, split: str = "train", *, axis: int = 0,
                 classes: Optional[Sequence[str]] = None, name: str = "npz",
                 max_decoded_bytes: Optional[int] = None) -> None:
        if path is None:
            raise DataError("the npz data set needs a file; pass root=<file.npz with train_images, train_labels, ...>.")
        self.path = Path(path).expanduser()
        fname = self.path.name
        self.name, self.split, self.axis = name, split, int(axis)
        if split not in SPLITS:
            raise DataError(f"split={split!r} for {fname} is unknown; pass 'train', 'val' or 'test'.")
        if self.axis not in (0, 1, 2):
            raise DataError(f"axis={axis!r} for {fname} is not a volume axis; pass axis=0, 1 or 2.")
        if not self.path.is_file():
            raise DataError(f"{fname} does not exist; pass root=<path of a .npz file>.")
        if self.path.stat().st_size == 0:
            raise DataError(f"{fname} is empty (0 bytes); save it again with numpy.savez.")
        budget = decode_budget(max_decoded_bytes)
        try:
            zf = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            raise DataError(f"{fname} is not a readable .npz file ({type(e).__name__}); save it again with "
                            f"numpy.savez.") from None
        with zf:
            members = npz_members(zf)
            keys = list(members)
            ik, lk = f"{split}_images", f"{split}_labels"
            if ik not in keys or lk not in keys:
                raise DataError(f"{fname} has no {ik}/{lk} arrays (it has {keys[:12]}); save it in the MedMNIST "
                                f"layout train_images, train_labels, val_*, test_*.")
            n_given = len(classes) if classes is not None else None
            all_max = -1
            labels = None
            used = 0
            for s in SPLITS:  # every split's labels are checked, so the classes are the same for each split
                if f"{s}_labels" not in keys:
                    continue
                lab = read_npz_member(zf, members[f"{s}_labels"], fname, budget - used, extra_per_value=0)
                used += lab.nbytes
                lab = check_labels(lab, f"{fname} {s}_labels", n_given)
                if lab.size:
                    all_max = max(all_max, int(lab.max()))
                if s == split:
                    labels = lab
            imgs = read_npz_member(zf, members[ik], fname, budget - used, extra_per_value=0)
        imgs = volume_stack(imgs, f"{fname} {ik}", "reshape it")
        check_budget(fname, used + imgs.nbytes + 4 * int(np.prod(imgs.shape[1:])), budget,
                     f"{ik} plus the labels and one volume's float32 copy")
        if len(labels) != len(imgs):
            raise DataError(f"{fname} {lk} has shape {tuple(labels.shape)} but needs one label per volume "
                            f"({len(imgs)}); fix the labels array.")
        if len(imgs) == 0:
            raise DataError(f"{fname} {ik} holds no volumes; add data to that split.")
        check_float32_range(imgs, f"{fname} {ik}")
        n_cls = max(all_max + 1, 1)
        self.classes = [str(c) for c in classes] if classes is not None else [str(i) for i in range(n_cls)]
        self.task = "binary-class" if len(self.classes) == 2 else "multi-class"
        self.images = imgs  # (N, D, H, W)
        self.labels: List[int] = [int(v) for v in labels]
        self.num_frames = int(imgs.shape[1 + self.axis])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        i = self._check_index(i)
        vol = self.images[i]
        if vol.dtype == np.uint8:
            v = vol.astype(np.float32) / 255.0
        elif vol.dtype == bool:
            v = vol.astype(np.float32)  # 0/1, as load_sequence reads a bool volume
        else:
            v = normalise_intensity(vol, None, self.path.name)
        x = torch.from_numpy(np.ascontiguousarray(volume_to_sequence(v, self.axis, self.path.name)))
        return x.to(torch.float32), self.labels[i]

    def meta(self, i: int) -> Dict[str, Any]:
        i = self._check_index(i)
        return {"source": str(self.path), "original_frames": self.num_frames, "spacing": None, "fps": None,
                "index": i, "split": self.split, "axis": self.axis, "label_name": self.classes[self.labels[i]]}
