"""DAS Explorer's library: learnable, input-adaptive frame subsampling for volumes and videos.

Public API (see README.md):
    make_sampler(name, num_frames, num_selected, **options) -> Sampler
    register_sampler(name)       class decorator: a user's `Sampler` subclass joins the registry
    list_samplers(learned=None, adaptive=None) -> names (built in: full, uniform, random, dps, adps, das)
    Sampler, Selection           the base class of samplers, and what they return
    SubsampledClassifier         sampler + per-frame backbone + pooling + linear head
    ModelSpec                    the architecture a checkpoint stores; SubsampledClassifier.from_config(spec)
    load_model(path)             a trained model from a checkpoint (eval mode, `.spec`, `.meta`)
    TrainConfig, fit(config)     the training engine
    load_dataset, list_datasets, load_sequence   the data layer (das_core.data)
    register_dataset(name, kind=...), register_reader(suffixes=..., kind=...)   decorators: a data set or a file
                                 format joins the data layer's registries
    export_study(checkpoints, source, out_dir), ExportSettings   the take-it-away export (das_core.export)
    DASError, DataError, ConfigError, CheckpointError

The model core (SubsampledClassifier, ModelSpec, Selection, frame features, backbones) is das_core.nn.

Names are imported on first use (PEP 562), so `import das_core.runs` (the app's job launcher) does
not pay for torch. This package never imports streamlit or plotly.
"""

from .lazy import lazy_exports

__version__ = "0.1.0"

# public name -> the module that defines it
_API = {
    "DASError": "errors", "DataError": "errors", "ConfigError": "errors", "CheckpointError": "errors",
    "Sampler": "samplers", "make_sampler": "samplers", "register_sampler": "samplers", "list_samplers": "samplers",
    "sampler_options": "samplers", "num_selected_for_ratio": "samplers", "SAMPLERS": "samplers",
    "Selection": "nn",
    "SampleRun": "sample_run", "run_on_sample": "sample_run", "LiveControls": "samplers",
    "SubsampledClassifier": "nn", "ModelSpec": "nn",
    "load_model": "checkpoints",
    "TrainConfig": "engine", "fit": "engine", "evaluate_checkpoint": "engine",
    "load_dataset": "data", "list_datasets": "data", "load_sequence": "data", "register_dataset": "data",
    "register_reader": "data",
    "export_study": "export", "ExportSettings": "export",
}

__all__ = [*_API, "__version__"]


__getattr__, __dir__ = lazy_exports(__name__, _API)
