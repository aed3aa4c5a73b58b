"""What the app can show without computing: the checkpoints (shipped and trained here), the benchmark
result sets and the speed table, read from the files the CLI writes.

Run folders are read through `das_core.runs`, checkpoints through `das_core.load_model`, and benchmark
rows are aggregated by the library's one aggregator (`das_core.experiments.results`), so the Results
page shows the same numbers as the Markdown pages `python -m das_core bench` writes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

from das_core import list_samplers
from das_core.samplers import sampler_class
from das_core import load_model  # re-exported: the pages load checkpoints through the catalogue
from das_core.checkpoints import check_compatible, manifest_entries
from das_core.errors import DataError
from das_core.experiments.bench import paper_numbers
from das_core.experiments.results import METRICS, aggregate, load_results, mean_std_text
from das_core.runs import RunPaths, read_config, read_status, read_summary

from .samples import SampleData

__all__ = [
    "CheckpointEntry", "list_checkpoints", "load_model", "check_sample_compatible", "ResultSet", "result_sets",
    "load_benchmark", "summary_rows", "results_table", "load_speed", "load_paired", "paired_rows", "static_control_rows",
]

PathLike = Union[str, Path]
BEST = RunPaths.of(".").best.name  # the checkpoint file of a run folder (best.pt)


@dataclass
class CheckpointEntry:
    """One checkpoint the Compare page can load.

    Args:
        path: the .pt file.
        dataset: the data set it was trained on.
        method: its sampler's name.
        k: frames it keeps (None when not recorded).
        T: frames per sequence (None when not recorded).
        backbone: its backbone.
        origin: "shipped" or "trained here".
        metrics: its test metrics.
        label: what the page lists (method · data set · origin · name (metrics)).
    """

    path: str
    dataset: Optional[str]
    method: str
    k: Optional[int]
    T: Optional[int]
    backbone: Optional[str]
    origin: str
    metrics: dict = field(default_factory=dict)
    label: str = ""


def _metric_text(metrics: Mapping) -> str:
    parts = []
    for key, short in (("auc", "AUC"), ("balanced_accuracy", "bal.acc")):
        v = (metrics.get(key, metrics.get(f"test_{key}")) if metrics else None)
        if isinstance(v, (int, float)) and math.isfinite(v):
            parts.append(f"{short} {v:.3f}")
    return ", ".join(parts)


def _shipped(folder: Path) -> list[CheckpointEntry]:
    """The entries of `<folder>/manifest.json` whose file exists."""
    return [CheckpointEntry(str(folder / e["file"]), e.get("dataset"), str(e.get("method", "?")), e.get("k"), e.get("T"),
                            e.get("backbone"), "shipped", dict(e.get("metrics") or {}))
            for e in manifest_entries(folder) if e.get("file") and (folder / e["file"]).is_file()]


def _trained(best: Path) -> Optional[CheckpointEntry]:
    """The entry of a run's best checkpoint: a finished run, or a stopped one (its best epoch so far);
    None while the run is still going or when it failed."""
    run = best.parent
    status = read_status(run) or {}
    if status.get("state") not in ("finished", "stopped"):
        return None
    cfg, summary = read_config(run) or {}, read_summary(run) or {}
    k = summary.get("num_selected") or cfg.get("k")
    T = summary.get("num_frames") or (cfg.get("dataset_options") or {}).get("num_frames")
    origin = "trained here" if status["state"] == "finished" else f"stopped at epoch {status.get('epoch', '?')}"
    return CheckpointEntry(str(best), cfg.get("dataset"), str(cfg.get("method", "?")), k, T, cfg.get("backbone"),
                           origin, summary, label=run.name)


def list_checkpoints(shipped: PathLike = "checkpoints",
                     runs: Union[PathLike, Sequence[PathLike]] = "runs") -> list[CheckpointEntry]:
    """Shipped checkpoints, then finished runs' best checkpoints, newest run first.

    Args:
        shipped: the folder of `manifest.json` and the shipped .pt files.
        runs: one folder or a list of folders whose run folders (direct children: `runs/<run>`, where
            `train` and the Train page put them) are listed. Grids (`runs/bench-main/<data>/<run>`,
            hundreds of runs) sit deeper and are left out: their models reach the app as the shipped
            checkpoints.
    """
    out = _shipped(Path(shipped))
    roots = [Path(runs)] if isinstance(runs, (str, Path)) else [Path(r) for r in runs]
    bests = {str(b.resolve()): b for r in roots if r.is_dir() for b in r.glob(f"*/{BEST}")}
    for best in sorted(bests.values(), key=lambda p: p.stat().st_mtime, reverse=True):
        entry = _trained(best)
        if entry is not None:
            out.append(entry)
    for e in out:
        mt = _metric_text(e.metrics)
        # a shipped file's name only repeats method and data set: left out, so the metrics fit in the picker
        e.label = " · ".join([e.method.upper(), e.dataset or "?", e.origin] + ([e.label] if e.label else [])) \
            + (f" ({mt})" if mt else "")
    return out


class _OneSample:
    """A one-item stand-in data set so `check_compatible` can check a single sequence."""

    def __init__(self, sample: SampleData):
        self._x, self.name = sample.x, sample.dataset or "the selected data"
        self.classes = sample.classes

    def __getitem__(self, i):
        return self._x, 0

    def __len__(self):
        return 1


def check_sample_compatible(meta: Mapping, sample: SampleData) -> None:
    """CheckpointError (one sentence) when `sample` cannot go through a checkpoint's model.

    Args:
        meta: the checkpoint's meta (`model.meta` of `load_model`).
        sample: the sequence to run.
    """
    check_compatible(dict(meta), _OneSample(sample))


# ----------------------------------------------------------------------------- benchmark results

@dataclass(frozen=True)
class ResultSet:
    """One benchmark grid the CLI wrote: its label, per-run CSV and Markdown page, and what superseded it.

    Args:
        label: what the Results page lists.
        csv: its per-run `results.csv`.
        page: its Markdown page (None when not written).
        status: the sentence of `status.txt` beside the CSV (why it is superseded or how to read it), or None.
    """

    label: str
    csv: Path
    page: Optional[Path]
    status: Optional[str] = None

    @property
    def superseded(self) -> bool:
        return bool(self.status) and self.status.lower().startswith(("superseded", "made before"))


def _label(rows: Sequence[Mapping], name: Optional[str]) -> str:
    backbones = sorted({r.get("backbone") or "" for r in rows} - {""})
    label = ", ".join(backbones) or name or "main"
    if name is None:
        return label + " (main grid)"
    if name != label:
        label += f" ({name.replace('_', ' ')})"  # e.g. "mobilenet_v3_small (mobilenet warmup)"
    return label


def result_sets(docs: PathLike = "docs") -> list[ResultSet]:
    """The benchmark grids under `docs`, labelled by their backbones.

    `results/results.csv` (page `results.md`, the main grid) comes first, then every
    `results/<name>/results.csv` (page `results-<name>.md`).

    Args:
        docs: the documentation folder.
    """
    docs = Path(docs)
    found = [(docs / "results" / "results.csv", docs / "results.md", None)]
    if (docs / "results").is_dir():
        for sub in sorted(p for p in (docs / "results").iterdir() if p.is_dir()):
            found.append((sub / "results.csv", docs / f"results-{sub.name}.md", sub.name))
    return [ResultSet(_label(load_results(csv_path), name), csv_path, page if page.is_file() else None,
                      _status(csv_path.parent / "status.txt"))
            for csv_path, page, name in found if csv_path.is_file()]


def _status(path: Path) -> Optional[str]:
    try:
        return " ".join(path.read_text(encoding="utf-8").split()) or None
    except (OSError, UnicodeDecodeError):
        return None


def load_benchmark(path: PathLike) -> tuple[Optional[list[dict]], Optional[list[dict]]]:
    """(per-run rows, aggregated rows) of a results CSV; (None, None) when it does not exist.

    Args:
        path: a `results.csv` written by `python -m das_core bench`.
    """
    rows = load_results(path)
    return rows, (aggregate(rows) if rows else None)


def summary_rows(agg: Sequence[Mapping], metrics: Sequence[str] = METRICS) -> list[dict]:
    """The aggregated rows for display: the settings, n, and "mean ± std" text per metric that has a value.

    Args:
        agg: rows of `das_core.experiments.results.aggregate`.
        metrics: the metrics to show.
    """
    out = []
    for r in agg:
        row = {k: v for k, v in r.items() if not k.endswith(("_mean", "_std"))}
        for m in metrics:
            if r.get(f"{m}_mean") is not None:
                row[m] = mean_std_text(r[f"{m}_mean"], r.get(f"{m}_std"))
        out.append(row)
    return out


def _at_ratio(row: Mapping, ratio: Optional[float]) -> bool:
    """The full sequence is kept whatever its ratio; other rows only at `ratio` (None: all)."""
    if ratio is None or row.get("method") == "full" or row.get("ratio") is None:
        return True
    return abs(float(row["ratio"]) - ratio) <= 1e-6


def results_table(agg: Sequence[Mapping], ratio: Optional[float] = 0.5, metric: str = "auc") -> list[dict]:
    """One row per data set, one column per method (registry order, display names) with "mean ± std" of
    `metric` at sampling ratio `ratio` (the full sequence whatever its ratio), and the paper's number
    beside it where the paper reports that data set (DAS / ADPS).

    Args:
        agg: rows of `das_core.experiments.results.aggregate`.
        ratio: the sampling ratio shown (None: every ratio).
        metric: "auc", "balanced_accuracy" or "accuracy".
    """
    order = list_samplers()
    rows: dict[str, dict] = {}
    for r in agg:
        if not _at_ratio(r, ratio) or r.get(f"{metric}_mean") is None:
            continue
        ds = str(r.get("dataset"))
        row = rows.setdefault(ds, {"data set": ds})
        method = str(r.get("method"))
        label = sampler_class(method).display_name() if method in order else method
        row[label] = mean_std_text(r[f"{metric}_mean"], r.get(f"{metric}_std"))
    paper_key = "accuracy" if metric == "accuracy" else "auc" if metric == "auc" else None
    for ds, row in rows.items():
        das, adps = paper_numbers(ds, "das"), paper_numbers(ds, "adps")
        if paper_key and das and adps:
            row["paper DAS / ADPS"] = f"{das[paper_key]:.3f} / {adps[paper_key]:.3f}"
    if any("paper DAS / ADPS" in row for row in rows.values()):  # an empty cell where the paper has no number
        for row in rows.values():
            row.setdefault("paper DAS / ADPS", "")
    return list(rows.values())


def _is_speed_report(data: dict) -> bool:
    results = data.get("results")
    return isinstance(results, list) and bool(results) and all(isinstance(r, dict) and "inference" in r
                                                                for r in results)


def _speed_report_rows(report: dict) -> list[dict]:
    """One row per (volume size, method) of the report `python -m das_core speed` writes."""
    rows = []
    for r in report["results"]:
        size = f"{r.get('num_frames')} x {r.get('size')}^2, k = {r.get('num_selected')}"
        for method, inf in (r.get("inference") or {}).items():
            train = (r.get("train_step") or {}).get(method) or {}
            rows.append({
                "method": method, "size": size,
                "items per second": inf.get("items_per_second"),
                "throughput vs full": inf.get("throughput_vs_full"),
                "sampler ms per batch": 1e3 * inf["sampler_seconds"] if inf.get("sampler_seconds") is not None else None,
                "sampler share %": 100 * inf["sampler_share"] if inf.get("sampler_share") is not None else None,
                "train step ms": 1e3 * train["seconds"] if train.get("seconds") is not None else None,
                "train step vs uniform": train.get("vs_uniform"),
            })
    return rows


def load_speed(path: PathLike = "docs/speed.json") -> Optional[list[dict]]:
    """Rows of the speed measurements (one dict per method/setting), or None when absent.

    Accepts a list of rows, {"rows": [...]}, {"results": [...]}, or {method: {...}}.

    Args:
        path: the JSON `python -m das_core speed` writes.

    Raises:
        DataError: one sentence when the file is not valid JSON.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{path} is not valid JSON ({err}); re-create it with python -m das_core speed.") from None
    if isinstance(data, dict) and _is_speed_report(data):
        return _speed_report_rows(data)
    if isinstance(data, dict):
        for key in ("rows", "results", "methods", "measurements"):
            if isinstance(data.get(key), list):
                return [dict(r) for r in data[key] if isinstance(r, dict)]
        if all(isinstance(v, dict) for v in data.values()):
            return [{"method": k, **v} for k, v in data.items()]
        return []
    return [dict(r) for r in data if isinstance(r, dict)] if isinstance(data, list) else []


