"""One model run on one sample or study: the one result type the app's pages, the export and the CLI share.

`run_on_sample(model, x, ...)` runs a `SubsampledClassifier` (eval mode, no gradients) on one sequence
(T, C, H, W) and returns a `SampleRun`: the picks among the model's T input frames, the same picks as frames
of the study they came from (`frame_map`, where the model's input was resampled from a longer study), the
sampling matrices, scores, temperature and prediction, numpy throughout.

The per-call options (tau0, heads, the stochastic draw) go through `das_core.samplers.call_kwargs`, so each
sampler gets only the ones its class declares; a sampler a user registers runs the same way as the built-in
ones.

About tau (see docs/method-notes.md): the deterministic picks `argmax(A)` do not depend on tau. What tau0
changes is the relaxed matrix `soft = softmax(A / tau)` and, in stochastic mode, the tempered picks
`argmax(A / tau + G)`; `mode` says which picks a run shows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
import torch

from .samplers.controls import LiveControls, call_kwargs

__all__ = ["SampleRun", "run_on_sample", "probabilities_meaningful", "UNTRAINED", "STOCHASTIC_MODE"]

UNTRAINED = "untrained"
STOCHASTIC_MODE = "stochastic"  # the tempered picks argmax(A / tau + G)


@dataclass
class SampleRun:
    """What one model did with one sample (numpy, ready to plot, draw and write).

    Args:
        method: the sampler's registered name.
        label: its display name ("DAS").
        source: where the model came from: the checkpoint's name, or "untrained".
        trained: True for a checkpoint.
        indices: the picked frames of the model's T-frame input, ascending.
        pick_rank: the step at which each pick was made (0 = first), aligned with `indices`.
        frame_map: the study frame of each of the model's T frames (0..T-1 when the input is the study).
        hard: the one-hot sampling matrix (k, T).
        soft: the relaxed rows (k, T), where the sampler has them.
        scores: per-frame scores (T,), where the sampler has them.
        head_scores: per-head attention (H, T) (DAS).
        tau: the temperature used for this sample, where the sampler has one.
        probs: class probabilities (C,) (None when run without the classifier).
        classes: the class names the model was trained with (None where its meta has none).
        meaningful: True when the model was trained on the sample's data set (see `probabilities_meaningful`).
        path: the checkpoint file, where there is one (never written into an export: only `source` is).
        color: its colour ("#rrggbb") in the export's images (None until one is assigned).
        meta: the checkpoint's meta ({} for an untrained model).
        spec: the model's `ModelSpec` as a dict.
        mode: "deterministic" or "stochastic".
        seconds: wall time of the run.
    """

    method: str
    label: str
    source: str
    trained: bool
    indices: list
    pick_rank: list
    frame_map: list
    hard: Optional[np.ndarray] = None
    soft: Optional[np.ndarray] = None
    scores: Optional[np.ndarray] = None
    head_scores: Optional[np.ndarray] = None
    tau: Optional[float] = None
    probs: Optional[np.ndarray] = None
    classes: Optional[list] = None
    meaningful: bool = False
    path: Optional[str] = None
    color: Optional[str] = None
    meta: dict = field(default_factory=dict)
    spec: dict = field(default_factory=dict)
    mode: str = "deterministic"
    seconds: float = 0.0

    @property
    def k(self) -> int:
        return len(self.indices)

    @property
    def frames(self) -> list:
        """The picks as frames of the study (`frame_map` of `indices`)."""
        return [int(self.frame_map[i]) for i in self.indices]

    @property
    def predicted_index(self) -> Optional[int]:
        return int(np.argmax(self.probs)) if self.probs is not None else None

    @property
    def predicted(self) -> Optional[str]:
        """The predicted class's name (its index as text where the model names no classes)."""
        i = self.predicted_index
        if i is None:
            return None
        return str(self.classes[i]) if self.classes and i < len(self.classes) else str(i)

    @property
    def confidence(self) -> Optional[float]:
        return float(np.max(self.probs)) if self.probs is not None else None

    def score_of(self, model_frame: int) -> Optional[float]:
        """The sampler's score of one of the model's frames (None where it has none)."""
        return None if self.scores is None else float(self.scores[int(model_frame)])


