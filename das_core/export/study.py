"""The study an export shows: one sequence at its own resolution, and its copy for each model.

A `Study` holds the sequence as read (T, C, H, W) in [0, 1] and what is known about it. Each model
gets its own copy resampled to the model's T frames and frame size (`Study.input_for`), the way
`load_sequence(num_frames=T, size=S)` resamples a file: frames `round(linspace(0, n - 1, T))`, each
resized once. `input_for` also returns which frame of the study each model frame is, so picks are
reported and drawn on the study's own frame numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import torch

from ..errors import CheckpointError, DataError

__all__ = ["Study", "study_from_file", "study_from_dataset", "study_from_tensor", "dataset_options_for"]

_GRAY = torch.tensor([0.299, 0.587, 0.114])  # ITU-R 601, as das_core.data.arrays.rgb_to_gray


@dataclass
class Study:
    """One sequence to export.

    Args:
        x: the sequence (T, C, H, W), float in [0, 1], at the resolution it was read.
        name: what the report calls it (the file name, or "<data set> <split> #<index>").
        kind: "volume" or "video" (sets the frame word and the playback speed).
        dataset: the data set it comes from (None for a file): models trained on it report their
            class probabilities.
        y: its label index, where the data set has one.
        classes: its data set's class names.
        meta: what the reader said about it (fps, spacing, original_frames, informative_frames, ...).
        source: "file", "data set" or "array".
    """

    x: torch.Tensor
    name: str
    kind: str = "volume"
    dataset: Optional[str] = None
    y: Optional[int] = None
    classes: Optional[list] = None
    meta: dict = field(default_factory=dict)
    source: str = "array"

    @property
    def shape(self) -> list[int]:
        return [int(v) for v in self.x.shape]

    @property
    def num_frames(self) -> int:
        return int(self.x.shape[0])

    @property
    def frame_word(self) -> str:
        return "slice" if self.kind == "volume" else "frame"

    @property
    def label_name(self) -> Optional[str]:
        if self.y is None or self.y < 0 or not self.classes or self.y >= len(self.classes):
            return None
        return str(self.classes[self.y])

    @property
    def informative(self) -> Optional[list[int]]:
        inf = self.meta.get("informative_frames")
        return [int(i) for i in inf] if isinstance(inf, (list, tuple)) else None

    def fps(self, volume_fps: float) -> float:
        """Playback speed: a video's own fps (clamped to 0.5..60), else `volume_fps`."""
        fps = self.meta.get("fps")
        if self.kind == "video" and isinstance(fps, (int, float)) and fps > 0:
            return float(min(max(fps, 0.5), 60.0))
        return float(volume_fps)

    def input_for(self, num_frames: int, frame_size: int, channels: int) -> tuple[torch.Tensor, np.ndarray]:
        """The study resampled for one model.

        Args:
            num_frames: the model's T.
            frame_size: the model's H = W.
            channels: the model's C (RGB is turned to gray for a 1-channel model; a gray study
                cannot feed a 3-channel model: CheckpointError).

        Returns:
            (x (T, C, S, S) float, study frame of each of the T frames (T,) int64).
        """
        from ..data.arrays import resample_indices, select_frames

        C = int(self.x.shape[1])
        if C != channels and not (C == 3 and channels == 1):
            raise CheckpointError(f"This checkpoint expects {channels}-channel frames but the study {self.name} has "
                                  f"{C} channel(s); choose a checkpoint trained on {C}-channel data.")
        idx = resample_indices(self.num_frames, int(num_frames))  # (T,)
        x = select_frames(self.x, idx, int(frame_size)).float()  # (T, C, S, S)
        if C == 3 and channels == 1:
            x = torch.einsum("tchw,c->thw", x[:, :3], _GRAY)[:, None]  # (T, 1, S, S)
        return x.clamp_(0, 1), idx


def _kind(meta: Mapping, default: str = "volume") -> str:
    kind = meta.get("kind")
    if kind in ("video", "volume"):
        return str(kind)
    return "video" if meta.get("fps") else default


