"""The Compare page's export: the current sample and models through `das_core.export`, as bytes to
download (built in a temporary folder that is removed afterwards; nothing is written to the project)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional

from das_core import export as das_export
from das_core.export import ExportSettings

from .samples import SampleData

if TYPE_CHECKING:
    from .lineup import ModelChoice

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


def export_models(models: Mapping[str, "ModelChoice"]) -> list[das_export.ExportModel]:
    """The page's line-up as export models, each named by its checkpoint file (or "untrained").

    Args:
        models: method -> `ModelChoice` (the page's `LineUp`).
    """
    return [das_export.ExportModel(c.model, Path(c.path).name if c.trained and c.path else str(c.source),
                                   c.path if c.trained else None, bool(c.trained)) for c in models.values()]


def export_bytes(s: SampleData, models: Mapping[str, "ModelChoice"],
                 settings: Optional[das_export.ExportSettings] = None) -> dict[str, bytes]:
    """Every artefact of the export of this comparison, name -> bytes.

    Args:
        s: the sample.
        models: the page's line-up (method -> `ModelChoice`).
        settings: the export settings (the page passes its live DAS controls).
    """
    with tempfile.TemporaryDirectory(prefix="das_export_") as tmp:
        written = das_export.export_study(export_models(models), study_of(s), tmp, settings=settings)
        return {name: Path(p).read_bytes() for name, p in written.items()}
