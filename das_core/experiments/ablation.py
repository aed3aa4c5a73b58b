"""The DAS training-recipe ablation (`python -m das_core ablation` -> docs/results-ablation.md).

Each candidate recipe trains DAS on the tuning sets (synthetic moving and fixed, ratio 0.5) with
both backbones and 5 seeds, logging the sampler diagnostics during training
(`engine/diagnostics.py`); the full sequence and uniform picks run once per set and seed as
references. The same candidates then run on held-out sets they were not tuned on: the "bars"
family (a short thin bar in one slice of 16, 3 classes, k = 4) and VesselMNIST3D.

Cells are independent run folders (resumable, like bench); `--shard i/n` runs every n-th cell
from the i-th, so n processes can share a machine, and `--report-only` writes the page from
whatever has finished.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from ..engine import TrainConfig, fit
from ..errors import ConfigError
from ..runs import RunPaths, is_finished, read_metrics, read_summary
from .bench import parse_dataset_spec
from .probes import selection_probe
from .results import mean_std, mean_std_text

__all__ = ["CANDIDATES", "RECIPES", "AblationConfig", "cells", "run_ablation", "report", "ROUND2", "round2_on_validation",
           "round2_validation_lines"]

# The second round's candidates (docs/results/diagnostics/round2: per-epoch metrics of 5 seeds each, synthetic moving,
# ratio 0.25): file stem -> its all-frames warm-up in epochs.
ROUND2 = {"w2": 2, "w3": 3, "w4": 4, "w2lr10": 2, "w2zero": 2}

# candidate name -> (TrainConfig changes, what it tests)
CANDIDATES: dict[str, tuple[dict, str]] = {
    # (the estimator and the score init are named in each: DAS's defaults changed after each round)
    "paper": ({"sampler_options": {"score_init": "random", "estimator": "straight_through"}, "sampler_warmup_epochs": 0},
              "straight-through, trained jointly from the first step (the paper's reading)"),
    "warmup": ({"sampler_options": {"score_init": "random", "estimator": "straight_through"}, "sampler_warmup_epochs": 3,
                "warmup_frames": "picks"},
               "straight-through, sampler frozen for the first 3 epochs"),
    "standardize": ({"sampler_options": {"score_init": "random", "estimator": "straight_through", "score_norm": "standardize"},
                     "sampler_warmup_epochs": 0},
                    "straight-through, scores standardised across T with a learned gain (init 3)"),
    "score-function": ({"sampler_options": {"score_init": "random", "estimator": "score_function"}, "sampler_warmup_epochs": 0},
                       "score-function (REINFORCE) gradient with a leave-one-out baseline, no straight-through"),
    "score-function+warmup": ({"sampler_options": {"score_init": "random", "estimator": "score_function"}, "sampler_warmup_epochs": 3,
                               "warmup_frames": "picks"},
                              "score-function gradient, sampler frozen for the first 3 epochs"),
    "both": ({"sampler_options": {"score_init": "random", "estimator": "both"}, "sampler_warmup_epochs": 0}, "straight-through and score-function gradients together"),
    "score-function+explore": ({"sampler_options": {"score_init": "random", "estimator": "score_function", "exploration": 0.25},
                                "sampler_warmup_epochs": 0},
                               "score-function gradient, a quarter of the training picks drawn uniformly at random"),
    "both+explore": ({"sampler_options": {"score_init": "random", "estimator": "both", "exploration": 0.25}, "sampler_warmup_epochs": 0},
                     "straight-through and score-function gradients, a quarter of the training picks at random"),
    # the second round, after the main grid found "both" failing at ratio 0.25 (docs/results.md)
    "both+warmup-all": ({"sampler_options": {"score_init": "random", "estimator": "both", "lr_multiplier": 1.0}, "sampler_warmup_epochs": 2,
                         "warmup_frames": "all"},
                        "both gradients; for the first 2 epochs the task network trains on all T frames and the "
                        "sampler waits"),
    "both+warmup-all+lr10": ({"sampler_options": {"score_init": "random", "estimator": "both", "lr_multiplier": 10.0},
                              "sampler_warmup_epochs": 2, "warmup_frames": "all"},
                             "as both+warmup-all, and the sampler's learning rate x10 (as DPS's logits)"),
    "both+warmup-all+zero-init": ({"sampler_options": {"score_init": "zero", "estimator": "both"},
                                   "sampler_warmup_epochs": 2, "warmup_frames": "all"},
                                  "as both+warmup-all, and the score layers start at zero (every frame scores the "
                                  "same at init; the default since the second round)"),
}
REFERENCES = ("full", "uniform")

# backbone -> the training recipe of the grids (the Makefile's), diagnostics every 8 steps
RECIPES: dict[str, TrainConfig] = {
    "mobilenet_v3_small": TrainConfig(backbone="mobilenet_v3_small", lr=1e-3, epochs=8, max_train_batches=24,
                                      min_epochs=3, patience=4, progress=False, diagnostics_every=8),
    "small_cnn": TrainConfig(backbone="small_cnn", lr=2e-3, epochs=10, max_train_batches=24, min_epochs=4,
                             patience=3, progress=False, diagnostics_every=8),
}
# (role, data set spec, ratio, extra data set options)
TUNING = [("tuning", "synthetic-volumes:moving", 0.5, {}), ("tuning", "synthetic-volumes:fixed", 0.5, {})]
# the second round's tuning sets (the first backbone only): the ratio at which "both" failed in the main grid
TUNING_LOW = [("tuning", "synthetic-volumes:moving", 0.25, {}), ("tuning", "synthetic-volumes:fixed", 0.25, {})]
HELD_OUT = [("held-out", "synthetic-volumes:moving", 0.25,
             {"family": "bars", "num_classes": 3, "num_frames": 16}),
            ("held-out", "vesselmnist3d", 0.5, {"size": 28})]


def _tag(spec: str, extra: dict, ratio: float = 0.5, role: str = "tuning") -> str:
    tag = parse_dataset_spec(spec)[2]
    low = role == "tuning" and ratio != 0.5  # (the held-out bars set is at 0.25 under its first name)
    return tag + ("-bars" if extra.get("family") == "bars" else "") + (f"-r{ratio:g}" if low else "")


def _list(default, help: str):
    return field(default_factory=lambda: list(default), metadata={"help": help})


@dataclass
class AblationConfig:
    """The ablation's grid and where it goes (`python -m das_core ablation --help`)."""

    candidates: list[str] = _list(CANDIDATES, "candidate recipes")
    backbones: list[str] = _list(RECIPES, "backbones for the tuning sets (the held-out sets use the first)")
    seeds: list[int] = _list([0, 1, 2, 3, 4], "seeds of every cell")
    held_out: bool = field(default=True, metadata={"help": "also run the held-out sets"})
    low_ratio: bool = field(default=True, metadata={"help": "also run the tuning sets at ratio 0.25 (first backbone)"})
    runs_dir: str = field(default="runs/ablation", metadata={"help": "run folders (git-ignored)"})
    results_md: str = field(default="docs/results-ablation.md", metadata={"help": "the page"})
    shard: str = field(default="0/1", metadata={"help": "i/n: run every n-th cell from the i-th (parallel processes)"})
    report_only: bool = field(default=False, metadata={"help": "only write the page from finished runs"})
    device: str = field(default="auto", metadata={"help": "where each run trains"})
    threads: Optional[int] = field(default=1, metadata={"help": "torch CPU threads per run"})

    def shard_of(self) -> tuple[int, int]:
        try:
            i, n = (int(v) for v in self.shard.split("/"))
        except ValueError:
            i, n = -1, 0
        if not 0 <= i < n:
            raise ConfigError(f"--shard must be i/n with 0 <= i < n, got {self.shard!r}; for example --shard 0/4.")
        return i, n


