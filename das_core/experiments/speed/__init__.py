"""Speed benchmark: what subsampling saves, and what each sampler costs (`python -m das_core speed`).

In one run, for MobileNetV3-Small on each volume size (`SpeedConfig.sizes`: the research volumes 28^3 and
64^3, T = S frames of S x S, and two clinical-like studies, a CT volume of 96 slices of 192 x 192 and an
ultrasound clip of 128 frames of 128 x 128) and each sampling ratio (0.5 and 0.25):
- end-to-end inference throughput (items/s) of the full sequence and of every sampler's pipeline;
- the sampler's own share of its pipeline's time, and the DAS sampler's best time as a share of uniform's
  whole pipeline (best of the rounds: end-to-end times move by several percent on a shared machine);
- DAS vs ADPS sampling latency at k = ratio * T and at k = 14;
- latency per study (batch 1): ADPS's k sequential backbone passes on one frame each against DAS's one
  batched pass on its k frames;
- the training step time (forward + backward + Adam step) of every sampler vs uniform with the same k.

Timings are medians of rounds; within a round every method at every ratio runs one after the other
(interleaved), so a slow-down of the shared machine hits all of them alike and the ratios come from the same
rounds. The clinical sizes run with batch `clinical_batch_size` (1: one study per pass) and fewer rounds.
Targets (issue 4, issue 12): DAS end-to-end >= 1.8x full's throughput; DAS sampler < 5% of its pipeline;
DAS sampler (best) < 5% of uniform's pipeline (best) at the research sizes and < 2% at the clinical sizes;
DAS sampling >= 5x faster than ADPS at k = 14; DAS training step <= 1.2x uniform's.

The parts: config.py (the settings, the volume sizes, the targets: `TARGETS` is the one place of their numbers),
measure.py (the timing and one size's benchmark), render.py (the Markdown page); here, `run_speed`.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import torch

from ...engine.precision import check_precision
from ...errors import ConfigError
from .config import STUDY_METHODS, TARGETS, TRAIN_SPEEDUP_TARGET, SpeedConfig, VolumeSize, parse_size, share_target
from .measure import bench_size
from .render import markdown_page, render_markdown

__all__ = ["SpeedConfig", "VolumeSize", "parse_size", "run_speed", "render_markdown", "TARGETS", "STUDY_METHODS",
           "TRAIN_SPEEDUP_TARGET", "share_target", "bench_size", "markdown_page"]


def _load() -> Optional[float]:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def run_speed(cfg: SpeedConfig, command: str = "python -m das_core speed", log=print) -> dict:
    """Run the speed benchmark and write `cfg.out_json` / `cfg.out_md`; returns the report. With
    `cfg.render_only`, measure nothing: write `cfg.out_md` again from `cfg.out_json` (and the reports beside it).

    Args:
        cfg: the settings; command: the command line recorded in the report; log: a print-like callable for
            progress and, at the end, every target's value and met / MISSED.
    """
    if cfg.render_only:
        if not cfg.out_json or not cfg.out_md:
            raise ConfigError("--render-only needs --out-json (the report to read) and --out-md (the page to write).")
        render_markdown(cfg.out_json, cfg.out_md)
        log(f"wrote {cfg.out_md} from {cfg.out_json}")
        return json.loads(Path(cfg.out_json).read_text())
    sizes = [parse_size(s) for s in cfg.sizes]
    if not sizes or not cfg.ratios:
        raise ConfigError("The speed benchmark needs at least one size and one ratio.")
    threads = int(cfg.threads or os.cpu_count() or 1)
    torch.set_num_threads(threads)
    device = torch.device(cfg.device)
    check_precision(cfg.precision, device)
    log(f"speed: {threads} torch thread(s), device {device}")
    load = _load()  # before the timing starts
    started = time.perf_counter()
    results = []
    for vol in sizes:
        results += bench_size(vol, cfg, device, log)
    report = {
        "command": command,
        "config": asdict(cfg),
        "environment": {
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "torch": str(torch.__version__), "threads": threads, "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
            "load_average": load, "load_average_end": _load(),
            "wall_seconds": round(time.perf_counter() - started, 1),
            "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(),
        },
        "results": results,
    }
    if cfg.out_json:
        Path(cfg.out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.out_json).write_text(json.dumps(report, indent=2) + "\n")
    if cfg.out_md:
        Path(cfg.out_md).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.out_md).write_text(markdown_page(report, Path(cfg.out_md).parent))
    for r in results:
        for name, v in r["targets"].items():
            log(f"  {r['label']} k={r['num_selected']} {name}: {v['value']:.3f} (target {v['target']}) "
                f"{'met' if v['met'] else 'MISSED'}")
    return report
