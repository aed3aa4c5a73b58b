"""The live controls a sampler may take per call (`LiveControls`) and the one function that turns them
into the keyword arguments a given sampler accepts (`call_kwargs`).

What a sampler accepts is declared on its class (`Sampler.call_options`), never decided by its name, so
the app's pages, the export and the CLI pass tau0, heads and the stochastic draw the same way to the
built-in samplers and to one a user registers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch

__all__ = ["LiveControls", "call_kwargs"]


@dataclass(frozen=True)
class LiveControls:
    """Per-call options of the samplers that take them (no retraining).

    Args:
        tau0: base temperature (None: each model's own).
        heads: indices of the active attention heads (None: all).
        stochastic: tempered stochastic picks argmax(A/tau + G) instead of the deterministic argmax(A).
        seed: seed of the stochastic draw's generator.
        focus: the one method the controls act on (None: every method that accepts them).
    """

    tau0: Optional[float] = None
    heads: Optional[tuple] = None
    stochastic: bool = False
    seed: int = 0
    focus: Optional[str] = None

    def __post_init__(self):
        if self.heads is not None:
            object.__setattr__(self, "heads", tuple(sorted(int(h) for h in self.heads)))


def call_kwargs(sampler, controls: Optional[LiveControls] = None, *, tau0: Optional[float] = None,
                heads: Optional[Sequence[int]] = None, stochastic: bool = False, seed: int = 0) -> dict[str, Any]:
    """The keyword arguments `sampler` accepts (its `call_options`) among the controls given.

    Args:
        sampler: a `das_core.Sampler`.
        controls: the live controls; when given, the keyword arguments below are ignored and its `focus`
            leaves every other method with its own defaults.
        tau0, heads, stochastic, seed: the same controls given one by one.
    """
    if controls is None:
        controls = LiveControls(tau0=tau0, heads=tuple(heads) if heads is not None else None,
                                stochastic=bool(stochastic), seed=int(seed))
    if controls.focus is not None and getattr(sampler, "name", None) != controls.focus:
        return {}
    accepts = getattr(sampler, "call_options", frozenset())
    kw: dict[str, Any] = {}
    if controls.tau0 is not None and "tau0" in accepts:
        kw["tau0"] = float(controls.tau0)
    if controls.heads is not None and "heads" in accepts:
        kw["heads"] = [int(h) for h in controls.heads]
    if controls.stochastic and "stochastic" in accepts:
        kw["stochastic"] = True
        if "generator" in accepts:
            kw["generator"] = torch.Generator().manual_seed(int(controls.seed))
    return kw
