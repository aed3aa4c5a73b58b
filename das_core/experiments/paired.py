"""Paired differences of a grid's runs, and the static control of its adaptive samplers (`python -m das_core paired`).

Every method of a grid cell (data set, ratio) trains on the same seeds (and folds), so method A's run of seed s
and method B's run of seed s share their data split, initial backbone and batches: their difference is paired.
For each cell this writes, against three references,

- `uniform`;
- the best static or heuristic baseline: among the methods whose picks do not depend on the input
  (uniform, central, DPS, ...) and the non-learned heuristics (edge-energy), the one with the highest mean
  *validation* AUC (the test split does not choose it);
- `full`, the sequence of all T frames;

the mean paired difference of test AUC with a 95% bootstrap CI over seeds and the exact sign-flip p-value
(`das_core.stats`). "Separates" is said only where the CI excludes 0.

The static control (`experiments.static_control`): for each run of a sampler whose picks vary per input, its own
network evaluated with its own picks, with the one pick set it makes most often on the training split (modal),
and with its picks on a blank input; own - modal is what input-adaptivity adds over the best static set the model
itself would choose. Written to `paired.md` / `paired.json` in the grid's `out_dir`; the bench page includes
`paired.md` below its table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Union

from ..errors import ConfigError
from ..atomic import write_csv
from ..runs import best_validation_auc, read_json, write_json
from ..samplers import SAMPLERS
from ..stats import MIN_SEPARATION_N, diff_text, paired_summary, separates

__all__ = ["PairedConfig", "run_paired", "best_validation_auc", "paired_tables", "reference_methods"]


@dataclass
class PairedConfig:
    """Which grid, where the tables go, and which data sets were used for choices (tuning) and which are held out."""

    runs_dir: str = field(default="runs/bench-moving-real", metadata={"help": "the grid's run folders"})
    out_dir: str = field(default="docs/results/moving_real", metadata={"help": "paired.md and paired.json go here"})
    tuning: list[str] = field(default_factory=lambda: ["vesselmnist3d-embedded-distractors"], metadata={
        "help": "data set folders used to choose recipes (validation split only); the others are held out"})
    from_csv: list[str] = field(default_factory=list, metadata={
        "help": "read the runs from committed results.csv files instead of runs_dir; each file's static controls are "
                "read from the static_controls.csv beside it (or, for a grid made before that file, the per-seed "
                "own - modal of the paired.json beside it). With several files their rows are pooled (seeds of "
                "different grids must not repeat) and the pooled rows and their table are written to out_dir too. "
                "The best static baseline is chosen on the rows that record a validation AUC"})
    datasets: list[str] = field(default_factory=list, metadata={
        "help": "only these data set folders (default: every one in the runs)"})
    chosen: list[str] = field(default_factory=list, metadata={
        "help": "recipe choices made on another grid's tuning sets, METHOD=RECIPE (e.g. das=das/paper): the held-out "
                "verdict reads them as well when this grid has no tuning runs of its own"})
    static_control: bool = field(default=True, metadata={
        "help": "evaluate every adaptive run with its modal and blank-input pick sets (cached per run)"})
    metric: str = field(default="auc", metadata={"help": "the test metric compared", "choices": ("auc", "balanced_accuracy")})
    device: str = field(default="cpu", metadata={"help": "device for the static controls"})


# one row per adaptive run in `static_controls.csv` beside paired.json: what a later `paired --from-csv` needs to
# report the static control without the run folders (which are not committed)
_CONTROL_VALUES = ["auc_own", "auc_modal", "auc_blank", "balanced_accuracy_own", "balanced_accuracy_modal",
                   "balanced_accuracy_blank", "distinct_own_sets", "overlap_own_modal", "overlap_own_blank"]
CONTROL_FIELDS = ["dataset", "method", "ratio", "seed", "fold", "run", "k", *_CONTROL_VALUES,
                  "item_diff", "item_lo", "item_hi"]
CONTROLS_CSV = "static_controls.csv"


def _base(method: str) -> str:
    return str(method).split("/")[0]


def _is_static(method: str) -> bool:
    cls = SAMPLERS.get(_base(method))
    return cls is not None and cls.takes_k and not cls.varies_per_input


def _is_heuristic(method: str) -> bool:
    cls = SAMPLERS.get(_base(method))
    return cls is not None and cls.adaptive and not cls.learned


def _is_probed(method: str) -> bool:
    """Samplers whose picks vary per input and are a function of it (random's are not: it has no static control)."""
    cls = SAMPLERS.get(_base(method))
    return cls is not None and cls.varies_per_input and cls.adaptive


def control_rows(rows: list[dict], controls: dict) -> list[dict]:
    """The `static_controls.csv` rows of the runs in `rows` that have a static control that applies."""
    out = []
    for r in rows:
        c = controls.get(r["run"])
        if not c or not c.get("applies", True):
            continue
        item = c.get("own_minus_modal") or {}
        out.append({**{k: r.get(k) for k in ("dataset", "method", "ratio", "seed", "fold", "run")},
                    "k": len(c["modal_set"]) if c.get("modal_set") is not None else c.get("k"),
                    **{k: c.get(k) for k in _CONTROL_VALUES},
                    "item_diff": item.get("diff"), "item_lo": item.get("lo"), "item_hi": item.get("hi")})
    return out


def _control_from_row(c: dict) -> dict:
    """A static control as `paired_tables` reads it, from one `static_controls.csv` row."""
    return {**c, "applies": True, "modal_set": None,
            "own_minus_modal": {"diff": c.get("item_diff"), "lo": c.get("item_lo"), "hi": c.get("item_hi")}}


def controls_beside(csv_path: Union[str, Path], rows: list[dict]) -> dict:
    """run folder -> static control for the rows of the results.csv at `csv_path`, from the files beside it.

    `static_controls.csv` holds every value. A grid made before that file existed has only its `paired.json`:
    from it each run's own - modal is recovered (its item-level difference is AUC own minus AUC modal on the
    same test items, and AUC own is the run's test AUC), while its blank-input AUC, pick-set counts and overlaps
    were recorded only as means over seeds and stay empty (None)."""
    from .results import load_results

    here = Path(csv_path).parent
    saved = load_results(here / CONTROLS_CSV)
    if saved is not None:
        return {c["run"]: _control_from_row(c) for c in saved}
    tables = read_json(here / "paired.json")
    if not isinstance(tables, dict):
        return {}
    by_key = {(r["dataset"], r["method"], r.get("ratio"), r.get("seed"), r.get("fold")): r for r in rows}
    out = {}
    for e in tables.get("static_control") or []:
        for item in e.get("item_level") or []:
            r = by_key.get((e["dataset"], e["method"], e["ratio"], item.get("seed"), item.get("fold")))
            if r is None or r.get("auc") is None or item.get("diff") is None:
                continue
            out[r["run"]] = _control_from_row({
                "k": e.get("k"), "auc_own": r["auc"], "auc_modal": r["auc"] - item["diff"], "auc_blank": None,
                "item_diff": item["diff"], "item_lo": item.get("lo"), "item_hi": item.get("hi")})
    return out


def reference_methods(rows: list[dict]) -> dict:
    """{"uniform", "best_static", "full"} for one cell's rows: the best static/heuristic method by mean validation
    AUC over its runs (ties: the first in registry order)."""
    by_method: dict[str, list[float]] = {}
    for r in rows:
        if (_is_static(r["method"]) or _is_heuristic(r["method"])) and r.get("val_auc") is not None:
            by_method.setdefault(r["method"], []).append(float(r["val_auc"]))
    best = max(by_method, key=lambda m: sum(by_method[m]) / len(by_method[m])) if by_method else None
    return {"uniform": "uniform", "best_static": best, "full": "full"}


def _by_pair(rows: list[dict], method: str, metric: str) -> dict:
    return {(r.get("seed"), r.get("fold")): r[metric] for r in rows if r["method"] == method and r.get(metric) is not None}


def paired_tables(rows: list[dict], *, metric: str = "auc", tuning: tuple = (), controls: Optional[dict] = None,
                  not_ranked: Optional[dict] = None, chosen_elsewhere: Optional[dict] = None) -> dict:
    """The paired differences of every method against the references, per (data set, ratio), and the static controls.

    Args:
        rows: the grid's per-run rows (`bench._collect`): dataset, method, ratio, seed, fold, the metric, run,
            and `val_auc` (the best epoch's validation AUC, filled in by `run_paired`).
        metric: the test metric compared.
        tuning: data set folders used for choices; the others are marked held out.
        controls: run folder -> the static control of that run (`static_control.run_static_control`).
        not_ranked: data set -> why its methods are not ranked (`bench.chance_level_sets`: full at chance).
        chosen_elsewhere: method -> recipe chosen on another grid's tuning sets (used where this grid chose none).

    Returns:
        {"cells": [{"dataset", "ratio", "role", "references", "methods": [{"method", "n", "mean", "vs": {ref: summary}}]}],
         "static_control": [{"dataset", "ratio", "method", "n", "own", "modal", "blank", "own_minus_modal": summary,
                             "own_minus_blank": summary, "distinct_sets", "overlap_own_modal"}]}
    """
    chosen = {**(chosen_elsewhere or {}), **chosen_recipes(rows, tuning)}
    cells: dict[tuple, list[dict]] = {}
    for r in rows:
        cells.setdefault((r["dataset"], r.get("ratio")), []).append(r)
    out_cells, out_controls = [], []
    for (dataset, ratio), cell_rows in sorted(cells.items(), key=lambda kv: (str(kv[0][0]), -float(kv[0][1] or 0))):
        if ratio == 1.0 and all(r["method"] == "full" for r in cell_rows):
            continue  # full runs once per data set, at ratio 1: it belongs to every ratio's cell of its data set
        full_rows = [r for r in rows if r["dataset"] == dataset and r["method"] == "full"]
        all_rows = cell_rows + [r for r in full_rows if r not in cell_rows]
        refs = reference_methods(cell_rows)
        role = "tuning" if dataset in tuning else "held out"
        if not_ranked and dataset in not_ranked:
            role += "; not ranked: " + not_ranked[dataset]
        out_cells.append({"dataset": dataset, "ratio": ratio, "role": role, "references": refs,
                          "methods": _cell_methods(all_rows, refs, metric)})
        for method in _ordered({r["method"] for r in cell_rows if _is_probed(r["method"])}):
            runs = [r for r in cell_rows if r["method"] == method and controls and r["run"] in controls]
            runs = [r for r in runs if controls[r["run"]].get("applies", True)]
            if runs:
                out_controls.append({"dataset": dataset, "ratio": ratio, "role": role, "method": method,
                                     **_control_entry(runs, controls)})
    return {"cells": out_cells, "static_control": out_controls, "metric": metric, "chosen": chosen}


def _cell_methods(all_rows: list[dict], refs: dict, metric: str) -> list[dict]:
    """One cell's methods: each one's runs by (seed, fold), their mean and its paired summary against every reference."""
    methods = []
    for method in _ordered({r["method"] for r in all_rows}):
        own = _by_pair(all_rows, method, metric)
        vs = {}
        for key, ref in refs.items():
            if ref is None or ref == method:
                continue
            other = _by_pair(all_rows, ref, metric)
            if set(own) & set(other):
                vs[key] = {**paired_summary(own, other), "reference": ref}
        values = list(own.values())
        methods.append({"method": method, "n": len(values), "mean": sum(values) / len(values) if values else None,
                        "vs": vs, "by_seed": {f"{k[0]}|{k[1]}": v for k, v in own.items()}})
    return methods


def _control_entry(runs: list[dict], controls: dict) -> dict:
    """The static-control summary of one method's runs in a cell (their `controls` entries, paired by seed)."""
    entry = {"n": len(runs)}
    c = [controls[r["run"]] for r in runs]
    key = (lambda r: (r.get("seed"), r.get("fold")))
    for name in ("own", "modal", "blank"):
        entry[name] = _mean([x.get(f"auc_{name}") for x in c])
    own = {key(r): controls[r["run"]]["auc_own"] for r in runs}
    for name in ("modal", "blank"):
        other = {key(r): controls[r["run"]][f"auc_{name}"] for r in runs
                 if controls[r["run"]].get(f"auc_{name}") is not None}
        entry[f"own_minus_{name}"] = paired_summary(own, other) if other else None
    entry["item_level"] = [{"seed": r.get("seed"), "fold": r.get("fold"), **controls[r["run"]]["own_minus_modal"]}
                           for r in runs if (controls[r["run"]].get("own_minus_modal") or {}).get("diff") is not None]
    for name, field_name in (("distinct_sets", "distinct_own_sets"), ("overlap_own_modal", "overlap_own_modal"),
                             ("overlap_own_blank", "overlap_own_blank")):
        entry[name] = _mean([x.get(field_name) for x in c])
    entry["recorded"] = {name: sum(x.get(field_name) is not None for x in c)
                         for name, field_name in (("blank", "auc_blank"), ("pick_sets", "distinct_own_sets"))}
    entry["k"] = next((len(x["modal_set"]) if x.get("modal_set") is not None else x.get("k") for x in c
                       if x.get("modal_set") is not None or x.get("k") is not None), None)
    return entry


def chosen_recipes(rows: list[dict], tuning) -> dict:
    """{learned method: the recipe (the method or one of its "/variant"s) with the highest mean validation AUC on the
    tuning data sets}: the choice the held-out sets are then read with. Empty without tuning runs."""
    scores: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        if r["dataset"] in tuning and r.get("val_auc") is not None and SAMPLERS.get(_base(r["method"])) is not None \
                and SAMPLERS[_base(r["method"])].learned:
            scores.setdefault(_base(r["method"]), {}).setdefault(r["method"], []).append(float(r["val_auc"]))
    return {base: max(recipes, key=lambda m: (sum(recipes[m]) / len(recipes[m]), m == base))
            for base, recipes in scores.items() if len(recipes) > 1}


def _mean(values) -> Optional[float]:
    values = [float(v) for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _means_by_seed(method_entry: dict) -> dict:
    return dict(method_entry.get("by_seed") or {})


def _finite_or_none(value):
    """The tables with NaN / infinite numbers (the CI of a single seed) as None, so they are valid JSON."""
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _ordered(methods: set) -> list[str]:
    order = {m: i for i, m in enumerate(SAMPLERS)}
    return sorted(methods, key=lambda m: (order.get(_base(m), len(order)), str(m)))


def _run_label(x: dict) -> str:
    """"s3", or "s0f2" for fold 2 of a cross-validated grid."""
    return f"s{x.get('seed')}" + ("" if x.get("fold") is None else f"f{x['fold']}")


def _fmt(v: Optional[float], digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def markdown(tables: dict) -> list[str]:
    """The page section: paired differences per cell, then the static controls, then what they back."""
    metric = tables["metric"].replace("_", " ")
    lines = ["## Paired differences (test " + metric + ")", "",
             "Per seed, each method's run minus the reference's run on the same seed (same split, same initial "
             "network, same batches): mean, 95% bootstrap CI over seeds, exact sign-flip p. **bold**: the CI excludes 0 "
             f"with at least {MIN_SEPARATION_N} seeds (the only case this page calls a separation; with fewer seeds "
             "no difference is called one). The best static or heuristic baseline is chosen by mean "
             "validation AUC, not on the test split.", ""]
    for cell in tables["cells"]:
        refs = cell["references"]
        lines += [f"### {cell['dataset']}, ratio {cell['ratio']:g} ({cell['role']})", "",
                  f"| method | seeds | test {metric} | - uniform | - best static/heuristic ({refs.get('best_static') or 'none'}) "
                  f"| - full |", "|---|---:|---|---|---|---|"]
        for m in cell["methods"]:
            cols = []
            for key in ("uniform", "best_static", "full"):
                s = m["vs"].get(key)
                text = diff_text(s) if s else ""
                cols.append(f"**{text}**" if s and separates(s) else text)
            lines.append(f"| {m['method']} | {m['n']} | {_fmt(m['mean'])} | " + " | ".join(cols) + " |")
        lines.append("")
    if tables["static_control"]:
        lines += ["## Static control: what input-adaptivity adds", "",
                  "Each adaptive run's own network on the test split with its own picks, with the one pick set it "
                  "makes most often on the training split (modal: the best static set the model itself would "
                  "choose), and with its picks on an all-zero input (blank: its positional prior). own - modal and "
                  "own - blank: paired over seeds (bootstrap CI, sign-flip p); item level: each seed's paired "
                  "bootstrap over test items.", "",
                  "| data set | method | seeds | AUC own | AUC modal | AUC blank | own - modal | own - blank | "
                  "distinct pick sets | frames shared own/modal (k) | item-level own - modal per seed |",
                  "|---|---|---:|---|---|---|---|---|---:|---|---|"]
        partial = []
        for e in tables["static_control"]:
            cols = []
            for key in ("own_minus_modal", "own_minus_blank"):
                text = diff_text(e[key]) if e.get(key) else "n/a"
                cols.append(f"**{text}**" if e.get(key) and separates(e[key]) else text)
            items = "; ".join(f"{_run_label(x)}: {x['diff']:+.3f} [{x['lo']:+.3f}, {x['hi']:+.3f}]"
                              for x in e["item_level"])
            distinct = "n/a" if e.get("distinct_sets") is None else f"{e['distinct_sets']:.1f}"
            overlap = "n/a" if e.get("overlap_own_modal") is None else f"{e['overlap_own_modal']:.1f}"
            lines.append(f"| {e['dataset']} ({e['role']}) | {e['method']} | {e['n']} | {_fmt(e['own'])} | "
                         f"{_fmt(e['modal'])} | {_fmt(e['blank'])} | {cols[0]} | {cols[1]} | {distinct} | "
                         f"{overlap} ({e['k']}) | {items} |")
            rec = e.get("recorded") or {}
            if rec.get("blank", e["n"]) < e["n"] or rec.get("pick_sets", e["n"]) < e["n"]:
                partial.append(f"{e['dataset']} {e['method']}")
        lines.append("")
        if partial:
            lines += ["Where runs come from a grid whose per-run blank-input AUC and pick-set counts were not recorded "
                      "(its paired.json kept them as means over seeds), AUC blank, own - blank, distinct pick sets "
                      "and frames shared are over the runs that record them (own - blank gives its n): "
                      + ", ".join(partial) + ".", ""]
    lines += verdict(tables)
    return lines


def verdict(tables: dict, *, margin: float = 0.03) -> list[str]:
    """What the tables back for DAS on the held-out cells: own - modal >= `margin` with its CI above 0, and DAS
    above every static or heuristic baseline (CI above 0); said as measured, never assumed. DAS is read with its
    default recipe, with the one the tuning sets chose (`chosen_recipes`) and with every other DAS recipe in the
    grid, each marked chosen or not."""
    lines = ["## What these figures back (DAS, held-out data sets)", ""]
    chosen = (tables.get("chosen") or {}).get("das")
    if tables.get("chosen"):
        lines.append("Recipes chosen on the tuning sets' validation AUC (this grid's, or the moving-real grid's where "
                     "this one has none): " + ", ".join(
            f"{base} -> {m}" for base, m in tables["chosen"].items()) + ".")
        lines.append("")
    controls = {(e["dataset"], e["ratio"], e["method"]): e for e in tables["static_control"]}
    any_cell = False
    for cell in tables["cells"]:
        if not cell["role"].startswith("held out"):
            continue
        if "not ranked" in cell["role"]:
            lines.append(f"- **{cell['dataset']}, ratio {cell['ratio']:g}**: not ranked ({cell['role'].split(': ', 1)[1]}).")
            continue
        present = [m["method"] for m in cell["methods"] if m["method"].split("/")[0] == "das"]
        recipes = [r for r in ["das", chosen] if r in present] + [r for r in present if r not in ("das", chosen)]
        for recipe in recipes:
            das = next(m for m in cell["methods"] if m["method"] == recipe)
            any_cell = True
            parts = _verdict_parts(cell, das, controls.get((cell["dataset"], cell["ratio"], recipe)), margin)
            label = recipe + ("" if recipe == "das" or not chosen else
                              " (chosen on the tuning family)" if recipe == chosen else " (not chosen on the tuning family)")
            lines.append(f"- **{cell['dataset']}, ratio {cell['ratio']:g}, {label}**: " + "; ".join(parts) + ".")
    if not any_cell:
        lines.append("- No held-out cell with DAS runs yet.")
    lines.append("")
    return lines


def _verdict_parts(cell: dict, das: dict, control: Optional[dict], margin: float) -> list[str]:
    """The verdict's clauses for one DAS recipe in one cell: own - static against the target, the static and
    heuristic baselines it is (not) above, and where it stands against the full sequence."""
    parts = []
    if control is not None:
        s = control["own_minus_modal"]
        ok = s["mean_diff"] >= margin and separates(s) and s["lo"] > 0
        outcome = ("too few seeds to test" if s.get("n", 0) < MIN_SEPARATION_N else "meets" if ok else "does not meet")
        parts.append(f"own - static {diff_text(s)}: {outcome} the target "
                     f"(>= +{margin:.2f} with the CI above 0, at least {MIN_SEPARATION_N} seeds)")
    else:
        parts.append("no static control computed")
    static = [m for m in cell["methods"] if _is_static(m["method"]) or _is_heuristic(m["method"])]
    below = []
    for m in static:
        pair = paired_summary(_means_by_seed(das), _means_by_seed(m))
        if pair and not (separates(pair) and pair["lo"] > 0):
            below.append(m["method"])
    bs = das["vs"].get("best_static")
    if bs:
        parts.append(f"vs the best static/heuristic baseline ({bs['reference']}) {diff_text(bs)}")
    if static:
        parts.append("above every static or heuristic baseline (CI above 0)" if not below else
                     "not separated above " + ", ".join(below))
    full = das["vs"].get("full")
    if full:
        where = ("below the full sequence" if separates(full) and full["hi"] < 0 else
                 "above the full sequence" if separates(full) else
                 f"not separated from the full sequence (fewer than {MIN_SEPARATION_N} seeds)"
                 if full.get("n", 0) < MIN_SEPARATION_N else
                 "not separated from the full sequence (the CI includes 0; not evidence that it is as accurate)")
        parts.append(f"vs full {diff_text(full)}: {where}")
    return parts


def _check_no_repeated_seeds(rows: list[dict]) -> None:
    seen = {}
    for r in rows:
        key = (r["dataset"], r["method"], r.get("ratio"), r.get("seed"), r.get("fold"))
        if key in seen:
            raise ConfigError(f"--from-csv: {r['dataset']} {r['method']} seed {r.get('seed')} is in two of the files "
                              f"({seen[key]} and {r['run']}); pool grids that ran different seeds.")
        seen[key] = r["run"]


def run_paired(cfg: PairedConfig, log: Callable[[str], None] = print) -> dict:
    """Read the grid under `cfg.runs_dir`, compute the static controls (cached per run) and write the tables."""
    from .bench import BenchConfig, _collect
    from .results import load_results

    controls = {}
    if cfg.from_csv:
        rows = []
        for path in cfg.from_csv:
            these = load_results(path)
            if these is None:
                raise ConfigError(f"--from-csv {path}: no such results file; give the results.csv a grid wrote.")
            for r in these:
                r["fold"] = r.get("fold")
                r.setdefault("val_auc", None)
            controls.update(controls_beside(path, these) if cfg.static_control else {})
            rows += these
        _check_no_repeated_seeds(rows)
    else:
        rows = _collect(BenchConfig(runs_dir=cfg.runs_dir, out_dir=cfg.out_dir, results_md=None))
    if cfg.datasets:
        rows = [r for r in rows if r["dataset"] in cfg.datasets]
    if cfg.static_control and not cfg.from_csv:
        from .static_control import run_static_control

        for r in rows:
            if _is_probed(r["method"]):
                log(f"static control: {r['run']}")
                controls[r["run"]] = run_static_control(r["run"], device=cfg.device)
    from .bench import chance_level_sets

    elsewhere = {}
    for item in cfg.chosen:
        method, sep, recipe = str(item).partition("=")
        if not sep or not recipe.startswith(method):
            raise ConfigError(f"--chosen takes METHOD=RECIPE with the recipe a variant of the method, e.g. "
                              f"das=das/paper; got {item!r}.")
        elsewhere[method] = recipe
    tables = paired_tables(rows, metric=cfg.metric, tuning=tuple(cfg.tuning), controls=controls,
                           not_ranked=chance_level_sets(rows), chosen_elsewhere=elsewhere)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "paired.json", _finite_or_none(tables))
    (out / "paired.md").write_text("\n".join(markdown(tables)) + "\n")
    if not cfg.from_csv:
        write_csv(out / CONTROLS_CSV, CONTROL_FIELDS, control_rows(rows, controls))
    elif len(cfg.from_csv) > 1:  # the pooled rows, their table (the app lists them as a grid) and their controls
        from .bench import CSV_FIELDS, table
        from .results import aggregate

        write_csv(out / "results.csv", CSV_FIELDS, rows)
        (out / "results.md").write_text("\n".join(table(aggregate(rows), chance_level_sets(rows))) + "\n")
        write_csv(out / CONTROLS_CSV, CONTROL_FIELDS, control_rows(rows, controls))
    log(f"wrote {out / 'paired.md'} ({len(rows)} runs, {len(controls)} static controls)")
    return tables

