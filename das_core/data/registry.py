"""The data set registry: ``load_dataset``, ``list_datasets`` and ``DatasetInfo``.

Names: the six MedMNIST 3D flags (``organmnist3d``, ``nodulemnist3d``, ``adrenalmnist3d``,
``fracturemnist3d``, ``vesselmnist3d``, ``synapsemnist3d``), ``synthetic-volumes``,
``synthetic-video``, ``video-folder`` (root = folder), ``npz`` (root = a MedMNIST-layout file),
``pocus-lung`` (video-folder over the POCUS clips), ``dicom-echo`` (pydicom-data's
echocardiography cine, one unlabelled sequence) and the moving-real families ``<flag>-embedded`` (a
MedMNIST volume's central slices at a random offset between distractor or speckle frames, `embedded`).

Each builder imports its reader module when it is called, not at the top: `import das_core.data`
and `list_datasets()` stay light (no medmnist, imageio, pydicom or scikit-learn; tested).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from das_core.errors import DataError

from .base import SequenceDataset
from .medmnist3d import MEDMNIST3D_FLAGS
from .paths import PathLike, resolve_root
from .synthetic import CLASS_NAMES, DEFAULT_NUM_SAMPLES

__all__ = ["DatasetInfo", "DATASET_NAMES", "EMBEDDED_NAMES", "USER_DATASETS", "user_dataset", "load_dataset",
           "list_datasets", "pocus_root", "Imaging", "IMAGING", "imaging"]

EMBEDDED_NAMES = tuple(f + "-embedded" for f in MEDMNIST3D_FLAGS)
DATASET_NAMES = (*MEDMNIST3D_FLAGS, "synthetic-volumes", "synthetic-video", "video-folder", "npz",
                 "pocus-lung", "dicom-echo", *EMBEDDED_NAMES)

# the data sets a user brings (name -> the kind of sequence they hold): their models serve uploads of that kind
USER_DATASETS = {"npz": "volume", "video-folder": "video"}


def user_dataset(path: PathLike) -> tuple[str, str]:
    """(data set name, root) of the data a user brings at `path`: an .npz in the MedMNIST layout ("npz"), or
    a folder of clips with one subfolder per class ("video-folder"). DataError (one sentence) otherwise.

    Args:
        path: the file or folder (on the machine that trains).
    """
    p = Path(str(path).strip()).expanduser()
    if not str(path).strip():
        raise DataError("No data given; enter the path of an .npz in the MedMNIST layout or of a folder with one "
                        "subfolder of clips per class.")
    if p.is_file() and p.name.lower().endswith(".npz"):
        return "npz", str(p)
    if p.is_dir():
        return "video-folder", str(p)
    if not p.exists():
        raise DataError(f"{p} does not exist on this machine; enter the path of an .npz in the MedMNIST layout or "
                        f"of a folder with one subfolder of clips per class.")
    raise DataError(f"{p.name} is neither an .npz nor a folder; give an .npz in the MedMNIST layout (train_images, "
                    f"train_labels, val_*, test_*) or a folder with one subfolder of clips per class.")


POCUS_CLASSES_HELP = "Cov = COVID-19, Pneu = bacterial pneumonia, Reg = healthy, Vir = other viral pneumonia"


@dataclass(frozen=True)
class Imaging:
    """What a data set's images are, so an upload can be told whether any model saw images like it.

    Attributes:
        modalities: the DICOM Modality codes (CT, MR, US, ...) whose *image intensities* the data set holds;
            empty where it holds none (shape masks segmented on CT, synthetic images, microscopy).
        text: a few words on what its images are.
    """

    modalities: tuple = ()
    text: str = ""


# From each source's own description (MedMNIST v3 INFO, Born et al. 2021, pydicom-data); the "-embedded" families
# hold their base set's images.
IMAGING = {
    "organmnist3d": Imaging(("CT",), "abdominal CT crops around 11 organs, 28³ intensities"),
    "nodulemnist3d": Imaging(("CT",), "thoracic CT crops around lung nodules, 28³ intensities"),
    "adrenalmnist3d": Imaging((), "shape masks of adrenal glands segmented on abdominal CT (binary voxels, no CT "
                                  "intensities)"),
    "fracturemnist3d": Imaging(("CT",), "chest CT crops around rib fractures, 28³ intensities"),
    "vesselmnist3d": Imaging((), "brain-vessel segments voxelised from MRA reconstructions (binary shapes, no MR "
                                 "intensities)"),
    "synapsemnist3d": Imaging((), "electron-microscopy volumes of rat brain synapses"),
    "synthetic-volumes": Imaging((), "synthetic MRI/CT-like volumes, not patient images"),
    "synthetic-video": Imaging((), "synthetic ultrasound-like speckle clips, not patient images"),
    "pocus-lung": Imaging(("US",), "lung point-of-care ultrasound clips"),
    "dicom-echo": Imaging(("US",), "one echocardiography cine"),
}


def imaging(name: str) -> Optional[Imaging]:
    """What data set `name`'s images are (a "-embedded" family: its base set's), or None where unknown (a user's
    own data set)."""
    name = str(name)
    return IMAGING.get(name[:-len("-embedded")] if name.endswith("-embedded") else name)


@dataclass
class DatasetInfo:
    """What the app shows about a data set.

    Attributes:
        name: registry name for ``load_dataset``.
        kind: ``"volume"`` or ``"video"``.
        task: short text, e.g. ``"binary-class"``.
        classes: class names.
        split_sizes: items per split (``{"all": n}`` when there are no fixed splits).
        available: True when it can be loaded here, now, without a download.
        description: one or two sentences, including how to get it when unavailable.
        default_options: options ``load_dataset`` uses when none are given.
    """

    name: str
    kind: str
    task: str
    classes: List[str]
    split_sizes: Dict[str, int]
    available: bool
    description: str
    default_options: Dict[str, Any] = field(default_factory=dict)


def pocus_root(root: Optional[PathLike] = None) -> Optional[Path]:
    """POCUS folder: ``root`` > ``$DAS_DATA_ROOT/pocus_lung_videos`` > nearest ``shared/data/pocus_lung_videos``."""
    return resolve_root(root, "pocus_lung_videos", env_self=False)


# ---------------------------------------------------------------- builders (one per name)

def _medmnist(flag: str):
    def build(split: str = "train", root: Optional[PathLike] = None, *, size: int = 28, axis: int = 0,
              download: bool = False, max_decoded_bytes: Optional[int] = None) -> SequenceDataset:
        from .medmnist3d import MedMNIST3DDataset

        return MedMNIST3DDataset(flag, split, root, size=size, axis=axis, download=download,
                                 max_decoded_bytes=max_decoded_bytes)
    return build


def _embedded(flag: str):
    def build(split: str = "train", root: Optional[PathLike] = None, *, num_frames: int = 40, window: int = 10,
              filler: str = "distractors", seed: int = 0, size: int = 28,
              max_decoded_bytes: Optional[int] = None) -> SequenceDataset:
        from .embedded import EmbeddedVolumeDataset

        return EmbeddedVolumeDataset(flag, split, root, num_frames=num_frames, window=window, filler=filler,
                                     seed=seed, size=size, max_decoded_bytes=max_decoded_bytes)
    return build


def _synthetic(kind: str):
    def build(split: str = "train", root: Optional[PathLike] = None, *, num_frames: int = 28, size: int = 28,
              num_samples=None, seed: int = 0, moving: bool = True, extent: int = 1,
              num_classes: int = 2, cue: bool = False, family: str = "shapes") -> SequenceDataset:
        from .synthetic import SyntheticDataset

        return SyntheticDataset(kind, split, num_frames=num_frames, size=size, num_samples=num_samples, seed=seed,
                                moving=moving, extent=extent, num_classes=num_classes, cue=cue, family=family)
    return build


def _video_folder(split: str = "train", root: Optional[PathLike] = None, **options) -> SequenceDataset:
    from .video import VideoFolderDataset

    if root is None:
        raise DataError("video-folder needs a folder of clips; pass root=<folder>.")
    return VideoFolderDataset(root, split, name="video-folder", **options)


def _pocus(split: str = "train", root: Optional[PathLike] = None, **options) -> SequenceDataset:
    from .video import VideoFolderDataset

    folder = pocus_root(root)
    if folder is None or not folder.is_dir():
        raise DataError("the POCUS lung clips were not found; set DAS_DATA_ROOT to the folder holding "
                        "pocus_lung_videos/ or pass root=<that folder> (source: github.com/jannisborn/covid19_ultrasound).")
    options.setdefault("label_from", "prefix")
    options.setdefault("layout", "files")
    return VideoFolderDataset(folder, split, name="pocus-lung", **options)


def _npz(split: str = "train", root: Optional[PathLike] = None, *, axis: int = 0, classes=None,
         max_decoded_bytes: Optional[int] = None) -> SequenceDataset:
    from .npzset import NpzVolumeDataset

    return NpzVolumeDataset(root, split, axis=axis, classes=classes, max_decoded_bytes=max_decoded_bytes)


def _dicom_echo(split: str = "all", root: Optional[PathLike] = None, *, num_frames: int = 32, size=64,
                grayscale: bool = True, max_decoded_bytes: Optional[int] = None) -> SequenceDataset:
    from .dicom import DicomSequenceDataset, echo_cine_path

    if root is not None:
        r = Path(root)
        paths = sorted(r.glob("*.dcm")) if r.is_dir() else [r]
        if not paths or not all(p.is_file() for p in paths):
            raise DataError(f"no DICOM file found at {r.name}; pass root=<a .dcm file or a folder of them>.")
    else:
        p = echo_cine_path()
        if p is None:
            raise DataError("the echocardiography cine color3d_jpeg_baseline.dcm is missing; install it with "
                            "'pip install pydicom-data'.")
        paths = [p]
    return DicomSequenceDataset(paths, name="dicom-echo", split=split, num_frames=num_frames, size=size,
                                grayscale=grayscale, max_decoded_bytes=max_decoded_bytes)


_BUILDERS: Dict[str, Callable[..., SequenceDataset]] = {
    **{f: _medmnist(f) for f in MEDMNIST3D_FLAGS},
    "synthetic-volumes": _synthetic("volumes"),
    "synthetic-video": _synthetic("video"),
    "video-folder": _video_folder,
    "npz": _npz,
    "pocus-lung": _pocus,
    "dicom-echo": _dicom_echo,
    **{f + "-embedded": _embedded(f) for f in MEDMNIST3D_FLAGS},
}

_VIDEO_OPTIONS = ("num_frames", "size", "grayscale", "layout", "manifest", "label_from", "include_uncertain",
                  "group_column", "group_regex", "split_file", "classes", "val_fraction", "test_fraction", "seed",
                  "num_folds", "fold", "cache", "cache_dir", "decode_timeout", "task", "max_decoded_bytes",
                  "train_licences", "licence_manifest")


def _allowed_options(name: str) -> List[str]:
    if name in ("video-folder", "pocus-lung"):
        return list(_VIDEO_OPTIONS)
    sig = inspect.signature(_BUILDERS[name])
    return [p.name for p in sig.parameters.values() if p.kind == p.KEYWORD_ONLY]


def load_dataset(name: str, split: str = "train", root: Optional[PathLike] = None, **options: Any) -> SequenceDataset:
    """Build a data set by name.

    Args:
        name: one of ``DATASET_NAMES`` (case-insensitive; ``_`` and ``-`` are interchangeable).
        split: ``"train"``, ``"val"`` or ``"test"`` (video folders and ``dicom-echo`` also ``"all"``).
        root: data folder or file (see each data set); None uses the defaults.
        **options: per data set, e.g. ``size``/``axis``/``download`` (MedMNIST), ``num_frames``/
            ``size``/``num_samples``/``seed``/``moving``/``extent``/``num_classes``/``cue``/``family`` (synthetic),
            ``num_frames``/``size``/``grayscale``/``seed``/``num_folds``/``fold``/``cache_dir``/
            ``train_licences``... (video folders; ``pocus-lung`` reads licences from its ``inventory.csv``).

    Returns:
        A ``torch.utils.data.Dataset`` of ``(x (T, C, H, W) float32 in [0, 1], y int)`` with
        ``name``, ``task``, ``classes``, ``num_frames``, ``labels`` and ``meta(i)``.
    """
    key = str(name).strip().lower().replace("_", "-")
    if key not in _BUILDERS:
        raise DataError(f"unknown data set {name!r}; use one of {', '.join(DATASET_NAMES)}.")
    allowed = _allowed_options(key)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise DataError(f"option(s) {unknown} are not understood by {key}; use {', '.join(allowed)}.")
    return _BUILDERS[key](split, root, **options)


def list_datasets(root: Optional[PathLike] = None, *, quick: bool = False) -> List[DatasetInfo]:
    """Every registered data set with its availability here.

    Args:
        root: a data root like ``$DAS_DATA_ROOT`` (holding ``medmnist3d/`` and ``pocus_lung_videos/``);
            None uses the default search (env var, then ``shared/data`` walking up).
        quick: give video folders' size as ``{"all": n}`` instead of computing their train/val/test
            splits (which imports scikit-learn, seconds on a small machine): the app lists with this.

    Returns:
        ``DatasetInfo`` per name, in ``DATASET_NAMES`` order.
    """
    from .dicom import echo_cine_path
    from .medmnist3d import medmnist_file, medmnist_info, medmnist_root

    base = Path(root).expanduser() if root is not None else None
    out: List[DatasetInfo] = []
    mroot = medmnist_root((base / "medmnist3d") if base is not None and (base / "medmnist3d").is_dir() else base)
    embedded_rows: List[DatasetInfo] = []
    for flag in MEDMNIST3D_FLAGS:
        info = medmnist_info(flag)
        sizes = [s for s in (28, 64) if (mroot / medmnist_file(flag, s)).is_file()]
        classes = [info["label"][k] for k in sorted(info["label"], key=int)]
        if sizes:
            desc = f"MedMNIST v3 {info['python_class']} (CC BY 4.0), sizes {sizes} found in {mroot}."
        else:
            desc = (f"MedMNIST v3 {info['python_class']}: {medmnist_file(flag, 28)} is not in {mroot}; get it from "
                    f"Zenodo record 10519652 or load with download=True on a machine with internet.")
        out.append(DatasetInfo(flag, "volume", str(info["task"]), classes, dict(info["n_samples"]), bool(sizes), desc,
                               {"size": sizes[0] if sizes else 28, "axis": 0, "download": False}))
    syn_opts = {"num_frames": 28, "size": 28, "num_samples": dict(DEFAULT_NUM_SAMPLES), "seed": 0, "moving": True,
                "extent": 1, "num_classes": 2}
    out.append(DatasetInfo("synthetic-volumes", "volume", "binary-class", CLASS_NAMES[:2], dict(DEFAULT_NUM_SAMPLES),
                           True, "Synthetic MRI/CT-like volumes; the class (square vs ring) shows in one slice only.",
                           dict(syn_opts)))
    out.append(DatasetInfo("synthetic-video", "video", "binary-class", CLASS_NAMES[:2], dict(DEFAULT_NUM_SAMPLES),
                           True, "Synthetic ultrasound-like speckle clips; the class (square vs ring) shows in one "
                           "frame only.", dict(syn_opts)))
    vid_opts = {"num_frames": 32, "size": 64, "grayscale": True, "val_fraction": 0.15, "test_fraction": 0.2,
                "seed": 0, "include_uncertain": False}
    out.append(DatasetInfo("video-folder", "video", "multi-class", [], {}, False,
                           "Your own folder of clips (labels from manifest.csv, sub-folders or file-name prefixes) "
                           "or a BUSV frame-folder layout; pass root=<folder>.", dict(vid_opts)))
    out.append(DatasetInfo("npz", "volume", "multi-class", [], {}, False,
                           "Your own .npz in the MedMNIST layout (train_images, train_labels, val_*, test_*); "
                           "pass root=<file.npz>.", {"axis": 0}))
    proot = pocus_root((base / "pocus_lung_videos") if base is not None else None)
    p_avail = proot is not None and proot.is_dir()
    sizes: Dict[str, int] = {}
    classes: List[str] = ["Cov", "Pneu", "Reg", "Vir"]
    if p_avail:
        try:
            from .video import VideoFolderDataset

            for s in (("all",) if quick else ("train", "val", "test")):
                d = VideoFolderDataset(proot, s, name="pocus-lung", label_from="prefix", layout="files", cache=False)
                sizes[s] = len(d)
                classes = d.classes
        except DataError:
            p_avail = False
    out.append(DatasetInfo("pocus-lung", "video", "multi-class", classes, sizes, p_avail,
                           (f"Lung POCUS clips (Born et al. 2021; {POCUS_CLASSES_HELP}; many non-commercial "
                            f"licences) from {proot}." if p_avail else
                            "Lung POCUS clips (Born et al. 2021): not found; set DAS_DATA_ROOT to a folder holding "
                            "pocus_lung_videos/."), {**vid_opts, "label_from": "prefix"}))
    for flag in MEDMNIST3D_FLAGS:  # the moving-real families: after the rest, as in DATASET_NAMES
        info = medmnist_info(flag)
        sizes = [s for s in (28, 64) if (mroot / medmnist_file(flag, s)).is_file()]
        classes = [info["label"][k] for k in sorted(info["label"], key=int)]
        desc = (f"Moving-real: the 10 central slices of each {info['python_class']} volume at a random offset in a "
                f"40-frame sequence, between slices of other volumes (filler=distractors) or speckle "
                f"(filler=speckle); the block is where the label is.")
        if not sizes:
            desc += f" Needs {medmnist_file(flag, 28)} in {mroot} (Zenodo record 10519652)."
        embedded_rows.append(DatasetInfo(flag + "-embedded", "volume", str(info["task"]), classes,
                                         dict(info["n_samples"]), bool(sizes), desc,
                                         {"num_frames": 40, "window": 10, "filler": "distractors", "seed": 0,
                                          "size": 28}))
    echo = echo_cine_path()
    out.append(DatasetInfo("dicom-echo", "video", "unlabelled", ["unlabelled"], {"all": 1}, echo is not None,
                           "Echocardiography cine color3d_jpeg_baseline.dcm from pydicom-data (120 frames, 30 fps), "
                           "one unlabelled sequence." if echo is not None else
                           "Echocardiography cine from pydicom-data: install it with 'pip install pydicom-data'.",
                           {"num_frames": 32, "size": 64, "grayscale": True}))
    out.extend(embedded_rows)
    return out
