"""What a trained sampler's picks say, without the backbone: hit rate and a picks-only leakage probe."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from ..checkpoints import load_checkpoint
from ..data import load_dataset
from ..metrics import auc_score
from ..runs import RunPaths, read_json, read_summary, write_json
from ..samplers import sampler_class

__all__ = ["selection_probe", "run_sampler", "picks_auc"]


def selection_probe(run: Path) -> dict:
    """`{"hit_rate", "picks_auc", "test_size"}` of run `run`'s best.pt; cached in `run/probe.json`.

    - `hit_rate`: share of test items whose selected frames include an informative frame (synthetic
      sets only, whose items carry `informative_frames`); None elsewhere.
    - `picks_auc`: a leakage probe. A logistic regression sees only *which* frames were picked (a
      k-hot vector over T); it is fitted on the training split's picks and scored (test AUC) on the
      test split's. About 0.5 means the picks carry no class information by themselves; near 1 means
      the choice of frames alone gives the class away, so the classifier's AUC need not come from the
      picked frames' content (DAS scores every frame, so it can do this). Computed for samplers whose
      picks vary per input (`varies_per_input`: the adaptive ones, and random as the control); None
      for static ones, whose picks are the same for every input. (Cross-validating on the test split
      instead is biased below 0.5 for uninformative picks: the random sampler scored 0.22 on
      VesselMNIST3D that way.)
    """
    paths = RunPaths.of(run)
    cached = read_json(paths.probe)
    if isinstance(cached, dict) and "picks_auc" in cached:
        return cached
    c = (read_summary(run) or {}).get("config") or {}
    synthetic = str(c.get("dataset", "")).startswith("synthetic")
    probed = sampler_class(c["method"]).varies_per_input if c.get("method") else False
    if not synthetic and not probed:
        return {"hit_rate": None, "picks_auc": None}
    model, _ = load_checkpoint(paths.best)

    def split(name):
        return load_dataset(c["dataset"], split=name, root=c.get("root"), **(c.get("dataset_options") or {}))

    test = split("test")
    picks, labels, hits = run_sampler(model.sampler, test, count_hits=synthetic)
    out = {"hit_rate": hits / len(test) if synthetic else None, "picks_auc": None, "test_size": len(test)}
    if probed:
        train_picks, train_labels, _ = run_sampler(model.sampler, split("train"), limit=2000)
        out["picks_auc"] = picks_auc(train_picks, train_labels, picks, labels, model.sampler.num_frames)
    write_json(paths.probe, out)
    return out


@torch.no_grad()
def run_sampler(sampler, ds, *, count_hits: bool = False, limit: Optional[int] = None) -> tuple[list, list, int]:
    """The sampler's picks (lists of frame indices) and the labels over `ds` (its first `limit` items)."""
    sampler.eval()
    n = len(ds) if limit is None else min(len(ds), limit)
    picks, labels, hits = [], [], 0
    for start in range(0, n, 32):
        items = [ds[i] for i in range(start, min(n, start + 32))]
        sel = sampler(torch.stack([x for x, _ in items]))
        for j, row in enumerate(sel.indices.tolist()):
            picks.append(row)
            labels.append(int(items[j][1]))
            if count_hits:
                hits += bool(set(row) & set(ds.meta(start + j)["informative_frames"]))
    return picks, labels, hits


def picks_auc(train_picks: list, train_labels: list, test_picks: list, test_labels: list,
              num_frames: int) -> Optional[float]:
    """Test AUC of a logistic regression from k-hot pick vectors to labels, fitted on the training picks."""

    def khot(picks):
        X = np.zeros((len(picks), num_frames), dtype=np.float32)
        for i, row in enumerate(picks):
            X[i, row] = 1.0
        return X

    Xtr, ytr, Xte, yte = khot(train_picks), np.asarray(train_labels), khot(test_picks), np.asarray(test_labels)
    if len(np.unique(ytr)) < 2 or len(np.unique(yte)) < 2:
        return None
    if (Xtr == Xtr[0]).all() and (Xte == Xtr[0]).all():  # the same picks for every item: nothing to learn
        return 0.5
    clf = LogisticRegression(max_iter=2000).fit(Xtr, ytr)
    probs = np.zeros((len(yte), int(max(ytr.max(), yte.max())) + 1))
    probs[:, clf.classes_] = clf.predict_proba(Xte)
    return auc_score(yte.tolist(), probs)
