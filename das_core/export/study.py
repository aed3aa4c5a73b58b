"""The study an export shows: one sequence at its own resolution, and its copy for each model.

A `Study` holds the sequence as read (T, C, H, W) in [0, 1] and what is known about it. Each model
gets its own copy resampled to the model's T frames and frame size (`Study.input_for`), the way
`load_sequence(num_frames=T, size=S)` resamples a file: frames `round(linspace(0, n - 1, T))`, each
resized once. `input_for` also returns which frame of the study each model frame is, so picks are
reported and drawn on the study's own frame numbers.

What an export says about the study is `export_meta(study)`: the keys of `EXPORT_META_KEYS` only, each
built and checked here (never the reader's meta dict copied), so no file name, path, description, UID
or other tag text (PatientName, ...) a reader found ever reaches picks.json or report.html. A study
read from a file is called by a neutral label (`FILE_STUDY`), never by its file name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

import math
import re

import numpy as np
import torch

from ..errors import CheckpointError, DataError

__all__ = ["Study", "study_from_file", "study_from_dataset", "study_from_tensor", "dataset_options_for",
           "EXPORT_META_KEYS", "export_meta", "safe_options", "FILE_STUDY"]

FILE_STUDY = "study file"  # what an export calls a study read from a file (its name may hold the patient's)

# What an export may say about its study (picks.json's "input", report.html's Study table): these keys
# and no other, each value rebuilt by `export_meta` from numbers, a closed set of words or a checked
# code. Never a description, UID, path, original file name or free tag text.
EXPORT_META_KEYS = (
    "name",                # the study's label: "<data set> <split> #<index>" for built-in data, else the
                           # label its maker chose (FILE_STUDY for a file, "uploaded study" for the app's upload)
    "source",              # how it came: "file", "data set" or "array" (a word, not the path)
    "kind",                # "volume" or "video"
    "shape",               # [T, C, H, W] of the exported sequence: four integers
    "dataset",             # the built-in data set's registered name (None for a file): it decides whose class
                           # probabilities are reported
    "split",               # that data set's split: "train", "val", "test" or "all"
    "index",               # the item's index in that split: an integer
    "label",               # the item's class, from its data set's own class list (None for a file)
    "dataset_options",     # the data set's load options (T, frame size, ...): numbers and single words; path-like
                           # options (root, manifest, cache_dir, ...) and any path or file name left out
    "modality",            # DICOM Modality: a code of 1-16 characters of A-Z, 0-9, _ (CT, MR, US), else None
    "original_shape",      # the array's shape in the file: integers
    "original_frames",     # its number of slices / frames: an integer
    "frame_indices",       # which of the file's slices / frames the study holds (the study's slice numbers): integers
    "informative_frames",  # the synthetic sets' informative slice numbers: integers
    "spacing",             # voxel spacing in mm (slice, row, column): numbers
    "fps",                 # a video's frame rate: a number
    "orientation",         # NIfTI axis codes, e.g. "RAS": 1-4 letters of L R A P S I (? for an unknown axis)
    "orientation_labels",  # the patient directions at the image's edges (left, right, top, bottom, first, last):
                           # 1-3 letters of L R A P S I H F each
    "window",              # the intensity window the file was read with: two numbers
    "default_window",      # the file's own display window (e.g. DICOM WindowCenter / WindowWidth): two numbers
    "value_range",         # the values that became 0 and 1 (e.g. HU): two numbers
    "inverted",            # True for a MONOCHROME1 image shown inverted
)

_GRAY = torch.tensor([0.299, 0.587, 0.114])  # ITU-R 601, as das_core.data.arrays.rgb_to_gray


@dataclass
class Study:
    """One sequence to export.

    Args:
        x: the sequence (T, C, H, W), float in [0, 1], at the resolution it was read.
        name: what the report calls it: a neutral label (`FILE_STUDY` for a file), or "<data set> <split>
            #<index>"; never the file's name (it may hold the patient's).
        kind: "volume" or "video" (sets the frame word and the playback speed).
        dataset: the data set it comes from (None for a file): models trained on it report their
            class probabilities.
        y: its label index, where the data set has one.
        classes: its data set's class names.
        meta: what the reader said about it (fps, spacing, original_frames, informative_frames, ...); held
            in memory only: an export writes `export_meta(study)`, never this dict.
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
            raise CheckpointError(f"This checkpoint expects {channels}-channel frames but the study has "
                                  f"{C} channel(s); choose a checkpoint trained on {C}-channel data.")
        idx = resample_indices(self.num_frames, int(num_frames))  # (T,)
        x = select_frames(self.x, idx, int(frame_size)).float()  # (T, C, S, S)
        if C == 3 and channels == 1:
            x = torch.einsum("tchw,c->thw", x[:, :3], _GRAY)[:, None]  # (T, 1, S, S)
        return x.clamp_(0, 1), idx


def study_from_file(path: Union[str, Path], *, grayscale: bool = False, **options) -> Study:
    """A file (volume, video, DICOM, ... whatever `das_core.data.load_sequence` reads) at its own resolution,
    called `FILE_STUDY` (its errors name the file, for the user who gave it; its export never does).

    Args:
        path: the file (or folder, for a reader that takes one); it is read, never copied.
        grayscale: C = 1 for colour input; by default colour is kept for display (a 1-channel model
            sees it in gray, see `Study.input_for`).
        **options: other `load_sequence` options (window, axis, key, ...).

    Raises:
        DataError: one sentence for a missing, unreadable or wrong-rank file.
    """
    from ..data import load_sequence, sequence_kind

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
    return Study(x=x.float(), name=FILE_STUDY, kind=sequence_kind(meta), meta=meta, source="file")


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