def probabilities_meaningful(meta: Optional[dict], dataset: Optional[str], trained: bool = True) -> bool:
    """True when a model's class probabilities mean something on data of `dataset`: it is a trained
    checkpoint whose meta says it was trained on that same data set (on data a model never saw its
    probabilities look confident and mean nothing).

    Args:
        meta: the checkpoint's meta (`model.meta`).
        dataset: the data set of the sample (None for a user's file: never).
        trained: False for a freshly initialised model (never).
    """
    return bool(trained and dataset and (meta or {}).get("dataset") == dataset)


def _np(t) -> Optional[np.ndarray]:
    return None if t is None else t.detach().float().cpu().numpy()


@torch.no_grad()
def run_on_sample(model, x: torch.Tensor, *, controls: Optional[LiveControls] = None,
                  frame_map: Optional[Sequence[int]] = None, source: str = UNTRAINED, trained: bool = False,
                  path: Optional[str] = None, dataset: Optional[str] = None, color: Optional[str] = None,
                  classify: bool = True) -> SampleRun:
    """Run one `SubsampledClassifier` (eval mode) on one sequence.

    Args:
        model: the classifier (its sampler decides which of the controls it takes).
        x: one sequence (T, C, H, W), already at the model's T and frame size.
        controls: the live controls (None: every model's own defaults); a `focus` on another method leaves
            this one with its defaults.
        frame_map: the study frame of each of the T frames (default 0..T-1).
        source: the checkpoint's name, or "untrained".
        trained: True for a checkpoint.
        path: the checkpoint file, where there is one.
        dataset: the sample's data set, for `probabilities_meaningful` (None: a user's file).
        color: its colour in an export's images.
        classify: False runs the sampler only (no head, no probabilities; a sampler that reads task
            features still runs the backbone on its picks).
    """
    t0 = time.perf_counter()
    model.eval()
    kw = call_kwargs(model.sampler, controls or LiveControls())
    xb = x[None].float()  # (1, T, C, H, W)
    if classify:
        logits, sel = model(xb, **kw)  # (1, classes), Selection of (1, k)
        probs = torch.softmax(logits.float(), dim=-1)[0].cpu().numpy()
    else:
        sel, probs = model.select(xb, **kw), None
    sel = sel.detach()
    idx = [int(i) for i in sel.indices[0].tolist()]
    T = int(x.shape[0])
    meta: dict[str, Any] = dict(getattr(model, "meta", None) or {})
    spec = getattr(model, "spec", None)
    return SampleRun(
        method=model.sampler.name, label=model.sampler.display_name(), source=str(source), trained=bool(trained),
        indices=idx,
        pick_rank=sel.pick_rank[0].tolist() if sel.pick_rank is not None else list(range(len(idx))),
        frame_map=[int(v) for v in frame_map] if frame_map is not None else list(range(T)),
        hard=_np(sel.matrix[0]),
        soft=_np(sel.soft[0]) if sel.soft is not None else None,
        scores=_np(sel.scores[0]) if sel.scores is not None else None,
        head_scores=_np(sel.head_scores[0]) if sel.head_scores is not None else None,
        tau=float(sel.tau[0]) if sel.tau is not None else None,
        probs=probs,
        classes=list(meta.get("classes") or []) or None,
        meaningful=probabilities_meaningful(meta, dataset, trained),
        path=str(path) if path else None, color=color, meta=meta,
        spec=spec.to_dict() if spec is not None else {},
        mode=STOCHASTIC_MODE if "stochastic" in kw else "deterministic",
        seconds=time.perf_counter() - t0,
    )
