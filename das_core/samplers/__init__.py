"""Samplers: one file per method, registered by name (`registry.py`).

| name        | learned | input-adaptive at inference | notes                                    |
|-------------|---------|-----------------------------|------------------------------------------|
| full        | no      | -                           | all T frames (k is ignored)              |
| uniform     | no      | no                          | round(linspace(0, T-1, k))               |
| random      | no      | (random)                    | seeded at evaluation                     |
| dps         | yes     | no                          | Huijben et al. 2020                      |
| adps        | yes     | yes (k sequential steps)    | van Gorp et al. 2021                     |
| das         | yes     | yes (one pass)              | Shankaranarayana et al. 2025, our method |
| central     | no      | no                          | the k consecutive middle frames          |
| edge-energy | no      | yes (one pass)              | top-k frame-difference + Sobel energy    |
| pgadps      | yes     | yes (prior + group steps)   | PGA-DPS, ICLR 2026 (B9Kang/PGADPS)       |

`list_samplers()` lists these and any sampler a user registered with `@register_sampler(name)`.
"""

from .base import Sampler, bounded, check_k, one_of
from .controls import LiveControls, call_kwargs
from .registry import (SAMPLERS, list_samplers, make_sampler, num_selected_for_ratio, register_sampler,
                       sampler_class, sampler_options)
# Importing the method modules registers them, in this order.
from .fixed import FullSampler, RandomOptions, RandomSampler, UniformSampler, uniform_indices  # noqa: E402,I001
from .dps import DPSOptions, DPSSampler  # noqa: E402
from .adps import ADPSOptions, ADPSSampler  # noqa: E402
from .das import DASConfig, DASSampler  # noqa: E402
from .heuristic import CentralSampler, EdgeEnergyOptions, EdgeEnergySampler  # noqa: E402
from .pgadps import PGADPSOptions, PGADPSSampler  # noqa: E402

__all__ = [
    "Sampler", "bounded", "one_of", "register_sampler", "list_samplers", "sampler_class", "make_sampler", "sampler_options",
    "num_selected_for_ratio", "check_k", "uniform_indices", "SAMPLERS", "LiveControls", "call_kwargs",
    "FullSampler", "UniformSampler", "RandomSampler", "RandomOptions", "DPSSampler", "DPSOptions",
    "ADPSSampler", "ADPSOptions", "DASSampler", "DASConfig", "CentralSampler", "EdgeEnergySampler",
    "EdgeEnergyOptions", "PGADPSSampler", "PGADPSOptions",
]
