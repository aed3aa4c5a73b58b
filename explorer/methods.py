"""Every registered sampler run on one sample: picks, sampling matrices, scores, prediction; and the
tau0 sweep of the Compare page.

What a method accepts per call (tau0, heads, stochastic, generator) is read from its class
(`Sampler.call_options`), never from its name, so a sampler a user registers with
`das_core.register_sampler` is run the same way as the built-in ones.

About tau (see docs/method-notes.md): the deterministic picks `argmax(A)` (and the training-time
`argmax((A + G) / tau)`) do not depend on tau. What tau0 changes is the relaxed sampling matrix
`Selection.soft = softmax(A / tau)` and, in stochastic mode, the tempered picks `argmax(A / tau + G)`.
`run_method` returns both the hard and the soft matrix, and says which picks it shows (`mode`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np
import torch

from das_core import ModelSpec, SubsampledClassifier, list_samplers
from das_core.samplers import call_kwargs, sampler_class, sampler_options  # call_kwargs: the one rule, re-exported

__all__ = [
    "MethodResult", "call_kwargs", "run_method", "compare_methods", "untrained_model", "untrained_models", "soft_entropy",
    "tau_sweep", "app_threads", "use_app_threads",
]

STOCHASTIC_MODE = "stochastic (tempered: argmax(A/tau + G))"


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


@dataclass
class MethodResult:
    """What one method did with one sample (numpy, ready to plot).

    Args:
        method: the sampler's registered name.
        source: "untrained", or the checkpoint's label.
        trained: True for a checkpoint.
        indices: the picked frames, ascending.
        pick_rank: the step at which each row was picked.
        hard: the one-hot sampling matrix (k, T).
        soft: the relaxed rows (k, T), where the sampler has them.
        scores: per-frame scores (T,), where the sampler has them.
        head_scores: per-head attention (H, T) (DAS).
        tau: the temperature used for this sample.
        probs: class probabilities (None when run without the classifier).
        mode: "deterministic" or the stochastic mode.
        seconds: wall time of the run.
    """

    method: str
    source: str
    trained: bool
    indices: list
    pick_rank: list
    hard: np.ndarray
    soft: Optional[np.ndarray] = None
    scores: Optional[np.ndarray] = None
    head_scores: Optional[np.ndarray] = None
    tau: Optional[float] = None
    probs: Optional[np.ndarray] = None
    mode: str = "deterministic"
    seconds: float = 0.0

    @property
    def predicted(self) -> Optional[int]:
        return int(np.argmax(self.probs)) if self.probs is not None else None

    @property
    def confidence(self) -> Optional[float]:
        return float(np.max(self.probs)) if self.probs is not None else None


def _np(t) -> Optional[np.ndarray]:
    return None if t is None else t.detach().float().cpu().numpy()


@torch.no_grad()
def run_method(model, x: torch.Tensor, *, source: str = "untrained", trained: bool = False,
               tau0: Optional[float] = None, heads: Optional[Sequence[int]] = None, stochastic: bool = False,
               seed: int = 0, classify: bool = True) -> MethodResult:
    """Run one `SubsampledClassifier` (eval mode) on one sequence.

    Args:
        model: the classifier (its sampler decides which of tau0/heads/stochastic it takes).
        x: one sequence (T, C, H, W).
        source: what the result is labelled with ("untrained" or a checkpoint's label).
        trained: True for a checkpoint.
        tau0, heads, stochastic, seed: per-call options, each passed only to a sampler that accepts it.
        classify: False runs the sampler only (no head, no probabilities; a sampler that reads task features still runs the backbone on its picks).
    """
    t0 = time.perf_counter()
    model.eval()
    kw = call_kwargs(model.sampler, tau0=tau0, heads=heads, stochastic=stochastic, seed=seed)
    xb = x[None].float()
    if classify:
        logits, sel = model(xb, **kw)
        probs = torch.softmax(logits.float(), dim=-1)[0].numpy()
    else:
        sel, probs = model.select(xb, **kw), None
    sel = sel.detach()
    return MethodResult(
        method=model.sampler.name, source=source, trained=trained,
        indices=sel.indices[0].tolist(),
        pick_rank=sel.pick_rank[0].tolist() if sel.pick_rank is not None else list(range(sel.num_selected)),
        hard=_np(sel.matrix[0]),
        soft=_np(sel.soft[0]) if sel.soft is not None else None,
        scores=_np(sel.scores[0]) if sel.scores is not None else None,
        head_scores=_np(sel.head_scores[0]) if sel.head_scores is not None else None,
        tau=float(sel.tau[0]) if sel.tau is not None else None,
        probs=probs,
        mode=STOCHASTIC_MODE if "stochastic" in kw else "deterministic",
        seconds=time.perf_counter() - t0,
    )


def untrained_model(method: str, num_frames: int, num_selected: int, *, num_classes: int = 2, in_channels: int = 1,
                    frame_size: int = 28, backbone: str = "small_cnn", heads: int = 4,
                    seed: int = 0) -> SubsampledClassifier:
    """A freshly initialised (untrained, seeded) classifier for `method`, in eval mode.

    Args:
        method: a registered sampler name (`das_core.list_samplers()`).
        num_frames: T.
        num_selected: k (ignored by a sampler that keeps all frames, such as full).
        num_classes: classes of the task.
        in_channels: channels C of each frame.
        frame_size: H = W of the frames.
        backbone: a named backbone.
        heads: attention heads, for a sampler whose options take them.
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


def compare_methods(x: torch.Tensor, models: Mapping[str, Any], *, focus: Optional[str] = None,
                    tau0: Optional[float] = None, heads: Optional[Sequence[int]] = None, stochastic: bool = False,
                    seed: int = 0) -> dict[str, MethodResult]:
    """Run every model on x, in the order of `models`.

    Args:
        x: one sequence (T, C, H, W).
        models: method -> `explorer.lineup.ModelChoice` (a `LineUp`).
        focus: the one method the live options (tau0, heads, stochastic) act on; the others run with
            their own defaults. None: every method gets the options its sampler accepts.
        tau0, heads, stochastic, seed: the live options (see `run_method`).
    """
    out = {}
    for m, c in models.items():
        live = focus is None or m == focus
        out[m] = run_method(c.model, x, source=c.source, trained=c.trained, tau0=tau0 if live else None,
                            heads=heads if live else None, stochastic=stochastic and live, seed=seed)
    return out


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
    det = set(run_method(model, x, heads=heads, classify=False).indices)
    ent, changed = [], []
    for tau in taus:
        r = run_method(model, x, tau0=float(tau), heads=heads, classify=False)
        ent.append(soft_entropy(r.soft) if r.soft is not None else float("nan"))
        diff = []
        for d in range(draws):
            rs = run_method(model, x, tau0=float(tau), heads=heads, stochastic=True, seed=seed + d, classify=False)
            diff.append(len(set(rs.indices) - det) / max(1, len(rs.indices)))
        changed.append(float(np.mean(diff)))
    return {"taus": [float(t) for t in taus], "entropy": ent, "changed": changed}
