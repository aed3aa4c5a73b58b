"""Synthetic sequences that need no files: ``synthetic-volumes`` and ``synthetic-video``.

Each item is ``(T, 1, S, S)`` (default T = S = 28, the MedMNIST size). Every frame carries
background content with edges: for volumes, a soft-edged ellipsoidal "body" with 3-6 blobs
(MRI/CT-like, smooth across slices); for video, horizontal tissue bands and a moving bright
"pleural line" multiplied by temporally correlated Rayleigh speckle (ultrasound-like). The
background stays in [0, 0.45].

The class is a small bright structure (+0.55) drawn in only ``extent`` consecutive frames at a
random place: class 0 a filled 4x4 square, class 1 a 5x5 ring, class 2 a 9x9 plus, class 3 an
8x8 X (scaled by ``round(S / 28)``). All have 16 pixels (the plus 17, its amplitude scaled by
16/17), so total and peak intensity are the same for every class: only the shape (edges)
tells the class, and only in the informative frames. A sampler that keeps an informative
frame lets a small CNN reach near-100% accuracy; one that drops them is at chance.

``extent`` defaults to 1 (one informative frame): with ``moving=True`` uniform sampling at
ratio 0.5 then sees it in about half of the items, so an input-adaptive sampler has something to
gain; ``extent=2`` would let every-other-frame sampling always hit it. With ``moving=True`` the
first informative frame is uniform over ``0 .. T - extent`` per item; with ``moving=False`` it is
fixed near ``0.37 * T``, at the nearest position whose frames are missed by evenly spaced
sampling ``round(linspace(0, T-1, k))`` at both ratio 0.5 and 0.25 (k = round(T/2), round(T/4));
if no position avoids both, it avoids ratio 0.5 only (T = 28, extent 1: frame 11).

``cue=True`` (the third control, "looking first pays"): every frame *except* the informative ones
carries a cue of where the informative frame is: a bright 1x3 bar in the top row whose column
encodes the first informative frame, ``round(start / (T - extent) * (S - 3))``. A sampler that has
seen any one frame knows where to look next; a static sampler hits the frame with probability
about k/T. The class structure is never drawn in the top two rows, so the cue never touches it.

Determinism: item ``i`` of split ``s`` is drawn from ``numpy.random.default_rng([seed, s, i, .])``,
so it does not depend on ``num_samples`` or on the order of access; the three splits use
different streams. Labels are balanced: each block of ``num_classes`` consecutive items holds
every class once, in a seeded order.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Union

import numpy as np
import torch

from das_core.errors import DataError

from .base import SequenceDataset

__all__ = ["SyntheticDataset", "CLASS_NAMES", "DEFAULT_NUM_SAMPLES", "fixed_position", "structure_masks"]

CLASS_NAMES = ["square", "ring", "plus", "cross"]
# family="bars" (a held-out task of the same kind: other structures, for checking a fix that was
# tuned on the shapes): a short thin bar of 6 pixels, horizontal, vertical or diagonal
BAR_NAMES = ["horizontal", "vertical", "diagonal"]
FAMILIES = ("shapes", "bars")
DEFAULT_NUM_SAMPLES = {"train": 512, "val": 128, "test": 256}
RENDER_CACHE_BYTES = 256 * 2**20  # per split: rendered items kept in memory up to this size
_SPLIT_CODE = {"train": 0, "val": 1, "test": 2}
_KIND_CODE = {"volumes": 11, "video": 23}
_AMP = 0.55
_BG_MAX = 0.45


def _base_patterns() -> List[np.ndarray]:
    square = np.ones((4, 4), np.float32)
    ring = np.ones((5, 5), np.float32)
    ring[1:4, 1:4] = 0.0
    plus = np.zeros((9, 9), np.float32)
    plus[4, :] = 1.0
    plus[:, 4] = 1.0
    cross = np.zeros((8, 8), np.float32)
    cross[np.arange(8), np.arange(8)] = 1.0
    cross[np.arange(8), 7 - np.arange(8)] = 1.0
    return [square, ring, plus, cross]


def _bar_patterns() -> List[np.ndarray]:
    horizontal = np.zeros((6, 6), np.float32)
    horizontal[2, :] = 1.0
    return [horizontal, horizontal.T.copy(), np.eye(6, dtype=np.float32)]


def structure_masks(num_classes: int, size: int, family: str = "shapes") -> List[np.ndarray]:
    """Class masks (weights sum to 16 * scale^2 each), scale = max(1, round(size / 28))."""
    s = max(1, int(round(size / 28)))
    out = []
    for p in (_bar_patterns() if family == "bars" else _base_patterns())[:num_classes]:
        m = np.kron(p, np.ones((s, s), np.float32))
        out.append(m * (16.0 * s * s / m.sum()))
    return out


def _uniform_set(T: int, ratio: float) -> set:
    k = max(1, int(round(T * ratio)))
    return set(np.round(np.linspace(0, T - 1, k)).astype(int).tolist())


def fixed_position(T: int, extent: int) -> int:
    """First informative frame for ``moving=False`` (see module docstring)."""
    target = 0.37 * T
    cands = sorted(range(T - extent + 1), key=lambda p: (abs(p - target), p))
    b50, b25 = _uniform_set(T, 0.5), _uniform_set(T, 0.25)
    for avoid in (b50 | b25, b50, set()):
        for p in cands:
            if not set(range(p, p + extent)) & avoid:
                return p
    return cands[0]


def _grid(T: int, S: int):
    z = np.linspace(0, 1, T, dtype=np.float32)[:, None, None]  # (T, 1, 1)
    y = np.linspace(0, 1, S, dtype=np.float32)[None, :, None]  # (1, S, 1)
    x = np.linspace(0, 1, S, dtype=np.float32)[None, None, :]  # (1, 1, S)
    return z, y, x


def _soft_ellipsoid(z, y, x, c, r, edge: float) -> np.ndarray:
    """1 inside, 0 outside, a linear ramp of relative width ``edge`` at the boundary. (T, S, S)"""
    d = ((z - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((x - c[2]) / r[2]) ** 2
    return np.clip((1.0 - np.sqrt(d)) / edge + 0.5, 0.0, 1.0)


def _volume_background(rng: np.random.Generator, T: int, S: int) -> np.ndarray:
    z, y, x = _grid(T, S)
    c = rng.uniform(0.42, 0.58, 3).astype(np.float32)
    r = rng.uniform([0.55, 0.33, 0.33], [0.9, 0.47, 0.47]).astype(np.float32)
    vol = 0.16 * _soft_ellipsoid(z, y, x, c, r, 0.08)  # body with a sharp-ish outline
    nb = int(rng.integers(3, 7))
    cb = rng.uniform(0.15, 0.85, (nb, 3)).astype(np.float32)
    rb = rng.uniform([0.10, 0.06, 0.06], [0.30, 0.16, 0.16], (nb, 3)).astype(np.float32)
    ab = rng.uniform(0.06, 0.2, nb).astype(np.float32)
    for j in range(nb):  # organ-like blobs with soft edges
        vol += ab[j] * _soft_ellipsoid(z, y, x, cb[j], rb[j], 0.4)
    vol += 0.05 * (rng.random(vol.shape, dtype=np.float32) - 0.5)  # noise, std ~0.015
    return np.clip(vol, 0.0, _BG_MAX)


def _video_background(rng: np.random.Generator, T: int, S: int) -> np.ndarray:
    t = np.arange(T, dtype=np.float32)[:, None, None]
    _, y, x = _grid(T, S)
    period = rng.uniform(10, 30)
    shift = (0.04 * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))).astype(np.float32)  # breathing
    f, ph = rng.uniform(2.0, 4.0), rng.uniform(0, 2 * np.pi)
    tissue = 0.14 + 0.06 * np.sin(2 * np.pi * ((y + shift) * f + 0.3 * x) + ph)  # (T, S, S) bands
    y0 = rng.uniform(0.2, 0.35)
    tissue = tissue + 0.16 * np.exp(-(((y - y0 - shift) / 0.03) ** 2))  # bright pleural line
    tissue = (tissue * (1.0 - 0.5 * y)).astype(np.float32)  # depth attenuation
    # temporally correlated speckle: smoothed complex Gaussian field, Rayleigh magnitude
    # (uniform draws: after the 2x2 and 5-frame sums the field is close to Gaussian, and cheaper)
    zr = rng.random((2, T + 4, S + 1, S + 1), dtype=np.float32) - np.float32(0.5)
    zr = zr[:, :, :-1, :-1] + zr[:, :, 1:, :-1] + zr[:, :, :-1, 1:] + zr[:, :, 1:, 1:]  # 2x2 grain
    w = np.array([1, 2, 3, 2, 1], np.float32) / np.float32(np.sqrt(19.0))
    zt = w[0] * zr[:, 0:T]
    for k in range(1, 5):
        zt += w[k] * zr[:, k:k + T]  # temporal correlation over ~5 frames
    sp = np.sqrt(zt[0] ** 2 + zt[1] ** 2)
    sp *= np.float32(1.0) / sp.mean()
    frame = tissue * (0.4 + 0.6 * np.clip(sp, 0.0, 2.5))
    return np.clip(frame, 0.0, _BG_MAX)


class SyntheticDataset(SequenceDataset):
    """Synthetic volumes or ultrasound-like clips with a small class structure in a few frames.

    Args:
        kind: ``"volumes"`` or ``"video"``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        num_frames: T (default 28).
        size: frame height = width (default 28; at least 16).
        num_samples: items in this split; int, or dict per split; default train 512, val 128,
            test 256.
        seed: random seed (default 0).
        moving: vary the informative frame per item (default True); False: fixed frame.
        extent: consecutive informative frames (default 1).
        num_classes: 2 to 4 (default 2).
        cue: draw, in every other frame, a bar whose position says where the informative frame is.
        family: "shapes" (square, ring, plus, cross) or "bars" (a short thin bar, horizontal,
            vertical or diagonal: 2 or 3 classes), the held-out family.
    """

    def __init__(self, kind: str = "volumes", split: str = "train", *, num_frames: int = 28, size: int = 28,
                 num_samples: Union[None, int, Dict[str, int]] = None, seed: int = 0, moving: bool = True,
                 extent: int = 1, num_classes: int = 2, cue: bool = False, family: str = "shapes") -> None:
        if kind not in _KIND_CODE:
            raise DataError(f"synthetic kind={kind!r} is unknown; use 'volumes' or 'video'.")
        self.name = f"synthetic-{kind}"
        self.kind = "volume" if kind == "volumes" else "video"
        self._kind = kind
        if split not in _SPLIT_CODE:
            raise DataError(f"split={split!r} for {self.name} is unknown; pass 'train', 'val' or 'test'.")
        self.split = split
        T, S, C = int(num_frames), int(size), int(num_classes)
        if T < 1:
            raise DataError(f"num_frames={num_frames} for {self.name} must be at least 1; pass e.g. num_frames=28.")
        if S < 16:
            raise DataError(f"size={size} for {self.name} is too small for the class structures; pass size >= 16.")
        if family not in FAMILIES:
            raise DataError(f"family={family!r} for {self.name} is unknown; use one of {', '.join(FAMILIES)}.")
        names = BAR_NAMES if family == "bars" else CLASS_NAMES
        if not 2 <= C <= len(names):
            raise DataError(f"num_classes={num_classes} for {self.name} ({family}) must be 2 to {len(names)}; "
                            f"pass e.g. num_classes=2.")
        if not 1 <= int(extent) <= T:
            raise DataError(f"extent={extent} for {self.name} must be between 1 and num_frames={T}; pass e.g. extent=1.")
        if isinstance(num_samples, dict):
            n = int(num_samples.get(split, DEFAULT_NUM_SAMPLES[split]))
        elif num_samples is None:
            n = DEFAULT_NUM_SAMPLES[split]
        else:
            n = int(num_samples)
        if n < 0:
            raise DataError(f"num_samples={num_samples} for {self.name} must be non-negative; pass e.g. num_samples=512.")
        self.num_frames, self.size, self.seed = T, S, int(seed)
        self.moving, self.extent, self.num_classes, self.cue = bool(moving), int(extent), C, bool(cue)
        self.family = family
        self.classes = names[:C]
        self.task = "binary-class" if C == 2 else "multi-class"
        self._n = n
        self._code = [self.seed, _SPLIT_CODE[split], _KIND_CODE[kind]] + ([7] if family == "bars" else [])
        self._masks = structure_masks(C, S, family)
        self.labels = [self._label(i) for i in range(n)]
        self._fixed = fixed_position(T, self.extent)
        # items are deterministic per index: a split that fits in RENDER_CACHE_BYTES keeps what it rendered
        # (rendering took 10-30 ms of a 150 ms training step for a batch of 16 at 28^3)
        self._rendered: Optional[Dict[int, torch.Tensor]] = {} if n * T * S * S * 4 <= RENDER_CACHE_BYTES else None

    def __len__(self) -> int:
        return self._n

    def _rng(self, i: int, stream: int) -> np.random.Generator:
        return np.random.default_rng(self._code + [int(i), stream])

    def _label(self, i: int) -> int:
        block = i // self.num_classes
        perm = np.random.default_rng(self._code + [block, 1]).permutation(self.num_classes)
        return int(perm[i % self.num_classes])

    def _placement(self, i: int):
        """(first informative frame, top, left) of item ``i``."""
        rng = self._rng(i, 2)
        start = int(rng.integers(0, self.num_frames - self.extent + 1)) if self.moving else self._fixed
        h, w = self._masks[self.labels[i]].shape
        m = 2
        top = int(rng.integers(m, self.size - h - m + 1))
        left = int(rng.integers(m, self.size - w - m + 1))
        return start, top, left

    def cue_column(self, start: int) -> int:
        """Left column of the cue bar that points at first informative frame `start`."""
        span = max(1, self.num_frames - self.extent)
        return int(round(start / span * (self.size - 3)))

    def informative_frames(self, i: int) -> List[int]:
        """Frame indices of item ``i`` that carry the class structure."""
        start = self._placement(i)[0]
        return list(range(start, start + self.extent))

    def render(self, i: int) -> np.ndarray:
        """Item ``i`` as a float32 numpy array ``(T, S, S)`` in [0, 1]."""
        T, S = self.num_frames, self.size
        rng = self._rng(i, 3)
        bg = _volume_background(rng, T, S) if self._kind == "volumes" else _video_background(rng, T, S)
        start, top, left = self._placement(i)
        mask = self._masks[self.labels[i]]
        h, w = mask.shape
        bg[start:start + self.extent, top:top + h, left:left + w] += _AMP * mask
        if self.cue:
            others = [t for t in range(T) if not start <= t < start + self.extent]
            col = self.cue_column(start)
            bg[others, 0, col:col + 3] += _AMP
        return np.clip(bg, 0.0, 1.0)

    def __getitem__(self, i: int):
        i = self._check_index(i)
        x = self._rendered.get(i) if self._rendered is not None else None
        if x is None:
            x = torch.from_numpy(self.render(i))[:, None]  # (T, 1, S, S)
            if self._rendered is not None:
                self._rendered[i] = x
        return x, self.labels[i]

    def meta(self, i: int) -> Dict[str, Any]:
        i = self._check_index(i)
        start, top, left = self._placement(i)
        return {"source": "synthetic", "original_frames": self.num_frames, "spacing": None, "fps": None,
                "informative_frames": list(range(start, start + self.extent)), "structure_topleft": [top, left],
                "label_name": self.classes[self.labels[i]], "moving": self.moving, "extent": self.extent,
                "cue": self.cue,
                "seed": self.seed, "split": self.split, "index": i}
