"""The timing, and one volume size's benchmark: every sampler at every ratio, interleaved in the same rounds.

`bench_size` builds the models (`_build_models`), times inference (`_time_inference`) and the training steps
(`_time_training`), then summarises each ratio (`_result`) and checks it against the targets (`_targets`).
Within a round every method at every ratio runs one after the other, so a slow-down of the shared machine hits
all of them alike; the order of the timed calls is part of the measurement.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from ...engine.precision import autocast
from ...engine.setup import make_optimizer
from ...nn.features import _gray_into, _target_size, frame_features
from ...nn.model import SubsampledClassifier
from ...nn.spec import ModelSpec
from ...samplers import list_samplers, num_selected_for_ratio
from .config import COMPARE, STUDY_METHODS, TARGET_OPS, TARGETS, SpeedConfig, VolumeSize, share_target

__all__ = ["bench_size"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn: Callable[[], object], device: torch.device, n: int = 1) -> float:
    """Seconds per call of `fn`, the mean of `n` calls in a row (the device synchronised before and after)."""
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


@dataclass(frozen=True)
class _Plan:
    """One volume size's run: batch `B` of T frames of S x S, at every ratio (k = `ks[ratio]`) and at k = k14."""

    vol: VolumeSize
    B: int
    repeats: int  # inference rounds (training: max(1, repeats // 2))
    steps: int  # training steps per timing
    ratios: list  # the distinct ratios, in the config's order
    ks: dict  # ratio -> k
    methods: list  # every registered sampler, built-in or the user's
    sub: list  # all of `methods` but "full"

    @property
    def k14(self) -> int:
        return min(14, self.vol.frames)

    def n_select(self, m: str) -> int:
        """How many times in a row to time `m`'s selection: the short ones repeat so the timer resolves them."""
        return 1 if self.vol.clinical or m == "adps" else 3


def _plan(vol: VolumeSize, cfg: SpeedConfig) -> _Plan:
    """The batch, rounds and ks of `vol`: the clinical sizes take the clinical batch, rounds and steps."""
    ratios = list(dict.fromkeys(float(r) for r in cfg.ratios))
    methods = list_samplers()
    return _Plan(
        vol=vol, B=cfg.clinical_batch_size if vol.clinical else cfg.batch_size,
        repeats=max(1, cfg.clinical_repeats if vol.clinical else cfg.repeats),
        steps=max(1, cfg.clinical_train_steps if vol.clinical else cfg.train_steps),
        ratios=ratios, ks={r: num_selected_for_ratio(vol.frames, r) for r in ratios},
        methods=methods, sub=[m for m in methods if m != "full"])


def _build_models(p: _Plan, cfg: SpeedConfig, device) -> tuple[dict, dict]:
    """-> (models, samplers14), all in eval mode: `models[ratio, method]` for every method (the one full model,
    k = T, under every ratio, after the samplers) and `samplers14[m]` for DAS and ADPS at k = 14 (sampling as each
    method runs it: ADPS's select runs the backbone once per acquired frame)."""
    T, S = p.vol.frames, p.vol.size
    full = _model("full", T, T, S, cfg.backbone, device).eval()
    models = {(r, m): _model(m, T, p.ks[r], S, cfg.backbone, device).eval() for r in p.ratios for m in p.sub}
    for r in p.ratios:
        models[r, "full"] = full
    samplers14 = {m: _model(m, T, p.k14, S, cfg.backbone, device).eval() for m in ("das", "adps")}
    return models, samplers14


@dataclass
class _InferenceTimes:
    """Seconds per round: `(ratio, method)` keys, the full model's lists shared by every ratio."""

    full: list = field(default_factory=list)  # full(x)
    full_select: list = field(default_factory=list)  # full.select(x)
    e2e: dict = field(default_factory=dict)  # model(x), every sampler
    select: dict = field(default_factory=dict)  # model.select(x)
    study: dict = field(default_factory=dict)  # model(x[:1]) for STUDY_METHODS (at batch 1: `e2e`'s lists)
    select14: dict = field(default_factory=dict)  # method -> select(x) at k = 14, DAS and ADPS
    features: list = field(default_factory=list)  # DAS's frame features
    pooling: list = field(default_factory=list)  # of those, the channel mean + area pooling
    feature_frame: str = ""  # "hxw": the frame size the DAS features are computed at


