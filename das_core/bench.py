"""The benchmark grid (`python -m das_core bench`) and the shipped checkpoints (`... checkpoints`).

Bench: data sets x ratios x methods x seeds, one `fit` per cell in `runs_dir/<data>/<method>-r<ratio>-s<seed>`.
Finished runs are skipped and an interrupted run resumes from its `last.pt`, so a killed grid
continues where it stopped. After every run the aggregate is rewritten: `results.csv` (one row
per run), `results.md` (mean ± std over seeds), `results.html` (plotly, when installed) in
`out_dir`, and the page `docs/results.md` with the settings, the paper's numbers beside ours and
the command that made it. The numbers are always read from the runs' `summary.json`.

A data set spec `NAME:moving` / `NAME:fixed` sets the synthetic structure (`moving=True/False`).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import json
import math
import os
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .runs import is_finished, read_json, read_summary, write_json
from .train import TrainConfig, fit

__all__ = ["BenchConfig", "run_bench", "aggregate", "make_checkpoints", "PAPER", "parse_dataset_spec",
           "CHECKPOINT_SETS"]

# The paper's numbers (METHOD.md): AUC and accuracy (%), MobileNetV3-Small, 50% of the frames, mean of 3 runs.
PAPER = {
    ("vesselmnist3d", "das"): {"auc": 0.752, "accuracy": 0.829},
    ("vesselmnist3d", "adps"): {"auc": 0.739, "accuracy": 0.807},
    ("organmnist3d", "das"): {"auc": 0.931, "accuracy": 0.581},
    ("organmnist3d", "adps"): {"auc": 0.928, "accuracy": 0.573},
    ("nodulemnist3d", "das"): {"auc": 0.799, "accuracy": 0.758},
    ("nodulemnist3d", "adps"): {"auc": 0.782, "accuracy": 0.758},
}

METHOD_ORDER = ["full", "uniform", "random", "dps", "adps", "das"]


@dataclass
class BenchConfig:
    """Args:
    datasets: data set specs (`NAME` or `NAME:moving` / `NAME:fixed`).
    methods, seeds, ratios: the grid (full runs once per data set and seed, at ratio 1).
    epochs, backbone, batch_size, lr, early_stopping, min_epochs, patience, max_train_batches,
    max_eval_batches, threads, device: the `TrainConfig` of every run.
    dataset_options: extra `load_dataset` options for every data set.
    root: data root.
    runs_dir: per-run folders; out_dir: tables and plot; results_md: the page rewritten.
    report_only: aggregate finished runs without training.
    sampler_warmup_epochs: `TrainConfig.sampler_warmup_epochs` of every run (0: the paper's joint training).
    folds: K for k-fold cross-validation (video folders, e.g. POCUS 5-fold by clip): every cell runs
        once per fold (`num_folds=K, fold=i`), and the table's mean ± std is over seeds x folds.
    """

    datasets: list = field(default_factory=lambda: ["synthetic-volumes:moving", "synthetic-volumes:fixed"])
    methods: list = field(default_factory=lambda: list(METHOD_ORDER))
    seeds: list = field(default_factory=lambda: [0, 1, 2])
    ratios: list = field(default_factory=lambda: [0.5])
    epochs: int = 10
    backbone: str = "small_cnn"
    batch_size: int = 16
    lr: float = 1e-4
    early_stopping: str = "val_auc"
    min_epochs: int = 3
    patience: int = 5
    max_train_batches: Optional[int] = None
    max_eval_batches: Optional[int] = None
    threads: Optional[int] = None
    device: str = "auto"
    dataset_options: dict = field(default_factory=dict)
    root: Optional[str] = None
    runs_dir: str = "runs/bench"
    out_dir: str = "docs/results"
    results_md: Optional[str] = "docs/results.md"
    report_only: bool = False
    folds: Optional[int] = None
    sampler_warmup_epochs: int = 0


def parse_dataset_spec(spec: str) -> tuple[str, dict, str]:
    """"synthetic-volumes:moving" -> ("synthetic-volumes", {"moving": True}, "synthetic-volumes-moving")."""
    name, _, variant = spec.partition(":")
    opts: dict = {}
    if variant in ("moving", "fixed"):
        opts["moving"] = variant == "moving"
    elif variant:
        from .errors import ConfigError

        raise ConfigError(f"Unknown data set variant {variant!r} in {spec!r}; use NAME, NAME:moving or NAME:fixed.")
    tag = name + (f"-{variant}" if variant else "")
    return name, opts, tag


def _grid(cfg: BenchConfig):
    """Cells (spec, name, options, tag, method, ratio, seed, fold); fold is None without k-fold."""
    folds = list(range(cfg.folds)) if cfg.folds else [None]
    for spec in cfg.datasets:
        name, opts, tag = parse_dataset_spec(spec)
        for seed in cfg.seeds:  # seed-major: a grid cut short still has every method for the first seeds
            for fold in folds:
                fold_opts = {} if fold is None else {"num_folds": cfg.folds, "fold": fold}
                for ratio in cfg.ratios:
                    for method in cfg.methods:
                        if method == "full" and ratio != cfg.ratios[0]:
                            continue  # the full sequence does not depend on the ratio
                        r = 1.0 if method == "full" else ratio
                        yield spec, name, {**cfg.dataset_options, **opts, **fold_opts}, tag, method, r, seed, fold


def run_folder(cfg: BenchConfig, tag: str, method: str, ratio: float, seed: int, fold: Optional[int] = None) -> Path:
    """`runs_dir/<tag>/<method>-r<ratio>-s<seed>[-f<fold>]`: one folder per cell, so a grid resumes."""
    suffix = "" if fold is None else f"-f{fold}"
    return Path(cfg.runs_dir) / tag / f"{method}-r{ratio:g}-s{seed}{suffix}"


def _train_config(cfg: BenchConfig, name, opts, method, ratio, seed, out) -> TrainConfig:
    return TrainConfig(
        dataset=name, root=cfg.root, dataset_options=opts, method=method, ratio=ratio if method != "full" else 0.5,
        epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=seed, backbone=cfg.backbone, out=str(out),
        early_stopping=cfg.early_stopping, min_epochs=cfg.min_epochs, patience=cfg.patience,
        max_train_batches=cfg.max_train_batches, max_eval_batches=cfg.max_eval_batches, threads=cfg.threads,
        device=cfg.device, resume=True, sampler_warmup_epochs=cfg.sampler_warmup_epochs,
    )


def run_bench(cfg: BenchConfig, command: str = "python -m das_core bench", log=print) -> list[dict]:
    """Run (or resume) the grid, aggregate after every run; returns the per-run rows."""
    cells = list(_grid(cfg))
    for i, (spec, name, opts, tag, method, ratio, seed, fold) in enumerate(cells):
        out = run_folder(cfg, tag, method, ratio, seed, fold)
        if cfg.report_only or is_finished(out):
            continue
        fold_text = "" if fold is None else f" fold {fold}/{cfg.folds}"
        log(f"[{i + 1}/{len(cells)}] {tag} {method} ratio {ratio:g} seed {seed}{fold_text} -> {out}")
        t = time.time()
        s = fit(_train_config(cfg, name, opts, method, ratio, seed, out))
        log(f"    auc {s['auc']}, balanced accuracy {s['balanced_accuracy']:.3f}, {time.time() - t:.0f} s")
        aggregate(cfg, command)
    return aggregate(cfg, command)


def _collect(cfg: BenchConfig) -> list[dict]:
    """Rows of every finished run under `runs_dir` (earlier invocations with other grids included)."""
    rows = []
    for summary_path in sorted(Path(cfg.runs_dir).glob("*/*/summary.json")):
        out = summary_path.parent
        if not is_finished(out):
            continue
        s = read_summary(out) or {}
        c = s.get("config") or {}
        method = c.get("method")
        ratio = 1.0 if method == "full" else c.get("ratio")
        rows.append({
            "dataset": out.parent.name, "backbone": c.get("backbone"), "method": method, "ratio": ratio, "k": s.get("num_selected"),
            "T": s.get("num_frames"), "seed": c.get("seed"), "fold": (c.get("dataset_options") or {}).get("fold"),
            "auc": s.get("auc"),
            "balanced_accuracy": s.get("balanced_accuracy"), "accuracy": s.get("accuracy"),
            "best_epoch": s.get("best_epoch"), "epochs_run": s.get("epochs_run"), "seconds": s.get("seconds"),
            "test_size": s.get("test_size"), "train_size": s.get("train_size"), "run": str(out),
            **{k: v for k, v in selection_probe(out).items() if k in ("hit_rate", "picks_auc")},
            "settings": (f"backbone {c.get('backbone')}, lr {c.get('lr'):g}, batch {c.get('batch_size')}, "
                         f"max {c.get('epochs')} epochs x {c.get('max_train_batches') or 'all'} batches, best on "
                         f"{c.get('early_stopping')} (min {c.get('min_epochs')}, patience {c.get('patience')}), "
                         + (f"learned samplers frozen for the first {c['sampler_warmup_epochs']} epochs, "
                            if c.get("sampler_warmup_epochs") else "") +
                         f"{s.get('train_size')}/{s.get('val_size')}/{s.get('test_size')} train/val/test items, "
                         f"frames {s.get('num_frames')} x {s.get('frame_size')}^2, "
                         f"data options {json.dumps({k: v for k, v in (c.get('dataset_options') or {}).items() if k != 'fold'})}"),
        })
    return rows


PROBED_METHODS = ("random", "adps", "das")  # samplers whose picks vary per input (random: the control)


def selection_probe(run: Path) -> dict:
    """What a trained sampler's picks say, without the backbone: `{"hit_rate", "picks_auc"}`.

    - `hit_rate`: share of test items whose selected frames include an informative frame (synthetic
      sets only, whose items carry `informative_frames`); None elsewhere.
    - `picks_auc`: a leakage probe. A logistic regression sees only *which* frames were picked (a
      k-hot vector over T); it is fitted on the training split's picks and scored (test AUC) on the
      test split's. About 0.5 means the picks carry no class information by themselves; near 1 means
      the choice of frames alone gives the class away, so the classifier's AUC need not come from the
      picked frames' content (DAS scores every frame, so it can do this). Computed for the per-input
      samplers (`PROBED_METHODS`, random as the control); None for static ones, whose picks are the
      same for every input. (Cross-validating on the test split instead is biased below 0.5 for
      uninformative picks: the random sampler scored 0.22 on VesselMNIST3D that way.)

    Runs the sampler of `run/best.pt`; cached in `run/probe.json`.
    """
    cache = Path(run) / "probe.json"
    cached = read_json(cache)
    if isinstance(cached, dict) and "picks_auc" in cached:
        return cached
    from .checkpoints import load_checkpoint
    from .data import load_dataset

    c = (read_summary(run) or {}).get("config") or {}
    synthetic = str(c.get("dataset", "")).startswith("synthetic")
    probed = c.get("method") in PROBED_METHODS
    if not synthetic and not probed:
        return {"hit_rate": None, "picks_auc": None}
    model, _ = load_checkpoint(Path(run) / "best.pt")
    model.eval()

    def split(name):
        return load_dataset(c["dataset"], split=name, root=c.get("root"), **(c.get("dataset_options") or {}))

    test = split("test")
    picks, labels, hits = _run_sampler(model.sampler, test, count_hits=synthetic)
    out = {"hit_rate": hits / len(test) if synthetic else None, "picks_auc": None, "test_size": len(test)}
    if probed:
        train_picks, train_labels, _ = _run_sampler(model.sampler, split("train"), limit=2000)
        out["picks_auc"] = _picks_auc(train_picks, train_labels, picks, labels, model.sampler.num_frames)
    write_json(cache, out)
    return out


def _run_sampler(sampler, ds, *, count_hits: bool = False, limit: Optional[int] = None) -> tuple[list, list, int]:
    """The sampler's picks (lists of frame indices) and the labels over `ds` (its first `limit` items)."""
    import torch

    n = len(ds) if limit is None else min(len(ds), limit)
    picks, labels, hits = [], [], 0
    with torch.no_grad():
        for start in range(0, n, 32):
            items = [ds[i] for i in range(start, min(n, start + 32))]
            sel = sampler(torch.stack([x for x, _ in items]))
            for j, row in enumerate(sel.indices.tolist()):
                picks.append(row)
                labels.append(int(items[j][1]))
                if count_hits:
                    hits += bool(set(row) & set(ds.meta(start + j)["informative_frames"]))
    return picks, labels, hits


def _picks_auc(train_picks: list, train_labels: list, test_picks: list, test_labels: list,
               num_frames: int) -> Optional[float]:
    """Test AUC of a logistic regression from k-hot pick vectors to labels, fitted on the training picks."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from .metrics import auc_score

    def khot(picks):
        X = np.zeros((len(picks), num_frames), dtype=np.float32)
        for i, row in enumerate(picks):
            X[i, row] = 1.0
        return X

    Xtr, ytr, Xte, yte = khot(train_picks), np.asarray(train_labels), khot(test_picks), np.asarray(test_labels)
    if len(np.unique(ytr)) < 2 or len(np.unique(yte)) < 2:
        return None
    if (Xtr == Xtr[0]).all() and (Xte == Xtr[0]).all():  # the same picks for every item: nothing to learn
        return 0.5
    clf = LogisticRegression(max_iter=2000).fit(Xtr, ytr)
    probs = np.zeros((len(yte), int(max(ytr.max(), yte.max())) + 1))
    probs[:, clf.classes_] = clf.predict_proba(Xte)
    return auc_score(yte.tolist(), probs)


def _mean_std(values: list) -> tuple[Optional[float], Optional[float]]:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return None, None
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def _fmt(m: Optional[float], s: Optional[float], scale: float = 1.0, digits: int = 3) -> str:
    if m is None or s is None:
        return "n/a"
    return f"{m * scale:.{digits}f} ± {s * scale:.{digits}f}"


def _groups(rows: list[dict]) -> list[dict]:
    """mean ± std per (data set, ratio, method); runs of different backbones are never pooled."""
    several = len({r.get("backbone") for r in rows}) > 1
    label = (lambda r: f"{r['dataset']} ({r.get('backbone')})") if several else (lambda r: r["dataset"])
    keys = []
    for r in rows:
        key = (label(r), r["ratio"], r["method"])
        if key not in keys:
            keys.append(key)
    out = []
    for ds, ratio, method in keys:
        sel = [r for r in rows if (label(r), r["ratio"], r["method"]) == (ds, ratio, method)]
        g = {"dataset": ds, "source": sel[0]["dataset"], "ratio": ratio, "method": method, "k": sel[0]["k"],
             "T": sel[0]["T"], "n": len(sel)}
        for metric in ("auc", "balanced_accuracy", "accuracy", "hit_rate", "picks_auc", "seconds"):
            g[metric] = _mean_std([r[metric] for r in sel])
        out.append(g)
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    return sorted(out, key=lambda g: (g["dataset"], -g["ratio"] if g["method"] != "full" else -2, order.get(g["method"], 99)))


def _table(groups: list[dict]) -> list[str]:
    lines = ["| data set | method | ratio (k/T) | seeds | test AUC | test balanced acc. | test acc. | hit rate | picks-only AUC | paper AUC / acc. | s/run |",
             "|---|---|---|---:|---|---|---|---|---|---|---:|"]
    for g in groups:
        base = g["source"].split("-moving")[0].split("-fixed")[0]
        paper = PAPER.get((base, g["method"]))
        ptxt = f"{paper['auc']:.3f} / {100 * paper['accuracy']:.1f}" if paper else ""
        lines.append(
            f"| {g['dataset']} | {g['method']} | {g['ratio']:g} ({g['k']}/{g['T']}) | {g['n']} | {_fmt(*g['auc'])} | "
            f"{_fmt(*g['balanced_accuracy'])} | {_fmt(*g['accuracy'])} | {_fmt(*g['hit_rate'], digits=2)} | {_fmt(*g['picks_auc'], digits=2)} | {ptxt} | {g['seconds'][0] or 0:.0f} |")
    return lines


def _plot(groups: list[dict], path: Path) -> Optional[Path]:
    try:
        import plotly.graph_objects as go
    except ImportError:
        return None
    fig = go.Figure()
    for method in METHOD_ORDER:
        sel = [g for g in groups if g["method"] == method and g["auc"][0] is not None]
        if not sel:
            continue
        fig.add_bar(name=method, x=[f"{g['dataset']} r={g['ratio']:g}" for g in sel], y=[g["auc"][0] for g in sel],
                    error_y={"type": "data", "array": [g["auc"][1] for g in sel]})
    fig.update_layout(barmode="group", title="Test AUC (mean ± std over seeds)", yaxis_title="AUC", yaxis_range=[0.4, 1.0])
    try:
        import kaleido  # noqa: F401

        png = path.with_suffix(".png")
        fig.write_image(str(png))
        return png
    except Exception:
        fig.write_html(str(path.with_suffix(".html")), include_plotlyjs="cdn")
        return path.with_suffix(".html")


def aggregate(cfg: BenchConfig, command: str = "python -m das_core bench") -> list[dict]:
    """Re-read every finished run and rewrite results.csv, results.md, the plot and docs/results.md."""
    rows = _collect(cfg)
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fields = ["dataset", "backbone", "method", "ratio", "k", "T", "seed", "fold", "auc", "balanced_accuracy", "accuracy", "hit_rate", "picks_auc", "best_epoch",
              "epochs_run", "seconds", "test_size", "train_size", "run"]
    with open(out_dir / "results.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    groups = _groups(rows)
    table = _table(groups)
    (out_dir / "results.md").write_text("\n".join(table) + "\n")
    plot = _plot(groups, out_dir / "results")
    if cfg.results_md:
        _write_page(cfg, table, rows, command, plot)
    return rows


def _settings(cfg: BenchConfig) -> list[str]:
    return [
        f"- backbone **{cfg.backbone}** (not the paper's MobileNetV3-Small unless it says so), trained from scratch;",
        f"- Adam lr {cfg.lr:g} (DPS logits x10), batch {cfg.batch_size}, at most {cfg.epochs} epochs"
        + (f", at most {cfg.max_train_batches} training batches per epoch ({cfg.max_train_batches * cfg.batch_size} items)"
           if cfg.max_train_batches else "") + ";",
        f"- early stopping / best epoch on **{cfg.early_stopping}** (min {cfg.min_epochs} epochs, patience {cfg.patience});"
        " class-weighted cross-entropy;",
        "- validation and test splits "
        + (f"capped at {cfg.max_eval_batches} batches" if cfg.max_eval_batches else "complete") + ";",
        f"- data options {json.dumps(cfg.dataset_options) if cfg.dataset_options else '(defaults)'}, seeds {cfg.seeds}, ratios {cfg.ratios};",
        f"- torch threads {cfg.threads or 'default'}, device {cfg.device}.",
    ]


def _settings_from_runs(rows: list[dict]) -> list[str]:
    """The training settings actually used, read from the runs' configs, per data set."""
    out = []
    for ds in sorted({r["dataset"] for r in rows}):
        for setting in sorted({r["settings"] for r in rows if r["dataset"] == ds}):
            seeds = sorted({r["seed"] for r in rows if r["dataset"] == ds and r["settings"] == setting})
            out.append(f"- **{ds}**: {setting}; seeds {seeds}.")
    return out or ["- (no finished runs yet)"]


def _write_page(cfg: BenchConfig, table: list[str], rows: list[dict], command: str, plot: Optional[Path]) -> None:
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="minutes")
    rel = Path(os.path.relpath(Path(cfg.out_dir).resolve(), Path(cfg.results_md).resolve().parent)).as_posix()
    lines = [
        "# Results",
        "",
        "Made by `das_core.bench` from the runs' own `summary.json` files (never typed in). Test-split metrics of",
        "the best-validation checkpoint; mean ± std over seeds. Paper numbers (MobileNetV3-Small, 50% of the",
        "frames, mean of 3 runs) are shown where the paper reports that data set and method.",
        "",
        f"Command: `{command}`  ",
        f"Updated: {now}; {len(rows)} finished runs.",
        "",
        "## Settings",
        "",
        *_settings_from_runs(rows),
        "",
        "## Table",
        "",
        *table,
        "",
        f"Per-run rows: [`{rel}/results.csv`]({rel}/results.csv)"
        + (f"; plot: [`{plot.name}`]({rel}/{plot.name})." if plot else "."),
        "",
    ]
    manifest = read_json(Path("checkpoints") / "manifest.json")
    shipped_backbones = {e.get("backbone") for e in manifest.get("checkpoints", [])} if isinstance(manifest, dict) else set()
    if shipped_backbones & {r.get("backbone") for r in rows}:  # the demo checkpoints sit beside the grid of their backbone
        lines += ["## Shipped checkpoints (one seed each, capped training; from checkpoints/manifest.json)", "",
                  "Not the benchmark: " + manifest.get("description", ""), "",
                  "| checkpoint | data set | method | k/T | test AUC | test balanced acc. | test acc. | paper AUC / acc. | epochs x batches |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for e in manifest["checkpoints"]:
            m, tr = e["metrics"], e["training"]
            paper = PAPER.get((e["dataset"], e["method"]))
            ptxt = f"{paper['auc']:.3f} / {100 * paper['accuracy']:.1f}" if paper else ""
            f3 = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
            lines.append(f"| {e['file']} | {e['dataset']} | {e['method']} | {e['k']}/{e['T']} | {f3(m['test_auc'])} | "
                         f"{f3(m['test_balanced_accuracy'])} | {f3(m['test_accuracy'])} | {ptxt} | "
                         f"{tr['epochs']} x {tr['max_train_batches']} |")
        lines.append("")
    extra = Path(cfg.out_dir) / "notes.md"
    if extra.is_file():
        lines += [extra.read_text(), ""]
    Path(cfg.results_md).parent.mkdir(parents=True, exist_ok=True)
    Path(cfg.results_md).write_text("\n".join(lines))


# ------------------------------------------------------------------------------------ shipped checkpoints

CHECKPOINT_SETS = [
    # (file stem, data set, dataset options, epochs, max train batches, lr)
    ("synthetic-volumes", "synthetic-volumes", {"moving": True, "num_frames": 28, "size": 28}, 8, 20, 2e-3),
    ("vesselmnist3d-28", "vesselmnist3d", {"size": 28}, 3, 20, 1e-3),
    ("adrenalmnist3d-28", "adrenalmnist3d", {"size": 28}, 3, 20, 1e-3),
]


def make_checkpoints(out_dir: str = "checkpoints", runs_dir: str = "runs/checkpoints", datasets=None, methods=None,
                     epochs: Optional[int] = None, max_train_batches: Optional[int] = None, threads: Optional[int] = None,
                     seed: int = 0, log=print) -> dict:
    """Train every method on every `CHECKPOINT_SETS` entry (small_cnn, ratio 0.5, capped) and ship the best.pt files.

    Each checkpoint goes to `out_dir/<stem>-<method>.pt`; `out_dir/manifest.json` lists file, dataset,
    method, k, T, backbone, test metrics and the command that re-creates it. Runs already finished in
    `runs_dir` are reused (the command is resumable).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest = read_json(manifest_path, {}) or {}
    entries = {e["file"]: e for e in manifest.get("checkpoints", [])}
    t_all = time.time()
    for stem, name, opts, ep, mtb, lr in CHECKPOINT_SETS:
        if datasets and name not in datasets and stem not in datasets:
            continue
        for method in methods or METHOD_ORDER:
            run = Path(runs_dir) / stem / method
            cfg = TrainConfig(dataset=name, dataset_options=dict(opts), method=method, ratio=0.5, epochs=epochs or ep,
                              batch_size=16, lr=lr, seed=seed, backbone="small_cnn", out=str(run),
                              early_stopping="val_auc", min_epochs=1, patience=3,
                              max_train_batches=max_train_batches or mtb, threads=threads, resume=True)
            if not is_finished(run):
                log(f"checkpoint {stem} {method} -> {run}")
                fit(cfg)
            s = read_summary(run)
            file = f"{stem}-{method}.pt"
            shutil.copyfile(run / "best.pt", out / file)
            cmd = (f"python -m das_core train --dataset {name} "
                   + " ".join(f"--{'frames' if k == 'num_frames' else k} {v}" for k, v in opts.items() if k != "moving")
                   + (" --moving" if opts.get("moving") else "")
                   + f" --method {method} --ratio 0.5 --backbone small_cnn --epochs {cfg.epochs} --lr {lr:g}"
                   f" --max-train-batches {cfg.max_train_batches} --min-epochs 1 --patience 3 --seed {seed} --out {run}")
            entries[file] = {
                "file": file, "dataset": name, "dataset_options": opts, "method": method,
                "k": s.get("num_selected"), "T": s.get("num_frames"), "frame_size": s.get("frame_size"),
                "backbone": "small_cnn", "ratio": 0.5, "classes": s.get("classes"),
                "metrics": {"test_balanced_accuracy": s.get("balanced_accuracy"), "test_auc": s.get("auc"),
                            "test_accuracy": s.get("accuracy"), "test_size": s.get("test_size"),
                            "best_epoch": s.get("best_epoch")},
                "training": {"epochs": cfg.epochs, "max_train_batches": cfg.max_train_batches, "batch_size": 16,
                             "lr": lr, "seed": seed, "seconds": s.get("seconds")},
                "size_bytes": (out / file).stat().st_size,
                "command": cmd,
            }
            manifest = {
                "description": "Demo checkpoints for the DAS Explorer app: small_cnn backbone, ratio 0.5, trained "
                               "with a capped CPU budget (few epochs, at most max_train_batches batches of 16 per "
                               "epoch, lr 1e-3, 2e-3 on the synthetic set) so all 18 train in about 15 minutes on 2 free CPU "
                               "cores (total_training_seconds is the measured sum; the shipped set took longer because "
                               "benchmark runs shared the cores). They show the samplers at work; they are not tuned "
                               "models, one seed each, and their metrics are not the benchmark (docs/results.md).",
                "recreate": "python -m das_core checkpoints",
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "checkpoints": sorted(entries.values(), key=lambda e: e["file"]),
            }
            manifest["total_training_seconds"] = round(sum((e["training"].get("seconds") or 0)
                                                           for e in manifest["checkpoints"]), 1)
            write_json(manifest_path, manifest)
    log(f"checkpoints done in {time.time() - t_all:.0f} s")
    return manifest
