"""What the explorer app shows, computed without a browser: run every sampler on one sample, the
per-frame feature curves, a tau0 sweep, the list of checkpoints (shipped and trained here), and the
benchmark / speed tables read from the files the CLI writes.

Nothing here imports streamlit; the pages call these functions and lay out the results.

About tau (see ../shared/METHOD.md, "Pitfalls"): the deterministic picks `argmax(A)` (and the
training-time `argmax((A + G) / tau)`) do not depend on tau. What tau0 changes is the relaxed
sampling matrix `Selection.soft = softmax(A / tau)` and, in stochastic mode, the tempered picks
`argmax(A / tau + G)`. `run_method` returns both the hard and the soft matrix, and says which
picks it shows (`mode`).
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np
import torch

from .errors import CheckpointError, DataError
from .features import RAW_NAMES, raw_frame_features

__all__ = [
    "MethodResult", "CheckpointEntry", "SampleData", "METHODS", "FEATURE_CURVES",
    "feature_curves", "run_method", "compare_methods", "untrained_model", "untrained_models",
    "list_checkpoints", "load_model", "check_sample_compatible", "tau_sweep", "soft_entropy",
    "load_results", "aggregate_results", "load_speed", "result_sets", "ResultSet", "window_defaults", "frame_word",
]

METHODS = ["full", "uniform", "random", "dps", "adps", "das"]
# The three per-frame curves the Explore page shows (names in das_core.features.RAW_NAMES).
FEATURE_CURVES = {
    "inter-frame variance": "diff_var",
    "Sobel edge magnitude (mean)": "sobel_mean",
    "Laplacian (max)": "laplacian_max",
}


@dataclass
class SampleData:
    """One sequence the app works on: x (T, C, H, W) in [0, 1], its label and metadata."""

    x: torch.Tensor
    y: Optional[int]
    classes: Optional[list]
    meta: dict = field(default_factory=dict)
    dataset: str = ""
    kind: str = "volume"
    key: str = ""  # identifies the sample for caches (set by whoever loads it)

    @property
    def label_name(self) -> Optional[str]:
        if self.y is None or self.y < 0 or not self.classes:
            return None
        return str(self.classes[self.y]) if self.y < len(self.classes) else str(self.y)

    @property
    def informative(self) -> Optional[list]:
        inf = self.meta.get("informative_frames")
        return [int(i) for i in inf] if inf is not None else None


def frame_word(kind: str) -> str:
    return "slice" if kind == "volume" else "frame"


def window_defaults(x: torch.Tensor) -> tuple[float, float]:
    """(level, width) covering the 0.5th..99.9th intensity percentile (a good start for CT-like data)."""
    a = x.detach().float().flatten()
    if a.numel() > 200_000:
        a = a[torch.randperm(a.numel(), generator=torch.Generator().manual_seed(0))[:200_000]]
    lo, hi = torch.quantile(a, torch.tensor([0.005, 0.999])).tolist()
    if hi - lo < 1e-3:
        lo, hi = 0.0, 1.0
    return (lo + hi) / 2.0, hi - lo


def feature_curves(x: torch.Tensor, names: Optional[Mapping[str, str]] = None) -> dict[str, np.ndarray]:
    """Per-frame curves (T,) of the parameter-free features DAS uses, for one sequence (T, C, H, W)."""
    names = dict(names or FEATURE_CURVES)
    raw = raw_frame_features(x[None].float())[0].numpy()  # (T, NUM_RAW)
    return {label: raw[:, RAW_NAMES.index(key)] for label, key in names.items()}


# ----------------------------------------------------------------------------- methods on one sample

@dataclass
class MethodResult:
    """What one method did with one sample (numpy, ready to plot)."""

    method: str
    source: str  # "untrained", or the checkpoint's label
    trained: bool
    indices: list
    pick_rank: list
    hard: np.ndarray  # (k, T)
    soft: Optional[np.ndarray] = None  # (k, T)
    scores: Optional[np.ndarray] = None  # (T,)
    head_scores: Optional[np.ndarray] = None  # (H, T)
    tau: Optional[float] = None
    probs: Optional[np.ndarray] = None  # (num_classes,)
    mode: str = "deterministic"  # or "stochastic (tempered)"
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
    """Run one `SubsampledClassifier` (eval mode) on one sequence x (T, C, H, W).

    tau0/heads/stochastic are passed to the samplers that take them (tau0: DPS, ADPS, DAS;
    heads: DAS). `classify=False` runs the sampler only (faster: no backbone).
    """
    t0 = time.perf_counter()
    model.eval()
    name = model.sampler.name
    kw: dict[str, Any] = {}
    if name in ("dps", "adps", "das"):
        if tau0 is not None:
            kw["tau0"] = float(tau0)
        if stochastic:
            kw["stochastic"] = True
            kw["generator"] = torch.Generator().manual_seed(int(seed))
    if name == "das" and heads is not None:
        kw["heads"] = [int(h) for h in heads]
    xb = x[None].float()
    if classify:
        logits, sel = model(xb, **kw)
        probs = torch.softmax(logits.float(), dim=-1)[0].numpy()
    else:
        sel, probs = model.sampler(xb, **kw), None
    sel = sel.detach()
    return MethodResult(
        method=name, source=source, trained=trained,
        indices=sel.indices[0].tolist(),
        pick_rank=sel.pick_rank[0].tolist() if sel.pick_rank is not None else list(range(sel.num_selected)),
        hard=_np(sel.matrix[0]),
        soft=_np(sel.soft[0]) if sel.soft is not None else None,
        scores=_np(sel.scores[0]) if sel.scores is not None else None,
        head_scores=_np(sel.head_scores[0]) if sel.head_scores is not None else None,
        tau=float(sel.tau[0]) if sel.tau is not None else None,
        probs=probs,
        mode="stochastic (tempered: argmax(A/tau + G))" if stochastic and "stochastic" in kw else "deterministic",
        seconds=time.perf_counter() - t0,
    )


def untrained_model(method: str, num_frames: int, num_selected: int, *, num_classes: int = 2, in_channels: int = 1,
                    frame_size: int = 28, backbone: str = "small_cnn", heads: int = 4, seed: int = 0):
    """A freshly initialised (untrained, seeded) `SubsampledClassifier` for `method`, in eval mode."""
    from .model import SubsampledClassifier
    from .samplers import make_sampler

    torch.manual_seed(seed)
    opts: dict[str, Any] = {}
    if method == "das":
        opts["heads"] = heads
    if method == "adps":
        opts["in_channels"] = in_channels
    sampler = make_sampler(method, num_frames, None if method == "full" else num_selected, **opts)
    model = SubsampledClassifier(sampler, backbone, num_classes=num_classes, in_channels=in_channels,
                                 frame_size=frame_size)
    return model.eval()


def untrained_models(num_frames: int, num_selected: int, methods: Iterable[str] = METHODS, **kw) -> dict:
    return {m: untrained_model(m, num_frames, num_selected, **kw) for m in methods}


def compare_methods(x: torch.Tensor, models: Mapping[str, tuple], *, tau0: Optional[float] = None,
                    heads: Optional[Sequence[int]] = None, stochastic: bool = False, seed: int = 0) -> dict:
    """Run every method on x. `models`: method -> (model, source, trained). tau0/heads go to DAS only.

    Returns method -> MethodResult, in the order of `models`.
    """
    out = {}
    for m, (model, source, trained) in models.items():
        das = model.sampler.name == "das"
        out[m] = run_method(model, x, source=source, trained=trained, tau0=tau0 if das else None,
                            heads=heads if das else None, stochastic=stochastic and das, seed=seed)
    return out


def soft_entropy(soft: np.ndarray) -> float:
    """Mean entropy (nats) of the relaxed rows (k, T): low = sharp (near one-hot), high = spread out."""
    p = np.clip(np.asarray(soft, dtype=np.float64), 1e-12, 1.0)
    return float(-(p * np.log(p)).sum(axis=-1).mean())


@torch.no_grad()
def tau_sweep(model, x: torch.Tensor, taus: Sequence[float] = tuple(np.logspace(-1.5, 1, 9)),
              heads: Optional[Sequence[int]] = None, draws: int = 8, seed: int = 0) -> dict:
    """For each tau0: mean soft-row entropy, and the share of tempered stochastic picks that differ
    from the deterministic picks (averaged over `draws` seeded draws). Sampler only, no backbone."""
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


# ----------------------------------------------------------------------------- checkpoints

@dataclass
class CheckpointEntry:
    path: str
    dataset: Optional[str]
    method: str
    k: Optional[int]
    T: Optional[int]
    backbone: Optional[str]
    origin: str  # "shipped" or "trained here"
    metrics: dict = field(default_factory=dict)
    label: str = ""


def _metric_text(metrics: Mapping) -> str:
    parts = []
    for key, short in (("auc", "AUC"), ("balanced_accuracy", "bal.acc")):
        v = (metrics.get(key, metrics.get(f"test_{key}")) if metrics else None)
        if isinstance(v, (int, float)) and math.isfinite(v):
            parts.append(f"{short} {v:.3f}")
    return ", ".join(parts)


def list_checkpoints(shipped: Path | str = "checkpoints", runs: Path | str | Sequence = "runs") -> list[CheckpointEntry]:
    """Shipped checkpoints (`<shipped>/manifest.json`) and finished runs under `runs` (one folder or a
    list of folders; their best.pt), newest run first."""
    out: list[CheckpointEntry] = []
    shipped = Path(shipped)
    manifest = shipped / "manifest.json"
    try:
        entries = json.loads(manifest.read_text()) if manifest.is_file() else []
        if isinstance(entries, dict):
            entries = entries.get("checkpoints") or entries.get("entries") or []
    except (OSError, ValueError):
        entries = []
    for e in entries:
        if not isinstance(e, dict) or not e.get("file"):
            continue
        p = shipped / e["file"]
        if not p.is_file():
            continue
        out.append(CheckpointEntry(str(p), e.get("dataset"), str(e.get("method", "?")), e.get("k"), e.get("T"),
                                   e.get("backbone"), "shipped", dict(e.get("metrics") or {})))
    roots = [Path(runs)] if isinstance(runs, (str, Path)) else [Path(r) for r in runs]
    bests: dict[str, Path] = {}
    for r in roots:
        if r.is_dir():
            for b in r.rglob("best.pt"):
                bests[str(b.resolve())] = b
    if bests:
        for best in sorted(bests.values(), key=lambda p: p.stat().st_mtime, reverse=True):
            d = best.parent
            try:
                status = json.loads((d / "status.json").read_text())
            except (OSError, ValueError):
                status = {}
            if status.get("state") != "finished":
                continue
            cfg, summary = {}, {}
            try:
                cfg = json.loads((d / "config.json").read_text())
            except (OSError, ValueError):
                pass
            try:
                summary = json.loads((d / "summary.json").read_text())
            except (OSError, ValueError):
                pass
            out.append(CheckpointEntry(str(best), cfg.get("dataset"), str(cfg.get("method", "?")),
                                       cfg.get("num_selected") or cfg.get("k"), cfg.get("frames") or cfg.get("num_frames"),
                                       cfg.get("backbone"), "trained here", summary, label=d.name))
    for e in out:
        if not e.label:
            e.label = Path(e.path).stem
        mt = _metric_text(e.metrics)
        e.label = f"{e.method.upper()} · {e.dataset or '?'} · {e.origin} · {e.label}" + (f" ({mt})" if mt else "")
    return out


def load_model(path: str):
    """(model in eval mode, meta) of a checkpoint; CheckpointError with one sentence when it cannot be read."""
    try:
        from .checkpoints import load_checkpoint
    except ImportError:  # pragma: no cover - the training engine is not installed
        raise CheckpointError("Checkpoints cannot be read yet (das_core.checkpoints is missing); use untrained models.")
    model, meta = load_checkpoint(path)
    return model.eval(), meta


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
    """CheckpointError (one sentence) when `sample` cannot go through the checkpoint's model."""
    from .checkpoints import check_compatible

    check_compatible(dict(meta), _OneSample(sample))


