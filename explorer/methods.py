"""The line-up run on one sample (each entry a `das_core.SampleRun`, the one result type the export
shares), untrained models, and the tau0 sweep of the Compare page.

What a method accepts per call (tau0, heads, stochastic, generator) is read from its class
(`Sampler.call_options`), never from its name, so a sampler a user registers with
`das_core.register_sampler` is run the same way as the built-in ones.

About tau (see docs/method-notes.md): the deterministic picks `argmax(A)` (and the training-time
`argmax((A + G) / tau)`) do not depend on tau. What tau0 changes is the relaxed sampling matrix
`Selection.soft = softmax(A / tau)` and, in stochastic mode, the tempered picks `argmax(A / tau + G)`.
A `SampleRun` holds both the hard and the soft matrix, and says which picks it shows (`mode`).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np
import torch

from das_core import ModelSpec, SubsampledClassifier, list_samplers
from das_core.nn.backbones import LIGHT_BACKBONE
from das_core.sample_run import SampleRun, run_on_sample
from das_core.samplers import LiveControls, sampler_class, sampler_options

__all__ = [
    "SampleRun", "LiveControls", "run_on_sample", "run_choice", "run_at_tau0", "compare_methods", "untrained_model", "untrained_models",
    "soft_entropy", "tau_sweep", "app_threads", "use_app_threads",
]


def app_threads(cores: Optional[int] = None) -> int:
    """Torch CPU threads for the app's inference: $DAS_APP_THREADS when set, else half the cores (at least 1).

    The app's models are small and run on one sample at a time, while the server, other sessions and, on a
    laptop, the browser need the other cores: with torch's default (every core) on 2 cores, a 7 ms forward
    pass took ~100 ms in the app while the browser drew the page (threads spinning against each other).
    """
    value = os.environ.get("DAS_APP_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return max(1, (cores if cores is not None else os.cpu_count() or 1) // 2)


def use_app_threads() -> int:
    """Set torch's CPU threads to `app_threads()`; returns it."""
    n = app_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def run_choice(choice, x: torch.Tensor, controls: Optional[LiveControls] = None, *, classify: bool = True,
               dataset: Optional[str] = None) -> SampleRun:
    """`das_core.run_on_sample` of one line-up entry (`explorer.lineup.ModelChoice`): its model, labelled
    with where it came from.

    Args:
        choice: the line-up entry.
        x: one sequence (T, C, H, W).
        controls: the live controls (None: the model's own defaults).
        classify: False runs the sampler only.
        dataset: the sample's data set (for `SampleRun.meaningful`; None for a user's file).
    """
    return run_on_sample(choice.model, x, controls=controls, source=choice.source, trained=choice.trained,
                         path=choice.path, dataset=dataset, classify=classify)


def run_at_tau0(choice, x: torch.Tensor, controls: LiveControls, classified: SampleRun, *,
                dataset: Optional[str] = None) -> SampleRun:
    """The focus method's run with `controls`, reusing `classified` (its deterministic run with the same heads
    at its own tau0) where the controls cannot change the picks.

    Deterministic picks argmax(A) do not depend on tau0, so neither does the prediction made on them: a tau0
    step runs the sampler alone (its soft rows and tau change) and keeps `classified`'s prediction. A
    stochastic draw, whose picks do depend on tau0, runs in full.
    """
    model = choice.model
    if controls.stochastic:
        return run_choice(choice, x, controls, dataset=dataset)
    if controls.tau0 is None or controls.tau0 == model.sampler.tau0:  # the model's own tau0: that run is this one
        return classified
    r = run_choice(choice, x, controls, classify=False, dataset=dataset)
    if r.indices != classified.indices:  # never expected; the full run is the safe answer
        return run_choice(choice, x, controls, dataset=dataset)
    return dataclasses.replace(r, probs=classified.probs)


