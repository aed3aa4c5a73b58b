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
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

import torch

from ..cli_options import option as _opt
from ..engine.precision import autocast, check_precision
from ..engine.setup import make_optimizer
from ..errors import ConfigError
from ..features import _gray_into, _target_size, frame_features
from ..model import SubsampledClassifier
from ..samplers import list_samplers, num_selected_for_ratio
from ..spec import ModelSpec

__all__ = ["SpeedConfig", "VolumeSize", "parse_size", "run_speed", "render_markdown", "TARGETS"]

TARGETS = {
    "das_throughput_vs_full": 1.8,
    "das_sampler_share": 0.05,
    "das_sampler_vs_uniform_pipeline": 0.05,  # research sizes (28^3, 64^3)
    "das_sampler_vs_uniform_pipeline_clinical": 0.02,  # the clinical sizes
    "das_vs_adps_sampling_speedup_k14": 5.0,
    "das_train_step_vs_uniform": 1.2,
}
STUDY_METHODS = ("uniform", "das", "adps")  # the per-study (batch 1) latency table


@dataclass
class SpeedConfig:
    """The speed benchmark's settings (`python -m das_core speed --help` prints each one's help)."""

    sizes: list[str] = _opt(["28", "64", "ct:96x192", "ultrasound:128x128"],
                            "volume sizes: S (T = S frames of S x S, batch `batch_size`) or NAME:TxS, a clinical "
                            "study of T frames of S x S (batch `clinical_batch_size`, `clinical_repeats` rounds)")
    ratios: list[float] = _opt([0.5, 0.25], "sampling ratios (each size is measured at every ratio, interleaved)")
    batch_size: int = _opt(8, "items per forward pass at the research sizes")
    repeats: int = _opt(7, "timing rounds at the research sizes (the median is reported)")
    train_steps: int = _opt(5, "training steps timed per round at the research sizes")
    clinical_batch_size: int = _opt(1, "items per forward pass at the clinical sizes (1: one study)")
    clinical_repeats: int = _opt(5, "timing rounds at the clinical sizes")
    clinical_train_steps: int = _opt(1, "training steps timed per round at the clinical sizes")
    threads: Optional[int] = _opt(None, "torch CPU threads (default: all cores)")
    backbone: str = _opt("mobilenet_v3_small", "the per-frame network")
    device: str = _opt("cpu", "cpu or cuda")
    precision: str = _opt("fp32", "fp32, or the models under torch.autocast: bf16 (CPU or CUDA), fp16 (CUDA); the "
                                  "samplers stay float32 (das_core.engine.precision)")
    out_json: Optional[str] = _opt("docs/speed.json", "the JSON report")
    out_md: Optional[str] = _opt("docs/speed.md", "the Markdown page")
    render_only: bool = _opt(False, "measure nothing: write the Markdown page again from out_json and the app and "
                                    "training timings beside it (app-speed.json, train-steps.json)")


@dataclass(frozen=True)
class VolumeSize:
    """One measured volume: T frames of S x S; `clinical` ones run at the clinical batch and rounds."""

    name: str
    frames: int
    size: int
    clinical: bool = False

    @property
    def label(self) -> str:
        if not self.clinical:
            return f"{self.size}^3" if self.frames == self.size else f"{self.frames} x {self.size}^2"
        return f"{self.name} ({self.frames} x {self.size}^2)"


def parse_size(spec) -> VolumeSize:
    """"28" -> 28 frames of 28 x 28; "ct:96x192" -> a clinical study of 96 frames of 192 x 192."""
    text = str(spec).strip()
    if re.fullmatch(r"\d+", text):
        s = int(text)
        if s < 1:
            raise ConfigError(f"A volume size must be positive, got {spec!r}.")
        return VolumeSize(f"{s}^3", s, s)
    m = re.fullmatch(r"([A-Za-z][\w-]*):(\d+)x(\d+)", text)
    if not m or int(m.group(2)) < 1 or int(m.group(3)) < 1:
        raise ConfigError(f"A volume size is S or NAME:TxS (for example 28 or ct:96x192), got {spec!r}.")
    return VolumeSize(m.group(1), int(m.group(2)), int(m.group(3)), clinical=True)


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


