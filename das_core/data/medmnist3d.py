"""MedMNIST v3 3D data sets (Organ, Nodule, Adrenal, Fracture, Vessel, Synapse), 28^3 or 64^3.

Files: ``{flag}.npz`` (size 28) or ``{flag}_64.npz`` (size 64) with keys ``train_images``
``(N, D, H, W)`` uint8 and ``train_labels`` ``(N, 1)``, likewise ``val_*`` and ``test_*``.
Root: argument > ``$DAS_DATA_ROOT`` (its ``medmnist3d/`` subfolder or itself) > the nearest
``shared/data/medmnist3d`` walking up from the cwd / this package > medmnist's default root
(``~/.medmnist``). ``download=True`` fetches the file with medmnist's own dataset class
(Zenodo record 10519652). Values 0..255 map to [0, 1] (divided by 255); each volume is
sliced along ``axis`` (default 0, depth) into a ``(T, 1, H, W)`` sequence.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from das_core.errors import DataError

from .arrays import volume_stack, volume_to_sequence
from .base import SequenceDataset
from .budget import decode_budget
from .npyfile import npz_members, read_npz_member
from .paths import PathLike, resolve_root
from .splits import SPLITS

__all__ = ["MEDMNIST3D_FLAGS", "MedMNIST3DDataset", "medmnist_file", "medmnist_root", "medmnist_info"]

MEDMNIST3D_FLAGS = ("organmnist3d", "nodulemnist3d", "adrenalmnist3d", "fracturemnist3d",
                    "vesselmnist3d", "synapsemnist3d")


# The fields of ``medmnist.INFO`` this package reads, for the six 3D flags (medmnist 3.0.2). Kept here
# so listing data sets does not import medmnist (about 3 s: it pulls in sklearn and its evaluator);
# tests/test_data_medmnist.py checks the table against the installed ``medmnist.INFO``.
_INFO: Dict[str, Dict[str, Any]] = {
    "organmnist3d": {"python_class": "OrganMNIST3D", "task": "multi-class", "label": {
        "0": "liver", "1": "kidney-right", "2": "kidney-left", "3": "femur-right", "4": "femur-left",
        "5": "bladder", "6": "heart", "7": "lung-right", "8": "lung-left", "9": "spleen", "10": "pancreas"},
        "n_samples": {"train": 971, "val": 161, "test": 610}, "n_channels": 1},
    "nodulemnist3d": {"python_class": "NoduleMNIST3D", "task": "binary-class",
        "label": {"0": "benign", "1": "malignant"},
        "n_samples": {"train": 1158, "val": 165, "test": 310}, "n_channels": 1},
    "adrenalmnist3d": {"python_class": "AdrenalMNIST3D", "task": "binary-class",
        "label": {"0": "normal", "1": "hyperplasia"},
        "n_samples": {"train": 1188, "val": 98, "test": 298}, "n_channels": 1},
    "fracturemnist3d": {"python_class": "FractureMNIST3D", "task": "multi-class", "label": {
        "0": "buckle rib fracture", "1": "nondisplaced rib fracture", "2": "displaced rib fracture"},
        "n_samples": {"train": 1027, "val": 103, "test": 240}, "n_channels": 1},
    "vesselmnist3d": {"python_class": "VesselMNIST3D", "task": "binary-class",
        "label": {"0": "vessel", "1": "aneurysm"},
        "n_samples": {"train": 1335, "val": 191, "test": 382}, "n_channels": 1},
    "synapsemnist3d": {"python_class": "SynapseMNIST3D", "task": "binary-class",
        "label": {"0": "inhibitory synapse", "1": "excitatory synapse"},
        "n_samples": {"train": 1230, "val": 177, "test": 352}, "n_channels": 1},
}


def medmnist_info(flag: str) -> Dict[str, Any]:
    """The ``medmnist.INFO[flag]`` fields used here (python_class, task, label, n_samples, n_channels)."""
    return _INFO[flag]


def medmnist_file(flag: str, size: int) -> str:
    """File name of a flag at a size: ``{flag}.npz`` or ``{flag}_{size}.npz``."""
    return f"{flag}.npz" if int(size) == 28 else f"{flag}_{int(size)}.npz"


def medmnist_root(root: Optional[PathLike] = None) -> Path:
    """The folder searched for MedMNIST files (see module docstring)."""
    r = resolve_root(root, "medmnist3d")
    if r is not None:
        return r
    try:
        from medmnist.info import DEFAULT_ROOT

        return Path(DEFAULT_ROOT)
    except Exception:
        return Path.home() / ".medmnist"


def _download(flag: str, size: int, root: Path) -> None:
    import medmnist

    info = medmnist.INFO[flag]
    cls = getattr(medmnist, info["python_class"])
    root.mkdir(parents=True, exist_ok=True)
    try:
        cls(split="test", root=str(root), download=True, size=int(size))
    except Exception as e:
        raise DataError(f"downloading {medmnist_file(flag, size)} failed ({type(e).__name__}); check the "
                        f"internet connection or fetch it by hand from https://zenodo.org/records/10519652 "
                        f"into {root}.") from None


class MedMNIST3DDataset(SequenceDataset):
    """One split of a MedMNIST 3D data set.

    Args:
        flag: one of ``MEDMNIST3D_FLAGS``.
        split: ``"train"``, ``"val"`` or ``"test"`` (the official splits).
        root: folder holding the ``.npz`` files (see module docstring).
        size: 28 or 64.
        axis: slicing axis 0, 1 or 2 (default 0 = depth); T = the size along it.
        download: fetch the file with medmnist when missing (needs internet).
        max_decoded_bytes: the decode cap (default ``$DAS_DECODE_BUDGET_MB`` or 1 GiB; see ``budget``).
    """

    kind = "volume"

    def __init__(self, flag: str, split: str = "train", root: Optional[PathLike] = None, *, size: int = 28,
                 axis: int = 0, download: bool = False, max_decoded_bytes: Optional[int] = None) -> None:
        if flag not in MEDMNIST3D_FLAGS:
            raise DataError(f"{flag!r} is not a MedMNIST 3D data set; pass one of {', '.join(MEDMNIST3D_FLAGS)}.")
        if split not in SPLITS:
            raise DataError(f"split={split!r} for {flag} is unknown; pass 'train', 'val' or 'test'.")
        if size not in (28, 64):
            raise DataError(f"size={size!r} for {flag} is not available; pass size=28 or size=64.")
        if axis not in (0, 1, 2):
            raise DataError(f"axis={axis!r} for {flag} is not a volume axis; pass axis=0, 1 or 2.")
        info = medmnist_info(flag)
        self.name, self.split, self.axis, self.size = flag, split, int(axis), int(size)
        self.task = str(info["task"])
        self.classes = [info["label"][k] for k in sorted(info["label"], key=int)]
        folder = medmnist_root(root)
        fname = medmnist_file(flag, size)
        self.path = folder / fname
        if not self.path.is_file():
            if download:
                _download(flag, size, folder)
            if not self.path.is_file():
                raise DataError(f"{fname} is not in {folder}; download it from Zenodo record 10519652 "
                                f"(https://zenodo.org/records/10519652) into that folder, or pass download=True "
                                f"on a machine with internet access.")
        budget = decode_budget(max_decoded_bytes)
        try:  # members read within the decode budget, from their npy headers (a root may be any folder)
            with zipfile.ZipFile(self.path) as zf:
                members = npz_members(zf)
                if f"{split}_images" not in members or f"{split}_labels" not in members:
                    raise DataError(f"{fname} has no {split}_images/{split}_labels arrays; download the file again.")
                labels = read_npz_member(zf, members[f"{split}_labels"], fname, budget, extra_per_value=0)
                imgs = read_npz_member(zf, members[f"{split}_images"], fname, budget - labels.nbytes, extra_per_value=0)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise DataError(f"{fname} cannot be read ({type(e).__name__}), so it is probably truncated; delete it "
                            f"and download it again (Zenodo record 10519652 or download=True).") from None
        self.images: np.ndarray = volume_stack(imgs, f"{fname} {split}_images", "download it again")  # (N, D, H, W) uint8
        self.labels: List[int] = [int(v) for v in np.asarray(labels).reshape(len(labels), -1)[:, 0]]
        self.num_frames = int(self.images.shape[1 + self.axis])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        i = self._check_index(i)
        seq = volume_to_sequence(self.images[i], self.axis, self.name)  # (T, 1, H, W) uint8
        x = torch.from_numpy(np.ascontiguousarray(seq)).to(torch.float32).div_(255.0)
        return x, self.labels[i]

    def meta(self, i: int) -> Dict[str, Any]:
        i = self._check_index(i)
        return {"source": str(self.path), "original_frames": self.num_frames, "spacing": None, "fps": None,
                "index": i, "split": self.split, "axis": self.axis, "size": self.size,
                "label_name": self.classes[self.labels[i]]}
