"""Optimizer steps per second of the main grid's runs, split into data / forward / backward / Adam.

The grid's recipe (make bench): synthetic moving volumes (28 frames of 28x28), MobileNetV3-Small,
batch 16, ratio 0.5, one torch thread. Runs against whatever `das_core` is importable, so the same
script measures an older checkout too (PYTHONPATH=<old checkout>):

    PYTHONPATH=/tmp/old python benchmarks/train_steps.py --out /tmp/before.json --label "before (12c1bee)"
    PYTHONPATH=. python benchmarks/train_steps.py --out docs/train-steps.json --label after \
        --before /tmp/before.json --md docs/train-steps.md

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
    args = ap.parse_args()
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
    before = json.load(open(args.before)) if args.before else None
    if before:  # kept beside the new figures, so docs/speed.md can show the speed-up
        report["before"] = {"label": before["label"], "methods": {
            m: {"step_ms": r["step_ms"], "steps_per_s": r["steps_per_s"]} for m, r in before["methods"].items()}}
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
        lines += [f"Before: {before['label']} (same script, same machine, run just before).", "",
                  "| method | before ms/step | after ms/step | = data + forward + backward + Adam (after) | "
                  "before steps/s | after steps/s | speed-up |", "|---|---:|---:|---|---:|---:|---:|"]
        for m, r in report["methods"].items():
            b = before["methods"].get(m)
            if b is None:
                continue
            lines.append(f"| {m} | {b['step_ms']:.1f} | {r['step_ms']:.1f} | {r['data_ms']:.1f} + {r['forward_ms']:.1f} "
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
