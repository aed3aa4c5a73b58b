"""das_core.data: every data set as ``(x (T, C, H, W) float32 in [0, 1], y int)``.

Public API:
    load_dataset(name, split="train", root=None, **options) -> Dataset
    list_datasets(root=None) -> list[DatasetInfo]
    load_sequence(path_or_bytes, filename=None, **options) -> (tensor (T, C, H, W), meta dict)
    register_dataset(name, kind=..., ...)   decorator: a builder joins the data set registry (`registry`)
    register_reader(suffixes=(...), kind=...)   decorator: a file reader joins `load_sequence` (`readers`)
    dataset_names(), DATASET_NAMES, USER_DATASETS, SUPPORTED_EXTENSIONS   read the registries when used

Importing this package is cheap: imageio, pydicom, nibabel, medmnist and scikit-learn are imported only
inside the functions that need them, and nothing is decoded at import time.
"""

from das_core.errors import DataError

from .base import ArrayDataset, SequenceDataset
from .readers import ReadOptions, Reader, reader_for, register_reader, supported_extensions, unregister_reader
from .registry import (DATASET_NAMES, USER_DATASETS, DatasetEntry, DatasetInfo, Imaging, dataset_entry, dataset_names,
                       list_datasets, load_dataset, register_dataset, unregister_dataset, user_dataset)
from .sequence import SUPPORTED_EXTENSIONS, array_sequence, load_sequence, sequence_kind

__all__ = ["load_dataset", "list_datasets", "load_sequence", "sequence_kind", "DatasetInfo", "DataError", "DATASET_NAMES",
           "SUPPORTED_EXTENSIONS", "SequenceDataset", "USER_DATASETS", "user_dataset", "register_dataset",
           "unregister_dataset", "dataset_names", "dataset_entry", "DatasetEntry", "Imaging", "register_reader",
           "unregister_reader", "reader_for", "supported_extensions", "ReadOptions", "Reader", "array_sequence",
           "ArrayDataset"]