def untrained_model(method: str, num_frames: int, num_selected: int, *, num_classes: int = 2, in_channels: int = 1,
                    frame_size: int = 28, backbone: str = LIGHT_BACKBONE, heads: Optional[int] = None,
                    seed: int = 0) -> SubsampledClassifier:
    """A freshly initialised (untrained, seeded) classifier for `method`, in eval mode.

    Args:
        method: a registered sampler name (`das_core.list_samplers()`).
        num_frames: T.
        num_selected: k (ignored by a sampler that keeps all frames, such as full).
        num_classes: classes of the task.
        in_channels: channels C of each frame.
        frame_size: H = W of the frames.
        backbone: a named backbone (default the light one, fast on a CPU).
        heads: attention heads, for a sampler whose options take them (None: its own default).
        seed: seed of the weights (and of a sampler whose options take one).
    """
    cls = sampler_class(method)
    spec = ModelSpec(
        method=cls.name, num_frames=int(num_frames), num_selected=int(num_selected if cls.takes_k else num_frames),
        backbone=backbone, num_classes=int(num_classes), in_channels=int(in_channels), frame_size=int(frame_size),
        sampler_options=sampler_options(cls.name, {"heads": heads, "in_channels": in_channels, "seed": seed}),
    )
    torch.manual_seed(seed)
    return SubsampledClassifier.from_config(spec).eval()


def untrained_models(num_frames: int, num_selected: int, methods: Optional[Iterable[str]] = None,
                     **options) -> dict[str, SubsampledClassifier]:
    """method -> `untrained_model(method, num_frames, num_selected, **options)`.

    Args:
        num_frames: T.
        num_selected: k.
        methods: sampler names (default: every registered one, in registration order).
        **options: keyword arguments of `untrained_model`.
    """
    names = list_samplers() if methods is None else list(methods)
    return {m: untrained_model(m, num_frames, num_selected, **options) for m in names}


def compare_methods(x: torch.Tensor, models: Mapping[str, Any], controls: Optional[LiveControls] = None, *,
                    dataset: Optional[str] = None) -> dict[str, SampleRun]:
    """Run every line-up entry on x, in the order of `models`.

    Args:
        x: one sequence (T, C, H, W).
        models: method -> `explorer.lineup.ModelChoice` (a `LineUp`).
        controls: the live controls; their `focus` (one method) leaves the others with their own defaults,
            None gives every method the options its sampler accepts.
        dataset: the sample's data set (for `SampleRun.meaningful`).
    """
    return {m: run_choice(c, x, controls, dataset=dataset) for m, c in models.items()}


def soft_entropy(soft: np.ndarray) -> float:
    """Mean entropy (nats) of the relaxed rows (k, T): low = sharp (near one-hot), high = spread out."""
    p = np.clip(np.asarray(soft, dtype=np.float64), 1e-12, 1.0)
    return float(-(p * np.log(p)).sum(axis=-1).mean())


@torch.no_grad()
def tau_sweep(model, x: torch.Tensor, taus: Sequence[float] = tuple(np.logspace(-1.5, 1, 9)),
              heads: Optional[Sequence[int]] = None, draws: int = 8, seed: int = 0) -> dict:
    """What tau0 changes on one sample (sampler only, no backbone).

    Args:
        model: a classifier whose sampler takes tau0.
        x: one sequence (T, C, H, W).
        taus: the tau0 values.
        heads: the active heads (None: all).
        draws: seeded stochastic draws per tau0.
        seed: seed of the first draw.

    Returns:
        {"taus", "entropy": mean soft-row entropy per tau0, "changed": share of tempered stochastic
        picks that differ from the deterministic picks, averaged over the draws}.
    """
    hs = tuple(heads) if heads is not None else None
    det = set(run_on_sample(model, x, controls=LiveControls(heads=hs), classify=False).indices)
    ent, changed = [], []
    for tau in taus:
        r = run_on_sample(model, x, controls=LiveControls(tau0=float(tau), heads=hs), classify=False)
        ent.append(soft_entropy(r.soft) if r.soft is not None else float("nan"))
        diff = []
        for d in range(draws):
            rs = run_on_sample(model, x, controls=LiveControls(tau0=float(tau), heads=hs, stochastic=True, seed=seed + d),
                               classify=False)
            diff.append(len(set(rs.indices) - det) / max(1, len(rs.indices)))
        changed.append(float(np.mean(diff)))
    return {"taus": [float(t) for t in taus], "entropy": ent, "changed": changed}