@dataclass(frozen=True)
class Cell:
    role: str
    tag: str
    backbone: str
    candidate: str  # a CANDIDATES name, or "ref:<method>"
    seed: int
    config: TrainConfig


def cells(cfg: AblationConfig) -> Iterator[Cell]:
    unknown = [c for c in cfg.candidates if c not in CANDIDATES] + [b for b in cfg.backbones if b not in RECIPES]
    if unknown:
        raise ConfigError(f"Unknown candidate or backbone {', '.join(unknown)}; choose from "
                          f"{', '.join([*CANDIDATES, *RECIPES])}.")
    sets = [(b, s) for b in cfg.backbones for s in TUNING]
    if cfg.low_ratio:
        sets += [(cfg.backbones[0], s) for s in TUNING_LOW]
    if cfg.held_out:
        sets += [(cfg.backbones[0], s) for s in HELD_OUT]
    for seed in cfg.seeds:  # seed-major: a cut-short run still covers every candidate for the first seeds
        for backbone, (role, spec, ratio, extra) in sets:
            name, opts, _ = parse_dataset_spec(spec)
            tag = _tag(spec, extra, ratio, role)
            base = dataclasses.replace(RECIPES[backbone], dataset=name, dataset_options={**opts, **extra}, ratio=ratio,
                                       seed=seed, device=cfg.device, threads=cfg.threads, resume=True)
            for method in REFERENCES:
                out = Path(cfg.runs_dir) / backbone / tag / f"ref-{method}-s{seed}"
                yield Cell(role, tag, backbone, f"ref:{method}", seed,
                           dataclasses.replace(base, method=method, out=str(out)))
            for cand in cfg.candidates:
                changes = dict(CANDIDATES[cand][0])
                options = changes.pop("sampler_options", {})
                out = Path(cfg.runs_dir) / backbone / tag / f"{cand}-s{seed}"
                yield Cell(role, tag, backbone, cand, seed, dataclasses.replace(
                    base, method="das", out=str(out), sampler_options=dict(options), **changes))