def study_from_file(path: Union[str, Path], *, grayscale: bool = False, **options) -> Study:
    """A file (volume, video, DICOM, ... whatever `das_core.data.load_sequence` reads) at its own resolution.

    Args:
        path: the file (or folder, for a reader that takes one); it is read, never copied.
        grayscale: C = 1 for colour input; by default colour is kept for display (a 1-channel model
            sees it in gray, see `Study.input_for`).
        **options: other `load_sequence` options (window, axis, key, ...).

    Raises:
        DataError: one sentence for a missing, unreadable or wrong-rank file.
    """
    from ..data import load_sequence

    path = Path(path)
    try:
        x, meta = load_sequence(path, grayscale=grayscale, **options)
    except DataError:
        raise
    except (OSError, ValueError, RuntimeError) as err:  # a decoder error the data layer did not wrap
        raise DataError(f"{path.name} could not be read ({type(err).__name__}); use a volume (.npy/.npz), "
                        f"a video (mp4, avi, mov, gif) or a DICOM file.") from None
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise DataError(f"{path.name} did not give a (T, C, H, W) sequence; export one volume or one clip per file.")
    meta = dict(meta or {})
    return Study(x=x.float(), name=path.name, kind=_kind(meta), meta=meta, source="file")


def dataset_options_for(dataset: str, metas: Sequence[Mapping], given: Optional[Mapping] = None) -> dict:
    """The load options of `dataset` for an export: those of the first checkpoint trained on it (so a
    synthetic item is drawn as that model saw its data), updated by the options the user gave.

    Args:
        dataset: the data set's name.
        metas: the checkpoints' meta dicts.
        given: the options the user gave (num_frames, size, ...).
    """
    opts: dict = {}
    for meta in metas:
        if meta.get("dataset") == dataset:
            opts = dict(meta.get("dataset_options") or {})
            break
    opts.update(given or {})
    return opts


def study_from_dataset(name: str, index: int, *, split: str = "test", root: Optional[str] = None,
                       options: Optional[Mapping] = None) -> Study:
    """Item `index` of a split of a registered data set.

    Args:
        name: a data set name (`das_core.list_datasets()`).
        index: the item, in [0, len(split)).
        split: "train", "val", "test" or "all".
        root: its data folder or file, where it needs one.
        options: its load options (num_frames, size, ...).

    Raises:
        DataError: unknown data set, missing files, or an index out of range.
    """
    from ..data import load_dataset

    ds = load_dataset(name, split=split, root=root, **dict(options or {}))
    n = len(ds)
    if not 0 <= int(index) < n:
        raise DataError(f"Item {index} does not exist: the {split} split of {name} has {n} items "
                        f"(0..{n - 1}); pass another --index.")
    x, y = ds[int(index)]
    try:
        meta = dict(ds.meta(int(index)) or {})
    except Exception:  # metadata is optional for the report
        meta = {}
    meta.update({"split": split, "index": int(index), "dataset_options": dict(options or {})})
    return Study(x=x.float(), name=f"{name} {split} #{int(index)}", kind=str(getattr(ds, "kind", "volume")),
                 dataset=str(getattr(ds, "name", name)), y=int(y) if y is not None else None,
                 classes=list(getattr(ds, "classes", []) or []) or None, meta=meta, source="data set")


def study_from_tensor(x: torch.Tensor, name: str = "array", *, kind: str = "volume", dataset: Optional[str] = None,
                      y: Optional[int] = None, classes: Optional[Sequence] = None,
                      meta: Optional[Mapping] = None) -> Study:
    """A sequence already in memory (T, C, H, W) in [0, 1], e.g. the app's current sample.

    Args:
        x: the sequence.
        name: what the report calls it.
        kind: "volume" or "video".
        dataset: its data set (None: no model's class probabilities are reported).
        y: its label index.
        classes: its data set's class names.
        meta: what is known about it (fps, informative_frames, ...).
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise DataError(f"An export needs one sequence (T, C, H, W), got {shape}.")
    return Study(x=x.detach().float().cpu(), name=str(name), kind=kind, dataset=dataset, y=y,
                 classes=list(classes) if classes else None, meta=dict(meta or {}), source="array")
