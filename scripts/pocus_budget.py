"""The POCUS budget at which the full sequence leaves chance, chosen on validation splits only (`make
bench-pocus-budget`).

At the main grid's budget (8 epochs) the full sequence's balanced accuracy on the four POCUS classes stays at
0.30 (chance 0.25), so no method can be ranked there. Each candidate recipe below trains the full sequence on
the 5 folds; the one with the highest mean validation balanced accuracy of the best epoch is the recipe every
method then runs (the test splits are not read to choose).

    python scripts/pocus_budget.py search   # train the candidates' full-sequence runs (resumable)
    python scripts/pocus_budget.py flags    # print the chosen candidate's bench flags; write the record
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from das_core.runs import best_validation_auc, is_finished  # noqa: E402

# name -> the bench flags that differ between candidates (the rest: COMMON)
CANDIDATES = {
    "A": ["--backbone", "mobilenet_v3_small", "--lr", "1e-3"],
    "B": ["--backbone", "small_cnn", "--lr", "2e-3"],
}
COMMON = ["--datasets", "pocus-lung", "--folds", "5", "--seeds", "0", "--methods", "full", "--ratios", "0.5",
          "--frames", "32", "--size", "32", "--epochs", "24", "--patience", "8", "--min-epochs", "3", "--threads", "1",
          "--device", "cpu"]
METRIC = "val_balanced_accuracy"


def search(search_dir: Path, workers: int) -> None:
    for name, flags in CANDIDATES.items():
        subprocess.run([sys.executable, "-m", "das_core", "bench", *COMMON, *flags, "--workers", str(workers),
                        "--runs-dir", str(search_dir / name), "--out-dir", str(search_dir / name / "tables"),
                        "--results-md", str(search_dir / name / "results.md")], check=True, cwd=ROOT)


def scores(search_dir: Path) -> dict:
    """{candidate: [full's best-epoch validation balanced accuracy per fold]} of the finished runs."""
    out = {}
    for name in CANDIDATES:
        runs = sorted(p for p in (search_dir / name / "pocus-lung").glob("full-*") if is_finished(p))
        out[name] = [v for v in (best_validation_auc(p, METRIC) for p in runs) if v is not None]
    return out


def choose(search_dir: Path, record: Path) -> str:
    got = scores(search_dir)
    missing = [n for n, v in got.items() if len(v) < 5]
    if missing:
        raise SystemExit(f"candidate(s) {missing} have fewer than 5 finished folds under {search_dir}; run "
                         f"`python scripts/pocus_budget.py search` first.")
    mean = {n: sum(v) / len(v) for n, v in got.items()}
    best = max(mean, key=mean.get)
    lines = ["# POCUS budget: the choice", "",
             f"Full sequence, 5 folds, 24 epochs (best epoch on validation AUC), {METRIC} of the best epoch per fold "
             f"(validation splits only; `scripts/pocus_budget.py`). Chosen: **{best}**.", "",
             "| candidate | flags | per fold | mean |", "|---|---|---|---:|"]
    for n, v in got.items():
        lines.append(f"| {n} | `{' '.join(CANDIDATES[n])}` | {', '.join(f'{x:.3f}' for x in v)} | {mean[n]:.3f} |")
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text("\n".join(lines) + "\n")
    return best


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=("search", "flags"))
    p.add_argument("--search-dir", default="runs/pocus-search")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--record", default="docs/results/pocus_budget/budget_choice.md")
    a = p.parse_args(argv)
    if a.command == "search":
        search(Path(a.search_dir), a.workers)
    else:
        print(" ".join(CANDIDATES[choose(Path(a.search_dir), Path(a.record))]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
