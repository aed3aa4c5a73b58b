"""Issue 12 item 6: an uploaded 100-slice study (a .npy of 100 x 256 x 256) through the app's path: load_study ->
resample_for the shipped models' T and frame size -> all six shipped synthetic models (explorer.methods.compare_methods),
one torch thread; the first round includes the first-call costs. Run: PYTHONPATH=. python benchmarks/upload_six_methods.py"""
import io, time, statistics as st
import numpy as np, torch
torch.set_num_threads(1)
from explorer import samples, methods
from das_core.checkpoints import load_checkpoint
rng = np.random.default_rng(0)
vol = rng.random((100, 256, 256), dtype=np.float32)
buf = io.BytesIO(); np.save(buf, vol); content = buf.getvalue()
models = {}
for m in ["full", "uniform", "random", "dps", "adps", "das"]:
    model = load_checkpoint(f"checkpoints/synthetic-volumes-{m}.pt")[0].eval()
    models[m] = (model, "shipped", True)
times = []
for r in range(4):
    t0 = time.perf_counter()
    study = samples.load_study(content, "study.npy")
    x = samples.resample_for(study, 28, 28).x
    with torch.no_grad():
        out = methods.compare_methods(x, models)
    times.append(time.perf_counter() - t0)
print("per run s:", [round(t, 3) for t in times], "median after first:", round(st.median(times[1:]), 3))
