"""Speed benchmark: what subsampling saves, and what each sampler costs (`python -m das_core speed`).

In one run, for MobileNetV3-Small on T x S x S volumes (S = 28 and 64, T = S) at ratio 0.5:
- end-to-end inference throughput (items/s) of the full sequence and of every sampler's pipeline;
- the sampler's own share of its pipeline's time;
- DAS vs ADPS sampling latency at k = ratio * T and at k = 14;
- the training step time (forward + backward + Adam step) of every sampler vs uniform with the same k.

Timings are medians of `repeats` rounds; within a round the variants run one after the other
(interleaved), so a slow-down of the shared machine hits all of them alike and ratios stay fair.
Targets (issue 4): DAS end-to-end >= 1.8x full's throughput; DAS sampler < 5% of its pipeline;
DAS sampling >= 5x faster than ADPS at k = 14; DAS training step <= 1.2x uniform's.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch

from ..engine.setup import make_optimizer
from ..model import SubsampledClassifier
from ..samplers import list_samplers, num_selected_for_ratio
from ..spec import ModelSpec

__all__ = ["SpeedConfig", "run_speed", "TARGETS"]

TARGETS = {
    "das_throughput_vs_full": 1.8,
    "das_sampler_share": 0.05,
    "das_vs_adps_sampling_speedup_k14": 5.0,
    "das_train_step_vs_uniform": 1.2,
}


def _opt(default, help: str):
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class SpeedConfig:
    """The speed benchmark's settings (`python -m das_core speed --help` prints each one's help)."""

    sizes: list[int] = _opt([28, 64], "volume sizes S (T = S frames of S x S)")
    ratio: float = _opt(0.5, "sampling ratio")
    batch_size: int = _opt(8, "items per forward pass")
    repeats: int = _opt(7, "timing rounds (the median is reported)")
    train_steps: int = _opt(5, "training steps timed per round")
    threads: Optional[int] = _opt(None, "torch CPU threads (default: all cores)")
    backbone: str = _opt("mobilenet_v3_small", "the per-frame network")
    device: str = _opt("cpu", "cpu or cuda")
    out_json: Optional[str] = _opt("docs/speed.json", "the JSON report")
    out_md: Optional[str] = _opt("docs/speed.md", "the Markdown page")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn: Callable[[], object], device: torch.device, n: int = 1) -> float:
    _sync(device)
    t = time.perf_counter()
    for _ in range(n):
        fn()
    _sync(device)
    return (time.perf_counter() - t) / n


def _model(method: str, T: int, k: int, backbone: str, device) -> SubsampledClassifier:
    spec = ModelSpec(method=method, num_frames=T, num_selected=k, backbone=backbone, frame_size=T)
    return SubsampledClassifier.from_config(spec).to(device)


def _median(xs: list) -> float:
    return float(statistics.median(xs))


def _bench_size(S: int, cfg: SpeedConfig, device: torch.device, log) -> dict:
    methods = list_samplers()  # every registered sampler, built-in or the user's
    T = S
    k = num_selected_for_ratio(T, cfg.ratio)
    B = cfg.batch_size
    torch.manual_seed(0)
    x = torch.rand(B, T, 1, S, S, device=device)
    y = torch.randint(0, 2, (B,), device=device)
    models = {m: _model(m, T, k, cfg.backbone, device).eval() for m in methods}
    # sampling as each method runs it: ADPS's select runs the backbone once per acquired frame
    samplers14 = {m: _model(m, T, min(14, T), cfg.backbone, device).eval() for m in ("das", "adps")}

    e2e = {m: [] for m in methods}
    samp = {m: [] for m in methods}
    samp14 = {m: [] for m in samplers14}
    with torch.inference_mode():
        for m in methods:  # warm-up
            models[m](x)
        for r in range(cfg.repeats):
            for m in methods:
                e2e[m].append(_timed(lambda: models[m](x), device))
                samp[m].append(_timed(lambda: models[m].select(x), device, n=3))
            for m, s in samplers14.items():
                samp14[m].append(_timed(lambda: s.select(x), device, n=3))
    log(f"  S={S}: inference timed")

    # training steps: each sampler vs uniform at the same k (full at k = T)
    train = {m: [] for m in methods}
    opts = {}
    for m in methods:
        models[m].train()
        opts[m] = make_optimizer(models[m], 1e-4)

    def step(m):
        loss, _, _ = models[m].training_loss(x, y)
        opts[m].zero_grad(set_to_none=True)
        loss.backward()
        opts[m].step()

    for m in methods:
        step(m)  # warm-up
    for r in range(max(1, cfg.repeats // 2)):
        for m in methods:
            train[m].append(_timed(lambda: step(m), device, n=cfg.train_steps))
    log(f"  S={S}: training timed")

    med = {m: _median(v) for m, v in e2e.items()}
    smed = {m: _median(v) for m, v in samp.items()}
    tmed = {m: _median(v) for m, v in train.items()}
    s14 = {m: _median(v) for m, v in samp14.items()}
    result = {
        "size": S, "num_frames": T, "num_selected": k, "batch_size": B,
        "inference": {
            m: {
                "seconds_per_batch": med[m],
                "items_per_second": B / med[m],
                "throughput_vs_full": med["full"] / med[m],
                "sampler_seconds": smed[m],
                "sampler_share": smed[m] / med[m],
            } for m in methods
        },
        "sampling_latency_ms": {
            f"k={k}": {"das": smed["das"] * 1e3, "adps": smed["adps"] * 1e3,
                       "das_speedup_vs_adps": smed["adps"] / smed["das"]},
            f"k={min(14, T)}": {"das": s14["das"] * 1e3, "adps": s14["adps"] * 1e3,
                                "das_speedup_vs_adps": s14["adps"] / s14["das"]},
        },
        "train_step": {
            m: {"seconds": tmed[m], "vs_uniform": tmed[m] / tmed["uniform"]} for m in methods
        },
    }
    result["targets"] = {
        "das_throughput_vs_full": {"value": result["inference"]["das"]["throughput_vs_full"], "target": ">= 1.8"},
        "das_sampler_share": {"value": result["inference"]["das"]["sampler_share"], "target": "< 0.05"},
        "das_vs_adps_sampling_speedup_k14": {"value": s14["adps"] / s14["das"], "target": ">= 5"},
        "das_train_step_vs_uniform": {"value": result["train_step"]["das"]["vs_uniform"], "target": "<= 1.2"},
    }
    t = result["targets"]
    t["das_throughput_vs_full"]["met"] = t["das_throughput_vs_full"]["value"] >= 1.8
    t["das_sampler_share"]["met"] = t["das_sampler_share"]["value"] < 0.05
    t["das_vs_adps_sampling_speedup_k14"]["met"] = t["das_vs_adps_sampling_speedup_k14"]["value"] >= 5
    t["das_train_step_vs_uniform"]["met"] = t["das_train_step_vs_uniform"]["value"] <= 1.2
    return result


def _markdown(report: dict) -> str:
    env = report["environment"]
    lines = [
        "# Speed benchmark",
        "",
        f"Made by `{report['command']}` on {env['created']}: {env['device']}, torch {env['torch']}, "
        f"{env['threads']} torch thread(s) on {env['cpu_count']} core(s) ({env['machine']}), backbone "
        f"{report['config']['backbone']}, batch {report['config']['batch_size']}, ratio {report['config']['ratio']}, "
        f"median of {report['config']['repeats']} interleaved rounds. Load average when it started: "
        f"{env.get('load_average', 'n/a')} (1 min). Absolute times on a shared VM are noisy; the ratios come from "
        f"the same rounds.",
        "",
    ]
    for r in report["results"]:
        S, T, k = r["size"], r["num_frames"], r["num_selected"]
        lines += [f"## {T} frames of {S}x{S}, k = {k}", "",
                  "| method | batch ms | items/s | throughput vs full | sampler ms | sampler share | train step ms | train vs uniform |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for m in r["inference"]:
            i, tr = r["inference"][m], r["train_step"][m]
            lines.append(f"| {m} | {i['seconds_per_batch'] * 1e3:.1f} | {i['items_per_second']:.1f} | "
                         f"{i['throughput_vs_full']:.2f}x | {i['sampler_seconds'] * 1e3:.2f} | {100 * i['sampler_share']:.1f}% | "
                         f"{tr['seconds'] * 1e3:.1f} | {tr['vs_uniform']:.2f}x |")
        lines += ["", "| sampling latency (batch) | DAS ms | ADPS ms | DAS speed-up |", "|---|---:|---:|---:|"]
        for kk, v in r["sampling_latency_ms"].items():
            lines.append(f"| {kk} | {v['das']:.2f} | {v['adps']:.2f} | {v['das_speedup_vs_adps']:.1f}x |")
        lines += ["", "| target | measured | required | met |", "|---|---:|---|---|"]
        for name, v in r["targets"].items():
            lines.append(f"| {name} | {v['value']:.3f} | {v['target']} | {'yes' if v['met'] else '**no**'} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def run_speed(cfg: SpeedConfig, command: str = "python -m das_core speed", log=print) -> dict:
    """Run the speed benchmark and write `cfg.out_json` / `cfg.out_md`; returns the report."""
    threads = int(cfg.threads or os.cpu_count() or 1)
    torch.set_num_threads(threads)
    device = torch.device(cfg.device)
    log(f"speed: {threads} torch thread(s), device {device}")
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None  # before the timing starts
    results = []
    for S in cfg.sizes:
        results.append(_bench_size(int(S), cfg, device, log))
    report = {
        "command": command,
        "config": asdict(cfg),
        "environment": {
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "torch": str(torch.__version__), "threads": threads, "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
            "load_average": load, "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(),
        },
        "results": results,
    }
    if cfg.out_json:
        Path(cfg.out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.out_json).write_text(json.dumps(report, indent=2) + "\n")
    if cfg.out_md:
        Path(cfg.out_md).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.out_md).write_text(_markdown(report))
    for r in results:
        for name, v in r["targets"].items():
            log(f"  S={r['size']} {name}: {v['value']:.3f} (target {v['target']}) {'met' if v['met'] else 'MISSED'}")
    return report