# ----------------------------------------------------------------------------- results files

_METRICS = ("auc", "balanced_accuracy", "accuracy")


def load_results(path: Path | str = "docs/results/results.csv") -> Optional[list[dict]]:
    """Rows of the benchmark CSV (numbers parsed), or None when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return None
    rows = []
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            row = {}
            for k, v in r.items():
                if k is None:
                    continue
                try:
                    row[k] = float(v) if v not in (None, "") and k not in ("dataset", "method", "backbone") else v
                except ValueError:
                    row[k] = v
            rows.append(row)
    return rows


@dataclass(frozen=True)
class ResultSet:
    """One benchmark grid the CLI wrote: its label, per-run CSV and Markdown page."""

    label: str
    csv: Path
    page: Optional[Path]


def result_sets(docs: Path | str = "docs") -> list[ResultSet]:
    """The benchmark grids under `docs`: `results/results.csv` (page `results.md`, the main grid) first,
    then every `results/<name>/results.csv` (page `results-<name>.md`), labelled by their backbone."""
    docs = Path(docs)
    found = [(docs / "results" / "results.csv", docs / "results.md", None)]
    if (docs / "results").is_dir():
        for sub in sorted(p for p in (docs / "results").iterdir() if p.is_dir()):
            found.append((sub / "results.csv", docs / f"results-{sub.name}.md", sub.name))
    out = []
    for csv_path, page, name in found:
        if not csv_path.is_file():
            continue
        backbones = sorted({r.get("backbone") or "" for r in load_results(csv_path)} - {""})
        label = ", ".join(backbones) or name or "main"
        if name is None:
            label += " (main grid)"
        elif name != label:
            label += f" ({name.replace('_', ' ')})"  # e.g. "mobilenet_v3_small (mobilenet warmup)"
        out.append(ResultSet(label, csv_path, page if page.is_file() else None))
    return out


_GROUP_KEYS = ("dataset", "method", "ratio", "k", "T", "backbone")


def aggregate_results(rows: Sequence[Mapping], metrics: Sequence[str] = _METRICS) -> list[dict]:
    """Mean and std over seeds: rows grouped by (dataset, method, ratio, ...), one output row per group
    with `<metric>_mean`, `<metric>_std`, `n` (seeds) and `<metric>` = "0.812 ± 0.010" text."""
    # group by what identifies a setting; everything else (seed, timings, hit rate, run folder) varies per run
    keys = [k for k in _GROUP_KEYS if any(k in r for r in rows)]
    groups: dict[tuple, list] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    out = []
    for gk, rs in groups.items():
        row = dict(zip(keys, gk))
        row["n"] = len(rs)
        for m in metrics:
            vals = [float(r[m]) for r in rs if isinstance(r.get(m), float) and math.isfinite(r[m])]
            if not vals:
                continue
            mean = float(np.mean(vals))
            std = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
            row[f"{m}_mean"], row[f"{m}_std"] = mean, std
            row[m] = f"{mean:.3f} ± {std:.3f}"
        out.append(row)
    order = {m: i for i, m in enumerate(METHODS)}
    out.sort(key=lambda r: (str(r.get("dataset")), float(r.get("ratio") or 0), order.get(r.get("method"), 99)))
    return out


def load_speed(path: Path | str = "docs/speed.json") -> Optional[list[dict]]:
    """Rows of the speed measurements (one dict per method/setting), or None when absent.

    Accepts a list of rows, {"rows": [...]}, {"results": [...]}, or {method: {...}}.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{path} is not valid JSON ({err}); re-create it with python -m das_core speed.") from None
    if isinstance(data, dict):
        for key in ("rows", "results", "methods", "measurements"):
            if isinstance(data.get(key), list):
                return [dict(r) for r in data[key] if isinstance(r, dict)]
        if all(isinstance(v, dict) for v in data.values()):
            return [{"method": k, **v} for k, v in data.items()]
        return []
    return [dict(r) for r in data if isinstance(r, dict)] if isinstance(data, list) else []


