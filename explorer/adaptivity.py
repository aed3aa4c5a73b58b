"""What DAS's live controls change, and what its picks are made of, on one sample and over a split.

- `pick_change(model, x, ...)`: the picks with the live controls against the model's own picks (all heads,
  its trained tau0, deterministic): how many of the k frames changed on this sample.
- `split_change(model, xs, ...)`: on how many items of a split the controls change the picks at all.
- `blank_picks(model, shape)`: the picks on an all-zero input of the sample's shape: what the sampler picks
  when the input tells it nothing (its positional prior).
- `modal_set(model, xs)`: the one pick set it makes most often over items (the static set the model itself
  would choose) and the share of items that get exactly it.
- `prior_view(own, blank, modal)`: how many of the picks on this sample are its prior's.

The same measures as the static control of the grid (`das_core.experiments.static_control`), per sample.
No streamlit here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch

from das_core.experiments.static_control import modal_pick_set
from das_core.samplers import call_kwargs

__all__ = ["PickChange", "own_picks", "pick_change", "split_change", "blank_picks", "modal_set", "PriorView",
           "prior_view", "stack_items"]


@dataclass(frozen=True)
class PickChange:
    """Picks with the live controls against the model's own.

    Args:
        changed: picks of the controlled run that are not among the model's own.
        k: frames picked.
        own: the model's own picks (ascending).
        now: the picks with the controls (ascending).
    """

    changed: int
    k: int
    own: tuple
    now: tuple


@torch.no_grad()
def _picks(model, x: torch.Tensor, **controls) -> list[list[int]]:
    """Sorted picks of each sequence of x (N, T, C, H, W), sampler only."""
    kw = call_kwargs(model.sampler, **controls)
    sel = model.eval().select(x.float(), **kw)
    return [sorted(int(i) for i in row) for row in sel.indices.tolist()]


def own_picks(model, x: torch.Tensor) -> list[int]:
    """The model's own picks on one sequence x (T, C, H, W): all heads, its tau0, deterministic."""
    return _picks(model, x[None])[0]


def pick_change(model, x: torch.Tensor, *, heads: Optional[Sequence[int]] = None, tau0: Optional[float] = None,
                stochastic: bool = False, seed: int = 0) -> PickChange:
    """How many of the k picks the live controls change on one sequence x (T, C, H, W).

    Args:
        model: a `SubsampledClassifier` (its sampler takes the controls it accepts).
        x: the sequence.
        heads, tau0, stochastic, seed: the live controls (None / False: the model's own).
    """
    own = _picks(model, x[None])[0]
    now = _picks(model, x[None], heads=heads, tau0=tau0, stochastic=stochastic, seed=seed)[0]
    return PickChange(len(set(now) - set(own)), len(now), tuple(own), tuple(now))


def changed_items(model, xs: torch.Tensor, *, heads: Optional[Sequence[int]] = None, tau0: Optional[float] = None,
                  stochastic: bool = False, seed: int = 0, batch_size: int = 32) -> list[int]:
    """Indices of the sequences xs (N, T, C, H, W) whose picks the live controls change."""
    changed = []
    for start in range(0, xs.shape[0], batch_size):
        xb = xs[start:start + batch_size]
        own = _picks(model, xb)
        now = _picks(model, xb, heads=heads, tau0=tau0, stochastic=stochastic, seed=seed)
        changed += [start + i for i, (a, b) in enumerate(zip(own, now)) if a != b]
    return changed


def split_change(model, xs: torch.Tensor, *, heads: Optional[Sequence[int]] = None, tau0: Optional[float] = None,
                 stochastic: bool = False, seed: int = 0, batch_size: int = 32) -> float:
    """Share of the sequences xs (N, T, C, H, W) whose picks the live controls change (0..1; NaN for none)."""
    if xs.shape[0] == 0:
        return float("nan")
    return len(changed_items(model, xs, heads=heads, tau0=tau0, stochastic=stochastic, seed=seed,
                             batch_size=batch_size)) / xs.shape[0]


def blank_picks(model, shape: Sequence[int]) -> list[int]:
    """The picks on an all-zero sequence of `shape` (T, C, H, W): the sampler's prior."""
    return _picks(model, torch.zeros((1, *[int(v) for v in shape])))[0]


def modal_set(model, xs: torch.Tensor, *, batch_size: int = 32) -> tuple[list[int], float]:
    """(the most common pick set over the sequences xs (N, T, C, H, W), the share of them that get it)."""
    assert xs.shape[0] > 0, "modal_set needs at least one sequence"
    picks = [p for start in range(0, xs.shape[0], batch_size) for p in _picks(model, xs[start:start + batch_size])]
    return modal_pick_set(picks)  # the grid's static control chooses its set the same way


def stack_items(dataset, n: int) -> torch.Tensor:
    """The first n sequences of a data set as one (n, T, C, H, W) float tensor."""
    n = min(int(n), len(dataset))
    return torch.stack([dataset[i][0].float() for i in range(n)]) if n else torch.zeros(0)


@dataclass(frozen=True)
class PriorView:
    """One sample's picks against the sampler's prior.

    Args:
        own: its picks on this sample.
        blank: its picks on an all-zero input.
        modal: its most common pick set over a split (None where no split is at hand, e.g. an upload).
        modal_share: the share of the split's items that get exactly the modal set.
        shared_blank: picks on this sample that are also blank-input picks.
        shared_modal: picks on this sample that are also in the modal set (None without one).
    """

    own: tuple
    blank: tuple
    modal: Optional[tuple]
    modal_share: Optional[float]
    shared_blank: int
    shared_modal: Optional[int]

    @property
    def k(self) -> int:
        return len(self.own)


def prior_view(own: Sequence[int], blank: Sequence[int], modal: Optional[Sequence[int]] = None,
               modal_share: Optional[float] = None) -> PriorView:
    """How many of `own` are the blank-input picks and the modal set's (see `PriorView`)."""
    own_t, blank_t = tuple(sorted(int(i) for i in own)), tuple(sorted(int(i) for i in blank))
    modal_t = tuple(sorted(int(i) for i in modal)) if modal is not None else None
    return PriorView(own_t, blank_t, modal_t, modal_share, len(set(own_t) & set(blank_t)),
                     len(set(own_t) & set(modal_t)) if modal_t is not None else None)
