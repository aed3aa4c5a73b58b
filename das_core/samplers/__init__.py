"""Sampler registry: `make_sampler(name, num_frames, num_selected, **options)`.

| name    | learned | input-adaptive at inference | notes                                    |
|---------|---------|-----------------------------|------------------------------------------|
| full    | no      | -                           | all T frames (k is ignored)              |
| uniform | no      | no                          | round(linspace(0, T-1, k))               |
| random  | no      | (random)                    | seeded at evaluation                     |
| dps     | yes     | no                          | Huijben et al. 2020                      |
| adps    | yes     | yes (k sequential steps)    | van Gorp et al. 2021                     |
| das     | yes     | yes (one pass)              | Shankaranarayana et al. 2025, our method |
"""

from __future__ import annotations

from typing import Optional

from ..errors import ConfigError
from .adps import ADPSSampler
from .base import Sampler, check_k
from .das import DASConfig, DASSampler
from .dps import DPSSampler
from .fixed import FullSampler, RandomSampler, UniformSampler, uniform_indices

__all__ = [
    "SAMPLERS", "make_sampler", "sampler_options", "num_selected_for_ratio", "Sampler", "check_k", "uniform_indices",
    "FullSampler", "UniformSampler", "RandomSampler", "DPSSampler", "ADPSSampler", "DASSampler", "DASConfig",
]

SAMPLERS: dict[str, type[Sampler]] = {
    "full": FullSampler,
    "uniform": UniformSampler,
    "random": RandomSampler,
    "dps": DPSSampler,
    "adps": ADPSSampler,
    "das": DASSampler,
}


def num_selected_for_ratio(num_frames: int, ratio: float) -> int:
    """k for a sampling ratio: `max(1, round(ratio * T))` (ratio 0.5 of 28 frames -> 14)."""
    if not 0 < ratio <= 1:
        raise ConfigError(f"The sampling ratio must be in (0, 1], got {ratio!r}; for example 0.5 keeps half the frames.")
    return max(1, int(round(ratio * num_frames)))


def make_sampler(name: str, num_frames: int, num_selected: Optional[int] = None, **options) -> Sampler:
    """Build a sampler by name.

    Args:
        name: one of `SAMPLERS` (full, uniform, random, dps, adps, das).
        num_frames: T, the frames of each input sequence.
        num_selected: k, the frames to keep (ignored by `full`, which keeps all T).
        **options: sampler options, e.g. `tau0` (every learned sampler), `heads` (DAS),
            `seed` (random), `lr_multiplier` (DPS), `in_channels` (ADPS).
    """
    key = str(name).lower()
    if key not in SAMPLERS:
        raise ConfigError(f"Unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}.")
    if num_selected is None and key != "full":
        raise ConfigError(f"The {key} sampler needs num_selected (k); pass k or use num_selected_for_ratio(T, ratio).")
    try:
        return SAMPLERS[key](num_frames, num_selected, **options)
    except TypeError as err:  # an unknown keyword option
        raise ConfigError(f"Invalid option for the {key} sampler ({err}); see help(das_core.samplers.{SAMPLERS[key].__name__}).") from None


def sampler_options(name: str, options: dict) -> dict:
    """Keep the entries of `options` that sampler `name` accepts (the CLI passes tau0 to every method)."""
    import inspect

    cls = SAMPLERS[str(name).lower()]
    if cls is DASSampler:
        accepted = set(DASConfig.__dataclass_fields__)
    else:
        accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "num_frames", "num_selected"}
    return {k: v for k, v in options.items() if k in accepted and v is not None}
