"""Issue 12 item 6: an uploaded 100-slice study (a .npy of 100 x 256 x 256) through the app's path: load_study ->
resample_for the shipped models' T and frame size -> all six shipped synthetic models (explorer.methods.compare_methods),
one torch thread; the first round includes the first-call costs.

Run: PYTHONPATH=. python benchmarks/upload_six_methods.py  (benchmarks/app_timings.py calls `measure`)
"""
from __future__ import annotations

import io
import statistics
import time

import numpy as np
import torch

METHODS = ("full", "uniform", "random", "dps", "adps", "das")


def measure(rounds: int = 4) -> dict:
    """Seconds per upload-to-six-results run, `rounds` times (the first includes the first-call costs)."""
    from das_core.checkpoints import load_checkpoint
    from explorer import lineup, methods, samples

    torch.set_num_threads(1)
    vol = np.random.default_rng(0).random((100, 256, 256), dtype=np.float32)
    buf = io.BytesIO()
    np.save(buf, vol)
    content = buf.getvalue()
    models = {m: lineup.ModelChoice(m, load_checkpoint(f"checkpoints/synthetic-volumes-{m}.pt")[0].eval(), "shipped", True)
              for m in METHODS}
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        study = samples.load_study(content, "study.npy")
        x = samples.resample_for(study, 28, 28).x
        with torch.no_grad():
            methods.compare_methods(x, models)
        times.append(time.perf_counter() - t0)
    return {"seconds": [round(t, 3) for t in times], "median_after_first": round(statistics.median(times[1:]), 3),
            "max": round(max(times), 3), "study": "100 x 256 x 256 .npy", "threads": 1}


if __name__ == "__main__":
    r = measure()
    print("per run s:", r["seconds"], "median after first:", r["median_after_first"])
