"""Moving-real data: a MedMNIST 3D volume's central slices at a random offset inside a longer sequence.

MedMNIST volumes are centred crops: the organ, nodule or vessel fills the central slices of every
volume, so a *static* prior on those slices (or uniform picks, which always land on some of them)
captures almost all of the foreground, and an input-adaptive sampler has nothing to adapt to. These
families keep the real anatomy and labels but move them: item i is a sequence of ``num_frames`` (T)
frames in which the ``window`` (W) central slices of volume i sit at offset ``o_i`` (uniform in
``0 .. T - W``, fixed per item by ``seed``), and every other frame is a *filler* that carries no
label of item i:

- ``filler="distractors"``: slices of other volumes of the same split (a random volume and a random
  slice for each filler frame). They look like the real slices (same scanner, same texture, other
  anatomy and other labels), but consecutive ones do not belong together; only the block of W
  consecutive slices is one coherent volume.
- ``filler="speckle"``: ultrasound-like speckle (Rayleigh-distributed noise, smoothed, at the
  volume's own mean intensity), as the frames of a sweep before and after the target.

A sampler that keeps k = T / 4 frames sees on average k * W / T of the block with uniform or central
picks, and all of it only when it finds the block. ``meta(i)["informative_frames"]`` is the block, so
the bench's hit rate and the share of picks inside it (`experiments.probes`) measure that directly.
Registry names: ``<flag>-embedded`` for the six MedMNIST 3D flags (``adrenalmnist3d-embedded``,
``vesselmnist3d-embedded``, ...), with ``filler=``; bench specs ``<flag>-embedded:distractors`` and
``<flag>-embedded:speckle``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import torch

from das_core.errors import DataError

from .base import SequenceDataset
from .medmnist3d import MedMNIST3DDataset
from .paths import PathLike
from .splits import SPLITS

__all__ = ["EmbeddedVolumeDataset", "FILLERS", "EMBEDDED_SUFFIX"]

FILLERS = ("distractors", "speckle")
EMBEDDED_SUFFIX = "-embedded"
_SPLIT_CODE = {s: n for n, s in enumerate(SPLITS)}


class EmbeddedVolumeDataset(SequenceDataset):
    """One split of a moving-real family (see the module docstring).

    Args:
        flag: a MedMNIST 3D flag (``adrenalmnist3d``, ...).
        split: ``"train"``, ``"val"`` or ``"test"`` (the official splits; fillers come from the same split).
        root: folder holding the MedMNIST ``.npz`` files (as ``MedMNIST3DDataset``).
        num_frames: T, the length of every sequence (> window).
        window: W, how many central slices of the volume are kept (the informative block).
        filler: ``"distractors"`` (slices of other volumes) or ``"speckle"`` (smoothed speckle noise).
        seed: fixes each item's offset and fillers (the same item is the same sequence in every epoch).
        size: 28 or 64 (the MedMNIST file).
        max_decoded_bytes: the decode cap of the MedMNIST reader.
    """

    kind = "volume"

    def __init__(self, flag: str, split: str = "train", root: Optional[PathLike] = None, *, num_frames: int = 40,
                 window: int = 10, filler: str = "distractors", seed: int = 0, size: int = 28,
                 max_decoded_bytes: Optional[int] = None) -> None:
        if filler not in FILLERS:
            raise DataError(f"filler={filler!r} is unknown; pass one of {', '.join(FILLERS)}.")
        base = MedMNIST3DDataset(flag, split, root, size=size, axis=0, max_decoded_bytes=max_decoded_bytes)
        depth = base.images.shape[1]
        if not 1 <= int(window) <= depth:
            raise DataError(f"window={window!r} must be between 1 and the volume depth {depth}.")
        if not int(num_frames) > int(window):
            raise DataError(f"num_frames={num_frames!r} must be larger than window={window} (the block must move).")
        if len(base) < 2 and filler == "distractors":
            raise DataError(f"the {split} split of {flag} has {len(base)} volume; distractors need at least 2.")
        self.base = base
        self.flag, self.split, self.size = flag, split, int(size)
        self.name = flag + EMBEDDED_SUFFIX
        self.task, self.classes, self.labels = base.task, base.classes, base.labels
        self.num_frames, self.window, self.filler, self.seed = int(num_frames), int(window), filler, int(seed)
        self._first = (depth - self.window) // 2  # the central W slices

    def __len__(self) -> int:
        return len(self.base)

    def _rng(self, i: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, _SPLIT_CODE.get(self.split, 9), int(i), stream])

    def offset(self, i: int) -> int:
        """First frame of item ``i``'s informative block."""
        return int(self._rng(i, 0).integers(0, self.num_frames - self.window + 1))

    def informative_frames(self, i: int) -> List[int]:
        o = self.offset(i)
        return list(range(o, o + self.window))

    def render(self, i: int) -> np.ndarray:
        """Item ``i`` as uint8 ``(T, H, W)``: the block at its offset, fillers elsewhere."""
        T, W = self.num_frames, self.window
        vol = self.base.images[i]  # (D, H, W) uint8
        o = self.offset(i)
        out = np.empty((T,) + vol.shape[1:], dtype=np.uint8)
        out[o:o + W] = vol[self._first:self._first + W]
        others = [t for t in range(T) if not o <= t < o + W]
        rng = self._rng(i, 1)
        if self.filler == "distractors":
            n = len(self.base)
            sources = rng.integers(0, n - 1, size=len(others))
            sources = sources + (sources >= i)  # any volume but item i's own
            depths = rng.integers(0, vol.shape[0], size=len(others))
            for t, j, d in zip(others, sources, depths):
                out[t] = self.base.images[j, d]
        else:
            out[others] = _speckle(rng, len(others), vol.shape[1:], float(vol.mean()))
        return out

    def __getitem__(self, i: int):
        i = self._check_index(i)
        x = torch.from_numpy(self.render(i)).to(torch.float32).div_(255.0)[:, None]  # (T, 1, H, W)
        return x, self.labels[i]

    def meta(self, i: int) -> Dict[str, Any]:
        i = self._check_index(i)
        o = self.offset(i)
        return {"source": str(self.base.path), "original_frames": self.num_frames, "spacing": None, "fps": None,
                "informative_frames": list(range(o, o + self.window)), "offset": o, "window": self.window,
                "filler": self.filler, "seed": self.seed, "index": i, "split": self.split, "size": self.size,
                "label_name": self.classes[self.labels[i]]}


def _speckle(rng: np.random.Generator, n: int, shape, mean: float) -> np.ndarray:
    """``n`` frames of smoothed Rayleigh speckle with about the given mean intensity, uint8 ``(n, H, W)``."""
    raw = rng.rayleigh(1.0, size=(n, *shape)).astype(np.float32)
    # a 3x3 box blur per frame gives the speckle a grain larger than one pixel
    pad = np.pad(raw, ((0, 0), (1, 1), (1, 1)), mode="edge")
    smooth = sum(pad[:, a:a + shape[0], b:b + shape[1]] for a in range(3) for b in range(3)) / 9.0
    scale = max(mean, 8.0) / float(smooth.mean())
    return np.clip(smooth * scale, 0, 255).astype(np.uint8)

