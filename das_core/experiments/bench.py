"""The benchmark grid (`python -m das_core bench`): data sets x ratios x methods x seeds (x folds).

One `fit` per cell in `runs_dir/<data>/<method>-r<ratio>-s<seed>[-f<fold>]`. Finished runs are
skipped and an interrupted run resumes from its `last.pt`, so a killed grid continues where it
stopped. After every run the aggregate is rewritten from the runs' own `summary.json` files (never
typed in): `results.csv` (one row per run) and `results.md` (mean ± std, `experiments.results`) in
`out_dir`, and the page `results_md` with the settings read back from the runs, the paper's numbers
beside ours and the command that made it. `--workers N` trains N runs at once in worker processes,
`--executor ray` as Ray tasks on a local instance or a cluster (`experiments.executor`).

A data set spec `NAME:moving` / `NAME:fixed` / `NAME:cue` sets the synthetic structure (`moving=True/False`;
cue: moving, with a cue of where to look in every other frame).
Every cell's training settings are `BenchConfig.train` (a `TrainConfig`) with the cell's data set,
method, ratio, seed and run folder filled in.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..atomic import write_csv
from ..engine import TrainConfig
from ..errors import ConfigError
from ..runs import best_validation_auc, is_finished, read_json, read_summary
from ..samplers import SAMPLERS, list_samplers
from .executor import EXECUTORS, run_configs
from .probes import PROBE_KEYS, selection_probe
from .results import aggregate as aggregate_rows
from .results import mean_std_text

__all__ = ["BenchConfig", "run_bench", "aggregate", "PAPER", "paper_numbers", "parse_dataset_spec", "run_folder",
           "GRID_FIELDS", "VARIANTS", "split_method"]

# The paper's numbers (docs/method-notes.md, "The paper's numbers"): AUC and accuracy, MobileNetV3-Small,
# 50% of the frames, mean of 3 runs.
PAPER = {
    ("vesselmnist3d", "das"): {"auc": 0.752, "accuracy": 0.829},
    ("vesselmnist3d", "adps"): {"auc": 0.739, "accuracy": 0.807},
    ("organmnist3d", "das"): {"auc": 0.931, "accuracy": 0.581},
    ("organmnist3d", "adps"): {"auc": 0.928, "accuracy": 0.573},
    ("nodulemnist3d", "das"): {"auc": 0.799, "accuracy": 0.758},
    ("nodulemnist3d", "adps"): {"auc": 0.782, "accuracy": 0.758},
}
# Recipe variants of a learned method, named in --methods as "METHOD/VARIANT" (e.g. "dps/paper"): the sampler
# options a variant sets on top of the grid's. Every learned sampler takes them (`samplers.learned`), so each learned
# method is reported with the project's default recipe (estimator "both", score_init "zero") and with its paper's.
# "learned" is DAS with a learned frame encoder beside its fixed features (the paper's future work, `das-learned`).
# Two candidates for the moving-real families, both the paper's recipe plus one change that makes the training picks
# follow the scores (why: docs/results/moving_real_candidates/notes.md): "anneal", the training noise falling linearly
# to a tenth of its scale after the warm-up (`noise_end`); "standardized", the scores standardised across the frames
# with a learned gain (`score_norm`), so their spread matches the noise's from the first step.
VARIANTS = {"paper": {"estimator": "straight_through", "score_init": "random"},
            "learned": {"frame_encoder": "learned"},
            "anneal": {"estimator": "straight_through", "score_init": "random", "noise_end": 0.1},
            "standardized": {"estimator": "straight_through", "score_init": "random", "score_norm": "standardize"}}
# TrainConfig fields each grid cell sets itself (not bench flags)
GRID_FIELDS = ("dataset", "method", "ratio", "k", "seed", "out", "resume")
CSV_FIELDS = ["dataset", "backbone", "method", "ratio", "k", "T", "seed", "fold", "auc", "balanced_accuracy", "accuracy",
              "val_auc", "hit_rate", "informative_share", "picks_auc", "informative_rank", "distinct_picks", "best_epoch", "epochs_run", "seconds",
              "test_size", "train_size", "num_classes", "run"]


def _grid_field(default, help: str, **meta):
    return field(default_factory=lambda: list(default), metadata={"help": help, **meta})


@dataclass
class BenchConfig:
    """The grid, where its results go, and the training settings of every cell (`train`)."""

    datasets: list[str] = _grid_field(["synthetic-volumes:moving", "synthetic-volumes:fixed"],
                                      "data sets; NAME:moving / NAME:fixed set the synthetic structure")
    methods: list[str] = field(default_factory=list_samplers, metadata={"help": "methods (default: every registered sampler)"})
    seeds: list[int] = _grid_field([0, 1, 2], "seeds")
    ratios: list[float] = _grid_field([0.5], "sampling ratios (the full sequence runs once, at ratio 1)")
    folds: Optional[int] = field(default=None, metadata={
        "help": "k-fold cross-validation: run every cell on folds 0..K-1 (video folders, e.g. pocus-lung)"})
    runs_dir: str = field(default="runs/bench", metadata={"help": "per-run folders (git-ignored)"})
    out_dir: str = field(default="docs/results", metadata={"help": "results.csv and results.md"})
    results_md: Optional[str] = field(default="docs/results.md", metadata={"help": "the page rewritten with the table"})
    report_only: bool = field(default=False, metadata={"help": "only re-aggregate finished runs"})
    workers: Optional[int] = field(default=None, metadata={
        "help": "runs trained at once, each in its own process (or Ray task) with one torch thread (unless "
                "--threads); default 1 locally, every run submitted at once with --executor ray"})
    executor: str = field(default="local", metadata={
        "choices": EXECUTORS, "help": "where the runs train: local worker processes, or Ray tasks (one CPU each; "
                                      "pip install 'das-explorer[ray]')"})
    ray_address: Optional[str] = field(default=None, metadata={
        "help": "with --executor ray: the cluster to join (auto, or ray://HOST:PORT); default: start a local "
                "Ray instance for the grid"})
    train: TrainConfig = field(default_factory=lambda: TrainConfig(progress=False))


def paper_numbers(dataset: str, method: str) -> Optional[dict]:
    """The paper's {"auc", "accuracy"} for a data set label ("vesselmnist3d", "synthetic-volumes-moving",
    "name (backbone)") and method, or None where the paper reports none."""
    base = dataset.split(" (")[0]
    for variant in ("-moving", "-fixed", "-cue"):
        base = base.split(variant)[0]
    return PAPER.get((base, method))


def parse_dataset_spec(spec: str) -> tuple[str, dict, str]:
    """"synthetic-volumes:moving" -> ("synthetic-volumes", {"moving": True}, "synthetic-volumes-moving").

    Variants: moving, fixed, and cue (moving, with a cue in every other frame of where to look) for the synthetic
    sets; distractors and speckle (the filler) for the moving-real families `<flag>-embedded`
    ("adrenalmnist3d-embedded:speckle" -> filler="speckle", tag "adrenalmnist3d-embedded-speckle").
    """
    name, _, variant = spec.partition(":")
    opts: dict = {}
    if variant in ("moving", "fixed"):
        opts["moving"] = variant == "moving"
    elif variant == "cue":
        opts.update(moving=True, cue=True)
    elif variant in ("distractors", "speckle"):
        if not name.endswith("-embedded"):
            raise ConfigError(f"The filler variant {variant!r} in {spec!r} is for the moving-real families; use "
                              f"<flag>-embedded:{variant}, e.g. adrenalmnist3d-embedded:{variant}.")
        opts["filler"] = variant
    elif variant:
        raise ConfigError(f"Unknown data set variant {variant!r} in {spec!r}; use NAME, NAME:moving, NAME:fixed, "
                          f"NAME:cue, or <flag>-embedded:distractors / :speckle.")
    tag = name + (f"-{variant}" if variant else "")
    return name, opts, tag


def split_method(spec: str) -> tuple[str, Optional[str]]:
    """"dps/paper" -> ("dps", "paper"); "das" -> ("das", None). ConfigError for an unknown method or variant."""
    name, _, variant = str(spec).partition("/")
    if name not in list_samplers():
        raise ConfigError(f"Unknown method {name!r}; choose from {', '.join(list_samplers())}.")
    if variant:
        if variant not in VARIANTS:
            raise ConfigError(f"Unknown recipe variant {variant!r} in {spec!r}; use one of {', '.join(VARIANTS)}.")
        if not SAMPLERS[name].learned:
            raise ConfigError(f"{name} learns nothing, so it has no recipe variant; use {name} alone.")
        missing = sorted(set(VARIANTS[variant]) - set(SAMPLERS[name].option_names()))
        if missing:
            raise ConfigError(f"The {variant!r} variant sets {', '.join(missing)}, which {name} does not take; "
                              f"use it with a sampler that does (e.g. das/{variant}).")
    return name, variant or None


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
                        yield spec, name, {**cfg.train.dataset_options, **opts, **fold_opts}, tag, method, r, seed, fold


def run_folder(cfg: BenchConfig, tag: str, method: str, ratio: float, seed: int, fold: Optional[int] = None) -> Path:
    """`runs_dir/<tag>/<method>-r<ratio>-s<seed>[-f<fold>]`: one folder per cell, so a grid resumes."""
    suffix = "" if fold is None else f"-f{fold}"
    return Path(cfg.runs_dir) / tag / f"{method.replace('/', '-')}-r{ratio:g}-s{seed}{suffix}"


def cell_config(cfg: BenchConfig, name: str, opts: dict, method: str, ratio: float, seed: int, out: Path) -> TrainConfig:
    """The cell's `TrainConfig`: `cfg.train` with the cell's data set, method (and its recipe variant's sampler
    options), ratio, seed and folder."""
    base, variant = split_method(method)
    sampler_opts = {**cfg.train.sampler_options, **(VARIANTS[variant] if variant else {})}
    return dataclasses.replace(cfg.train, dataset=name, dataset_options=opts, method=base, sampler_options=sampler_opts,
                               ratio=ratio if base != "full" else 0.5, k=None, seed=seed, out=str(out), resume=True)


def run_bench(cfg: BenchConfig, command: str = "python -m das_core bench", log=print) -> list[dict]:
    """Run (or resume) the grid, aggregate after every run; returns the per-run rows."""
    for m in cfg.methods:
        split_method(m)  # a clear error for an unknown method or variant before anything trains
    cells = list(_grid(cfg))
    todo, labels = [], {}
    for i, (spec, name, opts, tag, method, ratio, seed, fold) in enumerate(cells):
        out = run_folder(cfg, tag, method, ratio, seed, fold)
        if cfg.report_only or is_finished(out):
            continue
        fold_text = "" if fold is None else f" fold {fold}/{cfg.folds}"
        labels[str(out)] = f"[{i + 1}/{len(cells)}] {tag} {method} ratio {ratio:g} seed {seed}{fold_text}"
        todo.append(cell_config(cfg, name, opts, method, ratio, seed, out))
    started: dict[str, float] = {}

    def on_start(c: TrainConfig) -> None:
        started[c.out] = time.time()
        log(f"{labels[c.out]} -> {c.out}")

    def on_done(c: TrainConfig, s: dict) -> None:
        log(f"{labels[c.out]}: auc {s['auc']}, balanced accuracy {s['balanced_accuracy']:.3f}, "
            f"{time.time() - started[c.out]:.0f} s")
        aggregate(cfg, command, log=log)

    run_configs(todo, workers=cfg.workers, threads=cfg.train.threads, executor=cfg.executor,
                ray_address=cfg.ray_address, on_start=on_start, on_done=on_done)
    return aggregate(cfg, command, log=log)


def _warmup_text(c: dict, s: Optional[dict] = None) -> str:
    """The warm-up of a run's config, as it applied to that run's method.

    Runs made before the warm-up applied to every method (no `warmup_all_methods` in their summary `s`) had it
    for learned samplers only; those runs keep their old description."""
    w = TrainConfig.from_dict(c).warmup_epochs  # (a config from before the default warm-up names its 0)
    sampler = SAMPLERS.get(c.get("method"))
    if not w or sampler is None:
        return ""
    frames = "all frames" if c.get("warmup_frames", "picks") == "all" else "their own picks"
    if (s or {}).get("warmup_all_methods"):
        # one wording for every method, so a data set's settings stay one line on the page
        return f"a {w}-epoch warm-up for every method (the task network trains on {frames}, a learned sampler frozen), "
    if not sampler.learned:  # older runs: the warm-up applied to learned samplers only
        return ""
    return f"learned samplers frozen for the first {w} epochs (the task network trains on {frames}), "


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
        variant = next((v for v in VARIANTS if out.name.startswith(f"{method}-{v}-r")), None)
        if variant:
            method = f"{method}/{variant}"
        rows.append({
            "dataset": out.parent.name, "backbone": c.get("backbone"), "method": method, "ratio": ratio, "k": s.get("num_selected"),
            "T": s.get("num_frames"), "seed": c.get("seed"), "fold": (c.get("dataset_options") or {}).get("fold"),
            "auc": s.get("auc"),
            "balanced_accuracy": s.get("balanced_accuracy"), "accuracy": s.get("accuracy"),
            "val_auc": best_validation_auc(out),
            "best_epoch": s.get("best_epoch"), "epochs_run": s.get("epochs_run"), "seconds": s.get("seconds"),
            "test_size": s.get("test_size"), "train_size": s.get("train_size"), "run": str(out),
            "num_classes": len(s.get("classes") or []) or None,
            **{k: v for k, v in selection_probe(out).items() if k in PROBE_KEYS},
            "settings": (f"backbone {c.get('backbone')}, lr {c.get('lr'):g}, batch {c.get('batch_size')}, "
                         f"max {c.get('epochs')} epochs x {c.get('max_train_batches') or 'all'} batches, best on "
                         f"{c.get('early_stopping')} (min {c.get('min_epochs')}, patience {c.get('patience')}), "
                         + _warmup_text(c, s) +
                         f"{s.get('train_size')}/{s.get('val_size')}/{s.get('test_size')} train/val/test items, "
                         f"frames {s.get('num_frames')} x {s.get('frame_size')}^2, "
                         f"data options {json.dumps({k: v for k, v in (c.get('dataset_options') or {}).items() if k != 'fold'})}"),
        })
    return rows


def _num_classes(tag: str) -> Optional[int]:
    """Classes of a grid folder's data set ("synthetic-volumes-moving" -> synthetic-volumes), from the registry's
    listing; None where it does not say (rows of an older results.csv carry no class count)."""
    from ..data import list_datasets

    infos = sorted(list_datasets(quick=True), key=lambda i: -len(i.name))
    info = next((i for i in infos if tag == i.name or tag.startswith(i.name + "-")), None)
    return len(info.classes) if info is not None and info.classes else None


def chance_level_sets(rows: list[dict], margin: float = 0.05) -> dict:
    """Data sets where the full sequence does not leave chance on balanced accuracy: {data set: why}.

    Chance is 1 / classes; a data set is listed when full's mean balanced accuracy is less than `margin` above it,
    or when the 95% bootstrap CI over full's runs of (balanced accuracy - chance) includes 0. There, no method's
    ranking is interpretable (POCUS at the grid's budget: full 0.25-0.30 on four classes)."""
    from ..stats import bootstrap_ci

    out = {}
    for ds in sorted({r["dataset"] for r in rows}):
        full = [r for r in rows if r["dataset"] == ds and r["method"] == "full" and r.get("balanced_accuracy") is not None]
        classes = next((r.get("num_classes") for r in full if r.get("num_classes")), None) or _num_classes(ds)
        if not full or not classes:
            continue
        chance = 1.0 / classes
        above = [float(r["balanced_accuracy"]) - chance for r in full]
        mean, lo, hi = bootstrap_ci(above)
        if mean < margin or not (lo > 0):
            ci = "" if lo != lo else f", 95% CI of the excess over chance [{lo:+.3f}, {hi:+.3f}]"
            out[ds] = (f"the full sequence's balanced accuracy is {chance + mean:.3f} (chance {chance:.3f}, "
                       f"{len(full)} runs{ci}): at this budget the classifier does not learn the task from all "
                       f"frames, so the methods are not ranked here")
    return out


def table(groups: list[dict], uninterpretable: Optional[dict] = None) -> list[str]:
    """The Markdown table of `experiments.results.aggregate` groups, with the paper's numbers where known.

    The sampler diagnostics (the informative frame's rank, distinct pick sets) are columns when the
    runs have them (grids made before they existed keep their table as it was).
    """
    diagnostics = any(g.get("distinct_picks_mean") is not None for g in groups)
    share = any(g.get("informative_share_mean") is not None for g in groups)  # the moving-real families
    extra_head = (" share of picks informative |" if share else "") + (
        " informative rank | distinct pick sets |" if diagnostics else "")
    lines = ["| data set | method | ratio (k/T) | seeds | test AUC | test balanced acc. | test acc. | hit rate | picks-only AUC |"
             + extra_head + " paper AUC / acc. | s/run |",
             "|---|---|---|---:|---|---|---|---|---|" + ("---|" if share else "") + ("---|---|" if diagnostics else "")
             + "---|---:|"]

    def ms(g, m, digits=3):
        return mean_std_text(g[f"{m}_mean"], g[f"{m}_std"], digits)

    uninterpretable = uninterpretable or {}
    for g in groups:
        paper = paper_numbers(g["source"], g["method"])
        ptxt = f"{paper['auc']:.3f} / {100 * paper['accuracy']:.1f}" if paper else ""
        extra = (f" {ms(g, 'informative_share', 2)} |" if share else "") + (
            f" {ms(g, 'informative_rank', 1)} | {ms(g, 'distinct_picks', 1)} |" if diagnostics else "")
        lines.append(
            f"| {g['dataset']}{' (uninterpretable: full at chance)' if g['source'] in uninterpretable else ''} | "
            f"{g['method']} | {g['ratio']:g} ({g['k']}/{g['T']}) | {g['n']} | {ms(g, 'auc')} | "
            f"{ms(g, 'balanced_accuracy')} | {ms(g, 'accuracy')} | {ms(g, 'hit_rate', 2)} | {ms(g, 'picks_auc', 2)} |"
            f"{extra} {ptxt} | {g['seconds_mean'] or 0:.0f} |")
    return lines


def aggregate(cfg: BenchConfig, command: str = "python -m das_core bench", log=print) -> list[dict]:
    """Re-read every finished run and rewrite results.csv, results.md and the page.

    With no finished run under `runs_dir` (e.g. a fresh clone, where runs/ is not checked in),
    nothing is rewritten: the committed tables stay as they are.
    """
    rows = _collect(cfg)
    if not rows:
        log(f"No finished runs under {cfg.runs_dir}: the tables in {cfg.out_dir} are left as they are.")
        return rows
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(out_dir / "results.csv", CSV_FIELDS, rows)
    lines = table(aggregate_rows(rows), chance_level_sets(rows))
    (out_dir / "results.md").write_text("\n".join(lines) + "\n")
    if cfg.results_md:
        _write_page(cfg, lines, rows, command)
    return rows


def _settings_from_runs(rows: list[dict]) -> list[str]:
    """The training settings actually used, read from the runs' configs, per data set."""
    out = []
    for ds in sorted({r["dataset"] for r in rows}):
        for setting in sorted({r["settings"] for r in rows if r["dataset"] == ds}):
            seeds = sorted({r["seed"] for r in rows if r["dataset"] == ds and r["settings"] == setting})
            out.append(f"- **{ds}**: {setting}; seeds {seeds}.")
    return out or ["- (no finished runs yet)"]


def _write_page(cfg: BenchConfig, table_lines: list[str], rows: list[dict], command: str) -> None:
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
        *table_lines,
        "",
        *[f"**{ds} is not ranked**: {why}." for ds, why in chance_level_sets(rows).items()],
        "",
        f"Per-run rows: [`{rel}/results.csv`]({rel}/results.csv); charts: the app's Results page.",
        "",
    ]
    manifest = read_json(Path("checkpoints") / "manifest.json")
    entries = manifest.get("checkpoints", []) if isinstance(manifest, dict) else []
    grid = Path(cfg.runs_dir).as_posix().rstrip("/") + "/"
    if any(str(e.get("run", "")).startswith(grid) for e in entries):  # the demo checkpoints sit beside the grid they came from
        lines += ["## Shipped checkpoints (from checkpoints/manifest.json)", "",
                  manifest.get("description", ""), "",
                  "| checkpoint | data set | method | k/T | test AUC (int8 file) | test balanced acc. | test acc. | "
                  "run's test AUC | run's hit rate | paper AUC / acc. | epochs x batches |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for e in manifest["checkpoints"]:
            m, tr, rm = e["metrics"], e["training"], e.get("run_metrics") or {}
            paper = paper_numbers(e["dataset"], e["method"])
            ptxt = f"{paper['auc']:.3f} / {100 * paper['accuracy']:.1f}" if paper else ""
            f3 = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
            lines.append(f"| {e['file']} | {e['dataset']} | {e['method']} | {e['k']}/{e['T']} | {f3(m['test_auc'])} | "
                         f"{f3(m['test_balanced_accuracy'])} | {f3(m['test_accuracy'])} | {f3(rm.get('test_auc'))} | "
                         f"{f3(rm.get('hit_rate'))} | {ptxt} | {tr.get('epochs_run', tr['epochs'])} x {tr['max_train_batches']} |")
        lines.append("")
    paired = Path(cfg.out_dir) / "paired.md"  # `python -m das_core paired`: paired differences and static controls
    if paired.is_file():
        lines += [paired.read_text(), ""]
    extra = Path(cfg.out_dir) / "notes.md"
    if extra.is_file():
        lines += [extra.read_text(), ""]
    Path(cfg.results_md).parent.mkdir(parents=True, exist_ok=True)
    Path(cfg.results_md).write_text("\n".join(lines))


