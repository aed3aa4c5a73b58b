"""The sequence the app works on: data sets offered, one sample of a split or an upload, and the
per-frame feature curves the Explore page plots.

Every sample is a `SampleData`: x (T, C, H, W) in [0, 1], its label and metadata, read through
`das_core.data` (one interface for synthetic sets, MedMNIST, video folders, DICOM and uploads).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

import numpy as np
import torch

from das_core import data
from das_core.data.arrays import resample_indices, select_frames
from das_core.errors import DataError
from das_core.nn.features import RAW_NAMES, raw_frame_features

__all__ = [
    "SampleData", "FEATURE_CURVES", "frame_word", "window_defaults", "display_aspect", "IntensityScale",
    "intensity_scale", "CT_PRESETS", "feature_curves", "app_datasets", "upload_types",
    "default_split", "open_dataset", "sample_from", "load_upload", "load_study", "resample_for", "VIEW_MAX_FRAMES",
]

# The three per-frame curves the Explore page shows (names in das_core.nn.features.RAW_NAMES).
FEATURE_CURVES = {
    "inter-frame variance": "diff_var",
    "Sobel edge magnitude (mean)": "sobel_mean",
    "Laplacian (max)": "laplacian_max",
}
SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints"


def shipped_licence_splits(folder: Path = SHIPPED) -> dict[str, dict]:
    """data set -> {"train_licences", "split_sizes", "note"} of the shipped checkpoints that were trained only on
    clips of some licences (`make pocus-demo`): the app shows such a data set split the same way, so its test
    split holds the clips those models never trained on. Read from `<folder>/manifest.json`; {} without one."""
    from das_core.checkpoints import manifest_entries

    out: dict[str, dict] = {}
    for e in manifest_entries(folder):
        licences, sizes = e.get("train_licences"), e.get("split_sizes")
        if licences and isinstance(sizes, dict) and e.get("dataset") not in out:
            out[e["dataset"]] = {"train_licences": list(licences), "split_sizes": dict(sizes),
                                 "note": str(e.get("licence_note") or "")}
    return out
UPLOAD_PREFIX = "upload: "  # the data-set name of an upload: "upload: <file>"


def is_upload(dataset: str) -> bool:
    """True for the data-set name of an uploaded file."""
    return str(dataset).startswith(UPLOAD_PREFIX)


@dataclass
class SampleData:
    """One sequence the app works on.

    Args:
        x: the sequence (T, C, H, W), float in [0, 1].
        y: its label index (None for an upload).
        classes: the class names of its data set (None for an upload).
        meta: what the data set says about the item (informative_frames, fps, source, ...).
        dataset: the data set's name ("upload: <file>" for an upload).
        kind: "volume" or "video".
        key: identifies the sample for caches (set by whoever loads it).
        source: (data set, split, data options as JSON) of an item of a data set, None for an upload: the
            split it can be compared with.
    """

    x: torch.Tensor
    y: Optional[int]
    classes: Optional[list]
    meta: dict = field(default_factory=dict)
    dataset: str = ""
    kind: str = "volume"
    key: str = ""
    source: Optional[tuple] = None

    @property
    def is_upload(self) -> bool:
        return is_upload(self.dataset)

    @property
    def label_name(self) -> Optional[str]:
        if self.y is None or self.y < 0 or not self.classes:
            return None
        return str(self.classes[self.y]) if self.y < len(self.classes) else str(self.y)

    @property
    def informative(self) -> Optional[list]:
        inf = self.meta.get("informative_frames")
        return [int(i) for i in inf] if inf is not None else None


CINE_RATES = (1, 2, 4, 8, 12, 16, 24, 30)  # frames per second offered for a volume (it has no rate of its own)
DEFAULT_CINE_RATE = 8
MAX_CINE_RATE = 30.0


def video_fps(sample: "SampleData", speed: float = 1.0) -> Optional[float]:
    """A clip's cine rate: its own fps per frame kept of the original clip, times `speed`, at most 30 frames/s;
    None for a sample without a frame rate (a volume: the viewer offers `CINE_RATES`)."""
    fps = sample.meta.get("fps")
    if not fps:
        return None
    T = int(sample.x.shape[0])
    return min(MAX_CINE_RATE, float(fps) * float(speed) * T / max(1, sample.meta.get("original_frames") or T))


def frame_word(kind: str) -> str:
    """"slice" for a volume, "frame" for a video."""
    return "slice" if kind == "volume" else "frame"


# CT window presets (level, width) in Hounsfield units, as CT viewers offer them
CT_PRESETS = {"brain": (40.0, 80.0), "soft tissue": (40.0, 400.0), "lung": (-600.0, 1500.0), "bone": (400.0, 1800.0)}


@dataclass(frozen=True)
class IntensityScale:
    """How the [0, 1] values a sample holds map back to the file's own units: `lo + x * (hi - lo)`.

    Args:
        lo, hi: the file's values that became 0 and 1.
        unit: "HU" when the range is a CT's in Hounsfield units, else "" (the file's own units).
        default: the file's own (level, width) in its units (a DICOM's WindowCenter/WindowWidth, a NIfTI's
            cal_min/cal_max), offered as the starting window; None when the file gives none.
    """

    lo: float
    hi: float
    unit: str = ""
    default: Optional[tuple[float, float]] = None

    def to_unit_window(self, level: float, width: float) -> tuple[float, float]:
        """(level, width) in the file's units -> the same window on the [0, 1] values."""
        span = self.hi - self.lo
        return (level - self.lo) / span, width / span


