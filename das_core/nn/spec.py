"""`ModelSpec`: everything needed to rebuild a `SubsampledClassifier`, stored in every checkpoint.

Like nanoGPT's `model_args`: a checkpoint keeps `ModelSpec.to_dict()`, and
`SubsampledClassifier.from_config(ModelSpec.from_dict(d))` rebuilds the same architecture before
the weights are loaded. `from_dict` checks every field (the integers against `SPEC_BOUNDS`, the sampler's
options against the bounds its `Options` dataclass declares), so a crafted or damaged checkpoint gets one
sentence (CheckpointError through `das_core.checkpoints`), never a traceback or a huge allocation; the size of
the model the spec describes is checked before it is built (`das_core.nn.model.MAX_MODEL_BYTES`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import ConfigError
from ..samplers import sampler_class
from .backbones import BACKBONES, DEFAULT_BACKBONE

__all__ = ["ModelSpec", "MAX_FRAMES", "MAX_CLASSES", "MAX_CHANNELS", "MAX_FRAME_SIZE", "SPEC_BOUNDS"]

MAX_FRAMES = 4096  # T beyond this is refused: no volume or clip the app or CLI reads is longer
MAX_CLASSES = 100_000  # the head is feature width x classes: 576 x 100 000 is 230 MB
MAX_CHANNELS = 64  # channels of a frame (1 grey, 3 RGB; 64 leaves room for stacked modalities)
MAX_FRAME_SIZE = 65_536  # informational for the named backbones (they pool globally)
# the integer fields and their [low, high]; every other field is checked by name below, the sampler's options by
# its Options dataclass (`Sampler.check_options`), and the size of the whole model by `das_core.nn.model`
SPEC_BOUNDS = {"num_frames": (1, MAX_FRAMES), "num_selected": (1, MAX_FRAMES), "num_classes": (2, MAX_CLASSES),
               "in_channels": (1, MAX_CHANNELS), "frame_size": (1, MAX_FRAME_SIZE)}
_POOLING = ("mean", "max")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class ModelSpec:
    """Args:
    method: a registered sampler name (`das_core.list_samplers()`).
    num_frames: T, frames per input sequence.
    num_selected: k, frames the sampler keeps (T for a sampler that keeps all, such as full).
    backbone: a named backbone (`das_core.nn.backbones.BACKBONES`).
    num_classes: classes of the task (>= 2).
    in_channels: channels C of each frame.
    frame_size: H = W of the frames it was built for (informational for the named backbones, which
        pool globally; inputs of another size still run).
    pooling: "mean" or "max" over the k frame features.
    dropout: dropout before the linear head, in [0, 1).
    sampler_options: the sampler's options (fields of its `Options` dataclass).
    """

    method: str
    num_frames: int
    num_selected: int
    backbone: str = DEFAULT_BACKBONE
    num_classes: int = 2
    in_channels: int = 1
    frame_size: int = 28
    pooling: str = "mean"
    dropout: float = 0.0
    sampler_options: dict = field(default_factory=dict)

    def validate(self) -> "ModelSpec":
        """ConfigError with one sentence for a field out of range or of the wrong type, or a sampler option that
        its sampler does not declare or that lies outside its bounds (`Sampler.check_options`); returns self.
        Nothing is built (the model's size is checked by `SubsampledClassifier.from_config`)."""
        if not isinstance(self.method, str):
            raise ConfigError(f"Model setting method must be a sampler name, got {_short(self.method)}.")
        sampler = sampler_class(self.method)
        for name, (low, high) in SPEC_BOUNDS.items():
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
                raise ConfigError(f"Model setting {name} must be an integer in [{low}, {high}], got {_short(v)}.")
        if self.num_selected > self.num_frames:
            raise ConfigError(f"Model setting num_selected ({self.num_selected}) exceeds num_frames ({self.num_frames}).")
        if not isinstance(self.backbone, str) or self.backbone not in BACKBONES:
            raise ConfigError(f"Unknown backbone {_short(self.backbone)}; choose one of {', '.join(BACKBONES)}.")
        if not isinstance(self.pooling, str) or self.pooling not in _POOLING:
            raise ConfigError(f"pooling must be 'mean' or 'max', got {_short(self.pooling)}.")
        if not isinstance(self.dropout, (int, float)) or isinstance(self.dropout, bool) or not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be a number in [0, 1), got {_short(self.dropout)}.")
        if not isinstance(self.sampler_options, dict) or not all(isinstance(k, str) for k in self.sampler_options):
            raise ConfigError("sampler_options must be a dict of option names to values.")
        sampler.check_options(self.sampler_options)
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelSpec":
        """A validated spec from a dict (unknown keys ignored; missing required keys: ConfigError)."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"A model spec must be a dict, got {type(data).__name__}.")
        names = {f.name for f in dataclasses.fields(cls)}
        missing = [n for n in ("method", "num_frames", "num_selected") if n not in data]
        if missing:
            raise ConfigError(f"The model spec lacks {', '.join(missing)}.")
        values = {k: v for k, v in data.items() if k in names and v is not None}
        options = values.get("sampler_options") or {}
        if not isinstance(options, Mapping):
            raise ConfigError("The model spec's sampler_options must be a dict of option names to values.")
        values["sampler_options"] = dict(options)
        if isinstance(values.get("dropout"), int) and not isinstance(values["dropout"], bool):
            values["dropout"] = float(values["dropout"])
        return cls(**values).validate()
