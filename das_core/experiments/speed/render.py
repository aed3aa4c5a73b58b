"""The speed benchmark's Markdown page (docs/speed.md), written from its JSON report.

`markdown_page(report, folder)` is the whole page: the summary tables across sizes, the targets, one section
per (size, ratio), and, where train-steps.json / app-speed.json lie in `folder`, the targets those scripts
measure. `render_markdown` writes it again from a saved report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from ...errors import ConfigError
from .config import TRAIN_SPEEDUP_TARGET, share_target

__all__ = ["markdown_page", "render_markdown"]


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%" if v >= 0.001 else f"{100 * v:.2f}%"


def _yes(met: bool) -> str:
    return "yes" if met else "**no**"


def _intro(report: dict) -> list[str]:
    """The title and the paragraph on how the numbers were made (machine, settings, load)."""
    env, cfg = report["environment"], report["config"]
    return [
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
    ]


def _share_tables(results: list[dict]) -> list[str]:
    """The DAS sampler against uniform's whole pipeline, and where the DAS sampler's time goes."""
    lines = [
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
                     f"{i['das']['best_sampler_seconds'] * 1e3:.2f} | "
                     f"{i['uniform']['best_seconds_per_batch'] * 1e3:.1f} | "
                     f"{_pct(t['value'])} | < {_pct(share_target(r['clinical']))} | {_yes(t['met'])} |")
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
    return lines


def _study_and_targets(results: list[dict]) -> list[str]:
    """The per-study (batch 1) latency table, and every target of every (size, ratio)."""
    lines = [
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
    columns = " | ".join(f"{r['label']}, k = {r['num_selected']}" for r in results)
    lines += ["", "## Targets", "", f"| target | {columns} |", "|---|" + "---|" * len(results)]
    for name in results[0]["targets"]:
        cells = []
        for r in results:
            v = r["targets"][name]
            cells.append(f"{v['value']:.3f} {v['target']} {'met' if v['met'] else '**missed**'}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def _size_section(r: dict) -> list[str]:
    """One (size, ratio)'s section: every method's timings, the sampling latencies and the targets."""
    S, T, k = r["size"], r["num_frames"], r["num_selected"]
    title = f"{T} frames of {S}x{S}" + (f" ({r['name']}, clinical)" if r.get("clinical") else "")
    lines = [f"## {title}, ratio {r['ratio']:g}, k = {k}, batch {r['batch_size']}", "",
             "| method | batch ms | items/s | throughput vs full | sampler ms | sampler share | "
             "sampler / uniform pipeline (best) | train step ms | train vs uniform |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in r["inference"]:
        i, tr = r["inference"][m], r["train_step"][m]
        lines.append(f"| {m} | {i['seconds_per_batch'] * 1e3:.1f} | {i['items_per_second']:.1f} | "
                     f"{i['throughput_vs_full']:.2f}x | {i['sampler_seconds'] * 1e3:.2f} | "
                     f"{_pct(i['sampler_share'])} | "
                     f"{_pct(i['best_sampler_vs_uniform_pipeline'])} | "
                     f"{tr['seconds'] * 1e3:.1f} | {tr['vs_uniform']:.2f}x |")
    lines += ["", "| sampling latency (batch) | DAS ms | ADPS ms | DAS speed-up |", "|---|---:|---:|---:|"]
    for kk, v in r["sampling_latency_ms"].items():
        lines.append(f"| {kk} | {v['das']:.2f} | {v['adps']:.2f} | {v['das_speedup_vs_adps']:.1f}x |")
    lines += ["", "| target | measured | required | met |", "|---|---:|---|---|"]
    for name, v in r["targets"].items():
        lines.append(f"| {name} | {v['value']:.3f} | {v['target']} | {_yes(v['met'])} |")
    lines.append("")
    return lines


def markdown_page(report: dict, folder: Optional[Path] = None) -> str:
    """The whole page of `report` (run_speed's dict).

    Args:
        folder: where to look for train-steps.json and app-speed.json (their section goes before the per-size
            sections); None: leave that section out.
    """
    results = report["results"]
    lines = _intro(report) + _share_tables(results) + _study_and_targets(results)
    for r in results:
        lines += _size_section(r)
    return _with_other_targets("\n".join(lines) + "\n", folder)


def _with_other_targets(page: str, folder: Optional[Path]) -> str:
    """`page` with the section of `_other_targets(folder)` put before its per-size tables."""
    extra = _other_targets(folder) if folder is not None else []
    if not extra:
        return page
    at = page.find("\n## ", page.find("## Targets") + 1)
    head, tail = (page, "") if at < 0 else (page[: at + 1], page[at + 1:])
    return head + "\n".join(extra) + "\n" + tail


def _train_steps_lines(ts: dict) -> list[str]:
    """train-steps.json (benchmarks/train_steps.py): steps per second before and after, per method and overall."""
    before = ts.get("before", {}).get("methods", {})
    lines = [f"Training, the main grid's recipe ({ts['recipe']}, {ts['machine']}; `benchmarks/train_steps.py`, "
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
                     f"{_yes(up >= TRAIN_SPEEDUP_TARGET)} |")
    if total_after:
        up = total_before / total_after
        lines.append(f"| one step of each (the grid's mix) | | | {up:.2f}x | {_yes(up >= TRAIN_SPEEDUP_TARGET)} |")
    lines.append("")
    return lines


def _app_lines(app: dict) -> list[str]:
    """app-speed.json (benchmarks/app_timings.py): the browser test's timings per round, and the upload run."""
    n = len(next(iter(app["metrics"].values()))["rounds"])
    lines = [f"The app (`{app['command']}`, {app['created']}; {app['machine']}): the browser test's timings "
             f"(`tests/e2e/test_app_e2e.py`, written to `test-artifacts/timings.json`) in {n} rounds, each a fresh "
             "server and a fresh browser, so every round has a cold start.", "",
             "| what | rounds (s) | median (s) | target | met (median) | met (every round) |",
             "|---|---|---:|---|---|---|"]
    for m in app["metrics"].values():
        lines.append(f"| {m['what']} | {', '.join(f'{v:.2f}' for v in m['rounds'])} | {m['median']:.2f} | "
                     f"< {m['target_s']:g} s | {_yes(m['met'])} | {_yes(m['met_every_round'])} |")
    up = app["upload_six_methods"]
    lines.append(f"| An uploaded {up['study']} study through all six shipped models ({up['threads']} torch thread, "
                 f"the first run included) | {', '.join(f'{v:.2f}' for v in up['seconds'])} | "
                 f"{up['median_after_first']:.2f} | < {up['target_s']:g} s | {_yes(up['met'])} | {_yes(up['met'])} |")
    lines.append("")
    return lines


def _other_targets(folder: Path) -> list[str]:
    """The section of issue 12's targets measured by other scripts, from their JSON reports in `folder`:
    train-steps.json (benchmarks/train_steps.py) and app-speed.json (benchmarks/app_timings.py); [] if neither."""
    lines = ["## Training steps per second and the app", ""]
    steps_path, app_path = folder / "train-steps.json", folder / "app-speed.json"
    if steps_path.is_file():
        lines += _train_steps_lines(json.loads(steps_path.read_text()))
    if app_path.is_file():
        lines += _app_lines(json.loads(app_path.read_text()))
    if len(lines) == 2:
        return []
    return lines


def render_markdown(json_path: str, md_path: str) -> None:
    """Write the Markdown page `md_path` again from the JSON report `json_path` (and the reports beside it)."""
    src = Path(json_path)
    if not src.is_file():
        raise ConfigError(f"{json_path} does not exist: run `python -m das_core speed` first to measure.")
    Path(md_path).write_text(markdown_page(json.loads(src.read_text()), Path(md_path).parent))
