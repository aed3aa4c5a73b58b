"""Optimizer steps per second of the main grid's runs, split into data / forward / backward / Adam.

The grid's recipe (make bench): synthetic moving volumes (28 frames of 28x28), MobileNetV3-Small,
batch 16, ratio 0.5, one torch thread. Runs against whatever `das_core` is importable, so the same
script measures an older checkout too (PYTHONPATH=<old checkout>):

    for i in 1 2; do  # alternate the two checkouts: a slow-down of the shared machine hits both
      PYTHONPATH=/tmp/old python benchmarks/train_steps.py --out /tmp/before-$i.json --label "before (12c1bee)"
      PYTHONPATH=. python benchmarks/train_steps.py --out /tmp/after-$i.json --label after
    done
    python benchmarks/train_steps.py --merge /tmp/before-*.json --out /tmp/before.json
    python benchmarks/train_steps.py --merge /tmp/after-*.json --before /tmp/before.json \
        --out docs/train-steps.json --md docs/train-steps.md

Each method's step is timed `--steps` times after `--warmup` steps; methods are interleaved round by
round so a slow-down of the machine hits all alike; medians are reported.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import torch

from das_core.engine import setup
from das_core.engine.config import TrainConfig


def _optimizer(model, lr):
    if hasattr(setup, "make_optimizer"):
        return setup.make_optimizer(model, lr)
    return torch.optim.Adam(model.parameter_groups(lr), lr=lr)  # checkouts before the fused optimizer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--methods", nargs="+", default=["full", "uniform", "dps", "das", "adps"])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--label", default="")
    ap.add_argument("--out", default=None, help="the JSON report")
    ap.add_argument("--before", default=None, help="an earlier JSON report to compare with (in --md)")
    ap.add_argument("--md", default=None, help="a Markdown page: this report, and the ratio to --before")
    ap.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                    help="measure nothing: average these reports (runs of one checkout, e.g. alternated with runs of "
                         "the other) into --out / --md")
    args = ap.parse_args()
    if args.merge:
        report = merge_reports([json.load(open(f)) for f in args.merge])
        return _write(report, args)
    torch.set_num_threads(args.threads)
    base = TrainConfig(dataset="synthetic-volumes", dataset_options={"moving": True}, backbone="mobilenet_v3_small",
                       ratio=0.5, seed=0, batch_size=16, lr=1e-3)
    splits = setup.load_splits(base)
    info = setup.data_info(splits["train"])
    runs = {}
    for m in args.methods:
        cfg = TrainConfig(**{**base.__dict__, "method": m})
        torch.manual_seed(0)
        model = setup.build_model_for(cfg, info).train()
        crit = setup.make_criterion(cfg, info, torch.device("cpu"))
        loader = setup.train_loader(splits["train"], cfg, info, torch.Generator().manual_seed(0))
        runs[m] = {"model": model, "opt": _optimizer(model, cfg.lr), "crit": crit, "it": iter(loader),
                   "loader": loader, "parts": []}

    def step(r, record: bool) -> None:
        t0 = time.perf_counter()
        try:
            x, y = next(r["it"])
        except StopIteration:
            r["it"] = iter(r["loader"])
            x, y = next(r["it"])
        t1 = time.perf_counter()
        loss, _, _ = r["model"].training_loss(x, torch.as_tensor(y), r["crit"])
        t2 = time.perf_counter()
        r["opt"].zero_grad(set_to_none=True)
        loss.backward()
        t3 = time.perf_counter()
        r["opt"].step()
        t4 = time.perf_counter()
        if record:
            r["parts"].append((t1 - t0, t2 - t1, t3 - t2, t4 - t3))

    for i in range(args.warmup + args.steps):
        for r in runs.values():
            step(r, i >= args.warmup)
    report = {"label": args.label, "threads": args.threads, "torch": torch.__version__,
              "machine": f"{platform.machine()}, {torch.get_num_threads()} thread(s)",
              "recipe": "synthetic moving 28x28x28, MobileNetV3-Small, batch 16, ratio 0.5", "methods": {}}
    for m, r in runs.items():
        cols = list(zip(*r["parts"]))
        med = [statistics.median(c) * 1e3 for c in cols]
        total = statistics.median([sum(p) for p in r["parts"]]) * 1e3
        report["methods"][m] = {"data_ms": med[0], "forward_ms": med[1], "backward_ms": med[2], "adam_ms": med[3],
                                "step_ms": total, "steps_per_s": 1e3 / total}
        print(f"{m:8s} step {total:7.1f} ms = data {med[0]:5.1f} + forward {med[1]:6.1f} + backward {med[2]:6.1f} "
              f"+ adam {med[3]:5.1f}  ->  {1e3 / total:5.2f} steps/s")
    _write(report, args)


def merge_reports(reports: list[dict]) -> dict:
    """The mean of several reports' per-method medians (ms), labelled with the number of runs."""
    out = {k: v for k, v in reports[0].items() if k not in ("methods", "before")}
    out["runs"] = len(reports)
    out["methods"] = {}
    for m in reports[0]["methods"]:
        rows = [r["methods"][m] for r in reports if m in r["methods"]]
        mean = {k: statistics.mean(r[k] for r in rows) for k in ("data_ms", "forward_ms", "backward_ms", "adam_ms",
                                                                "step_ms")}
        mean["steps_per_s"] = 1e3 / mean["step_ms"]
        mean["step_ms_runs"] = [round(r["step_ms"], 1) for r in rows]
        out["methods"][m] = mean
    return out