# ---------------------------------------------------------------- what an export says about the study

_SPLITS = ("train", "val", "test", "all")
_MODALITY = re.compile(r"[A-Z0-9_]{1,16}")
_AXCODES = re.compile(r"[LRAPSI?]{1,4}")
_EDGE = re.compile(r"[LRAPSIHF]{1,3}")
_EDGES = ("left", "right", "top", "bottom", "first", "last")
_OPTION_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
_OPTION_WORD = re.compile(r"[A-Za-z0-9_+-]{1,40}")
# load options that name a file or folder (as `das_core.engine.evaluate.PATH_OPTIONS`, and the obvious others)
_PATH_OPTIONS = {"root", "manifest", "cache_dir", "licence_manifest", "path", "file", "folder", "dir", "source"}


def _number(v) -> Optional[float]:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _integer(v) -> Optional[int]:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        return None
    return int(v)


def _numbers(v, n: Optional[int] = None) -> Optional[list]:
    if not isinstance(v, (list, tuple)) or (n is not None and len(v) != n) or not v:
        return None
    out = [_number(e) for e in v]
    return None if any(e is None for e in out) else out


def _integers(v) -> Optional[list]:
    if not isinstance(v, (list, tuple)):
        return None
    out = [_integer(e) for e in v]
    return None if any(e is None for e in out) else out


def _code(v, pattern: "re.Pattern") -> Optional[str]:
    v = v.strip() if isinstance(v, str) else None
    return v if v and pattern.fullmatch(v) else None


def _option_value(v):
    if v is None or isinstance(v, bool):
        return v
    if _number(v) is not None:
        return v.item() if isinstance(v, (np.integer, np.floating)) else v
    if isinstance(v, str):
        return v if _OPTION_WORD.fullmatch(v) else None  # a word ("speckle", "prefix"), never a file or path
    if isinstance(v, (list, tuple)) and len(v) <= 8 and all(_number(e) is not None for e in v):
        return [_number(e) if isinstance(e, (float, np.floating)) else int(e) for e in v]
    if isinstance(v, Mapping) and len(v) <= 8 and all(isinstance(k, str) and _OPTION_KEY.fullmatch(k)
                                                      and _number(e) is not None for k, e in v.items()):
        return {k: int(e) if _integer(e) is not None else _number(e) for k, e in v.items()}  # e.g. num_samples
    return None


def safe_options(options) -> Optional[dict]:
    """A data set's load options as an export may write them: keys of lower-case words, values numbers,
    booleans, single words (letters, digits, _ + -), short lists of numbers or small {word: number} dicts;
    path-like options (root, manifest, cache_dir, ...) and any other value (a path, a file name) left out.
    None when nothing is left.

    Args:
        options: the options (a dict; anything else is None).
    """
    if not isinstance(options, Mapping):
        return None
    out = {}
    for k, v in options.items():
        if not isinstance(k, str) or not _OPTION_KEY.fullmatch(k) or k in _PATH_OPTIONS:
            continue
        clean = _option_value(v)
        if clean is not None or v is None:
            out[k] = clean
    return out or None


def _orientation_labels(v) -> Optional[dict]:
    if not isinstance(v, Mapping):
        return None
    out = {k: _code(v.get(k), _EDGE) for k in _EDGES if k in v}
    out = {k: c for k, c in out.items() if c is not None}
    return out or None


def _label_text(v, limit: int = 120) -> Optional[str]:
    if v is None:
        return None
    text = " ".join(str(v).split())
    return text[:limit] or None


def export_meta(study: Study) -> dict:
    """What an export says about `study`: exactly the keys of `EXPORT_META_KEYS` (None where unknown), each
    rebuilt from the study and checked (numbers, a closed set of words, a DICOM code); the reader's meta
    dict is read key by key, never copied, so its file names, paths, descriptions and UIDs stay out.

    Args:
        study: the study.
    """
    m = study.meta if isinstance(study.meta, Mapping) else {}
    built_in = study.dataset is not None  # split, index and options of built-in data only
    out = {
        "name": _label_text(study.name, 200),
        "source": study.source if study.source in ("file", "data set", "array") else None,
        "kind": study.kind if study.kind in ("volume", "video") else None,
        "shape": study.shape,
        "dataset": _label_text(study.dataset),
        "split": m.get("split") if built_in and m.get("split") in _SPLITS else None,
        "index": _integer(m.get("index")) if built_in else None,
        "label": _label_text(study.label_name),
        "dataset_options": safe_options(m.get("dataset_options")) if built_in else None,
        "modality": _code(m.get("modality"), _MODALITY),
        "original_shape": _integers(m.get("original_shape")),
        "original_frames": _integer(m.get("original_frames")),
        "frame_indices": _integers(m.get("frame_indices")),
        "informative_frames": _integers(m.get("informative_frames")),
        "spacing": _numbers(m.get("spacing")),
        "fps": _number(m.get("fps")),
        "orientation": _code(m.get("orientation"), _AXCODES),
        "orientation_labels": _orientation_labels(m.get("orientation_labels")),
        "window": _numbers(m.get("window"), 2),
        "default_window": _numbers(m.get("default_window"), 2),
        "value_range": _numbers(m.get("value_range"), 2),
        "inverted": True if m.get("inverted") is True else None,
    }
    assert tuple(out) == EXPORT_META_KEYS  # one list of keys: the constant is what is written
    return out
