"""das_core.data: every data set as ``(x (T, C, H, W) float32 in [0, 1], y int)``.

Public API:
    load_dataset(name, split="train", root=None, **options) -> Dataset
    list_datasets(root=None) -> list[DatasetInfo]
    load_sequence(path_or_bytes, filename=None, **options) -> (tensor (T, C, H, W), meta dict)

Importing this package is cheap: imageio, pydicom, nibabel, medmnist and scikit-learn are imported only
inside the functions that need them, and nothing is decoded at import time.
"""

from das_core.errors import DataError

from .base import SequenceDataset
from .registry import DATASET_NAMES, USER_DATASETS, DatasetInfo, list_datasets, load_dataset, user_dataset
from .sequence import SUPPORTED_EXTENSIONS, load_sequence, sequence_kind

__all__ = ["load_dataset", "list_datasets", "load_sequence", "sequence_kind", "DatasetInfo", "DataError", "DATASET_NAMES",
           "SUPPORTED_EXTENSIONS", "SequenceDataset", "USER_DATASETS", "user_dataset"]