# ----------------------------------------------------------------------------- data for the app

# Data sets that need a user-supplied path are not offered in the app's data set list.
_PATH_ONLY = {"npz", "video-folder"}


def app_datasets(include_unavailable: bool = False) -> list[dict]:
    """The data sets the app offers: name, kind, task, classes, split_sizes, description, default_options,
    available. The synthetic default comes first; data sets needing a path (npz, video-folder) are left out."""
    from . import data

    out = []
    for info in data.list_datasets(quick=True):  # no scikit-learn import on the app's first page
        d = {k: getattr(info, k, None) for k in ("name", "kind", "task", "classes", "split_sizes", "available",
                                                  "description", "default_options")}
        if d["name"] in _PATH_ONLY or (not d["available"] and not include_unavailable):
            continue
        d["default_options"] = dict(d["default_options"] or {})
        d["split_sizes"] = dict(d["split_sizes"] or {})
        out.append(d)
    out.sort(key=lambda d: (d["name"] != "synthetic-volumes", not str(d["name"]).startswith("synthetic")))
    return out


def default_split(split_sizes: Mapping[str, int]) -> str:
    """The split the app shows: test where there is one, else the first non-empty one."""
    for s in ("test", "val", "all", "train"):
        if split_sizes.get(s):
            return s
    return next(iter(split_sizes), "test")


