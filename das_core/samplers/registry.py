"""The sampler registry: `register_sampler`, `list_samplers`, `sampler_class`, `make_sampler`.

In the style of torchvision's `models/_api.py` and timm's `_registry.py`: a class decorator adds a
`Sampler` subclass under a name, and everything that lists or builds methods (the CLI, bench,
speed, the app's pages and figures) reads this registry. A user's own sampler joins in one line:

    @register_sampler("mine")
    class MySampler(Sampler):
        Options = MyOptions          # a dataclass of its keyword options (may be omitted)
        def select(self, x, **call): ...

What a sampler accepts is declared on its class (see `Sampler`): `learned`, `adaptive`,
`varies_per_input`, `takes_k`, `per_step_loss`, `call_options`, and its `Options` dataclass.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from ..errors import ConfigError
from .base import Sampler

__all__ = ["register_sampler", "list_samplers", "sampler_class", "make_sampler", "sampler_options",
           "num_selected_for_ratio", "SAMPLERS"]

# name -> class, in registration order (full, uniform, random, dps, adps, das, central, edge-energy, pgadps, then
# users' samplers)
SAMPLERS: dict[str, type[Sampler]] = {}


def register_sampler(name: Optional[str] = None):
    """Class decorator: add a `Sampler` subclass to the registry under `name` (default: `cls.name`).

    Registering a name twice with a different class raises ConfigError (re-running the same
    definition, e.g. in a notebook, replaces it).
    """

    def wrap(cls):
        if not (isinstance(cls, type) and issubclass(cls, Sampler)):
            raise ConfigError(f"register_sampler takes a subclass of das_core.Sampler, got {cls!r}.")
        key = str(name or cls.name).lower()
        if not key or key == "base":
            raise ConfigError("A registered sampler needs a name: @register_sampler('my-sampler').")
        old = SAMPLERS.get(key)
        if old is not None and old is not cls and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ConfigError(f"A sampler named {key!r} is already registered ({old.__qualname__}); choose another name.")
        if cls.Options is not None and not dataclasses.is_dataclass(cls.Options):
            raise ConfigError(f"{cls.__qualname__}.Options must be a dataclass of its keyword options.")
        cls.name = key
        SAMPLERS[key] = cls
        return cls

    return wrap


def list_samplers(*, learned: Optional[bool] = None, adaptive: Optional[bool] = None) -> list[str]:
    """Registered sampler names in registration order, optionally filtered by capability."""
    return [n for n, c in SAMPLERS.items()
            if (learned is None or c.learned == learned) and (adaptive is None or c.adaptive == adaptive)]


def sampler_class(name: str) -> type[Sampler]:
    """The class registered under `name` (ConfigError naming the choices when there is none)."""
    key = str(name).lower()
    if key not in SAMPLERS:
        raise ConfigError(f"Unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}.")
    return SAMPLERS[key]


def num_selected_for_ratio(num_frames: int, ratio: float) -> int:
    """k for a sampling ratio: `max(1, round(ratio * T))` (ratio 0.5 of 28 frames -> 14)."""
    if not 0 < ratio <= 1:
        raise ConfigError(f"The sampling ratio must be in (0, 1], got {ratio!r}; for example 0.5 keeps half the frames.")
    return max(1, int(round(ratio * num_frames)))


def make_sampler(name: str, num_frames: int, num_selected: Optional[int] = None, **options) -> Sampler:
    """Build a registered sampler.

    Args:
        name: a name from `list_samplers()` (built in: full, uniform, random, dps, adps, das, central, edge-energy,
            pgadps).
        num_frames: T, the frames of each input sequence.
        num_selected: k, the frames to keep (a sampler with `takes_k = False`, such as `full`,
            keeps all T and ignores it).
        **options: fields of the sampler's `Options` dataclass, e.g. `tau0` (learned samplers),
            `heads` (DAS), `seed` (random), `lr_multiplier` (DPS), `in_channels` (ADPS); each is checked against
            the bounds its field declares (`das_core.samplers.base.bounded` / `one_of`) before anything is built.
    """
    cls = sampler_class(name)
    if not cls.takes_k:
        num_selected = num_frames
    elif num_selected is None:
        raise ConfigError(f"The {cls.name} sampler needs num_selected (k); pass k or use num_selected_for_ratio(T, ratio).")
    options = cls.check_options(options)  # names, types and bounds (`Sampler.check_options`), before building
    return cls(num_frames, num_selected, **options)


def sampler_options(name: str, options: dict) -> dict:
    """The entries of `options` that sampler `name` accepts, None values dropped (a training config
    holds tau0, heads, ... for every method; each sampler takes what its `Options` declares)."""
    accepted = set(sampler_class(name).option_names())
    return {k: v for k, v in options.items() if k in accepted and v is not None}
