"""The same grid run twice, on two machines: how far its runs and its conclusions move.

A grid's seed fixes the split, the initial network and the batch order, and on one machine a run is
reproduced to the last bit. On another CPU the same run can end elsewhere (measured on this project's grid:
its test AUC moved about as much as a change of seed). This module reads the
two grids' `results.csv` files and reports, per cell (data set, ratio), each method's mean on both,
the per-run difference of the same (method, seed, fold), and each method's difference to uniform on
both grids (paired by seed within each grid, where the pairing holds), so a reader sees which
conclusions survive the change of machine.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from ..errors import ConfigError
from ..samplers import SAMPLERS
from ..stats import MIN_SEPARATION_N, diff_text, paired_summary, separates
from .results import load_results

__all__ = ["ReplicationConfig", "compare_grids", "markdown", "run_replication"]


@dataclass
class ReplicationConfig:
    """Which two results.csv files of one grid to compare, and where the page goes."""

    first: str = field(default="docs/results/replication/first-cpu.csv",
                       metadata={"help": "results.csv of the grid's first run (e.g. a copy of an earlier commit's)"})
    second: str = field(default="docs/results/results.csv", metadata={"help": "results.csv of the same grid run again"})
    out: str = field(default="docs/results/replication/README.md", metadata={"help": "the Markdown page to write"})
    first_label: str = field(default="first CPU", metadata={"help": "what the page calls the first run"})
    second_label: str = field(default="second CPU", metadata={"help": "what the page calls the second run"})
    reference: str = field(default="uniform", metadata={"help": "the method each method is paired against, per grid"})


def _key(r: dict) -> tuple:
    return (r["dataset"], r["method"], 1.0 if r["method"] == "full" else float(r["ratio"]), r.get("seed"), r.get("fold"))


def _by_seed(rows: list[dict], dataset: str, method: str, ratio: float) -> dict:
    r_of = (lambda r: 1.0) if method == "full" else (lambda r: float(r["ratio"]))
    return {(r.get("seed"), r.get("fold")): r["auc"] for r in rows
            if r["dataset"] == dataset and r["method"] == method and r_of(r) == ratio and r.get("auc") is not None}


def compare_grids(first: list[dict], second: list[dict], reference: str = "uniform") -> dict:
    """Per-run differences (second - first, matched by data set, method, ratio, seed and fold) and, per cell,
    each method's mean and its difference to `reference` on both grids.

    Returns:
        {"runs": n matched, "abs_diff": {"mean", "median", "max"}, "cells": [{"dataset", "ratio", "methods":
        [{"method", "n", "first", "second", "vs_reference": (first summary, second summary), "agree"}]}]}.
        `agree` is True when both grids call the same thing (both separated the same way, or both not).
    """
    a = {_key(r): r["auc"] for r in first if r.get("auc") is not None}
    b = {_key(r): r["auc"] for r in second if r.get("auc") is not None}
    common = sorted(set(a) & set(b), key=str)
    if not common:
        raise ConfigError("The two grids share no run (data set, method, ratio, seed, fold); compare two results.csv "
                          "files of the same grid.")
    diffs = [b[k] - a[k] for k in common]
    absd = [abs(d) for d in diffs]
    cells = []
    ratios = sorted({(k[0], k[2]) for k in common if k[1] != "full"})
    for dataset, ratio in ratios:
        methods = []
        order = {m: i for i, m in enumerate(SAMPLERS)}
        names = sorted({k[1] for k in common if k[0] == dataset and (k[2] == ratio or k[1] == "full")},
                       key=lambda m: (order.get(m.split("/")[0], len(order)), m))
        ra, rb = _by_seed(first, dataset, reference, ratio), _by_seed(second, dataset, reference, ratio)
        for m in names:
            r = 1.0 if m == "full" else ratio
            fa, fb = _by_seed(first, dataset, m, r), _by_seed(second, dataset, m, r)
            vs = (paired_summary(fa, ra), paired_summary(fb, rb)) if m != reference else (None, None)
            sign = lambda s: 0 if s is None or not separates(s) else (1 if s["lo"] > 0 else -1)  # noqa: E731
            methods.append({
                "method": m, "n": len(set(fa) & set(fb)),
                "first": statistics.fmean(fa.values()) if fa else math.nan,
                "second": statistics.fmean(fb.values()) if fb else math.nan,
                "vs_reference": vs,
                # None: nothing to compare (the reference itself, or a grid with too few seeds to call anything)
                "agree": None if m == reference or min(v["n"] for v in vs) < MIN_SEPARATION_N
                else sign(vs[0]) == sign(vs[1]),
            })
        cells.append({"dataset": dataset, "ratio": ratio, "methods": methods})
    # for scale: the std over seeds of one method in one cell, within the first grid, averaged over the cells
    spreads = [statistics.stdev(v) for v in (
        list(_by_seed(first, ds, m, 1.0 if m == "full" else ratio).values())
        for ds, ratio in ratios for m in {k[1] for k in common if k[0] == ds}) if len(v) > 1]
    verdicts = [m["agree"] for c in cells for m in c["methods"] if m["agree"] is not None]
    return {"runs": len(common), "reference": reference, "compared": len(verdicts), "agreed": sum(verdicts),
            "abs_diff": {"mean": statistics.fmean(absd), "median": statistics.median(absd), "max": max(absd)},
            "seed_std": statistics.fmean(spreads) if spreads else math.nan, "cells": cells}


def markdown(result: dict, first_label: str = "first CPU", second_label: str = "second CPU") -> list[str]:
    ref = result["reference"]
    d = result["abs_diff"]
    lines = ["# The main grid on two machines", "",
             f"The same grid (same commands, seeds, splits, initial networks and batch order) run on two CPUs. "
             f"{result['runs']} runs are in both; the test AUC of the same run differs by {d['mean']:.3f} on average "
             f"(median {d['median']:.3f}, at most {d['max']:.3f}); for scale, one method's std over seeds within a cell "
             f"of the first grid is {result['seed_std']:.3f} on average. Pairing by seed "
             f"holds within one grid (every method of a seed ran on the same machine), so the differences to "
             f"{ref} below are paired within each grid (means and pairs over each grid's own seeds); 'agrees' means both grids call the same separation (or "
             f"neither does; 'too few seeds' where a grid has fewer than {MIN_SEPARATION_N}). Of {result['compared']} such "
             f"comparisons, {result['agreed']} agree. Made by `python -m das_core replication`.", ""]
    for cell in result["cells"]:
        lines += [f"## {cell['dataset']}, ratio {cell['ratio']:g}", "",
                  f"| method | runs in both | mean AUC, {first_label} | mean AUC, {second_label} | "
                  f"- {ref}, {first_label} | - {ref}, {second_label} | agrees |", "|---|---:|---|---|---|---|---|"]
        for m in cell["methods"]:
            va, vb = m["vs_reference"]
            fmt = lambda s: "" if s is None else (f"**{diff_text(s)}**" if separates(s) else diff_text(s))  # noqa: E731
            agree = ("" if m["vs_reference"][0] is None else "too few seeds" if m["agree"] is None else
                     "yes" if m["agree"] else "**no**")
            lines.append(f"| {m['method']} | {m['n']} | {m['first']:.3f} | {m['second']:.3f} | {fmt(va)} | {fmt(vb)} | "
                         f"{agree} |")
        lines.append("")
    return lines


def run_replication(cfg: ReplicationConfig, log=print) -> dict:
    """Read both results.csv files, write the page to `cfg.out`, return `compare_grids`'s result."""
    first, second = load_results(cfg.first), load_results(cfg.second)
    for path, rows in ((cfg.first, first), (cfg.second, second)):
        if rows is None:
            raise ConfigError(f"No results file at {path}; pass the results.csv of a finished grid.")
    result = compare_grids(first, second, cfg.reference)
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text("\n".join(markdown(result, cfg.first_label, cfg.second_label)) + "\n")
    tmp.replace(out)
    log(f"{result['runs']} runs in both grids, mean |difference| {result['abs_diff']['mean']:.3f}; wrote {out}")
    return result
