"""picks.csv and picks.json: the picks as rows, and the whole export as one JSON document.

picks.json's "input" is `export_meta(study)` (the keys of `EXPORT_META_KEYS` only); a checkpoint is named
by its file name, never by its path.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
from typing import Optional, Sequence

from .. import __version__
from ..checkpoints import jsonable
from .picks import SampleRun
from .runinfo import beside_checkpoint
from .settings import DISCLAIMER, ExportSettings
from .study import Study, export_meta, safe_options

__all__ = ["CSV_FIELDS", "picks_rows", "picks_csv", "picks_document", "run_info"]

CSV_FIELDS = ("method", "checkpoint", "rank", "frame", "model_frame", "score")


def picks_rows(results: Sequence[SampleRun]) -> list[dict]:
    """One row per method and pick, in ascending frame order.

    Args:
        results: the methods' picks.

    Returns:
        dicts with `CSV_FIELDS`: method, checkpoint, rank (the step at which the pick was made, 0 =
        first), frame (the study's frame number), model_frame (the frame of the model's T-frame
        input), score (the sampler's score of that frame, None where it has none).
    """
    rows = []
    for r in results:
        for j, (mf, f) in enumerate(zip(r.indices, r.frames)):
            rows.append({"method": r.method, "checkpoint": r.source, "rank": int(r.pick_rank[j]), "frame": int(f),
                         "model_frame": int(mf), "score": r.score_of(mf)})
    return rows


def picks_csv(results: Sequence[SampleRun]) -> str:
    """picks.csv's text (header `CSV_FIELDS`; an empty score where the sampler has none).

    Args:
        results: the methods' picks.
    """
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for row in picks_rows(results):
        w.writerow({**row, "score": "" if row["score"] is None else f"{row['score']:.6g}"})
    return buf.getvalue()


def run_info(r: SampleRun) -> dict:
    """What the checkpoint says about its training run: data set and options, metrics, versions,
    created, and (from a manifest or run folder beside it) the command and training settings.

    Args:
        r: one method's picks (its `meta` and `path`).
    """
    meta = r.meta
    info = {"dataset": meta.get("dataset"), "dataset_options": safe_options(meta.get("dataset_options")),
            "classes": meta.get("classes"), "metrics": meta.get("metrics"), "seed": meta.get("seed"),
            "ratio": meta.get("ratio"), "created": meta.get("created"), "versions": meta.get("versions")}
    info.update(beside_checkpoint(r.path))
    return {k: v for k, v in info.items() if v not in (None, {}, [])}


def picks_document(study: Study, results: Sequence[SampleRun], settings: ExportSettings,
                   created: Optional[str] = None) -> dict:
    """picks.json: the study (`export_meta`: the allowlisted keys only), the settings, and per method its
    checkpoint (file name), spec, run, tau, picks and (only where meaningful, see
    `probabilities_meaningful`) its prediction.

    Args:
        study: the study.
        results: the methods' picks.
        settings: the export settings.
        created: the date (ISO 8601; default now, UTC).
    """
    created = created or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    by_method: dict = {}
    for row in picks_rows(results):
        by_method.setdefault((row["method"], row["checkpoint"]), []).append(
            {k: row[k] for k in ("rank", "frame", "model_frame", "score")})
    methods = []
    for r in results:
        item = {"method": r.method, "label": r.label, "checkpoint": r.source, "color": r.color, "spec": r.spec,
                "run": run_info(r), "num_frames": len(r.frame_map), "k": r.k,
                "frame_map": r.frame_map, "tau": r.tau, "mode": r.mode, "seconds": round(r.seconds, 4),
                "picks": by_method.get((r.method, r.source), []),
                "trained_on_this_data": r.meaningful, "prediction": None}
        if r.probs is not None and (r.meaningful or settings.all_probabilities):
            item["prediction"] = {"class": r.predicted, "meaningful": r.meaningful,
                                  "probabilities": {str(c): float(p) for c, p in
                                                    zip(r.classes or range(len(r.probs)), r.probs)}}
        methods.append(item)
    return jsonable({"tool": "DAS Explorer", "version": __version__, "created": created, "disclaimer": DISCLAIMER,
                     "input": export_meta(study), "settings": settings.to_dict(), "methods": methods})
