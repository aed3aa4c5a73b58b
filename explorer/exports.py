"""The Compare page's export: the current sample and models through `das_core.export`, as bytes to
download (built in a temporary folder that is removed afterwards; nothing is written to the project)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Mapping, Optional, Sequence

from das_core import export as das_export
from das_core.export import ExportSettings

from .samples import SampleData

__all__ = ["DOWNLOADS", "ExportSettings", "study_of", "export_models", "export_bytes"]

# artefact -> (button label, MIME type)
DOWNLOADS = {
    "sequence.mp4": ("MP4 with picks", "video/mp4"),
    "sequence.gif": ("GIF", "image/gif"),
    "report.html": ("Report (HTML)", "text/html"),
    "picks.csv": ("picks.csv", "text/csv"),
    "picks.json": ("picks.json", "application/json"),
    "picks.png": ("picks.png", "image/png"),
}


def study_of(s: SampleData) -> das_export.Study:
    """The app's sample as an export `Study` (an upload is named by its file; no data set, so no model's
    class probabilities are reported for it).

    Args:
        s: the sample.
    """
    upload = s.dataset.startswith("upload: ")
    name = s.dataset[len("upload: "):] if upload else s.dataset
    if not upload and s.meta.get("index") is not None:
        name += f" {s.meta.get('split', '')} #{s.meta['index']}".replace("  ", " ")
    return das_export.study_from_tensor(s.x, name, kind=s.kind, dataset=None if upload else s.dataset, y=s.y,
                                        classes=s.classes, meta=s.meta)


def export_models(models: Mapping[str, tuple], entries: Sequence) -> list[das_export.ExportModel]:
    """The page's models (method -> (model, source label, trained)) as export models, each named by its
    checkpoint file where the source is a listed checkpoint.

    Args:
        models: the Compare page's models.
        entries: the checkpoint entries (`catalogue.list_checkpoints`), to find each source's file.
    """
    paths = {e.label: e.path for e in entries}
    out = []
    for model, source, trained in models.values():
        path: Optional[str] = paths.get(source) if trained else None
        out.append(das_export.ExportModel(model, Path(path).name if path else str(source), path, bool(trained)))
    return out


def export_bytes(s: SampleData, models: Mapping[str, tuple], entries: Sequence,
                 settings: Optional[das_export.ExportSettings] = None) -> dict[str, bytes]:
    """Every artefact of the export of this comparison, name -> bytes.

    Args:
        s: the sample.
        models: the Compare page's models (method -> (model, source label, trained)).
        entries: the checkpoint entries.
        settings: the export settings (the page passes its live DAS controls).
    """
    with tempfile.TemporaryDirectory(prefix="das_export_") as tmp:
        written = das_export.export_study(export_models(models, entries), study_of(s), tmp, settings=settings)
        return {name: Path(p).read_bytes() for name, p in written.items()}
