"""The Compare page's export: the current sample and models through `das_core.export`, as bytes to
download (built in a temporary folder that is removed afterwards; nothing is written to the project).

An upload is exported as `UPLOAD_LABEL`, never by its file name (which may hold the patient's name):
what the export says about a study is `das_core.export.study.export_meta` (`EXPORT_META_KEYS` only)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional

from das_core import export as das_export
from das_core.export import ExportSettings

from .samples import SampleData

if TYPE_CHECKING:
    from .lineup import ModelChoice

__all__ = ["DOWNLOADS", "ExportSettings", "UPLOAD_LABEL", "study_of", "export_models", "export_bytes"]

UPLOAD_LABEL = "uploaded study"  # what an export calls the session's upload (on screen it keeps its file name)

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
    """The app's sample as an export `Study`: an upload is `UPLOAD_LABEL` with no data set (so no model's
    class probabilities are reported for it); an item of a data set is "<data set> <split> #<index>".

    Args:
        s: the sample.
    """
    upload = s.is_upload
    meta = dict(s.meta)  # held by the Study in memory; the export writes only its allowlisted keys
    if upload:
        name = UPLOAD_LABEL
    else:
        split, index = meta.get("split"), meta.get("index")
        if isinstance(s.source, tuple) and len(s.source) == 3:  # (data set, split, options JSON) of the picker
            split = s.source[1]
            try:
                meta["dataset_options"] = json.loads(s.source[2])
            except (TypeError, ValueError):
                pass
            tail = str(s.key).rsplit("|", 1)[-1]
            index = int(tail) if tail.isdigit() else index
        meta.update({"split": split, "index": index})
        name = s.dataset + (f" {split or ''} #{index}".replace("  ", " ") if index is not None else "")
    return das_export.study_from_tensor(s.x, name, kind=s.kind, dataset=None if upload else s.dataset, y=s.y,
                                        classes=s.classes, meta=meta)


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
    # a private folder per call (no session sees another's export); in it the export is built in a temporary
    # sibling folder and renamed to "export" once every file is written (das_core.export.core)
    with tempfile.TemporaryDirectory(prefix="das_export_") as tmp:
        written = das_export.export_study(export_models(models), study_of(s), Path(tmp) / "export", settings=settings)
        return {name: Path(p).read_bytes() for name, p in written.items()}