def _time_inference(p: _Plan, models: dict, samplers14: dict, x: torch.Tensor, cfg: SpeedConfig,
                    device) -> _InferenceTimes:
    """Time every model's inference on `x` (B, T, 1, S, S) in `p.repeats` interleaved rounds."""
    B, T, S = p.B, p.vol.frames, p.vol.size
    full, x1 = models[p.ratios[0], "full"], x[:1]  # x1: one study (1, T, 1, S, S)
    # the DAS sampler's parts (the same for every ratio but the top-k): its frame features, and of those the
    # channel mean + area pooling of the frames to `feature_size`
    feature_size = models[p.ratios[0], "das"].sampler.config.feature_size
    h, w = _target_size(S, S, feature_size)
    pooled = torch.empty(B, T, h, w, device=device)  # (B, T, h, w)
    t = _InferenceTimes(feature_frame=f"{h}x{w}")
    for key in ((r, m) for r in p.ratios for m in p.sub):
        t.e2e[key], t.select[key] = [], []
    t.study = {(r, m): [] for r in p.ratios for m in STUDY_METHODS}
    t.select14 = {m: [] for m in samplers14}
    with torch.inference_mode(), autocast(device, cfg.precision):
        for model in [full, *models.values(), *samplers14.values()]:  # warm-up
            model(x)
            if B > 1:
                model(x1)
        for _ in range(p.repeats):
            t.full.append(_timed(lambda: full(x), device))
            t.full_select.append(_timed(lambda: full.select(x), device, n=3))
            for r in p.ratios:
                for m in p.sub:
                    model = models[r, m]
                    t.e2e[r, m].append(_timed(lambda: model(x), device))
                    t.select[r, m].append(_timed(lambda: model.select(x), device, n=p.n_select(m)))
                if B > 1:  # at batch 1 the end-to-end times are the per-study latencies
                    for m in STUDY_METHODS:
                        model = models[r, m]
                        t.study[r, m].append(_timed(lambda: model(x1), device))
            for m, s in samplers14.items():
                t.select14[m].append(_timed(lambda: s.select(x), device, n=p.n_select(m)))
            t.features.append(_timed(lambda: frame_features(x, feature_size), device, n=p.n_select("das")))
            t.pooling.append(_timed(lambda: _gray_into(x, pooled), device, n=p.n_select("das")))
    if B == 1:
        t.study = {(r, m): t.e2e[r, m] for r in p.ratios for m in STUDY_METHODS}
    return t


