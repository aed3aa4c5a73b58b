"""report.html: one self-contained page (images embedded as base64 PNG, no external file or link):
the study, each checkpoint and its run, the picks, attention over time, the predictions of models
trained on this data set, the settings, and that this is a research tool, not for diagnosis.

What it says about the study is `export_meta(study)` (the keys of `EXPORT_META_KEYS` only: no file name,
path, description or UID); a checkpoint is named by its file name. Every value is HTML-escaped."""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any, Optional, Sequence

import numpy as np
from PIL import Image

from .picks import SampleRun
from .settings import DISCLAIMER, ExportSettings
from .study import Study, export_meta
from .tables import run_info

__all__ = ["png_bytes", "data_uri", "report_html"]

_CSS = """
body{font-family:Inter,Arial,sans-serif;margin:2rem auto;max-width:1100px;color:#212121;line-height:1.45}
h1{font-size:1.5rem;margin-bottom:.2rem}h3{font-size:1rem;margin:1rem 0 .2rem}
h2{font-size:1.15rem;margin-top:1.8rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}td,th{border:1px solid #ddd;padding:.25rem .5rem;
text-align:left;vertical-align:top}th{background:#f5f5f5}.warn{background:#fff4e5;border-left:4px solid #D55E00;
padding:.6rem .9rem;font-weight:600}.muted{color:#666;font-size:.85rem}img{max-width:100%;image-rendering:pixelated}
code{font-size:.85rem;background:#f5f5f5;padding:0 .2rem}.swatch{display:inline-block;width:.8rem;height:.8rem;
margin-right:.3rem;vertical-align:middle}
"""


