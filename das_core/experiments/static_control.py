"""The static control of an adaptive sampler: does it gain from picking per input, or from a good fixed set?

An adaptive sampler (DAS, ADPS, ...) picks k frames per input. Its test AUC alone does not show that the
per-input choice matters: the same classifier fed one well-chosen *fixed* set of frames might do as well. For a
trained run's best checkpoint, on its test split, `run_static_control` scores every test item under three
pickings, with the same backbone and head:

1. own: the sampler's own (deterministic, eval-mode) picks for each item;
2. modal: the single pick set the sampler makes most often on the TRAIN split (so the static set is chosen
   without looking at the test items), the same for every test item;
3. blank: the picks the sampler makes for an all-zero input of the data's shape, the same for every item
   (what the sampler picks when the input tells it nothing).

and reports their AUC and balanced accuracy, how often the own picks share frames with the static sets, and the
item-level paired bootstrap CI (`das_core.stats.paired_bootstrap_metric`) of AUC(own) - AUC(modal) and
AUC(own) - AUC(blank). An own-minus-modal CI that straddles 0 means the per-input picks did not beat the
sampler's own favourite fixed set on these test items. (The CI is over test items: it does not include the
seed-to-seed variation of training; compare seeds with `das_core.stats.paired_summary`.)

The result is cached in `<run>/static_control.json` (written atomically) and recomputed when the checkpoint is
newer than the cache, or when asked for another `max_items`.

`forced_selection(model, x, indices)` builds the `Selection` of fixed frames, and `forced_logits(model, x,
indices)` runs the model's backbone and head on them (the classifier as it is, with its sampler bypassed).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from ..checkpoints import check_compatible, jsonable, load_checkpoint
from ..data import load_dataset
from ..metrics import classification_metrics
from ..nn.selection import Selection, one_hot_rows
from ..runs import RunPaths, read_config, read_json, read_summary, write_json
from ..samplers import sampler_class
from ..stats import paired_bootstrap_metric

__all__ = ["run_static_control", "static_control", "checkpoint_static_control", "shipped_static_controls",
           "forced_selection", "forced_logits", "score_items", "modal_pick_set",
           "STATIC_CONTROL_FILE"]

STATIC_CONTROL_FILE = "static_control.json"
CACHE_VERSION = 1
TRAIN_LIMIT = 2000  # training items whose picks choose the modal set (as probe.json's picks-only probe)
BATCH = 32
N_BOOT = 2000


def forced_selection(model, x: Tensor, indices) -> Selection:
    """The `Selection` that picks the frames `indices` of every item of x (B, T, C, H, W).

    Args:
        model: a `SubsampledClassifier` (or its sampler): gives T.
        x: the batch the selection is for (its size, device and dtype).
        indices: (k,) one set for every item, or (B, k) one set per item; distinct frames in [0, T) per item,
            in any order (they are sorted into the ascending order a sampler returns).

    Returns:
        A `Selection` like the static samplers' (one-hot `matrix`, `pick_rank` = the ascending order), not
        differentiable.
    """
    sampler = getattr(model, "sampler", model)
    T = int(sampler.num_frames)
    B = x.shape[0]
    idx = torch.as_tensor(np.asarray(indices), dtype=torch.long, device=x.device)
    if idx.dim() == 1:
        idx = idx[None].expand(B, -1)
    if idx.dim() != 2 or idx.shape[0] != B:
        raise ValueError(f"indices must have shape (k,) or ({B}, k) for a batch of {B}, got {tuple(idx.shape)}.")
    idx = idx.sort(dim=1).values.contiguous()
    if idx.numel() and (idx.min() < 0 or idx.max() >= T):
        raise ValueError(f"indices must be frames in [0, {T}), got {idx.min().item()}..{idx.max().item()}.")
    if idx.shape[1] > 1 and bool((idx[:, 1:] == idx[:, :-1]).any()):
        raise ValueError("indices must be distinct frames within each item.")
    k = idx.shape[1]
    rank = torch.arange(k, device=x.device).expand_as(idx)
    return Selection(indices=idx, matrix=one_hot_rows(idx, T, x.dtype), pick_rank=rank)


def forced_logits(model, x: Tensor, indices) -> tuple[Tensor, Selection]:
    """(logits (B, num_classes), selection): the model's backbone, pooling and head on the frames `indices` of x
    (B, T, C, H, W), its sampler not called. With `indices` equal to the sampler's own eval picks this gives the
    logits `model(x)` gives (bit for bit for samplers that do not compute the features themselves; up to float
    rounding for ADPS, whose backbone passes run frame by frame). See `forced_selection` for `indices`."""
    sel = forced_selection(model, x, indices)
    feats = model.frame_features(sel.gather(x))  # (B, k, D)
    return model.head(model._pool(feats)), sel


@torch.no_grad()
def score_items(model, ds, *, indices=None, limit: Optional[int] = None, device: Union[str, torch.device] = "cpu",
                batch_size: int = BATCH) -> dict:
    """Class probabilities of the first `limit` items of `ds` under the sampler's own picks or under `indices`.

    Args:
        model: a `SubsampledClassifier` (put in eval mode).
        ds: a data set of (x (T, C, H, W), y).
        indices: None: the sampler's own picks (`model(x)`); (k,): one fixed set for every item; (n, k): a set
            per item.
        limit: items scored (default: all).
        device: where the model runs.
        batch_size: items per forward pass (the picks of a sampler whose eval picks depend on the batch, as the
            random sampler's reseeded draws, depend on it).

    Returns:
        {"probs" (n, C) float64 softmax of the logits, "labels" (n,) int, "picks" list of n sorted lists}.
    """
    model.eval()
    dev = torch.device(device)
    n = len(ds) if limit is None else min(len(ds), int(limit))
    fixed = None if indices is None else np.asarray(indices, dtype=np.int64)
    probs, labels, picks = [], [], []
    for start in range(0, n, batch_size):
        items = [ds[i] for i in range(start, min(n, start + batch_size))]
        x = torch.stack([it[0] for it in items]).to(dev)
        if fixed is None:
            logits, sel = model(x)
        else:
            rows = fixed if fixed.ndim == 1 else fixed[start:start + len(items)]
            logits, sel = forced_logits(model, x, rows)
        probs.append(torch.softmax(logits.float(), dim=1).cpu().double().numpy())
        labels.extend(int(it[1]) for it in items)
        picks.extend(sorted(row) for row in sel.indices.cpu().tolist())
    C = int(getattr(model, "num_classes", 2))
    return {"probs": np.concatenate(probs) if probs else np.zeros((0, C)), "labels": np.asarray(labels, dtype=int),
            "picks": picks}


@torch.no_grad()
def _sampler_picks(model, ds, limit: Optional[int], device, batch_size: int = BATCH) -> list[list[int]]:
    """The sampler's own eval picks (sorted) for the first `limit` items of ds, without the head."""
    model.eval()
    dev = torch.device(device)
    n = len(ds) if limit is None else min(len(ds), int(limit))
    out = []
    for start in range(0, n, batch_size):
        x = torch.stack([ds[i][0] for i in range(start, min(n, start + batch_size))]).to(dev)
        out.extend(sorted(row) for row in model.select(x).indices.cpu().tolist())
    return out


def modal_pick_set(picks: Sequence[Sequence[int]]) -> tuple[list[int], float]:
    """(the most common pick set, its share of the items); ties go to the set seen first."""
    counts = Counter(tuple(sorted(p)) for p in picks)
    if not counts:
        raise ValueError("no picks to choose a modal set from.")
    best, count = counts.most_common(1)[0]
    return list(best), count / len(picks)


def _run_config(run: Path) -> dict:
    c = read_config(run)
    if not isinstance(c, dict):
        c = (read_summary(run) or {}).get("config") or {}
    return c


def _metrics(y: np.ndarray, p: np.ndarray) -> dict:
    m = classification_metrics(y, p, num_classes=p.shape[1])
    return {"auc": m["auc"], "balanced_accuracy": m["balanced_accuracy"]}


def _ci(y, a, b, seed: int) -> dict:
    diff, lo, hi = paired_bootstrap_metric(y, a, b, metric="auc", n_boot=N_BOOT, seed=seed)
    return {"diff": diff, "lo": lo, "hi": hi}


def run_static_control(run_dir: Union[str, Path], *, device: str = "cpu", max_items: Optional[int] = None) -> dict:
    """The static control of run `run_dir`'s best.pt on its test split (see the module docstring).

    Args:
        run_dir: a finished run folder (config.json or summary.json, and best.pt).
        device: where the model runs.
        max_items: score only the first `max_items` test items, and choose the modal set from the first
            `max_items` training items (default: the whole test split, and the first 2000 training items).

    Returns:
        For a sampler whose picks do not vary per input (`varies_per_input` False): {"applies": False,
        "reason", "method"}. Otherwise {"applies": True, "method", "n_test", "n_train", "num_frames", "k",
        "distinct_own_sets", "modal_set", "modal_share_train", "blank_set", "overlap_own_modal",
        "overlap_own_blank" (mean frames the own picks share with the set), "auc_own", "auc_modal", "auc_blank",
        "balanced_accuracy_own", "balanced_accuracy_modal", "balanced_accuracy_blank", "own_minus_modal" and
        "own_minus_blank" ({"diff", "lo", "hi"}: AUC differences with their 95% item-level paired bootstrap CI),
        "n_boot", "max_items"}. Undefined values (AUC of a one-class test split) are None.

    Cached in `run_dir/static_control.json`; recomputed when best.pt is newer or `max_items` differs.
    """
    run = Path(run_dir)
    paths = RunPaths.of(run)
    cache = run / STATIC_CONTROL_FILE
    cached = read_json(cache)
    if (isinstance(cached, dict) and cached.get("version") == CACHE_VERSION and cached.get("max_items") == max_items
            and (not paths.best.exists() or paths.best.stat().st_mtime <= cache.stat().st_mtime)):
        return cached
    c = _run_config(run)
    method = c.get("method")
    if not method:
        raise ValueError(f"{run} has no config.json (or summary.json with its config); is it a run folder?")
    cls = sampler_class(method)
    if not cls.varies_per_input:
        out = {"applies": False, "method": method,
               "reason": f"the {cls.display_name()} sampler picks the same frames for every input, so it is its "
                         f"own static control."}
    else:
        out = _compute(run, paths, c, device=device, max_items=max_items)
    out = jsonable({"version": CACHE_VERSION, "max_items": max_items, **out})
    write_json(cache, out)
    return out


def _compute(run: Path, paths: RunPaths, c: dict, *, device: str, max_items: Optional[int]) -> dict:
    model, meta = load_checkpoint(paths.best, map_location="cpu")

    def split(name):
        return load_dataset(c["dataset"], split=name, root=c.get("root"), **(c.get("dataset_options") or {}))

    test, train = split("test"), split("train")
    check_compatible(meta, test)
    return {"method": c.get("method"), **static_control(model, train, test, device=device, max_items=max_items,
                                                        seed=int(c.get("seed") or 0))}


def checkpoint_static_control(path: Union[str, Path], dataset: str, dataset_options: Optional[dict] = None, *,
                              root=None, device: str = "cpu", max_items: Optional[int] = None) -> dict:
    """The static control of one checkpoint file (e.g. a shipped one, `checkpoints/*.pt`) on `dataset`'s test
    split, the modal set chosen on its train split; as `run_static_control`, without a run folder or a cache."""
    model, meta = load_checkpoint(path, map_location="cpu")
    cls = type(model.sampler)
    if not cls.varies_per_input:
        return {"applies": False, "method": cls.name,
                "reason": f"the {cls.display_name()} sampler picks the same frames for every input."}

    def split(name):
        return load_dataset(dataset, split=name, root=root, **(dataset_options or {}))

    test, train = split("test"), split("train")
    check_compatible(meta, test)
    return jsonable({"method": cls.name, **static_control(model, train, test, device=device, max_items=max_items)})


def static_control(model, train, test, *, device: str = "cpu", max_items: Optional[int] = None, seed: int = 0) -> dict:
    """own / modal / blank pickings of `model` on `test`, the modal set chosen on `train` (the module docstring);
    the keys `run_static_control` documents, without "method"."""
    model.to(torch.device(device)).eval()
    train_picks = _sampler_picks(model, train, min(TRAIN_LIMIT, max_items or TRAIN_LIMIT), device)
    modal, share = modal_pick_set(train_picks)
    x0 = torch.zeros((1, *test[0][0].shape), dtype=test[0][0].dtype, device=torch.device(device))
    with torch.no_grad():
        blank = sorted(model.select(x0).indices[0].cpu().tolist())

    own = score_items(model, test, limit=max_items, device=device)
    y = own["labels"]
    fixed = {"modal": score_items(model, test, indices=modal, limit=max_items, device=device),
             "blank": score_items(model, test, indices=blank, limit=max_items, device=device)}
    out = {"applies": True, "n_test": int(len(y)), "n_train": len(train_picks),
           "num_frames": int(model.sampler.num_frames), "k": int(model.sampler.num_selected),
           "distinct_own_sets": len({tuple(p) for p in own["picks"]}),
           "modal_set": modal, "modal_share_train": share, "blank_set": blank,
           "overlap_own_modal": float(np.mean([len(set(p) & set(modal)) for p in own["picks"]])) if len(y) else None,
           "overlap_own_blank": float(np.mean([len(set(p) & set(blank)) for p in own["picks"]])) if len(y) else None}
    scored = {"own": own["probs"], "modal": fixed["modal"]["probs"], "blank": fixed["blank"]["probs"]}
    for name, probs in scored.items():
        m = _metrics(y, probs)
        out[f"auc_{name}"] = m["auc"]
        out[f"balanced_accuracy_{name}"] = m["balanced_accuracy"]
    out["own_minus_modal"] = _ci(y, scored["own"], scored["modal"], seed)
    out["own_minus_blank"] = _ci(y, scored["own"], scored["blank"], seed)
    out["n_boot"] = N_BOOT
    return out


def shipped_static_controls(checkpoint_dir: Union[str, Path] = "checkpoints", out_md: Optional[Union[str, Path]] = None,
                            *, device: str = "cpu", datasets: Optional[Sequence[str]] = None) -> list[dict]:
    """The static control of every shipped adaptive checkpoint (`checkpoints/manifest.json`) on its data set's
    test split; with `out_md`, a Markdown table beside a JSON file of the same stem. One seed each (the shipped
    files are the grids' seed-0 runs): the CI is over test items, not over training seeds."""
    from ..runs import read_json as _read
    from ..stats import separates

    manifest = _read(Path(checkpoint_dir) / "manifest.json") or {}
    rows = []
    for e in manifest.get("checkpoints", []):
        if not sampler_class(e["method"]).varies_per_input or not sampler_class(e["method"]).adaptive:
            continue
        if datasets and e["dataset"] not in datasets:
            continue
        r = checkpoint_static_control(Path(checkpoint_dir) / e["file"], e["dataset"], e.get("dataset_options"),
                                      device=device)
        rows.append({"file": e["file"], "dataset": e["dataset"], "k": e["k"], "T": e["T"], **r})
    if out_md is not None:
        out_md = Path(out_md)
        write_json(out_md.with_suffix(".json"), rows)

        def ci(d):
            text = f"{d['diff']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}]"
            return f"**{text}**" if separates({"lo": d["lo"], "hi": d["hi"]}) else text

        lines = ["| checkpoint | data set | method | k/T | AUC own | AUC modal | AUC blank | own - modal (item CI) | "
                 "own - blank (item CI) | distinct pick sets | frames shared own/modal | own/blank |",
                 "|---|---|---|---|---|---|---|---|---|---:|---|---|"]
        for r in rows:
            f3 = (lambda v: "n/a" if v is None else f"{v:.3f}")  # noqa: E731
            lines.append(f"| {r['file']} | {r['dataset']} | {r['method']} | {r['k']}/{r['T']} | {f3(r['auc_own'])} | "
                         f"{f3(r['auc_modal'])} | {f3(r['auc_blank'])} | {ci(r['own_minus_modal'])} | "
                         f"{ci(r['own_minus_blank'])} | {r['distinct_own_sets']} | {r['overlap_own_modal']:.1f} | "
                         f"{r['overlap_own_blank']:.1f} |")
        out_md.write_text("\n".join(lines) + "\n")
    return rows