def _write(report: dict, args) -> None:
    before = json.load(open(args.before)) if args.before else None
    if before:  # kept beside the new figures, so docs/speed.md can show the speed-up
        report["before"] = {"label": before["label"], "runs": before.get("runs", 1), "methods": {
            m: {"step_ms": r["step_ms"], "steps_per_s": r["steps_per_s"],
                **({"step_ms_runs": r["step_ms_runs"]} if "step_ms_runs" in r else {})}
            for m, r in before["methods"].items()}}
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(report, fh, indent=1)
    if args.md:
        with open(args.md, "w") as fh:
            fh.write(_markdown(report, before, " ".join(sys.argv[1:])))


def _markdown(report: dict, before: dict | None, argv: str) -> str:
    lines = ["# Training steps per second (the main grid's recipe)", "",
             f"Made by `python benchmarks/train_steps.py {argv}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
             f"{report['recipe']}, {report['machine']}, torch {report['torch']}; median of the timed steps, methods "
             "interleaved step by step. A step is the whole optimizer step: the next batch from the loader, the "
             "forward pass with the sampler, backward, Adam.", ""]
    if before:
        runs = f"the mean of {report.get('runs', 1)} runs each, before and after alternated" \
            if report.get("runs", 1) > 1 else "run just before"
        lines += [f"Before: {before['label']} (same script, same machine, {runs}; each run's ms/step in brackets).", "",
                  "| method | before ms/step | after ms/step | = data + forward + backward + Adam (after) | "
                  "before steps/s | after steps/s | speed-up |", "|---|---:|---:|---|---:|---:|---:|"]
        for m, r in report["methods"].items():
            b = before["methods"].get(m)
            if b is None:
                continue
            b_runs = f" ({', '.join(f'{v:.0f}' for v in b['step_ms_runs'])})" if "step_ms_runs" in b else ""
            a_runs = f" ({', '.join(f'{v:.0f}' for v in r['step_ms_runs'])})" if "step_ms_runs" in r else ""
            lines.append(f"| {m} | {b['step_ms']:.1f}{b_runs} | {r['step_ms']:.1f}{a_runs} | {r['data_ms']:.1f} + {r['forward_ms']:.1f} "
                         f"+ {r['backward_ms']:.1f} + {r['adam_ms']:.1f} | {b['steps_per_s']:.2f} | "
                         f"{r['steps_per_s']:.2f} | **{b['step_ms'] / r['step_ms']:.2f}x** |")
    else:
        lines += ["| method | ms/step | data | forward | backward | Adam | steps/s |", "|---|---:|---:|---:|---:|---:|---:|"]
        for m, r in report["methods"].items():
            lines.append(f"| {m} | {r['step_ms']:.1f} | {r['data_ms']:.1f} | {r['forward_ms']:.1f} | "
                         f"{r['backward_ms']:.1f} | {r['adam_ms']:.1f} | {r['steps_per_s']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
