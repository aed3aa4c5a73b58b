"""The model core: what a `SubsampledClassifier` is made of, one job a module.

    model.py       SubsampledClassifier (sampler -> per-frame backbone on the k picked frames -> pooling ->
                   linear head); model_size / check_model_size, MAX_MODEL_BYTES
    spec.py        ModelSpec: the architecture every checkpoint stores, each field checked in from_dict
    selection.py   Selection (what a sampler returns); Gumbel top-k without replacement, straight-through
    features.py    the parameter-free frame features DAS scores frames with
    backbones.py   per-frame 2D feature extractors (MobileNetV3-Small, a small CNN, a user's module)
    depthwise.py   a depthwise convolution that is fast on CPU on tiny maps (used by backbones.py)
    pointwise.py   a 1x1 convolution as a matrix product on channels-last CPU tensors (used by backbones.py)

The samplers (`das_core.samplers`) import `selection` and `features` from here, and `model` imports the
samplers, so the names below are imported on first use (PEP 562), as in `das_core`.
"""

from ..lazy import lazy_exports

# public name -> the module that defines it (the ones `das_core` exports)
_API = {"SubsampledClassifier": "model", "ModelSpec": "spec", "Selection": "selection"}

__all__ = list(_API)


__getattr__, __dir__ = lazy_exports(__name__, _API)