def run_ablation(cfg: AblationConfig, log=print) -> None:
    """Train this shard's unfinished cells (each also probed), then write the page (one shard: always)."""
    i, n = cfg.shard_of()
    todo = [] if cfg.report_only else [c for j, c in enumerate(cells(cfg)) if j % n == i]
    for j, cell in enumerate(todo):
        if not is_finished(cell.config.out):
            log(f"[{j + 1}/{len(todo)}] {cell.backbone} {cell.tag} {cell.candidate} seed {cell.seed}")
            fit(cell.config)
        selection_probe(Path(cell.config.out))
    if n == 1:
        report(cfg, log=log)


# ------------------------------------------------------------------------------------------ the page

def _diagnostics(out: Path) -> dict:
    """Summary of a run's diagnostics.jsonl: the spread ratio at init and at the end, and the gradient
    statistics over the first half of training (where the sampler's course is set)."""
    path = RunPaths.of(out).diagnostics
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
    if not rows:
        return {}
    half = [r for r in rows if r["step"] <= rows[-1]["step"] / 2] or rows[:1]

    def avg(key, rs):
        vals = [r[key] for r in rs if r.get(key) is not None]
        return statistics.fmean(vals) if vals else None

    return {"spread_init": rows[0]["spread_to_noise"], "spread_end": rows[-1]["spread_to_noise"],
            "grad_mean": avg("grad_mean", half), "grad_t": avg("grad_t", half), "grad_corr": avg("grad_corr", half),
            "benefit": avg("benefit_mean", half)}


def _rows(cfg: AblationConfig) -> list[dict]:
    rows = []
    for cell in cells(cfg):
        out = Path(cell.config.out)
        if not is_finished(out):
            continue
        s = read_summary(out) or {}
        probe = selection_probe(out)
        rows.append({"role": cell.role, "tag": cell.tag, "backbone": cell.backbone, "candidate": cell.candidate,
                     "seed": cell.seed, "auc": s.get("auc"), "balanced_accuracy": s.get("balanced_accuracy"),
                     "hit_rate": probe.get("hit_rate"), "epochs": len(read_metrics(out)), **_diagnostics(out)})
    return rows


def _fmt(v, digits=2) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _table(rows: list[dict], role: str) -> list[str]:
    lines = ["| data set | backbone | recipe | seeds | test AUC | hit rate | min hit rate | spread/noise init -> end "
             "| grad. at informative frame (mean, t) | corr. with benefit | benefit of keeping it |",
             "|---|---|---|---:|---|---|---|---|---|---|---|"]
    keys = []
    for r in rows:
        key = (r["tag"], r["backbone"], r["candidate"])
        if r["role"] == role and key not in keys:
            keys.append(key)
    for tag, backbone, cand in keys:
        rs = [r for r in rows if (r["tag"], r["backbone"], r["candidate"]) == (tag, backbone, cand)]
        hits = [r["hit_rate"] for r in rs if r["hit_rate"] is not None]

        def ms(key, digits=3):
            return mean_std_text(*mean_std([r.get(key) for r in rs]), digits)

        def mean(key):
            return mean_std([r.get(key) for r in rs])[0]

        diag = "" if cand.startswith("ref:") else (
            f"{_fmt(mean('spread_init'), 3)} -> {_fmt(mean('spread_end'), 2)} | {_fmt(mean('grad_mean'), 4)}, "
            f"{_fmt(mean('grad_t'))} | {_fmt(mean('grad_corr'))} | {_fmt(mean('benefit'), 3)}")
        label = cand.replace("ref:", "") + (" (reference)" if cand.startswith("ref:") else "")
        lines.append(f"| {tag} | {backbone} | {label} | {len(rs)} | {ms('auc')} | {ms('hit_rate', 2)} | "
                     f"{_fmt(min(hits)) if hits else 'n/a'} | {diag or ' | | |'} |")
    return lines