def intensity_scale(sample: "SampleData") -> Optional[IntensityScale]:
    """The file's units of a volume read by min-max normalisation (`meta["value_range"]`, no window given);
    "HU" when the range looks like a CT's (air near -1000, bone above +300). None otherwise. The file's own
    window (`meta["default_window"]`, [level, width] in its units) becomes `default`."""
    vr = sample.meta.get("value_range")
    if sample.meta.get("inverted"):  # MONOCHROME1 shown inverted: [0, 1] no longer runs up the file's units
        return None
    if sample.meta.get("window") or not (isinstance(vr, (list, tuple)) and len(vr) == 2):
        return None
    lo, hi = float(vr[0]), float(vr[1])
    if not hi > lo:
        return None
    dw = sample.meta.get("default_window")
    try:
        default = (float(dw[0]), float(dw[1])) if dw is not None and float(dw[1]) > 0 else None
    except (TypeError, ValueError, IndexError):
        default = None
    return IntensityScale(lo, hi, "HU" if lo <= -500 and hi >= 300 else "", default)


def display_aspect(sample: "SampleData") -> Optional[float]:
    """Slice thickness / pixel width of the displayed volume, from the file's spacing (z, y, x) and its
    original shape (frames and pixels were resampled); None when the file gives no 3D spacing."""
    spacing, shape = sample.meta.get("spacing"), sample.meta.get("original_shape")
    if not (isinstance(spacing, (list, tuple)) and len(spacing) == 3 and isinstance(shape, (list, tuple))
            and len(shape) >= 3):
        return None
    try:
        dz, _, dx = (float(v) for v in spacing)
        T, W = sample.x.shape[0], sample.x.shape[-1]
        # original_shape is [slices, rows, columns] (+ samples per pixel) of the display, as every reader writes it
        ratio = (dz * shape[0] / T) / (dx * shape[2] / W)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return ratio if 0.05 < ratio < 20 else None


def window_defaults(x: torch.Tensor) -> tuple[float, float]:
    """(level, width) covering the 0.5th..99.9th intensity percentile (a good start for CT-like data).

    Args:
        x: a sequence (T, C, H, W); large ones are subsampled to 200k values.
    """
    a = x.detach().float().flatten()
    if a.numel() > 200_000:
        a = a[torch.randperm(a.numel(), generator=torch.Generator().manual_seed(0))[:200_000]]
    lo, hi = torch.quantile(a, torch.tensor([0.005, 0.999])).tolist()
    if hi - lo < 1e-3:
        lo, hi = 0.0, 1.0
    return (lo + hi) / 2.0, hi - lo


def feature_curves(x: torch.Tensor, names: Optional[Mapping[str, str]] = None) -> dict[str, np.ndarray]:
    """Per-frame curves (T,) of the parameter-free features DAS uses.

    Args:
        x: one sequence (T, C, H, W).
        names: display label -> feature name in `das_core.nn.features.RAW_NAMES` (default FEATURE_CURVES).
    """
    names = dict(names or FEATURE_CURVES)
    raw = raw_frame_features(x[None].float())[0].numpy()  # (T, NUM_RAW)
    return {label: raw[:, RAW_NAMES.index(key)] for label, key in names.items()}