def _model(method: str, T: int, k: int, S: int, backbone: str, device) -> SubsampledClassifier:
    spec = ModelSpec(method=method, num_frames=T, num_selected=k, backbone=backbone, frame_size=S)
    return SubsampledClassifier.from_config(spec).to(device)


def _median(xs: list) -> float:
    return float(statistics.median(xs))


def _bench_size(vol: VolumeSize, cfg: SpeedConfig, device: torch.device, log) -> list[dict]:
    """All ratios of one volume size, interleaved in the same rounds -> one result per ratio."""
    methods = list_samplers()  # every registered sampler, built-in or the user's
    sub = [m for m in methods if m != "full"]
    T, S = vol.frames, vol.size
    B = cfg.clinical_batch_size if vol.clinical else cfg.batch_size
    repeats = max(1, cfg.clinical_repeats if vol.clinical else cfg.repeats)
    steps = max(1, cfg.clinical_train_steps if vol.clinical else cfg.train_steps)
    ratios = list(dict.fromkeys(float(r) for r in cfg.ratios))
    ks = {r: num_selected_for_ratio(T, r) for r in ratios}
    torch.manual_seed(0)
    x = torch.rand(B, T, 1, S, S, device=device)
    y = torch.randint(0, 2, (B,), device=device)
    x1 = x[:1]  # one study
    full = _model("full", T, T, S, cfg.backbone, device).eval()  # the same for every ratio
    models = {(r, m): _model(m, T, ks[r], S, cfg.backbone, device).eval() for r in ratios for m in sub}
    for r in ratios:
        models[r, "full"] = full
    # sampling as each method runs it: ADPS's select runs the backbone once per acquired frame
    k14 = min(14, T)
    samplers14 = {m: _model(m, T, k14, S, cfg.backbone, device).eval() for m in ("das", "adps")}

    def n_select(m: str) -> int:  # repeat the short selections so the timer resolves them
        return 1 if vol.clinical or m == "adps" else 3

    # the DAS sampler's parts (the same for every ratio but the top-k): its frame features, and of those the
    # channel mean + area pooling of the frames to `feature_size`
    feature_size = models[ratios[0], "das"].sampler.config.feature_size
    h, w = _target_size(S, S, feature_size)
    pooled = torch.empty(B, T, h, w, device=device)
    parts = {"features": [], "pooling": []}

    e2e_full, samp_full = [], []
    e2e = {(r, m): [] for r in ratios for m in sub}
    samp = {(r, m): [] for r in ratios for m in sub}
    study = {(r, m): [] for r in ratios for m in STUDY_METHODS}
    samp14 = {m: [] for m in samplers14}
    with torch.inference_mode(), autocast(device, cfg.precision):
        for model in [full, *models.values(), *samplers14.values()]:  # warm-up
            model(x)
            if B > 1:
                model(x1)
        for _ in range(repeats):
            e2e_full.append(_timed(lambda: full(x), device))
            samp_full.append(_timed(lambda: full.select(x), device, n=3))
            for r in ratios:
                for m in sub:
                    model = models[r, m]
                    e2e[r, m].append(_timed(lambda: model(x), device))
                    samp[r, m].append(_timed(lambda: model.select(x), device, n=n_select(m)))
                if B > 1:  # at batch 1 the end-to-end times are the per-study latencies
                    for m in STUDY_METHODS:
                        model = models[r, m]
                        study[r, m].append(_timed(lambda: model(x1), device))
            for m, s in samplers14.items():
                samp14[m].append(_timed(lambda: s.select(x), device, n=n_select(m)))
            parts["features"].append(_timed(lambda: frame_features(x, feature_size), device, n=n_select("das")))
            parts["pooling"].append(_timed(lambda: _gray_into(x, pooled), device, n=n_select("das")))
    if B == 1:
        study = {(r, m): e2e[r, m] for r in ratios for m in STUDY_METHODS}
    log(f"  {vol.label}: inference timed")

    # training steps: each sampler vs uniform at the same k (full at k = T)
    train_full = []
    train = {(r, m): [] for r in ratios for m in sub}
    opts = {}
    for key, model in [(None, full), *models.items()]:
        if key is not None and key[1] == "full":
            continue
        model.train()
        opts[key] = make_optimizer(model, 1e-4)

    def step(key):
        model = full if key is None else models[key]
        with autocast(device, cfg.precision):
            loss, _, _ = model.training_loss(x, y)
        opts[key].zero_grad(set_to_none=True)
        loss.backward()
        opts[key].step()

    for key in opts:
        step(key)  # warm-up
    for _ in range(max(1, repeats // 2)):
        train_full.append(_timed(lambda: step(None), device, n=steps))
        for r in ratios:
            for m in sub:
                train[r, m].append(_timed(lambda: step((r, m)), device, n=steps))
    log(f"  {vol.label}: training timed")

    s14 = {m: _median(v) for m, v in samp14.items()}
    results = []
    for r in ratios:
        k = ks[r]
        e2e_r = {"full": e2e_full, **{m: e2e[r, m] for m in sub}}
        samp_r = {"full": samp_full, **{m: samp[r, m] for m in sub}}
        train_r = {"full": train_full, **{m: train[r, m] for m in sub}}
        med = {m: _median(v) for m, v in e2e_r.items()}
        best = {m: min(v) for m, v in e2e_r.items()}
        smed = {m: _median(v) for m, v in samp_r.items()}
        sbest = {m: min(v) for m, v in samp_r.items()}
        tmed = {m: _median(v) for m, v in train_r.items()}
        lat = {m: _median(study[r, m]) for m in STUDY_METHODS}
        result = {
            "name": vol.name, "label": vol.label, "clinical": vol.clinical,
            "size": S, "num_frames": T, "num_selected": k, "ratio": r, "batch_size": B, "repeats": repeats,
            "inference": {
                m: {
                    "seconds_per_batch": med[m],
                    "items_per_second": B / med[m],
                    "throughput_vs_full": med["full"] / med[m],
                    "sampler_seconds": smed[m],
                    "sampler_share": smed[m] / med[m],
                    "best_seconds_per_batch": best[m],
                    "best_sampler_seconds": sbest[m],
                    "best_sampler_vs_uniform_pipeline": sbest[m] / best["uniform"],
                } for m in methods
            },
            "sampling_latency_ms": {
                f"k={k}": {"das": smed["das"] * 1e3, "adps": smed["adps"] * 1e3,
                           "das_speedup_vs_adps": smed["adps"] / smed["das"]},
                f"k={k14}": {"das": s14["das"] * 1e3, "adps": s14["adps"] * 1e3,
                             "das_speedup_vs_adps": s14["adps"] / s14["das"]},
            },
            "das_sampler_breakdown_ms": {  # best of the rounds
                "sampler": sbest["das"] * 1e3,
                "frame_features": min(parts["features"]) * 1e3,
                "of_which_pooling": min(parts["pooling"]) * 1e3,
                "scores_and_top_k": max(0.0, sbest["das"] - min(parts["features"])) * 1e3,
                "feature_frame_size": f"{h}x{w}",
            },
            "study_latency_ms": {
                **{m: lat[m] * 1e3 for m in STUDY_METHODS},
                "adps_vs_das": lat["adps"] / lat["das"],
            },
            "train_step": {
                m: {"seconds": tmed[m], "vs_uniform": tmed[m] / tmed["uniform"]} for m in methods
            },
        }
        share_target = _share_target(vol.clinical)
        inf = result["inference"]
        t = {
            "das_throughput_vs_full": (inf["das"]["throughput_vs_full"], ">= 1.8", lambda v: v >= 1.8),
            "das_sampler_share": (inf["das"]["sampler_share"], "< 0.05", lambda v: v < 0.05),
            "das_sampler_vs_uniform_pipeline": (inf["das"]["best_sampler_vs_uniform_pipeline"], f"< {share_target:g}",
                                                lambda v: v < share_target),
            "das_vs_adps_sampling_speedup_k14": (s14["adps"] / s14["das"], ">= 5", lambda v: v >= 5),
            "das_train_step_vs_uniform": (result["train_step"]["das"]["vs_uniform"], "<= 1.2", lambda v: v <= 1.2),
        }
        result["targets"] = {name: {"value": v, "target": text, "met": bool(ok(v))} for name, (v, text, ok) in t.items()}
        results.append(result)
    return results


def _share_target(clinical: bool) -> float:
    return TARGETS["das_sampler_vs_uniform_pipeline_clinical" if clinical else "das_sampler_vs_uniform_pipeline"]


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%" if v >= 0.001 else f"{100 * v:.2f}%"


def _markdown(report: dict, folder: Optional[Path] = None) -> str:
    env, cfg = report["environment"], report["config"]
    results = report["results"]
    lines = [
        "# Speed benchmark",
        "",
        f"Made by `{report['command']}` on {env['created']}: {env['device']}, torch {env['torch']}, "
        f"{env['threads']} torch thread(s) on {env['cpu_count']} core(s) ({env['machine']}), backbone "
        f"{cfg['backbone']}" + (f" under {cfg['precision']} autocast" if cfg.get("precision", "fp32") != "fp32" else "")
        + f", ratios {', '.join(f'{r:g}' for r in cfg['ratios'])}. Research sizes: batch "
        f"{cfg['batch_size']}, median of {cfg['repeats']} interleaved rounds; clinical sizes: batch "
        f"{cfg['clinical_batch_size']} (one study per pass), median of {cfg['clinical_repeats']} rounds. In every "
        f"round all methods at all ratios of a size run one after the other, so the ratios come from the same "
        f"rounds. Load average (1 min) when it started: {env.get('load_average', 'n/a')}, when it ended: "
        f"{env.get('load_average_end', 'n/a')}"
        + (" (**the machine was busy: absolute times are inflated and noisier than on a quiet machine**)."
           if max(env.get("load_average") or 0, env.get("load_average_end") or 0) > 1.5
           else ". Absolute times on a shared VM are noisy; the ratios come from the same rounds."),
        "",
        "## DAS sampler vs uniform's whole pipeline",
        "",
        "The DAS sampler's own time (`model.select(x)`: frame features, attention, top-k) against the whole "
        "uniform pipeline at the same k (sampling + backbone on k frames + head), both the best of the rounds.",
        "",
        "| volume | ratio | k | batch | DAS sampler ms (best) | uniform pipeline ms (best) | share | target | met |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        i, t = r["inference"], r["targets"]["das_sampler_vs_uniform_pipeline"]
        lines.append(f"| {r['label']} | {r['ratio']:g} | {r['num_selected']} | {r['batch_size']} | "
                     f"{i['das']['best_sampler_seconds'] * 1e3:.2f} | {i['uniform']['best_seconds_per_batch'] * 1e3:.1f} | "
                     f"{_pct(t['value'])} | < {_pct(_share_target(r['clinical']))} | "
                     f"{'yes' if t['met'] else '**no**'} |")
    lines += [
        "",
        "Where the DAS sampler's time goes (best of the rounds): the parameter-free frame features (channel mean, "
        "area pooling to the feature size where the frames are larger, inter-frame difference, Sobel and Laplacian "
        "maps and their summaries), then the scores (embedding, attention across the T frames, MLPs) and the "
        "deterministic top-k.",
        "",
        "| volume | ratio | k | sampler ms | frame features ms | of which pooling ms | scores + top-k ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        b = r["das_sampler_breakdown_ms"]
        pooled = b["feature_frame_size"] != f"{r['size']}x{r['size']}"
        pool = f"{b['of_which_pooling']:.2f} (to {b['feature_frame_size']})" if pooled else "-"
        lines.append(f"| {r['label']} | {r['ratio']:g} | {r['num_selected']} | {b['sampler']:.2f} | "
                     f"{b['frame_features']:.2f} | {pool} | {b['scores_and_top_k']:.2f} |")
    lines += [
        "",
        "## ADPS latency per study",
        "",
        "One study (batch 1), end to end: ADPS runs k backbone passes on one frame each, one after the other "
        "(it picks the next frame from what it has seen); DAS scores all T frames and runs one batched backbone "
        "pass on its k frames. Median of the rounds.",
        "",
        "| volume | ratio | k | ADPS ms | DAS ms | uniform ms | ADPS / DAS |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        v = r["study_latency_ms"]
        lines.append(f"| {r['label']} | {r['ratio']:g} | {r['num_selected']} | {v['adps']:.1f} | {v['das']:.1f} | "
                     f"{v['uniform']:.1f} | {v['adps_vs_das']:.1f}x |")
    lines += ["", "## Targets", "", "| target | " + " | ".join(f"{r['label']}, k = {r['num_selected']}" for r in results)
              + " |", "|---|" + "---|" * len(results)]
    for name in results[0]["targets"]:
        cells = []
        for r in results:
            v = r["targets"][name]
            cells.append(f"{v['value']:.3f} {v['target']} {'met' if v['met'] else '**missed**'}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    for r in results:
        S, T, k = r["size"], r["num_frames"], r["num_selected"]
        title = f"{T} frames of {S}x{S}" + (f" ({r['name']}, clinical)" if r.get("clinical") else "")
        lines += [f"## {title}, ratio {r['ratio']:g}, k = {k}, batch {r['batch_size']}", "",
                  "| method | batch ms | items/s | throughput vs full | sampler ms | sampler share | "
                  "sampler / uniform pipeline (best) | train step ms | train vs uniform |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for m in r["inference"]:
            i, tr = r["inference"][m], r["train_step"][m]
            lines.append(f"| {m} | {i['seconds_per_batch'] * 1e3:.1f} | {i['items_per_second']:.1f} | "
                         f"{i['throughput_vs_full']:.2f}x | {i['sampler_seconds'] * 1e3:.2f} | {_pct(i['sampler_share'])} | "
                         f"{_pct(i['best_sampler_vs_uniform_pipeline'])} | "
                         f"{tr['seconds'] * 1e3:.1f} | {tr['vs_uniform']:.2f}x |")
        lines += ["", "| sampling latency (batch) | DAS ms | ADPS ms | DAS speed-up |", "|---|---:|---:|---:|"]
        for kk, v in r["sampling_latency_ms"].items():
            lines.append(f"| {kk} | {v['das']:.2f} | {v['adps']:.2f} | {v['das_speedup_vs_adps']:.1f}x |")
        lines += ["", "| target | measured | required | met |", "|---|---:|---|---|"]
        for name, v in r["targets"].items():
            lines.append(f"| {name} | {v['value']:.3f} | {v['target']} | {'yes' if v['met'] else '**no**'} |")
        lines.append("")
    return _with_other_targets("\n".join(lines) + "\n", folder)


def _with_other_targets(page: str, folder: Optional[Path]) -> str:
    """`page` with the section of `_other_targets(folder)` put before its per-size tables."""
    extra = _other_targets(folder) if folder is not None else []
    if not extra:
        return page
    at = page.find("\n## ", page.find("## Targets") + 1)
    head, tail = (page, "") if at < 0 else (page[: at + 1], page[at + 1:])
    return head + "\n".join(extra) + "\n" + tail


TRAIN_SPEEDUP_TARGET = 2.0  # issue 12: at least twice the optimizer steps per second


def _other_targets(folder: Path) -> list[str]:
    """The section of issue 12's targets measured by other scripts, from their JSON reports in `folder`:
    train-steps.json (benchmarks/train_steps.py) and app-speed.json (benchmarks/app_timings.py)."""
    lines = ["## Training steps per second and the app", ""]
    steps_path, app_path = folder / "train-steps.json", folder / "app-speed.json"
    if steps_path.is_file():
        ts = json.loads(steps_path.read_text())
        before = ts.get("before", {}).get("methods", {})
        lines += [f"Training, the main grid's recipe ({ts['recipe']}, {ts['machine']}; `benchmarks/train_steps.py`, "
                  f"details in [train-steps.md](train-steps.md)): optimizer steps per second, "
                  f"{ts.get('before', {}).get('label', 'the earlier code')} against the current code"
                  + (f" (the mean of {ts['runs']} runs each, alternated)" if ts.get("runs", 1) > 1 else "")
                  + f", target >= {TRAIN_SPEEDUP_TARGET:g}x.", "",
                  "| method | before steps/s | after steps/s | speed-up | met |", "|---|---:|---:|---:|---|"]
        total_before = total_after = 0.0
        for m, r in ts["methods"].items():
            b = before.get(m)
            if not b:
                continue
            up = b["step_ms"] / r["step_ms"]
            total_before, total_after = total_before + b["step_ms"], total_after + r["step_ms"]
            lines.append(f"| {m} | {b['steps_per_s']:.2f} | {r['steps_per_s']:.2f} | {up:.2f}x | "
                         f"{'yes' if up >= TRAIN_SPEEDUP_TARGET else '**no**'} |")
        if total_after:
            up = total_before / total_after
            lines.append(f"| one step of each (the grid's mix) | | | {up:.2f}x | "
                         f"{'yes' if up >= TRAIN_SPEEDUP_TARGET else '**no**'} |")
        lines.append("")
    if app_path.is_file():
        app = json.loads(app_path.read_text())
        n = len(next(iter(app["metrics"].values()))["rounds"])
        lines += [f"The app (`{app['command']}`, {app['created']}; {app['machine']}): the browser test's timings "
                  f"(`tests/e2e/test_app_e2e.py`, written to `test-artifacts/timings.json`) in {n} rounds, each a fresh "
                  "server and a fresh browser, so every round has a cold start.", "",
                  "| what | rounds (s) | median (s) | target | met (median) | met (every round) |",
                  "|---|---|---:|---|---|---|"]
        for m in app["metrics"].values():
            lines.append(f"| {m['what']} | {', '.join(f'{v:.2f}' for v in m['rounds'])} | {m['median']:.2f} | "
                         f"< {m['target_s']:g} s | {'yes' if m['met'] else '**no**'} | "
                         f"{'yes' if m['met_every_round'] else '**no**'} |")
        up = app["upload_six_methods"]
        lines.append(f"| An uploaded {up['study']} study through all six shipped models ({up['threads']} torch thread, "
                     f"the first run included) | {', '.join(f'{v:.2f}' for v in up['seconds'])} | "
                     f"{up['median_after_first']:.2f} | < {up['target_s']:g} s | {'yes' if up['met'] else '**no**'} | "
                     f"{'yes' if up['met'] else '**no**'} |")
        lines.append("")
    if len(lines) == 2:
        return []
    return lines


def render_markdown(json_path: str, md_path: str) -> None:
    """Write the Markdown page `md_path` again from the JSON report `json_path` (and the reports beside it)."""
    src = Path(json_path)
    if not src.is_file():
        raise ConfigError(f"{json_path} does not exist: run `python -m das_core speed` first to measure.")
    Path(md_path).write_text(_markdown(json.loads(src.read_text()), Path(md_path).parent))


def _load() -> Optional[float]:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def run_speed(cfg: SpeedConfig, command: str = "python -m das_core speed", log=print) -> dict:
    """Run the speed benchmark and write `cfg.out_json` / `cfg.out_md`; returns the report. With
    `cfg.render_only`, measure nothing: write `cfg.out_md` again from `cfg.out_json` (and the reports beside it)."""
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
        results += _bench_size(vol, cfg, device, log)
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
        Path(cfg.out_md).write_text(_markdown(report, Path(cfg.out_md).parent))
    for r in results:
        for name, v in r["targets"].items():
            log(f"  {r['label']} k={r['num_selected']} {name}: {v['value']:.3f} (target {v['target']}) "
                f"{'met' if v['met'] else 'MISSED'}")
    return report
