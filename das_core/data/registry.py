"""The data set registry: `register_dataset`, `load_dataset`, `list_datasets` and `DatasetInfo`.

In the style of the sampler registry (`das_core.samplers.registry`) and of timm/torchvision: a decorator
adds a builder under a name with its metadata beside it, and everything that lists, checks or builds data
sets (`load_dataset`, `list_datasets`, `DATASET_NAMES`, `USER_DATASETS`, `imaging`, the CLI's ``--dataset``
choices, the app's data set picker and its frame sizes) reads this registry. A data set joins in one
function:

    @register_dataset("my-scans", kind="volume", imaging=Imaging(("CT",), "my CT crops"))
    def my_scans(split="train", root=None, *, size: int = 28) -> SequenceDataset:
        ...

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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from das_core.errors import ConfigError, DataError

from .base import SequenceDataset
from .medmnist3d import MEDMNIST3D_FLAGS
from .paths import PathLike, resolve_root
from .readers import LiveTuple
from .synthetic import CLASS_NAMES, DEFAULT_NUM_SAMPLES

__all__ = ["DatasetInfo", "DatasetEntry", "DATASETS", "DATASET_NAMES", "EMBEDDED_NAMES", "USER_DATASETS",
           "DEFAULT_FRAME_SIZES", "register_dataset", "unregister_dataset", "dataset_entry", "dataset_names",
           "dataset_key", "user_dataset", "load_dataset", "list_datasets", "pocus_root", "Imaging", "IMAGING",
           "imaging"]

DATASET_KINDS = ("volume", "video")
# the frame sizes (H = W) the app offers for a data set that declares none
DEFAULT_FRAME_SIZES = (28, 32, 48, 64, 96, 128)
MEDMNIST_SIZES = (28, 64)  # the sizes MedMNIST v3 ships (and its moving-real families read)


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


@dataclass(frozen=True)
class DatasetEntry:
    """One registered data set: its builder and what is known about it without building it.

    Attributes:
        name: the registry name (lower case, ``-`` not ``_``).
        kind: ``"volume"`` or ``"video"``.
        build: ``build(split, root, **options) -> SequenceDataset``.
        info: ``info(root, quick) -> DatasetInfo`` (availability, description, split sizes, classes, default
            options), called by `list_datasets` with its data root (a Path, or None for the default search).
        options: the option names ``load_dataset`` accepts for it.
        frame_sizes: the frame sizes (H = W) the app offers.
        user_data: a user's own data (an .npz, a folder of clips): only ever given by path, so the app's picker
            leaves it out, and a model trained on it serves uploads of its kind.
        imaging: what its images are (`Imaging`), or None where unknown (a user's own data).
        accepts: for user data, ``accepts(path) -> bool``: whether a file or folder a user gives is this data
            set's (`user_dataset` asks each user-data set in registration order).
    """

    name: str
    kind: str
    build: Callable[..., SequenceDataset]
    info: Callable[..., "DatasetInfo"]
    options: Tuple[str, ...]
    frame_sizes: Tuple[int, ...] = DEFAULT_FRAME_SIZES
    user_data: bool = False
    imaging: Optional[Imaging] = None
    accepts: Optional[Callable[[Path], bool]] = None

    def describe(self, root: Optional[Path] = None, quick: bool = False) -> "DatasetInfo":
        """Its `DatasetInfo` (name and kind are the registration's)."""
        info = self.info(root, quick)
        if not isinstance(info, DatasetInfo):
            raise ConfigError(f"the info function of data set {self.name!r} returned {type(info).__name__}, not a "
                              f"DatasetInfo.")
        return info if (info.name, info.kind) == (self.name, self.kind) else replace(info, name=self.name,
                                                                                     kind=self.kind)


# name -> entry, in registration order (the order of DATASET_NAMES and list_datasets)
DATASETS: Dict[str, DatasetEntry] = {}


def dataset_key(name: Any) -> str:
    """The registry key of a data set name: case-insensitive, ``_`` and ``-`` interchangeable."""
    return str(name).strip().lower().replace("_", "-")


def _keyword_options(build: Callable) -> Tuple[str, ...]:
    sig = inspect.signature(build)
    return tuple(p.name for p in sig.parameters.values() if p.kind == p.KEYWORD_ONLY)


def _default_info(name: str, kind: str, build: Callable) -> Callable[..., DatasetInfo]:
    """The info of a data set registered without one: available, described by its builder's docstring, its
    keyword options' defaults as default options."""
    doc = inspect.getdoc(build) or ""
    desc = doc.split("\n\n", 1)[0].replace("\n", " ").strip() or f"Registered data set {name}."
    defaults = {p.name: p.default for p in inspect.signature(build).parameters.values()
                if p.kind == p.KEYWORD_ONLY and p.default is not p.empty}

    def info(root: Optional[Path] = None, quick: bool = False) -> DatasetInfo:
        return DatasetInfo(name, kind, "", [], {}, True, desc, dict(defaults))

    return info


def register_dataset(name: str, *, kind: str, info: Optional[Callable[..., DatasetInfo]] = None,
                     options: Optional[Sequence[str]] = None, frame_sizes: Sequence[int] = DEFAULT_FRAME_SIZES,
                     user_data: bool = False, imaging: Optional[Imaging] = None,
                     accepts: Optional[Callable[[Path], bool]] = None):
    """Function decorator: add a data set builder to the registry under `name`, with its metadata.

    Args:
        name: the registry name (stored lower case with ``-`` for ``_``).
        kind: ``"volume"`` or ``"video"``.
        info: ``info(root, quick) -> DatasetInfo`` for `list_datasets` (root: the data root given to it, a Path
            or None; quick: skip slow split computations). Default: available, the builder's docstring, its
            keyword options' defaults.
        options: the options it accepts, for a builder that takes ``**options``; default: the builder's
            keyword-only parameters.
        frame_sizes: the frame sizes (H = W) the app offers for it.
        user_data: a user's own data, given by path only (see `DatasetEntry`).
        imaging: what its images are (`Imaging`).
        accepts: for user data, ``accepts(path) -> bool`` (see `DatasetEntry`).

    The builder is called as ``build(split, root, **options)``. Registering a name twice with another builder
    raises ConfigError (re-running the same definition, e.g. in a notebook, replaces it); `unregister_dataset`
    removes one.
    """
    key = dataset_key(name)
    if not key or any(c in key for c in " /\\:"):
        raise ConfigError(f"{name!r} is not a usable data set name; use letters, digits and '-', e.g. 'my-scans'.")
    if kind not in DATASET_KINDS:
        raise ConfigError(f"A data set's kind is one of {', '.join(DATASET_KINDS)}, got {kind!r}.")
    sizes = tuple(int(s) for s in frame_sizes)
    if not sizes or any(s < 1 for s in sizes):
        raise ConfigError(f"frame_sizes of {key} must be positive ints, got {tuple(frame_sizes)!r}.")
    if imaging is not None and not isinstance(imaging, Imaging):
        raise ConfigError(f"imaging of {key} must be an Imaging(modalities, text), got {type(imaging).__name__}.")

    def wrap(build: Callable[..., SequenceDataset]) -> Callable[..., SequenceDataset]:
        if not callable(build):
            raise ConfigError(f"register_dataset decorates a builder build(split, root, **options), got {build!r}.")
        old = DATASETS.get(key)
        if old is not None and old.build is not build and (getattr(old.build, "__module__", None),
                                                           getattr(old.build, "__qualname__", None)) != \
                (getattr(build, "__module__", None), getattr(build, "__qualname__", None)):
            raise ConfigError(f"A data set named {key!r} is already registered; choose another name (or "
                              f"unregister_dataset({key!r}) first).")
        opts = tuple(options) if options is not None else _keyword_options(build)
        entry = DatasetEntry(key, kind, build, info or _default_info(key, kind, build), opts, sizes,
                             bool(user_data), imaging, accepts)
        DATASETS[key] = entry
        return build

    return wrap


def unregister_dataset(name: str) -> Optional[DatasetEntry]:
    """Remove data set `name` from the registry; returns its entry (None when there was none)."""
    return DATASETS.pop(dataset_key(name), None)


def dataset_names(*, kind: Optional[str] = None, user_data: Optional[bool] = None) -> Tuple[str, ...]:
    """Registered names in registration order, optionally only those of a kind or (not) of users' own data."""
    return tuple(n for n, e in DATASETS.items()
                 if (kind is None or e.kind == kind) and (user_data is None or e.user_data == user_data))


def dataset_entry(name: str) -> DatasetEntry:
    """The entry of `name` (case-insensitive, ``_`` = ``-``); DataError naming the choices when there is none."""
    entry = DATASETS.get(dataset_key(name))
    if entry is None:
        raise DataError(f"unknown data set {name!r}; use one of {', '.join(DATASETS)}.")
    return entry


# Views that read the registry each time (a data set registered after import is in them):
# every name, in registration order
DATASET_NAMES = LiveTuple(dataset_names)


class _RegistryView(Mapping):
    """A read-only name -> value mapping over the registered entries that have a value."""

    def __init__(self, value: Callable[[DatasetEntry], Any]):
        self._value = value

    def _items(self) -> Dict[str, Any]:
        return {n: v for n, v in ((n, self._value(e)) for n, e in DATASETS.items()) if v is not None}

    def __getitem__(self, key):
        return self._items()[key]

    def __iter__(self):
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._items())

    def __repr__(self) -> str:
        return repr(self._items())


# the data sets a user brings (name -> the kind of sequence they hold): their models serve uploads of that kind
USER_DATASETS: Mapping[str, str] = _RegistryView(lambda e: e.kind if e.user_data else None)
# name -> Imaging of every data set that says what its images are
IMAGING: Mapping[str, Imaging] = _RegistryView(lambda e: e.imaging)


def imaging(name: str) -> Optional[Imaging]:
    """What data set `name`'s images are (a "-embedded" family: its base set's), or None where unknown (a user's
    own data set, or a name that is not registered)."""
    entry = DATASETS.get(dataset_key(name))
    return entry.imaging if entry is not None else None


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
    for entry in DATASETS.values():
        if entry.user_data and entry.accepts is not None and entry.accepts(p):
            return entry.name, str(p)
    if not p.exists():
        raise DataError(f"{p} does not exist on this machine; enter the path of an .npz in the MedMNIST layout or "
                        f"of a folder with one subfolder of clips per class.")
    raise DataError(f"{p.name} is neither an .npz nor a folder; give an .npz in the MedMNIST layout (train_images, "
                    f"train_labels, val_*, test_*) or a folder with one subfolder of clips per class.")


POCUS_CLASSES_HELP = "Cov = COVID-19, Pneu = bacterial pneumonia, Reg = healthy, Vir = other viral pneumonia"


def pocus_root(root: Optional[PathLike] = None) -> Optional[Path]:
    """POCUS folder: ``root`` > ``$DAS_DATA_ROOT/pocus_lung_videos`` > nearest ``shared/data/pocus_lung_videos``."""
    return resolve_root(root, "pocus_lung_videos", env_self=False)


def _allowed_options(name: str) -> List[str]:
    return list(dataset_entry(name).options)


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
    entry = dataset_entry(name)
    allowed = list(entry.options)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise DataError(f"option(s) {unknown} are not understood by {entry.name}; use {', '.join(allowed)}.")
    return entry.build(split, root, **options)


def list_datasets(root: Optional[PathLike] = None, *, quick: bool = False) -> List[DatasetInfo]:
    """Every registered data set with its availability here.

    Args:
        root: a data root like ``$DAS_DATA_ROOT`` (holding ``medmnist3d/`` and ``pocus_lung_videos/``);
            None uses the default search (env var, then ``shared/data`` walking up).
        quick: give video folders' size as ``{"all": n}`` instead of computing their train/val/test
            splits (which imports scikit-learn, seconds on a small machine): the app lists with this.

    Returns:
        ``DatasetInfo`` per name, in ``DATASET_NAMES`` (registration) order. A registered info function that
        fails gives an unavailable row saying so, not an error.
    """
    base = Path(root).expanduser() if root is not None else None
    out: List[DatasetInfo] = []
    for entry in list(DATASETS.values()):
        try:
            out.append(entry.describe(base, quick))
        except Exception as err:  # a user's info function: the listing (the app's first page) still works
            out.append(DatasetInfo(entry.name, entry.kind, "", [], {}, False,
                                   f"{entry.name} could not be described here ({type(err).__name__}: "
                                   f"{str(err)[:200]})."))
    return out


# ---------------------------------------------------------------- the built-in data sets (registration order is
# the order of DATASET_NAMES and of list_datasets)

def _medmnist_root(base: Optional[Path]) -> Path:
    from .medmnist3d import medmnist_root

    return medmnist_root((base / "medmnist3d") if base is not None and (base / "medmnist3d").is_dir() else base)


def _medmnist_facts(flag: str, base: Optional[Path]):
    """(mroot, its sizes found, classes, info) of a MedMNIST flag."""
    from .medmnist3d import medmnist_file, medmnist_info

    mroot = _medmnist_root(base)
    info = medmnist_info(flag)
    sizes = [s for s in MEDMNIST_SIZES if (mroot / medmnist_file(flag, s)).is_file()]
    classes = [info["label"][k] for k in sorted(info["label"], key=int)]
    return mroot, sizes, classes, info


def _medmnist_info(flag: str):
    def describe(root: Optional[Path] = None, quick: bool = False) -> DatasetInfo:
        from .medmnist3d import medmnist_file

        mroot, sizes, classes, info = _medmnist_facts(flag, root)
        if sizes:
            desc = f"MedMNIST v3 {info['python_class']} (CC BY 4.0), sizes {sizes} found in {mroot}."
        else:
            desc = (f"MedMNIST v3 {info['python_class']}: {medmnist_file(flag, 28)} is not in {mroot}; get it from "
                    f"Zenodo record 10519652 or load with download=True on a machine with internet.")
        return DatasetInfo(flag, "volume", str(info["task"]), classes, dict(info["n_samples"]), bool(sizes), desc,
                           {"size": sizes[0] if sizes else 28, "axis": 0, "download": False})
    return describe


def _medmnist(flag: str):
    def build(split: str = "train", root: Optional[PathLike] = None, *, size: int = 28, axis: int = 0,
              download: bool = False, max_decoded_bytes: Optional[int] = None) -> SequenceDataset:
        from .medmnist3d import MedMNIST3DDataset

        return MedMNIST3DDataset(flag, split, root, size=size, axis=axis, download=download,
                                 max_decoded_bytes=max_decoded_bytes)
    return build


# From each source's own description (MedMNIST v3 INFO, Born et al. 2021, pydicom-data); the "-embedded" families
# hold their base set's images.
MEDMNIST_IMAGING = {
    "organmnist3d": Imaging(("CT",), "abdominal CT crops around 11 organs, 28³ intensities"),
    "nodulemnist3d": Imaging(("CT",), "thoracic CT crops around lung nodules, 28³ intensities"),
    "adrenalmnist3d": Imaging((), "shape masks of adrenal glands segmented on abdominal CT (binary voxels, no CT "
                                  "intensities)"),
    "fracturemnist3d": Imaging(("CT",), "chest CT crops around rib fractures, 28³ intensities"),
    "vesselmnist3d": Imaging((), "brain-vessel segments voxelised from MRA reconstructions (binary shapes, no MR "
                                 "intensities)"),
    "synapsemnist3d": Imaging((), "electron-microscopy volumes of rat brain synapses"),
}

for _flag in MEDMNIST3D_FLAGS:
    register_dataset(_flag, kind="volume", info=_medmnist_info(_flag), frame_sizes=MEDMNIST_SIZES,
                     imaging=MEDMNIST_IMAGING[_flag])(_medmnist(_flag))


_SYN_OPTS = {"num_frames": 28, "size": 28, "num_samples": dict(DEFAULT_NUM_SAMPLES), "seed": 0, "moving": True,
             "extent": 1, "num_classes": 2}


def _synthetic(kind: str):
    def build(split: str = "train", root: Optional[PathLike] = None, *, num_frames: int = 28, size: int = 28,
              num_samples=None, seed: int = 0, moving: bool = True, extent: int = 1,
              num_classes: int = 2, cue: bool = False, family: str = "shapes") -> SequenceDataset:
        from .synthetic import SyntheticDataset

        return SyntheticDataset(kind, split, num_frames=num_frames, size=size, num_samples=num_samples, seed=seed,
                                moving=moving, extent=extent, num_classes=num_classes, cue=cue, family=family)
    return build


def _synthetic_info(name: str, kind: str, description: str):
    def describe(root: Optional[Path] = None, quick: bool = False) -> DatasetInfo:
        return DatasetInfo(name, kind, "binary-class", CLASS_NAMES[:2], dict(DEFAULT_NUM_SAMPLES), True, description,
                           {**_SYN_OPTS, "num_samples": dict(DEFAULT_NUM_SAMPLES)})
    return describe


register_dataset("synthetic-volumes", kind="volume", imaging=Imaging((), "synthetic MRI/CT-like volumes, not patient "
                                                                         "images"),
                 info=_synthetic_info("synthetic-volumes", "volume", "Synthetic MRI/CT-like volumes; the class (square "
                                      "vs ring) shows in one slice only."))(_synthetic("volumes"))
register_dataset("synthetic-video", kind="video", imaging=Imaging((), "synthetic ultrasound-like speckle clips, not "
                                                                      "patient images"),
                 info=_synthetic_info("synthetic-video", "video", "Synthetic ultrasound-like speckle clips; the class "
                                      "(square vs ring) shows in one frame only."))(_synthetic("video"))


_VIDEO_OPTIONS = ("num_frames", "size", "grayscale", "layout", "manifest", "label_from", "include_uncertain",
                  "group_column", "group_regex", "split_file", "classes", "val_fraction", "test_fraction", "seed",
                  "num_folds", "fold", "cache", "cache_dir", "decode_timeout", "task", "max_decoded_bytes",
                  "train_licences", "licence_manifest")


_VID_DEFAULTS = {"num_frames": 32, "size": 64, "grayscale": True, "val_fraction": 0.15, "test_fraction": 0.2,
                 "seed": 0, "include_uncertain": False}


def _video_folder_info(root: Optional[Path] = None, quick: bool = False) -> DatasetInfo:
    return DatasetInfo("video-folder", "video", "multi-class", [], {}, False,
                       "Your own folder of clips (labels from manifest.csv, sub-folders or file-name prefixes) "
                       "or a BUSV frame-folder layout; pass root=<folder>.", dict(_VID_DEFAULTS))


@register_dataset("video-folder", kind="video", options=_VIDEO_OPTIONS, user_data=True, info=_video_folder_info,
                  accepts=Path.is_dir)
def _video_folder(split: str = "train", root: Optional[PathLike] = None, **options) -> SequenceDataset:
    from .video import VideoFolderDataset

    if root is None:
        raise DataError("video-folder needs a folder of clips; pass root=<folder>.")
    return VideoFolderDataset(root, split, name="video-folder", **options)


def _npz_info(root: Optional[Path] = None, quick: bool = False) -> DatasetInfo:
    return DatasetInfo("npz", "volume", "multi-class", [], {}, False,
                       "Your own .npz in the MedMNIST layout (train_images, train_labels, val_*, test_*); "
                       "pass root=<file.npz>.", {"axis": 0})


def _is_npz(path: Path) -> bool:
    """An .npz by its suffix, or a zip archive holding ``train_images.npy`` (the MedMNIST layout) by its content."""
    if not path.is_file():
        return False
    if path.name.lower().endswith(".npz"):
        return True
    import zipfile

    try:
        return zipfile.is_zipfile(path) and "train_images.npy" in zipfile.ZipFile(path).namelist()
    except (OSError, zipfile.BadZipFile):
        return False


@register_dataset("npz", kind="volume", user_data=True, info=_npz_info, accepts=_is_npz)
def _npz(split: str = "train", root: Optional[PathLike] = None, *, axis: int = 0, classes=None,
         max_decoded_bytes: Optional[int] = None) -> SequenceDataset:
    from .npzset import NpzVolumeDataset

    return NpzVolumeDataset(root, split, axis=axis, classes=classes, max_decoded_bytes=max_decoded_bytes)


def _pocus_info(root: Optional[Path] = None, quick: bool = False) -> DatasetInfo:
    proot = pocus_root((root / "pocus_lung_videos") if root is not None else None)
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
    return DatasetInfo("pocus-lung", "video", "multi-class", classes, sizes, p_avail,
                       (f"Lung POCUS clips (Born et al. 2021; {POCUS_CLASSES_HELP}; many non-commercial "
                        f"licences) from {proot}." if p_avail else
                        "Lung POCUS clips (Born et al. 2021): not found; set DAS_DATA_ROOT to a folder holding "
                        "pocus_lung_videos/."), {**_VID_DEFAULTS, "label_from": "prefix"})


@register_dataset("pocus-lung", kind="video", options=_VIDEO_OPTIONS, info=_pocus_info,
                  imaging=Imaging(("US",), "lung point-of-care ultrasound clips"))
def _pocus(split: str = "train", root: Optional[PathLike] = None, **options) -> SequenceDataset:
    from .video import VideoFolderDataset

    folder = pocus_root(root)
    if folder is None or not folder.is_dir():
        raise DataError("the POCUS lung clips were not found; set DAS_DATA_ROOT to the folder holding "
                        "pocus_lung_videos/ or pass root=<that folder> (source: github.com/jannisborn/covid19_ultrasound).")
    options.setdefault("label_from", "prefix")
    options.setdefault("layout", "files")
    return VideoFolderDataset(folder, split, name="pocus-lung", **options)


def _dicom_echo_info(root: Optional[Path] = None, quick: bool = False) -> DatasetInfo:
    from .dicom import echo_cine_path

    echo = echo_cine_path()
    return DatasetInfo("dicom-echo", "video", "unlabelled", ["unlabelled"], {"all": 1}, echo is not None,
                       "Echocardiography cine color3d_jpeg_baseline.dcm from pydicom-data (120 frames, 30 fps), "
                       "one unlabelled sequence." if echo is not None else
                       "Echocardiography cine from pydicom-data: install it with 'pip install pydicom-data'.",
                       {"num_frames": 32, "size": 64, "grayscale": True})


@register_dataset("dicom-echo", kind="video", info=_dicom_echo_info,
                  imaging=Imaging(("US",), "one echocardiography cine"))
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


def _embedded(flag: str):
    def build(split: str = "train", root: Optional[PathLike] = None, *, num_frames: int = 40, window: int = 10,
              filler: str = "distractors", seed: int = 0, size: int = 28,
              max_decoded_bytes: Optional[int] = None) -> SequenceDataset:
        from .embedded import EmbeddedVolumeDataset

        return EmbeddedVolumeDataset(flag, split, root, num_frames=num_frames, window=window, filler=filler,
                                     seed=seed, size=size, max_decoded_bytes=max_decoded_bytes)
    return build


def _embedded_info(flag: str):
    def describe(root: Optional[Path] = None, quick: bool = False) -> DatasetInfo:
        from .medmnist3d import medmnist_file

        mroot, sizes, classes, info = _medmnist_facts(flag, root)
        desc = (f"Moving-real: the 10 central slices of each {info['python_class']} volume at a random offset in a "
                f"40-frame sequence, between slices of other volumes (filler=distractors) or speckle "
                f"(filler=speckle); the block is where the label is.")
        if not sizes:
            desc += f" Needs {medmnist_file(flag, 28)} in {mroot} (Zenodo record 10519652)."
        return DatasetInfo(flag + "-embedded", "volume", str(info["task"]), classes, dict(info["n_samples"]),
                           bool(sizes), desc, {"num_frames": 40, "window": 10, "filler": "distractors", "seed": 0,
                                               "size": 28})
    return describe


EMBEDDED_NAMES = tuple(f + "-embedded" for f in MEDMNIST3D_FLAGS)
for _flag in MEDMNIST3D_FLAGS:  # the moving-real families, after the rest; they hold their base set's images
    register_dataset(_flag + "-embedded", kind="volume", info=_embedded_info(_flag), frame_sizes=MEDMNIST_SIZES,
                     imaging=MEDMNIST_IMAGING[_flag])(_embedded(_flag))
del _flag