def round2_on_validation(folder="docs/results/diagnostics/round2", *, min_epochs: int = 3,
                         seeds=range(5)) -> dict:
    """The second round's choice re-read on the validation split only: per candidate, the validation AUC of the
    epoch the trainer keeps today (the best validation AUC among the epochs after the warm-up, at least
    `min_epochs`), per seed, from the committed `<name>-s<seed>.metrics.jsonl` files. No test figure is read.

    Returns: {name: {"val_auc": [per seed], "best_epoch": [per seed], "mean": float}}."""
    out = {}
    for name, warmup in ROUND2.items():
        vals, epochs = [], []
        for seed in seeds:
            path = Path(folder) / f"{name}-s{seed}.metrics.jsonl"
            records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            countable = [r for r in records if r["epoch"] >= max(min_epochs, warmup + 1)]
            best = max(countable, key=lambda r: r["val_auc"])
            vals.append(float(best["val_auc"]))
            epochs.append(int(best["epoch"]))
        out[name] = {"val_auc": vals, "best_epoch": epochs, "mean": statistics.fmean(vals)}
    return out


def round2_validation_lines(folder="docs/results/diagnostics/round2") -> list[str]:
    """The Markdown table of `round2_on_validation`, with each candidate's paired difference from the chosen one."""
    from ..stats import diff_text, paired_summary

    res = round2_on_validation(folder)
    chosen = max(res, key=lambda n: res[n]["mean"])
    lines = ["| candidate | validation AUC, seeds 0-4 (best epoch after the warm-up) | mean | "
             f"paired difference from {chosen} (95% bootstrap CI, sign-flip p) |", "|---|---|---|---|"]
    for name, r in res.items():
        per_seed = " / ".join(f"{v:.3f}" for v in r["val_auc"])
        diff = "" if name == chosen else diff_text(paired_summary(dict(enumerate(r["val_auc"])),
                                                                  dict(enumerate(res[chosen]["val_auc"]))))
        lines.append(f"| {name} | {per_seed} | {r['mean']:.3f} | {diff} |")
    return lines


def report(cfg: AblationConfig, command: str = "python -m das_core ablation", log=print) -> list[dict]:
    """Write `cfg.results_md` and `results/ablation/runs.csv` beside it from the finished runs; the
    notes in `results/ablation/notes.md` follow the tables."""
    rows = _rows(cfg)
    if not rows:
        log(f"No finished ablation runs under {cfg.runs_dir}: {cfg.results_md} is left as it is.")
        return rows
    folder = Path(cfg.results_md).parent / "results" / "ablation"
    folder.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with open(folder / "runs.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="minutes")
    lines = ["# Ablation: how DAS learns", "",
             "Made by `das_core.experiments.ablation` from the runs' own files (never typed in).", "",
             f"Command: `{command}`  ", f"Updated: {now}; {len(rows)} finished runs.", "",
             "## Candidates", ""]
    lines += [f"- **{name}**: {text}." for name, (_, text) in CANDIDATES.items() if name in cfg.candidates]
    lines += ["", "Recipes: " + "; ".join(
        f"{b}: Adam lr {r.lr:g}, batch {r.batch_size}, at most {r.epochs} epochs x {r.max_train_batches} batches, best "
        f"on {r.early_stopping} (min {r.min_epochs}, patience {r.patience})" for b, r in RECIPES.items()) + ".", "",
        "Diagnostics (logged every 8 steps on 32 fixed training items, `engine/diagnostics.py`): the spread of the "
        "scores A over the T frames divided by the Gumbel noise's std (1.28); the descent direction of the training "
        "loss on the informative frame's score (positive: the step raises it) averaged over the first half of "
        "training, with its t-statistic; its correlation over items with the benefit of keeping the frame (loss "
        "with it forced out of the picks minus loss with it forced in).", "",
        "## Tuning sets (the choice is made here)", "", *_table(rows, "tuning"), "",
        "## Held-out sets (not tuned on)", "", *_table(rows, "held-out"), ""]
    lines += ["Per-run rows: [`results/ablation/runs.csv`](results/ablation/runs.csv).", ""]
    notes = folder / "notes.md"
    if notes.is_file():
        lines += [notes.read_text(), ""]
    Path(cfg.results_md).parent.mkdir(parents=True, exist_ok=True)
    Path(cfg.results_md).write_text("\n".join(lines))
    return rows