def app_datasets(include_unavailable: bool = False) -> list[dict]:
    """The data sets the app offers: name, kind, task, classes, split_sizes, description,
    default_options, available, and frame_sizes (the sizes its picker offers), from the data set registry
    (`das_core.data.register_dataset`). The synthetic default comes first; a user's own data, which is only
    ever given by path (registered with `user_data=True`: npz, video-folder), is left out. A data set the
    shipped models were trained on a licence-filtered split of (POCUS) is offered with that split
    (`shipped_licence_splits`).

    Args:
        include_unavailable: also list data sets whose files are not on this machine.
    """
    out = []
    licensed = shipped_licence_splits()
    for info in data.list_datasets(quick=True):  # no scikit-learn import on the app's first page
        d = {k: getattr(info, k, None) for k in ("name", "kind", "task", "classes", "split_sizes", "available",
                                                  "description", "default_options")}
        entry = data.registry.DATASETS.get(d["name"])
        if entry is None or entry.user_data or (not d["available"] and not include_unavailable):
            continue
        d["frame_sizes"] = list(entry.frame_sizes)
        d["default_options"] = dict(d["default_options"] or {})
        d["split_sizes"] = dict(d["split_sizes"] or {})
        split = licensed.get(d["name"])
        if split is not None and d["available"]:  # split as the shipped models were (no training clip in test)
            d["default_options"]["train_licences"] = split["train_licences"]
            d["split_sizes"] = split["split_sizes"]
            d["description"] = f"{d['description']} Split as the shipped demo models were: {split['note']}".strip()
        out.append(d)
    out.sort(key=lambda d: (d["name"] != "synthetic-volumes", not str(d["name"]).startswith("synthetic")))
    return out


def default_split(split_sizes: Mapping[str, int]) -> str:
    """The split the app shows: test where there is one, else the first non-empty one."""
    for s in ("test", "val", "all", "train"):
        if split_sizes.get(s):
            return s
    return next(iter(split_sizes), "test")


def open_dataset(name: str, split: str, options: Optional[Mapping] = None):
    """`das_core.data.load_dataset(name, split, **options)` (DataError on bad options).

    Args:
        name: a data set name from `app_datasets()`.
        split: "train", "val", "test" or "all".
        options: its load options (num_frames, size, ...).
    """
    return data.load_dataset(name, split=split, **dict(options or {}))


def sample_from(ds, index: int) -> SampleData:
    """Item `index` of a loaded data set as a `SampleData` (DataError when out of range).

    Args:
        ds: a data set from `open_dataset`.
        index: the item, in [0, len(ds)).
    """
    n = len(ds)
    if not 0 <= int(index) < n:
        raise DataError(f"Sample {index} does not exist: this split has {n} samples (0..{n - 1}); pick another index.")
    x, y = ds[int(index)]
    try:
        meta = dict(ds.meta(int(index)) or {})
    except Exception:  # metadata is optional for display
        meta = {}
    return SampleData(x=x.float(), y=int(y) if y is not None else None, classes=list(getattr(ds, "classes", []) or []),
                      meta=meta, dataset=str(getattr(ds, "name", "")), kind=str(getattr(ds, "kind", "volume")))


def upload_types() -> list[str]:
    """The file types the app's uploader accepts, without their dot ("npy", "nii.gz", ...): every suffix of the
    reader registry (`das_core.data.register_reader`), so a reader registered for a new suffix makes the uploader
    take it. A multi-part suffix adds its last part too ("nii.gz" -> "gz": some browsers' file pickers match only
    the last suffix; other .gz files are refused by the reader with one sentence)."""
    out: list[str] = []
    for s in data.supported_extensions():
        out.append(s.lstrip("."))
        if s.count(".") > 1:
            out.append(s.rsplit(".", 1)[1])
    return list(dict.fromkeys(out))