def open_dataset(name: str, split: str, options: Optional[Mapping] = None):
    """`das_core.data.load_dataset(name, split, **options)` (DataError on bad options)."""
    from . import data

    return data.load_dataset(name, split=split, **dict(options or {}))


def sample_from(ds, index: int) -> SampleData:
    """Item `index` of a loaded data set as a `SampleData` (DataError when out of range)."""
    n = len(ds)
    if not 0 <= int(index) < n:
        raise DataError(f"Sample {index} does not exist: this split has {n} samples (0..{n - 1}); pick another index.")
    x, y = ds[int(index)]
    try:
        meta = dict(ds.meta(int(index)) or {})
    except Exception:  # metadata is optional for display
        meta = {}
    return SampleData(x=x.float(), y=int(y) if y is not None else None, classes=list(getattr(ds, "classes", []) or []),
                      meta=meta, dataset=str(getattr(ds, "name", "")), kind=str(getattr(ds, "kind", "volume")))


def load_upload(content: bytes, filename: str, **options) -> SampleData:
    """An uploaded file (bytes) as a `SampleData`, read in memory by `das_core.data.load_sequence`.

    Raises DataError (one sentence) for a corrupt or wrong-rank file.
    """
    import io

    from . import data

    try:
        x, meta = data.load_sequence(io.BytesIO(content), filename=filename, **options)
    except DataError:
        raise
    except Exception as err:  # a decoder error the data layer did not wrap
        raise DataError(f"{filename} could not be read ({type(err).__name__}); upload a .npy/.npz volume, "
                        f"a video (mp4, avi, mov, gif) or a DICOM (.dcm) file.") from None
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise DataError(f"{filename} did not give a (T, C, H, W) sequence; upload one volume or one clip per file.")
    meta = dict(meta or {})
    kind = "video" if (meta.get("fps") or Path(filename).suffix.lower() in (".mp4", ".avi", ".mov", ".gif", ".dcm")) \
        else "volume"
    return SampleData(x=x.float(), y=None, classes=None, meta=meta, dataset=f"upload: {filename}", kind=kind)


def paper_table(agg: Sequence[Mapping], ratio: Optional[float] = 0.5,
                metrics: Sequence[str] = ("auc", "balanced_accuracy")) -> list[dict]:
    """Paper-style table: one row per method, one column per (data set, metric) with "mean ± std",
    at sampling ratio `ratio` (the full sequence is kept whatever its ratio)."""
    datasets_ = []
    for r in agg:
        if r.get("dataset") not in datasets_:
            datasets_.append(r.get("dataset"))
    rows: dict[str, dict] = {}
    for r in agg:
        m = str(r.get("method"))
        if ratio is not None and m != "full" and r.get("ratio") is not None and abs(float(r["ratio"]) - ratio) > 1e-6:
            continue
        row = rows.setdefault(m, {"method": m})
        for metric in metrics:
            if metric in r:
                row[f"{r.get('dataset')} {metric.replace('_', ' ')}"] = r[metric]
    order = {m: i for i, m in enumerate(METHODS)}
    return sorted(rows.values(), key=lambda r: order.get(r["method"], 99))
