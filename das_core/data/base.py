"""The common shape of every data set: a torch Dataset of ``(x, y)`` plus metadata.

``x`` is a float32 tensor ``(T, C, H, W)`` in [0, 1]; ``y`` is a python int.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import torch
from torch.utils.data import Dataset

from das_core.errors import DataError

__all__ = ["SequenceDataset", "ArrayDataset", "as_label_list", "float_tensor"]


class SequenceDataset(Dataset):
    """Base class: holds ``name``, ``task``, ``classes``, ``num_frames``, ``labels``, ``split``.

    Subclasses implement ``__len__``, ``__getitem__`` and ``meta``.

    Attributes:
        name: registry name (e.g. ``"vesselmnist3d"``).
        task: short text (e.g. ``"binary-class"``).
        classes: class names; label ``y`` indexes this list.
        num_frames: T, the same for every item.
        labels: all int labels of this split, in item order (no item is loaded to get them).
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        kind: ``"volume"`` or ``"video"``.
    """

    name: str = ""
    task: str = ""
    kind: str = "volume"
    classes: List[str]
    num_frames: int
    labels: List[int]
    split: str = "train"

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, i: int):  # pragma: no cover - abstract
        raise NotImplementedError

    def meta(self, i: int) -> Dict[str, Any]:  # pragma: no cover - abstract
        """Metadata of item ``i``: ``source``, ``original_frames``, ``spacing``, ``fps``, ..."""
        raise NotImplementedError

    def _check_index(self, i: int) -> int:
        n = len(self)
        if not isinstance(i, (int,)) and hasattr(i, "__index__"):
            i = int(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {i} out of range for {self.name} split {self.split!r} of size {n}")
        return i

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, n={len(self)}, "
                f"T={self.num_frames}, classes={self.classes})")


def as_label_list(labels: Sequence[int]) -> List[int]:
    """Plain python ints (so ``y`` is always an int, never a numpy scalar)."""
    return [int(v) for v in labels]


def float_tensor(x) -> torch.Tensor:
    """Contiguous float32 tensor from a numpy array or tensor."""
    if isinstance(x, torch.Tensor):
        return x.to(torch.float32).contiguous()
    return torch.from_numpy(x).to(torch.float32).contiguous()


class ArrayDataset(SequenceDataset):
    """Sequences held in memory, e.g. what a registered builder made (`das_core.data.register_dataset`).

    Args:
        x: (N, T, C, H, W) values in [0, 1] (a tensor or a numpy array).
        labels: N int labels, indexes into `classes`.
        name: the data set's registry name.
        classes: class names (default "0", "1", ... up to the largest label).
        split: the split these items are.
        kind: "volume" or "video".
        fps: the frame rate of a video's items (None for a volume).
    """

    def __init__(self, x, labels: Sequence[int], *, name: str = "arrays", classes: Optional[Sequence[str]] = None,
                 split: str = "train", kind: str = "volume", fps: Optional[float] = None) -> None:
        x = float_tensor(x)
        labels = as_label_list(labels)
        if x.dim() != 5:
            raise DataError(f"{name}: x has shape {tuple(x.shape)}; pass (N, T, C, H, W) sequences.")
        if len(labels) != x.shape[0]:
            raise DataError(f"{name}: {x.shape[0]} sequences but {len(labels)} labels; pass one label per sequence.")
        if x.numel() and not (torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
            raise DataError(f"{name}: values must be finite and in [0, 1]; scale them first (e.g. x / x.max()).")
        if any(v < 0 for v in labels):
            raise DataError(f"{name}: labels must be 0, 1, ...; got {min(labels)}.")
        self.x, self.labels, self.name, self.split, self.kind, self.fps = x, labels, name, split, kind, fps
        self.classes = list(classes) if classes else [str(c) for c in range(max(labels, default=0) + 1)]
        self.task = "binary-class" if len(self.classes) == 2 else "multi-class"
        self.num_frames = int(x.shape[1])

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, i: int):
        i = self._check_index(i)
        return self.x[i], self.labels[i]

    def meta(self, i: int) -> Dict[str, Any]:
        i = self._check_index(i)
        return {"source": f"{self.name} {self.split} #{i}", "original_frames": self.num_frames, "spacing": None,
                "fps": self.fps, "kind": self.kind}
