"""DAS Explorer's library: learnable, input-adaptive frame subsampling for volumes and videos.

Public API:
    make_sampler(name, num_frames, num_selected, **options) -> Sampler   (full, uniform, random, dps, adps, das)
    Selection                    what a sampler returns (indices, matrix, soft, scores, ...)
    SubsampledClassifier         sampler + per-frame backbone + pooling + linear head
    load_dataset, list_datasets, load_sequence   the data layer (das_core.data)
    DASError, DataError, ConfigError, CheckpointError

This package never imports streamlit.
"""

from .errors import CheckpointError, ConfigError, DASError, DataError
from .model import SubsampledClassifier
from .samplers import SAMPLERS, Sampler, make_sampler, num_selected_for_ratio, sampler_options
from .selection import Selection

__version__ = "0.1.0"

__all__ = [
    "make_sampler", "num_selected_for_ratio", "sampler_options", "SAMPLERS", "Sampler", "Selection",
    "SubsampledClassifier", "load_dataset", "list_datasets", "load_sequence",
    "DASError", "DataError", "ConfigError", "CheckpointError", "__version__",
]

_DATA_API = {"load_dataset", "list_datasets", "load_sequence"}


def __getattr__(name):  # the data layer is imported on first use: `import das_core` stays fast
    if name in _DATA_API:
        from . import data

        return getattr(data, name)
    raise AttributeError(f"module 'das_core' has no attribute {name!r}")