def load_paired(csv_path: PathLike) -> Optional[dict]:
    """The paired tables `python -m das_core paired` wrote beside a grid's results.csv (`paired.json`), or None."""
    p = Path(csv_path).with_name("paired.json")
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError):
        raise DataError(f"{p} cannot be read as JSON; rerun `python -m das_core paired` to write it again.") from None
    return data if isinstance(data, dict) and "cells" in data else None


def _diff(summary: Optional[Mapping]) -> str:
    from das_core.stats import diff_text, separates

    if not summary:
        return ""
    return diff_text(summary) + (" (separates)" if separates(summary) else "")


def paired_rows(paired: Mapping, dataset: Optional[str] = None) -> list[dict]:
    """One display row per (cell, method): the data set's role, the method's mean, and its paired differences
    against uniform, the best static/heuristic baseline and full ("(separates)" only where the CI excludes 0)."""
    rows = []
    for cell in paired.get("cells", []):
        if dataset is not None and cell["dataset"] != dataset:
            continue
        best = cell["references"].get("best_static")
        for m in cell["methods"]:
            rows.append({"data set": cell["dataset"], "ratio": cell["ratio"], "role": cell["role"], "method": m["method"],
                         "seeds": m["n"], "mean": None if m["mean"] is None else round(m["mean"], 3),
                         "- uniform": _diff(m["vs"].get("uniform")),
                         "- best static/heuristic": _diff(m["vs"].get("best_static")) + (f" vs {best}" if
                                                                                            m["vs"].get("best_static") else ""),
                         "- full": _diff(m["vs"].get("full"))})
    return rows


def static_control_rows(paired: Mapping) -> list[dict]:
    """One display row per adaptive method and data set: AUC with its own picks, its modal and blank-input sets,
    and own - modal / own - blank paired over seeds."""
    def r(v, digits=3):
        return None if v is None else round(v, digits)

    return [{"data set": e["dataset"], "role": e["role"], "method": e["method"], "seeds": e["n"],
             "AUC own": r(e["own"]), "AUC modal": r(e["modal"]), "AUC blank": r(e.get("blank")),
             "own - modal": _diff(e["own_minus_modal"]), "own - blank": _diff(e.get("own_minus_blank")),
             "distinct pick sets": r(e.get("distinct_sets"), 1)}
            for e in paired.get("static_control", [])]
