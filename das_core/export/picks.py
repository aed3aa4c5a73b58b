"""Each checkpoint run on the study: its picks on the study's frame numbers, scores, tau, prediction.

Each run is a `das_core.SampleRun` (the result type the app's pages use too). `probabilities_meaningful`
is the one rule for "foreign" models (the app's Compare page applies the same): a model's class
probabilities are reported only when it was trained on the study's data set; on data it never saw they
look confident and mean nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch

from ..errors import CheckpointError
from ..sample_run import SampleRun, probabilities_meaningful, run_on_sample
from .settings import EXTRA_COLORS, METHOD_COLORS, ExportSettings
from .study import Study

__all__ = ["ExportModel", "SampleRun", "probabilities_meaningful", "load_export_models", "run_model", "run_models",
           "assign_colors"]


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


def run_model(em: ExportModel, study: Study, settings: ExportSettings, color: str) -> SampleRun:
    """Run one model on the study resampled to its T frames and frame size (`das_core.run_on_sample`).

    Args:
        em: the model.
        study: the study.
        settings: the export settings.
        color: its colour in the images.

    Raises:
        CheckpointError: the model expects another channel count than the study has.
    """
    spec = em.model.spec
    x, frame_map = study.input_for(spec.num_frames, spec.frame_size, spec.in_channels)  # (T, C, S, S), (T,)
    return run_on_sample(em.model, x, controls=settings.controls(), frame_map=frame_map, source=em.name,
                         trained=em.trained, path=em.path, dataset=study.dataset, color=color)


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


def run_models(models: Sequence[ExportModel], study: Study, settings: ExportSettings) -> list[SampleRun]:
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
