"""The one results aggregator: per-run rows -> mean ± std per setting, for bench's Markdown tables
and the app's Results page alike.

A row is one finished run (what `bench` writes to `results.csv`): dataset, backbone, method, ratio,
k, T, seed, fold and the metrics. Runs are grouped by (dataset, backbone, ratio, method): the seeds
(and folds) of one setting pool; runs of different backbones never do.
"""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path
from typing import Optional, Sequence, Union

from ..samplers import list_samplers

__all__ = ["METRICS", "TEXT_COLUMNS", "load_results", "aggregate", "mean_std", "mean_std_text"]

METRICS = ("auc", "balanced_accuracy", "accuracy", "hit_rate", "informative_share", "picks_auc", "informative_rank", "distinct_picks",
           "seconds")
TEXT_COLUMNS = ("dataset", "method", "backbone", "run", "settings")


def load_results(path: Union[str, Path]) -> Optional[list[dict]]:
    """Rows of a results CSV (numbers parsed, empty cells None), or None when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return None
    rows = []
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            rows.append({k: _cell(k, v) for k, v in r.items() if k is not None})
    return rows


def _cell(key: str, value: Optional[str]):
    if value is None or value == "":
        return None
    if key in TEXT_COLUMNS:
        return value
    for parse in (int, float):  # k, T, seed, ... are integers; metrics and ratios floats
        try:
            return parse(value)
        except ValueError:
            pass
    return value


def mean_std(values: Sequence) -> tuple[Optional[float], Optional[float]]:
    """(mean, sample std) of the finite numbers in `values`; (None, None) when there are none."""
    vals = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    if not vals:
        return None, None
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def mean_std_text(mean: Optional[float], std: Optional[float], digits: int = 3, scale: float = 1.0) -> str:
    """"0.812 ± 0.010", or "n/a" when there is no value."""
    if mean is None or std is None:
        return "n/a"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def aggregate(rows: Sequence[dict], metrics: Sequence[str] = METRICS) -> list[dict]:
    """One dict per (dataset, backbone, ratio, method) group, in table order.

    Keys: dataset (labelled "name (backbone)" when the rows mix backbones), source (the data set),
    backbone, ratio, method, k, T, n (runs), and `<metric>_mean` / `<metric>_std` for each metric.
    Order: data set, then ratio descending with the full sequence first, then the registry's method order.
    """
    several = len({r.get("backbone") for r in rows}) > 1
    groups: dict[tuple, list] = {}
    for r in rows:
        groups.setdefault((r.get("dataset"), r.get("backbone"), r.get("ratio"), r.get("method")), []).append(r)
    out = []
    for (dataset, backbone, ratio, method), runs in groups.items():
        g = {"dataset": f"{dataset} ({backbone})" if several else dataset, "source": dataset, "backbone": backbone,
             "ratio": ratio, "method": method, "k": runs[0].get("k"), "T": runs[0].get("T"), "n": len(runs)}
        for m in metrics:
            g[f"{m}_mean"], g[f"{m}_std"] = mean_std([r.get(m) for r in runs])
        out.append(g)
    order = {m: i for i, m in enumerate(list_samplers())}

    def method_key(method):  # "dps/paper" right after "dps"
        base, _, variant = str(method).partition("/")
        return order.get(base, len(order)), variant

    return sorted(out, key=lambda g: (str(g["dataset"]), -2 if g["method"] == "full" else -float(g["ratio"] or 0),
                                      method_key(g["method"])))