def load_upload(content: bytes, filename: str, **options) -> SampleData:
    """An uploaded file as a `SampleData`, read in memory by `das_core.data.load_sequence`.

    Args:
        content: the file's bytes.
        filename: its name (the suffix picks the reader: .npy/.npz, .nii/.nii.gz, a video, .dcm, or .zip
            for a DICOM series).
        **options: reader options (num_frames, size, window, ...).

    Raises:
        DataError: one sentence for a corrupt or wrong-rank file.
    """
    try:
        x, meta = data.load_sequence(io.BytesIO(content), filename=filename, **options)
    except DataError:
        raise
    except Exception as err:  # a decoder error the data layer did not wrap
        raise DataError(f"{filename} could not be read ({type(err).__name__}); upload a .npy/.npz or NIfTI "
                        f"(.nii/.nii.gz) volume, a video (mp4, avi, mov, gif), a DICOM (.dcm) file or a .zip of "
                        f"one DICOM series.") from None
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise DataError(f"{filename} did not give a (T, C, H, W) sequence; upload one volume or one clip per file.")
    meta = dict(meta or {})
    return SampleData(x=x.float(), y=None, classes=None, meta=meta, dataset=UPLOAD_PREFIX + filename,
                      kind=data.sequence_kind(meta))


# When a study decoded at full length is over the decode budget, the viewer retries with this many
# frames (evenly spread), at the native frame size, before giving up with the budget's sentence.
VIEW_MAX_FRAMES = 256


def load_study(content: bytes, filename: str) -> SampleData:
    """An uploaded study at its native resolution (every frame, native frame size, its spacing), as the
    viewer shows it; the models get `resample_for` copies. Bounded by the decode budget: a study over it
    is retried with `VIEW_MAX_FRAMES` frames (a long video), then refused with one sentence.

    Args:
        content: the file's bytes.
        filename: its name (the suffix picks the reader, see `load_upload`).

    Raises:
        DataError: one sentence for a corrupt, wrong-rank or over-budget file.
    """
    try:
        s = load_upload(content, filename)
    except DataError as err:
        if "decode cap" not in str(err):
            raise
        s = load_upload(content, filename, num_frames=VIEW_MAX_FRAMES)
        s.meta["viewer_frames"] = VIEW_MAX_FRAMES
    s.key = f"upload|{filename}|{hashlib.sha1(content).hexdigest()}"
    return s


def study_frames(sample: SampleData) -> Optional[list]:
    """The study's own frame number of each of `sample`'s frames where it was resampled from a study (an
    upload the models take at their T); None where the frames are the study's own."""
    fi = sample.meta.get("frame_indices")
    T = int(sample.x.shape[0])
    if not (isinstance(fi, list) and len(fi) == T) or fi == list(range(T)):
        return None
    return [int(v) for v in fi]


def frame_names(sample: SampleData, frames) -> str:
    """"3, 7, 12", or "3 (study 12), 7 (study 27)" where the sample was resampled from a study."""
    fi = study_frames(sample)
    return ", ".join(f"{int(t)} (study {fi[int(t)]})" if fi else str(int(t)) for t in frames)


def resample_for(sample: SampleData, num_frames: int, size: int) -> SampleData:
    """A copy of `sample` with `num_frames` frames (`round(linspace(0, T-1, num_frames))`, as the data
    readers resample) of `size` x `size` pixels, the input a model of that T and frame size takes. The
    sample itself is left as it is; the copy's key says what it was resampled to.

    Args:
        sample: a sample at any T and frame size (e.g. a study from `load_study`).
        num_frames: T of the model.
        size: its frame size (H = W).
    """
    T, _, H, W = sample.x.shape
    if (T, H, W) == (int(num_frames), int(size), int(size)):
        return sample
    idx = resample_indices(T, int(num_frames))
    x = select_frames(sample.x, idx, int(size)).to(torch.float32).clamp_(0, 1).contiguous()
    meta = dict(sample.meta)
    meta["original_frames"] = int(meta.get("original_frames") or T)
    meta.setdefault("original_shape", [T, H, W])
    meta["shape"] = list(x.shape)
    src = meta.get("frame_indices")
    meta["frame_indices"] = [int(src[i]) for i in idx] if isinstance(src, list) and len(src) == T else idx.tolist()
    if sample.informative:  # the informative frames, where the resampled sequence kept them
        meta["informative_frames"] = [j for j, i in enumerate(idx.tolist()) if i in set(sample.informative)]
    return SampleData(x=x, y=sample.y, classes=sample.classes, meta=meta, dataset=sample.dataset, kind=sample.kind,
                      key=f"{sample.key}|T={int(num_frames)}|size={int(size)}")