def _time_training(p: _Plan, models: dict, x: torch.Tensor, y: torch.Tensor, cfg: SpeedConfig,
                   device) -> tuple[list, dict]:
    """Time the training step (forward + backward + Adam step) of each sampler vs uniform at the same k (full at
    k = T), `p.steps` steps per timing, in max(1, p.repeats // 2) interleaved rounds.

    Args:
        x: the batch (B, T, 1, S, S); y: its labels (B,).
    Returns:
        (full's seconds per step per round, {(ratio, method): seconds per step per round} for every sampler).
    """
    full = models[p.ratios[0], "full"]
    train_full, train = [], {(r, m): [] for r in p.ratios for m in p.sub}
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
    for _ in range(max(1, p.repeats // 2)):
        train_full.append(_timed(lambda: step(None), device, n=p.steps))
        for r in p.ratios:
            for m in p.sub:
                train[r, m].append(_timed(lambda: step((r, m)), device, n=p.steps))
    return train_full, train


def _of_ratio(full: list, times: dict, r: float, sub: list) -> dict:
    """{method: rounds} at ratio `r`: the full model's `full`, every sampler's `times[r, m]`."""
    return {"full": full, **{m: times[r, m] for m in sub}}


def _inference_result(methods: list, B: int, e2e: dict, select: dict) -> dict:
    """Each method's inference summary from its end-to-end and selection rounds (`_of_ratio`'s dicts)."""
    med = {m: _median(v) for m, v in e2e.items()}
    best = {m: min(v) for m, v in e2e.items()}
    smed = {m: _median(v) for m, v in select.items()}
    sbest = {m: min(v) for m, v in select.items()}
    return {
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
    }


def _result(p: _Plan, r: float, inf: _InferenceTimes, train_full: list, train: dict, s14: dict) -> dict:
    """One ratio's entry of the report (without its targets).

    Args:
        s14: method -> median seconds of DAS's and ADPS's selection at k = 14.
    """
    vol, k, k14 = p.vol, p.ks[r], p.k14
    inference = _inference_result(p.methods, p.B, _of_ratio(inf.full, inf.e2e, r, p.sub),
                                  _of_ratio(inf.full_select, inf.select, r, p.sub))
    das, adps = inference["das"], inference["adps"]
    tmed = {m: _median(v) for m, v in _of_ratio(train_full, train, r, p.sub).items()}
    lat = {m: _median(inf.study[r, m]) for m in STUDY_METHODS}
    return {
        "name": vol.name, "label": vol.label, "clinical": vol.clinical,
        "size": vol.size, "num_frames": vol.frames, "num_selected": k, "ratio": r, "batch_size": p.B,
        "repeats": p.repeats,
        "inference": inference,
        "sampling_latency_ms": {
            f"k={k}": {"das": das["sampler_seconds"] * 1e3, "adps": adps["sampler_seconds"] * 1e3,
                       "das_speedup_vs_adps": adps["sampler_seconds"] / das["sampler_seconds"]},
            f"k={k14}": {"das": s14["das"] * 1e3, "adps": s14["adps"] * 1e3,
                         "das_speedup_vs_adps": s14["adps"] / s14["das"]},
        },
        "das_sampler_breakdown_ms": {  # best of the rounds
            "sampler": das["best_sampler_seconds"] * 1e3,
            "frame_features": min(inf.features) * 1e3,
            "of_which_pooling": min(inf.pooling) * 1e3,
            "scores_and_top_k": max(0.0, das["best_sampler_seconds"] - min(inf.features)) * 1e3,
            "feature_frame_size": inf.feature_frame,
        },
        "study_latency_ms": {
            **{m: lat[m] * 1e3 for m in STUDY_METHODS},
            "adps_vs_das": lat["adps"] / lat["das"],
        },
        "train_step": {
            m: {"seconds": tmed[m], "vs_uniform": tmed[m] / tmed["uniform"]} for m in p.methods
        },
    }


def _targets(result: dict, das_speedup_k14: float) -> dict:
    """{target: {"value", "target" (e.g. ">= 1.8"), "met"}} of one `_result`, from TARGETS and TARGET_OPS.

    Args:
        das_speedup_k14: ADPS's sampling time / DAS's at k = 14.
    """
    inf = result["inference"]["das"]
    values = {
        "das_throughput_vs_full": inf["throughput_vs_full"],
        "das_sampler_share": inf["sampler_share"],
        "das_sampler_vs_uniform_pipeline": inf["best_sampler_vs_uniform_pipeline"],
        "das_vs_adps_sampling_speedup_k14": das_speedup_k14,
        "das_train_step_vs_uniform": result["train_step"]["das"]["vs_uniform"],
    }
    out = {}
    for name, value in values.items():
        op = TARGET_OPS[name]
        bound = share_target(result["clinical"]) if name == "das_sampler_vs_uniform_pipeline" else TARGETS[name]
        out[name] = {"value": value, "target": f"{op} {bound:g}", "met": bool(COMPARE[op](value, bound))}
    return out


def bench_size(vol: VolumeSize, cfg: SpeedConfig, device: torch.device, log) -> list[dict]:
    """All ratios of one volume size, interleaved in the same rounds -> one result per ratio (`cfg.ratios`' order).

    Args:
        vol: the volume (T frames of S x S); cfg: the settings; device: where the models run; log: a print-like
            callable for progress.
    """
    p = _plan(vol, cfg)
    torch.manual_seed(0)
    x = torch.rand(p.B, vol.frames, 1, vol.size, vol.size, device=device)  # (B, T, 1, S, S)
    y = torch.randint(0, 2, (p.B,), device=device)  # (B,)
    models, samplers14 = _build_models(p, cfg, device)
    inf = _time_inference(p, models, samplers14, x, cfg, device)
    log(f"  {vol.label}: inference timed")
    train_full, train = _time_training(p, models, x, y, cfg, device)
    log(f"  {vol.label}: training timed")
    s14 = {m: _median(v) for m, v in inf.select14.items()}
    results = []
    for r in p.ratios:
        result = _result(p, r, inf, train_full, train, s14)
        result["targets"] = _targets(result, s14["adps"] / s14["das"])
        results.append(result)
    return results
