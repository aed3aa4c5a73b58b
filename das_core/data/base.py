"""The common shape of every data set: a torch Dataset of ``(x, y)`` plus metadata.

``x`` is a float32 tensor ``(T, C, H, W)`` in [0, 1]; ``y`` is a python int.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

import torch
from torch.utils.data import Dataset

__all__ = ["SequenceDataset", "as_label_list", "float_tensor"]


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
