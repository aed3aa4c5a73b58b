"""A user ``.npz`` file in the MedMNIST layout: ``train_images`` ``(N, D, H, W)``, ``train_labels``
``(N,)`` or ``(N, 1)``, and likewise ``val_*`` / ``test_*``.

Intensities: uint8 is divided by 255; any other dtype is min-max normalised per volume.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from das_core.errors import DataError

from .arrays import check_finite, normalise_intensity, volume_stack, volume_to_sequence
from .base import SequenceDataset
from .paths import PathLike
from .splits import SPLITS

__all__ = ["NpzVolumeDataset"]


class NpzVolumeDataset(SequenceDataset):
    """One split of a MedMNIST-layout ``.npz`` file.

    Args:
        path: the ``.npz`` file.
        split: ``"train"``, ``"val"`` or ``"test"``.
        axis: slicing axis 0, 1 or 2 (default 0).
        classes: class names; default ``["0", "1", ...]`` up to the largest label in the file.
        name: registry name.
    """

    kind = "volume"

    def __init__(self, path: PathLike, split: str = "train", *, axis: int = 0,
                 classes: Optional[Sequence[str]] = None, name: str = "npz") -> None:
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
        try:
            with np.load(self.path, allow_pickle=False) as z:
                keys = list(z.files)
                ik, lk = f"{split}_images", f"{split}_labels"
                if ik not in keys or lk not in keys:
                    raise DataError(f"{fname} has no {ik}/{lk} arrays (it has {keys}); save it in the MedMNIST "
                                    f"layout train_images, train_labels, val_*, test_*.")
                imgs, labels = z[ik], z[lk]
                all_labels = np.concatenate([np.asarray(z[f"{s}_labels"]).reshape(-1)
                                             for s in SPLITS if f"{s}_labels" in keys])
        except DataError:
            raise
        except Exception as e:
            raise DataError(f"{fname} is not a readable .npz file ({type(e).__name__}); save it again with "
                            f"numpy.savez.") from None
        imgs = volume_stack(imgs, f"{fname} {ik}", "reshape it")
        labels = np.asarray(labels)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.ndim != 1 or len(labels) != len(imgs):
            raise DataError(f"{fname} {lk} has shape {tuple(labels.shape)} but needs one label per volume "
                            f"({len(imgs)}); fix the labels array.")
        if len(imgs) == 0:
            raise DataError(f"{fname} {ik} holds no volumes; add data to that split.")
        if not np.issubdtype(imgs.dtype, np.number):
            raise DataError(f"{fname} {ik} holds {imgs.dtype} values, not numbers; save numeric volumes.")
        check_finite(imgs, fname)
        if not np.issubdtype(labels.dtype, np.integer) and not np.all(np.mod(labels, 1) == 0):
            raise DataError(f"{fname} {lk} holds non-integer labels; store class indices 0..C-1.")
        if labels.min() < 0:
            raise DataError(f"{fname} {lk} holds negative labels; store class indices 0..C-1.")
        n_cls = int(np.max(all_labels)) + 1
        self.classes = [str(c) for c in classes] if classes is not None else [str(i) for i in range(n_cls)]
        if int(labels.max()) >= len(self.classes):
            raise DataError(f"{fname} has label {int(labels.max())} but only {len(self.classes)} classes were "
                            f"given; pass all class names.")
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
        else:
            v = normalise_intensity(vol, None, self.path.name)
        x = torch.from_numpy(np.ascontiguousarray(volume_to_sequence(v, self.axis, self.path.name)))
        return x.to(torch.float32), self.labels[i]

    def meta(self, i: int) -> Dict[str, Any]:
        i = self._check_index(i)
        return {"source": str(self.path), "original_frames": self.num_frames, "spacing": None, "fps": None,
                "index": i, "split": self.split, "axis": self.axis, "label_name": self.classes[self.labels[i]]}