def png_bytes(img: np.ndarray) -> bytes:
    """A uint8 image (H, W, 3) as PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    """PNG bytes as a `data:` URI for an <img src>."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _table(rows: Sequence[Sequence[Any]], header: Optional[Sequence[str]] = None) -> str:
    head = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{c if isinstance(c, _Raw) else _e(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table>{head}{body}</table>"


class _Raw(str):
    """HTML already escaped (kept as is by `_table`)."""


def _compact(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


# the rows of the Study table: key of `export_meta` -> its label (name, source and kind head the table)
_STUDY_ROWS = (("dataset", "data set"), ("split", "split"), ("index", "index"), ("dataset_options", "dataset options"),
               ("modality", "modality"), ("original_shape", "original shape"), ("original_frames", "original frames"),
               ("spacing", "spacing"), ("fps", "fps"), ("orientation", "orientation"),
               ("orientation_labels", "orientation labels"), ("window", "window"),
               ("default_window", "default window"), ("value_range", "value range"), ("inverted", "inverted"))


def _study_section(study: Study) -> str:
    meta = export_meta(study)
    T, C, H, W = meta["shape"]
    rows = [("name", meta["name"]), ("source", meta["source"]), ("kind", meta["kind"]),
            ("shape (T, C, H, W)", f"{T} × {C} × {H} × {W}")]
    for key, label in _STUDY_ROWS:
        if meta.get(key) not in (None, {}, []):
            rows.append((label, _compact(meta[key])))
    if meta["label"] is not None:
        rows.append(("label", meta["label"]))
    if meta["informative_frames"]:
        rows.append((f"informative {study.frame_word}s (synthetic)", ", ".join(map(str, meta["informative_frames"]))))
    return "<h2>Study</h2>" + _table(rows)


def _metrics_text(metrics: Any) -> str:
    if not isinstance(metrics, dict):
        return ""
    parts = []
    for key, short in (("auc", "AUC"), ("balanced_accuracy", "balanced accuracy"), ("accuracy", "accuracy")):
        v = metrics.get(f"test_{key}", metrics.get(key))
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            parts.append(f"{short} {v:.3f}")
    n = metrics.get("test_size")
    return ", ".join(parts) + (f" (test, n = {n})" if parts and n else "")


def _checkpoint_rows(r: SampleRun) -> list:
    info, spec = run_info(r), r.spec
    rows = [("file", r.source),
            ("model", f"{spec.get('method')}, T = {spec.get('num_frames')}, k = {spec.get('num_selected')}, "
                      f"{spec.get('backbone')}, {spec.get('in_channels')} channel(s), {spec.get('frame_size')} px, "
                      f"{spec.get('num_classes')} classes")]
    if not info:
        return rows + [("run", "untrained (freshly initialised): its picks and prediction mean nothing")]
    trained = _compact(info.get("dataset") or "unknown data")
    if info.get("dataset_options"):
        trained += " " + _compact(info["dataset_options"])
    rows.append(("trained on", trained))
    if info.get("classes"):
        rows.append(("classes", ", ".join(map(str, info["classes"]))))
    if _metrics_text(info.get("metrics")):
        rows.append(("metrics", _metrics_text(info.get("metrics"))))
    if isinstance(info.get("training"), dict):
        rows.append(("training", ", ".join(f"{k} {_compact(v)}" for k, v in info["training"].items())))
    if info.get("command"):
        rows.append(("command", _Raw(f"<code>{_e(info['command'])}</code>")))
    for key in ("run_folder", "seed", "ratio", "created"):
        if info.get(key) is not None:
            rows.append((key.replace("_", " "), _compact(info[key])))
    if isinstance(info.get("versions"), dict):
        rows.append(("versions", ", ".join(f"{k} {v}" for k, v in info["versions"].items())))
    return rows


def _checkpoint_section(results: Sequence[SampleRun]) -> str:
    out = "<h2>Checkpoints</h2>"
    for r in results:
        out += (f"<h3><span class='swatch' style='background:{_e(r.color)}'></span>{_e(r.label)} · "
                f"{_e(r.source)}</h3>" + _table(_checkpoint_rows(r)))
    return out


def _picks_section(study: Study, results: Sequence[SampleRun], picks_png: bytes) -> str:
    word = study.frame_word
    rows = []
    for r in results:
        tau = f"{r.tau:.3f}" if r.tau is not None else "–"
        rows.append((r.label, r.source, f"{r.k} of {len(r.frame_map)}", ", ".join(map(str, r.frames)), tau, r.mode))
    return (f"<h2>Picked {word}s</h2><p class='muted'>{word.capitalize()} numbers are the study's own; "
            f"each model ran on "
            f"the study resampled to its T {word}s and frame size (picks.csv also lists the model's own index).</p>"
            f"<img alt='picked {word}s per method' src='{data_uri(picks_png)}'>"
            + _table(rows, ["method", "checkpoint", "k of T", f"study {word}s picked", "tau", "mode"]))


def _attention_section(study: Study, results: Sequence[SampleRun], attention_png: Optional[bytes]) -> str:
    none = [r.label for r in results if r.scores is None and r.head_scores is None]
    note = f"<p class='muted'>No per-frame scores: {_e(', '.join(none))}.</p>" if none else ""
    if attention_png is None:
        return "<h2>Attention over time</h2>" + note
    return ("<h2>Attention over time</h2><p class='muted'>Score per frame (columns) per head (rows) of each "
            "method that scores frames, min-max scaled per method (dark: low, yellow: high); triangles mark its "
            f"picks.</p><img alt='attention over time' src='{data_uri(attention_png)}'>" + note)


def _prediction_section(study: Study, results: Sequence[SampleRun], settings: ExportSettings) -> str:
    shown = [r for r in results if r.probs is not None and (r.meaningful or settings.all_probabilities)]
    hidden = [r for r in results if not r.meaningful]
    where = study.dataset or "a user's file"
    out = "<h2>Prediction</h2>"
    if hidden and not settings.all_probabilities:
        out += (f"<p class='muted'>Class probabilities are hidden for models not trained on {_e(where)} "
                f"({_e(', '.join(f'{r.label} · {r.source}' for r in hidden))}): on data a model never saw they "
                f"look confident and mean nothing.</p>")
    rows = []
    for r in shown:
        classes = r.classes or [str(i) for i in range(len(r.probs))]
        probs = ", ".join(f"{c}: {p:.3f}" for c, p in zip(classes, r.probs))
        note = "" if r.meaningful else " (not trained on this data: not meaningful)"
        rows.append((r.label, r.source, r.predicted + note, probs))
    if rows:
        label = f" The study's label: <b>{_e(study.label_name)}</b>." if study.label_name else ""
        out += f"<p class='muted'>{label}</p>" + _table(rows, ["method", "checkpoint", "predicted", "probabilities"])
    elif not hidden:
        out += "<p class='muted'>No model to report.</p>"
    return out


def _settings_section(settings: ExportSettings, created: str, versions: dict) -> str:
    rows = [(k, _compact(v)) for k, v in settings.to_dict().items()]
    rows += [("created", created)] + [(f"version of {k}", v) for k, v in versions.items()]
    return "<h2>Settings</h2>" + _table(rows)


def report_html(study: Study, results: Sequence[SampleRun], settings: ExportSettings, *, picks_png: bytes,
                attention_png: Optional[bytes], created: str, versions: Optional[dict] = None) -> str:
    """The report page's HTML (UTF-8 text, self-contained).

    Args:
        study: the study.
        results: the methods' picks, in report order.
        settings: the export settings.
        picks_png: picks.png's bytes (embedded).
        attention_png: the attention-over-time figure's PNG bytes (None when no method scores frames).
        created: the export's date (ISO 8601).
        versions: library versions to list (das_core, torch, ...).
    """
    T, C, H, W = study.shape
    name = export_meta(study)["name"]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>DAS Explorer export: {_e(name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>DAS Explorer export: {_e(name)}</h1>",
        f"<p class='muted'>{_e(study.kind)}, T={T} {study.frame_word}s of {C}×{H}×{W} · "
        f"{len(results)} model(s) · {_e(created)}</p>",
        f"<p class='warn'>{_e(DISCLAIMER)}</p>",
        _study_section(study), _checkpoint_section(results), _picks_section(study, results, picks_png),
        _attention_section(study, results, attention_png), _prediction_section(study, results, settings),
        _settings_section(settings, created, versions or {}),
        "<h2>Files</h2><p class='muted'>sequence.mp4 / sequence.gif: the study with each method's picks marked; "
        "picks.png: the picked frames; picks.csv / picks.json: the picks as data. The study itself is not copied.</p>",
        f"<p class='warn'>{_e(DISCLAIMER)}</p></body></html>",
    ]
    return "\n".join(parts)
