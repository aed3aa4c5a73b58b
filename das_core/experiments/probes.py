"""What a trained sampler's picks say, without the classifier's head: hit rate, the informative frame's
rank, how many distinct pick sets it makes, and a picks-only leakage probe."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..checkpoints import load_checkpoint
from ..data import load_dataset
from ..metrics import auc_score
from ..runs import RunPaths, read_json, read_summary, write_json
from ..samplers import sampler_class

__all__ = ["selection_probe", "run_sampler", "picks_auc"]


PROBE_KEYS = ("hit_rate", "informative_share", "informative_rank", "distinct_picks", "picks_auc")


def selection_probe(run: Path) -> dict:
    """`{"hit_rate", "informative_rank", "distinct_picks", "picks_auc", "test_size"}` of run `run`'s
    best.pt on its test split; cached in `run/probe.json`.

    - `hit_rate`: share of test items whose selected frames include an informative frame (the data sets whose
      items carry `meta(i)["informative_frames"]`: the synthetic sets and the moving-real families); None elsewhere.
    - `informative_share`: the mean share of the k picks that are informative frames (the moving-real
      families' block of W slices: uniform and central picks get about W / T of them, a sampler that finds
      the block up to min(1, W / k)); None where items carry no informative frames.
    - `informative_rank`: mean rank (1 = highest) of the best-ranked informative frame in the
      sampler's per-frame scores (synthetic sets, samplers with scores); None elsewhere.
    - `distinct_picks`: how many different pick sets the sampler made over the test split (1: the
      same frames for every input, a static sampler).
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
    if isinstance(cached, dict) and all(k in cached for k in PROBE_KEYS):
        return cached
    c = (read_summary(run) or {}).get("config") or {}
    probed = sampler_class(c["method"]).varies_per_input if c.get("method") else False
    model, _ = load_checkpoint(paths.best)

    def split(name):
        return load_dataset(c["dataset"], split=name, root=c.get("root"), **(c.get("dataset_options") or {}))

    test = split("test")
    informative = len(test) > 0 and "informative_frames" in test.meta(0)
    r = run_sampler(model, test, informative=informative)
    out = {"hit_rate": r["hits"] / len(test) if informative else None,
           "informative_share": (sum(r["shares"]) / len(r["shares"])) if r["shares"] else None,
           "informative_rank": (sum(r["ranks"]) / len(r["ranks"])) if r["ranks"] else None,
           "distinct_picks": len({tuple(p) for p in r["picks"]}), "picks_auc": None, "test_size": len(test)}
    if probed:
        train = run_sampler(model, split("train"), limit=2000)
        out["picks_auc"] = picks_auc(train["picks"], train["labels"], r["picks"], r["labels"], model.sampler.num_frames)
    write_json(paths.probe, out)
    return out


@torch.no_grad()
def run_sampler(model, ds, *, informative: bool = False, limit: Optional[int] = None) -> dict:
    """The model's picks over `ds` (its first `limit` items): {"picks", "labels", "hits", "ranks"}.

    With `informative`, items carry `meta(i)["informative_frames"]`: `hits` counts items whose picks
    include one, `shares` the share of each item's picks that are informative, `ranks` holds the best rank (1 = top) of an informative frame in the sampler's
    scores (empty for samplers without scores).
    """
    model.eval()
    n = len(ds) if limit is None else min(len(ds), limit)
    out = {"picks": [], "labels": [], "hits": 0, "ranks": [], "shares": []}
    for start in range(0, n, 32):
        items = [ds[i] for i in range(start, min(n, start + 32))]
        sel = model.select(torch.stack([x for x, _ in items]))
        order = sel.scores.argsort(dim=1, descending=True).tolist() if sel.scores is not None else None
        for j, row in enumerate(sel.indices.tolist()):
            out["picks"].append(row)
            out["labels"].append(int(items[j][1]))
            if informative:
                frames = set(ds.meta(start + j)["informative_frames"])
                out["hits"] += bool(set(row) & frames)
                out["shares"].append(len(set(row) & frames) / len(row))
                if order is not None:
                    out["ranks"].append(1 + min(order[j].index(t) for t in frames))
    return out


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
    from sklearn.linear_model import LogisticRegression  # here, not at import: sklearn costs ~1 s to import

    clf = LogisticRegression(max_iter=2000).fit(Xtr, ytr)
    probs = np.zeros((len(yte), int(max(ytr.max(), yte.max())) + 1))
    probs[:, clf.classes_] = clf.predict_proba(Xte)
    return auc_score(yte.tolist(), probs)
