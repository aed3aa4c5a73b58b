"""Each checkpoint run on the study: its picks on the study's frame numbers, scores, tau, prediction.

`probabilities_meaningful` is the one rule for "foreign" models (the app's Compare page applies the
same): a model's class probabilities are reported only when it was trained on the study's data set;
on data it never saw they look confident and mean nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from ..errors import CheckpointError
from ..samplers.controls import call_kwargs as _call_kwargs
from .settings import EXTRA_COLORS, METHOD_COLORS, ExportSettings
from .study import Study

__all__ = ["ExportModel", "MethodPicks", "probabilities_meaningful", "load_export_models", "call_kwargs",
           "run_model", "run_models", "assign_colors"]


@dataclass
class ExportModel:
    """One model to export the picks of.

    Args:
        model: a `SubsampledClassifier` (`model.meta` is the checkpoint's meta; {} for an untrained one).
        name: what the report calls it (the checkpoint's file name, or "untrained").
        path: the checkpoint file, where there is one (read for its run info; an export never writes it).
        trained: False for a freshly initialised model.
    """

    model: Any
    name: str
    path: Optional[str] = None
    trained: bool = True

    @property
    def meta(self) -> dict:
        return dict(getattr(self.model, "meta", None) or {})


@dataclass
class MethodPicks:
    """What one model did with the study (numpy, ready to draw and write).

    Args:
        method: the sampler's registered name.
        label: its display name ("DAS").
        checkpoint: the checkpoint's name (file name, or "untrained").
        path: the checkpoint file, where there is one (never written to an export: only `checkpoint` is).
        color: its colour ("#rrggbb") in every image.
        model_frames: the picked frames of the model's T-frame input, ascending.
        frames: the same picks as frames of the study (`Study.input_for` maps them).
        pick_rank: the step at which each pick was made (0 = first).
        frame_map: study frame of each of the model's T frames.
        scores: per-frame scores (T,) of the model's input, where the sampler has them.
        head_scores: per-head attention (H, T) (DAS).
        tau: the temperature used for this study, where the sampler has one.
        probs: class probabilities (C,).
        classes: the class names the model was trained with.
        meaningful: True when the model was trained on the study's data set (its probabilities are reported).
        meta: the checkpoint's meta.
        spec: the model's `ModelSpec` as a dict.
        mode: "deterministic" or "stochastic".
        seconds: wall time of the run.
    """

    method: str
    label: str
    checkpoint: str
    path: Optional[str]
    color: str
    model_frames: list
    frames: list
    pick_rank: list
    frame_map: list
    scores: Optional[np.ndarray] = None
    head_scores: Optional[np.ndarray] = None
    tau: Optional[float] = None
    probs: Optional[np.ndarray] = None
    classes: Optional[list] = None
    meaningful: bool = False
    meta: dict = field(default_factory=dict)
    spec: dict = field(default_factory=dict)
    mode: str = "deterministic"
    seconds: float = 0.0

    @property
    def k(self) -> int:
        return len(self.model_frames)

    @property
    def predicted(self) -> Optional[str]:
        if self.probs is None:
            return None
        i = int(np.argmax(self.probs))
        return str(self.classes[i]) if self.classes and i < len(self.classes) else str(i)

    def score_of(self, model_frame: int) -> Optional[float]:
        """The sampler's score of one of the model's frames (None where it has none)."""
        return None if self.scores is None else float(self.scores[int(model_frame)])


def probabilities_meaningful(meta: Optional[Mapping], dataset: Optional[str], trained: bool = True) -> bool:
    """True when a model's class probabilities mean something on data of `dataset`: it is a trained
    checkpoint whose meta says it was trained on that same data set.

    Args:
        meta: the checkpoint's meta (`model.meta`).
        dataset: the data set of the study (None for a user's file: never).
        trained: False for a freshly initialised model (never).
    """
    return bool(trained and dataset and (meta or {}).get("dataset") == dataset)


def load_export_models(paths: Sequence[Union[str, Path]]) -> list[ExportModel]:
    """`das_core.load_model` of each checkpoint (CheckpointError with one sentence for a bad one).

    Args:
        paths: the checkpoint files.
    """
    from ..checkpoints import load_model

    if not paths:
        raise CheckpointError("No checkpoint given; pass --checkpoint FILE (for example "
                              "checkpoints/synthetic-volumes-das.pt).")
    return [ExportModel(load_model(p), Path(p).name, str(p), True) for p in paths]


def call_kwargs(sampler, settings: ExportSettings) -> dict:
    """The per-call options (tau0, heads, stochastic + generator) `sampler` accepts, from `settings`
    (`das_core.samplers.call_kwargs` of `settings.controls()`).

    Args:
        sampler: a `das_core.Sampler` (its `call_options` say what it takes).
        settings: the export settings (`focus` limits them to one method).
    """
    return _call_kwargs(sampler, settings.controls())


def _np(t) -> Optional[np.ndarray]:
    return None if t is None else t.detach().float().cpu().numpy()


@torch.no_grad()
def run_model(em: ExportModel, study: Study, settings: ExportSettings, color: str) -> MethodPicks:
    """Run one model on the study resampled to its T frames and frame size.

    Args:
        em: the model.
        study: the study.
        settings: the export settings.
        color: its colour in the images.

    Raises:
        CheckpointError: the model expects another channel count than the study has.
    """
    t0 = time.perf_counter()
    model = em.model.eval()
    spec = model.spec
    x, frame_map = study.input_for(spec.num_frames, spec.frame_size, spec.in_channels)  # (T, C, S, S), (T,)
    kw = call_kwargs(model.sampler, settings)
    logits, sel = model(x[None], **kw)  # (1, classes), Selection of (1, k)
    sel = sel.detach()
    idx = sel.indices[0].tolist()
    meta = em.meta
    return MethodPicks(
        method=model.sampler.name, label=model.sampler.display_name(), checkpoint=em.name, path=em.path, color=color,
        model_frames=[int(i) for i in idx], frames=[int(frame_map[i]) for i in idx],
        pick_rank=sel.pick_rank[0].tolist() if sel.pick_rank is not None else list(range(len(idx))),
        frame_map=[int(v) for v in frame_map],
        scores=_np(sel.scores[0]) if sel.scores is not None else None,
        head_scores=_np(sel.head_scores[0]) if sel.head_scores is not None else None,
        tau=float(sel.tau[0]) if sel.tau is not None else None,
        probs=torch.softmax(logits.float(), dim=-1)[0].numpy(),
        classes=list(meta.get("classes") or []) or None,
        meaningful=probabilities_meaningful(meta, study.dataset, em.trained),
        meta=meta, spec=spec.to_dict(), mode="stochastic" if "stochastic" in kw else "deterministic",
        seconds=time.perf_counter() - t0,
    )


def assign_colors(methods: Sequence[str]) -> list[str]:
    """One colour per row: the method's own colour the first time it appears, then the next extra colour."""
    used: set = set()
    extra = iter(EXTRA_COLORS * (1 + len(methods) // len(EXTRA_COLORS)))
    out = []
    for m in methods:
        c = METHOD_COLORS.get(m)
        if c is None or c in used:
            c = next(extra)
        used.add(c)
        out.append(c)
    return out


def run_models(models: Sequence[ExportModel], study: Study, settings: ExportSettings) -> list[MethodPicks]:
    """`run_model` of each model, in order, each with its colour (see `assign_colors`).

    Args:
        models: the models.
        study: the study.
        settings: the export settings (`threads` sets torch's CPU threads while they run).
    """
    colors = assign_colors([em.model.sampler.name for em in models])
    before = torch.get_num_threads()
    if settings.threads:
        torch.set_num_threads(int(settings.threads))
    try:
        return [run_model(em, study, settings, c) for em, c in zip(models, colors)]
    finally:
        torch.set_num_threads(before)
