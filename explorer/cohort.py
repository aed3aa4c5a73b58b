"""Every method over a split of a data set (the Cohort page): which frames each method picks on each item,
whether it kept the informative frame, what it predicted, and where two methods disagree.

`choose_models` picks the models by the one rule of `explorer.lineup` (as Compare and the export do),
`run_cohort` runs them over the items (batched, `torch.inference_mode()`, deterministic picks) and returns a
`CohortResult` of numpy arrays, `disagreements` lists the items where one method is right and another
wrong, and `order` sorts the items for the heatmaps. No streamlit here: the page lays these out.

Correctness is only reported for a model whose class probabilities mean something on this data set (a
checkpoint trained on it: `das_core.export.probabilities_meaningful`); an untrained model or one trained
on other data gets picks and hits, never an accuracy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence

import numpy as np
import torch

from das_core import list_samplers
from das_core.checkpoints import check_compatible
from das_core.metrics import balanced_accuracy
from das_core.experiments.static_control import forced_logits, modal_pick_set
from das_core.samplers import sampler_class

from . import lineup

__all__ = [
    "DEFAULT_ITEMS", "UNTRAINED", "CohortResult", "choose_models", "run_cohort", "summarise",
    "balanced_accuracy", "disagreements", "SORTS", "sort_options", "order",
]

DEFAULT_ITEMS = 128
UNTRAINED = lineup.UNTRAINED  # the source of an untrained model, as every page names it
Progress = Callable[[int, int, str], None]  # (items done over all methods, total, what is running)


@dataclass
class CohortResult:
    """What every method did on the items of one split (numpy; one row per item, in `indices` order).

    Args:
        dataset: the data set's name.
        split: its split.
        kind: "volume" or "video".
        classes: its class names (empty when it has none).
        indices: (N,) the items' indices in the split.
        labels: (N,) their labels (-1 where unknown).
        informative: per item, the informative frames the data set reports (None where it reports none).
        num_frames: T.
        methods: the methods run, in registry order.
        sources: method -> its checkpoint's label, or UNTRAINED.
        trained: method -> True for a checkpoint.
        meaningful: method -> True when its predictions mean something here (trained on this data set).
        picks: method -> (N, T) 0/1 matrix of the picked frames.
        predicted: method -> (N,) predicted class.
        confidence: method -> (N,) probability of the predicted class.
        correct: method -> (N,) bool, None where it is not known (no labels, or a foreign/untrained model).
        hit: method -> (N,) bool (kept at least one informative frame), None where the data set reports none.
        modal: adaptive method -> its most common pick set over these items (picks only: no label is read).
        static_predicted: adaptive method -> (N,) its classifier's prediction on the modal set for every item
            (the static control: what its per-input picks add over its own favourite fixed set).
        summary: method -> {"k", "hit_rate", "accuracy", "balanced_accuracy", "mean_picks" (T,), and for an
            adaptive method "differs_from_modal", "static_accuracy", "static_balanced_accuracy"}.
        seconds: method -> wall time of its run.
        notes: sentences about the models chosen (checkpoints skipped and why).
    """

    dataset: str
    split: str
    kind: str
    classes: list
    indices: np.ndarray
    labels: np.ndarray
    informative: list
    num_frames: int
    methods: list
    sources: dict
    trained: dict
    meaningful: dict
    picks: dict
    predicted: dict
    confidence: dict
    correct: dict
    hit: dict
    summary: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    modal: dict = field(default_factory=dict)
    static_predicted: dict = field(default_factory=dict)

    @property
    def has_labels(self) -> bool:
        return bool(self.classes) and bool((self.labels >= 0).any())

    @property
    def has_informative(self) -> bool:
        return any(inf is not None for inf in self.informative)

    def label_name(self, label: int) -> str:
        if label is None or label < 0:
            return "?"
        return str(self.classes[label]) if label < len(self.classes) else str(label)

    def first_pick(self, method: str) -> np.ndarray:
        """(N,) the first frame `method` picked on each item (T where it picked none)."""
        p = self.picks[method].astype(bool)
        return np.where(p.any(1), p.argmax(1), self.num_frames)

    def first_informative(self) -> np.ndarray:
        """(N,) each item's first informative frame (-1 where none is reported)."""
        return np.array([min(inf) if inf else -1 for inf in self.informative], dtype=np.int64)

    def summary_rows(self) -> list[dict]:
        """One row per method for the page's table: source, k, hit rate, accuracy, balanced accuracy, and for
        an adaptive method the share of items whose picks differ from its modal set and its balanced accuracy
        on that fixed set. NaN where a value is not known (the table leaves the cell empty)."""
        nan = float("nan")

        def v(x):
            return nan if x is None else x

        rows = []
        for m in self.methods:
            s = self.summary[m]
            rows.append({"method": sampler_class(m).display_name() if m in list_samplers() else m,
                         "model": self.sources[m], "k": s["k"],
                         "hit rate": v(s["hit_rate"]), "accuracy": v(s["accuracy"]),
                         "balanced accuracy": v(s["balanced_accuracy"]),
                         "picks ≠ its modal set": v(s.get("differs_from_modal")),
                         "balanced acc. on its modal set": v(s.get("static_balanced_accuracy")),
                         "seconds": round(self.seconds.get(m, 0.0), 2)})
        return rows


# ----------------------------------------------------------------------------- the models

def choose_models(dataset, entries: Sequence, *, das_entry="auto", ratio: float = 0.5,
                  load: Optional[Callable] = None, untrained: Optional[Callable] = None,
                  heads: int = lineup.DEFAULT_HEADS) -> lineup.LineUp:
    """The line-up for a loaded split, by the one rule the Compare page uses (`explorer.lineup`).

    A checkpoint whose T, channels or classes do not fit the data set is skipped with a note (its frame
    size may differ: the models pool globally, and they run at the data set's frame size as on Compare).

    Args:
        dataset: the loaded split (`das_core.data` data set).
        entries: `catalogue.list_checkpoints()` entries.
        das_entry: the DAS checkpoint, "auto" (the first on this data set that fits) or None (untrained).
        ratio: k/T when DAS is untrained.
        load: path -> model (default `catalogue.load_model`; the page passes its cached loader).
        untrained: (method, T, k, num_classes, C, size, heads) -> model (default `methods.untrained_model`).
        heads: attention heads of an untrained DAS.
    """
    x0 = dataset[0][0]
    fit = lineup.Fit.of(str(getattr(dataset, "name", "")), x0, getattr(dataset, "classes", None))
    return lineup.choose_lineup(fit, entries, das=das_entry, ratio=ratio, load=load,
                                check=lambda meta: check_compatible(dict(meta), dataset), build=untrained,
                                heads=heads)


# ----------------------------------------------------------------------------- running them

def _item(dataset, i: int):
    x, y = dataset[int(i)]
    try:
        meta = dict(dataset.meta(int(i)) or {})
    except Exception:  # metadata is optional
        meta = {}
    inf = meta.get("informative_frames")
    return x.float(), (int(y) if y is not None else -1), ([int(t) for t in inf] if inf is not None else None)


def summarise(result: CohortResult) -> dict:
    """method -> {"k", "hit_rate", "accuracy", "balanced_accuracy", "mean_picks"} (None where not known)."""
    out = {}
    known = result.labels >= 0
    for m in result.methods:
        hit, correct = result.hit.get(m), result.correct.get(m)
        out[m] = {
            "k": int(result.picks[m].sum(1).max()) if len(result.indices) else 0,
            "hit_rate": float(np.mean(hit)) if hit is not None and hit.size else None,
            "accuracy": float(np.mean(correct[known])) if correct is not None and known.any() else None,
            "balanced_accuracy": (balanced_accuracy(result.labels[known], result.predicted[m][known])
                                  if correct is not None and known.any() else None),
            "mean_picks": result.picks[m].mean(0) if len(result.indices) else np.zeros(result.num_frames),
        }
        if m in result.modal and len(result.indices):
            modal = np.zeros(result.num_frames, dtype=np.uint8)
            modal[list(result.modal[m])] = 1
            out[m]["differs_from_modal"] = float((result.picks[m] != modal).any(1).mean())
            sp = result.static_predicted.get(m)
            scored = sp is not None and correct is not None and known.any()
            out[m]["static_accuracy"] = float(np.mean(sp[known] == result.labels[known])) if scored else None
            out[m]["static_balanced_accuracy"] = (balanced_accuracy(result.labels[known], sp[known])
                                                  if scored else None)
    return out


def _batched(model) -> bool:
    """False for a sampler whose evaluation draws come from a generator reset per call (random): one
    item at a time, so each item gets the picks the Compare page shows for it."""
    return "generator" not in model.sampler.call_options


@torch.inference_mode()
def run_cohort(dataset, models: Mapping[str, "lineup.ModelChoice"], *, indices: Optional[Sequence[int]] = None,
               max_items: int = DEFAULT_ITEMS, batch_size: int = 32, progress: Optional[Progress] = None,
               notes: Sequence[str] = ()) -> CohortResult:
    """Run every model over items of `dataset` (deterministic picks, eval mode, no gradients).

    Args:
        dataset: a loaded split (`das_core.data` data set: `ds[i] -> (x, y)`, `ds.meta(i)`).
        models: method -> `ModelChoice`, e.g. the `LineUp` of `choose_models`.
        indices: the items (default: the first `max_items`).
        max_items: how many items when `indices` is None.
        batch_size: items per forward pass.
        progress: called as progress(done, total, message) after each batch.
        notes: sentences carried into the result (e.g. `choose_models`'s notes).
    """
    n = len(dataset)
    idx = np.asarray(list(indices) if indices is not None else range(min(int(max_items), n)), dtype=np.int64)
    items = [_item(dataset, i) for i in idx]
    T = int(items[0][0].shape[0]) if items else 0
    labels = np.array([it[1] for it in items], dtype=np.int64)
    informative = [it[2] for it in items]
    name = str(getattr(dataset, "name", ""))
    classes = list(getattr(dataset, "classes", None) or [])
    has_labels = bool(classes) and bool((labels >= 0).any())
    inf_mask = _informative_mask(informative, num_frames=T)
    picks, predicted, confidence, correct, hit, seconds, meaningful = {}, {}, {}, {}, {}, {}, {}
    modal, static_predicted = {}, {}
    total, done = len(items) * len(models), 0
    for m, choice in models.items():
        model = choice.model
        t0 = time.perf_counter()
        model.eval()
        P, pred, conf, done = _predict_items(model, items, method=m, num_frames=T,
                                             step=batch_size if _batched(model) else 1, done=done, total=total,
                                             progress=progress)
        picks[m], predicted[m], confidence[m] = P, pred, conf
        meaningful[m] = choice.meaningful_on(name)
        correct[m] = (pred == labels) if has_labels and meaningful[m] else None
        hit[m] = (P.astype(bool) & inf_mask).any(1) if inf_mask is not None else None
        if sampler_class(m).adaptive and len(items):  # the static control of an input-adaptive sampler
            modal[m], static_predicted[m] = _static_control(model, items, P, batch_size=batch_size)
        seconds[m] = time.perf_counter() - t0
    result = CohortResult(
        dataset=name, split=str(getattr(dataset, "split", "")), kind=str(getattr(dataset, "kind", "volume")),
        classes=classes, indices=idx, labels=labels, informative=informative, num_frames=T, methods=list(models),
        sources={m: c.source for m, c in models.items()}, trained={m: bool(c.trained) for m, c in models.items()},
        meaningful=meaningful, picks=picks, predicted=predicted, confidence=confidence, correct=correct, hit=hit,
        seconds=seconds, notes=list(notes), modal=modal, static_predicted=static_predicted)
    result.summary = summarise(result)
    return result


def _informative_mask(informative: list, *, num_frames: int) -> Optional[np.ndarray]:
    """(N, T) bool mask of the items' informative frames (those in range), or None where no item reports any."""
    if not any(inf is not None for inf in informative):
        return None
    mask = np.zeros((len(informative), num_frames), dtype=bool)
    for r, inf in enumerate(informative):
        for t in inf or []:
            if 0 <= t < num_frames:
                mask[r, t] = True
    return mask


def _predict_items(model, items: list, *, method: str, num_frames: int, step: int, done: int, total: int,
                   progress: Optional[Progress]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(picks (N, T) 0/1, predicted class (N,), its probability (N,), items done over all methods) of `model`
    on `items`, `step` at a time, reporting `progress` after each batch."""
    P = np.zeros((len(items), num_frames), dtype=np.uint8)
    pred = np.zeros(len(items), dtype=np.int64)
    conf = np.zeros(len(items), dtype=np.float64)
    for start in range(0, len(items), step):
        xb = torch.stack([it[0] for it in items[start:start + step]])
        logits, sel = model(xb)
        probs = torch.softmax(logits.float(), dim=-1)
        rows = np.arange(start, start + xb.shape[0])
        P[rows[:, None], sel.indices.cpu().numpy()] = 1
        c, p = probs.max(dim=-1)
        pred[rows], conf[rows] = p.cpu().numpy(), c.cpu().numpy()
        done += xb.shape[0]
        if progress is not None:
            progress(done, total, f"{method}: {start + xb.shape[0]}/{len(items)} items")
    return P, pred, conf, done


def _static_control(model, items: list, picks: np.ndarray, *, batch_size: int) -> tuple[list, np.ndarray]:
    """(the most common pick set of `picks`, (N,) `model`'s prediction on every item from that set alone)."""
    modal, _ = modal_pick_set([np.flatnonzero(row).tolist() for row in picks])  # as the grid's control
    sp = np.zeros(len(items), dtype=np.int64)
    for start in range(0, len(items), batch_size):
        xb = torch.stack([it[0] for it in items[start:start + batch_size]])
        logits, _ = forced_logits(model, xb, modal)
        sp[start:start + xb.shape[0]] = logits.argmax(-1).cpu().numpy()
    return modal, sp


# ----------------------------------------------------------------------------- reading the result

def disagreements(result: CohortResult, a: str = "das", b: str = "uniform", *, by: str = "correct",
                  limit: Optional[int] = None) -> list[dict]:
    """The items where `a` is right and `b` wrong, and the reverse, largest confidence gap first.

    Args:
        result: a `run_cohort` result.
        a, b: two of its methods.
        by: "correct" (the predicted class; needs labels and both models trained on this data set) or
            "hit" (kept an informative frame; needs a data set that reports them).
        limit: at most this many rows.

    Returns:
        Rows {"index", "label", "right" (the method that was right), "<a> predicted", "<a> confidence",
        "<b> predicted", "<b> confidence", "confidence gap" (a's minus b's)}; confidences are None for a
        model whose predictions mean nothing here. [] when `by` is not known for both methods.
    """
    source = result.correct if by == "correct" else result.hit if by == "hit" else None
    if source is None:
        raise ValueError(f"by must be 'correct' or 'hit', not {by!r}")
    ra, rb = source.get(a), source.get(b)
    if ra is None or rb is None:
        return []
    rows = []
    for r in np.flatnonzero(ra != rb):
        row = {"index": int(result.indices[r]), "label": result.label_name(int(result.labels[r])),
               "right": a if ra[r] else b}
        gap = 0.0
        for m in (a, b):
            ok = result.meaningful.get(m)
            row[f"{m} predicted"] = result.label_name(int(result.predicted[m][r])) if ok else None
            row[f"{m} confidence"] = float(result.confidence[m][r]) if ok else None
        if result.meaningful.get(a) and result.meaningful.get(b):
            gap = float(result.confidence[a][r] - result.confidence[b][r])
            row["confidence gap"] = gap
        else:
            row["confidence gap"] = None
        rows.append(row)
    rows.sort(key=lambda row: (-abs(row["confidence gap"] or 0.0), row["index"]))
    return rows[:limit] if limit is not None else rows


SORTS = {
    "item": "item index",
    "label": "label",
    "first_pick": "DAS's first pick",
    "informative": "the informative frame",
    "correct": "DAS right / wrong",
}


def sort_options(result: CohortResult, focus: str = "das") -> list[str]:
    """The keys of SORTS that apply to this result."""
    out = ["item"]
    if result.has_labels:
        out.append("label")
    if focus in result.picks:
        out.append("first_pick")
    if result.has_informative:
        out.append("informative")
    if result.correct.get(focus) is not None or result.hit.get(focus) is not None:
        out.append("correct")
    return out


def order(result: CohortResult, by: str = "item", focus: str = "das") -> np.ndarray:
    """Row positions that sort the items (a stable sort, ties in item order).

    Args:
        result: a `run_cohort` result.
        by: a key of SORTS ("correct" sorts by the focus method's correctness where known, else its hit:
            wrong or missed first).
        focus: the method "first_pick" and "correct" read.
    """
    n = len(result.indices)
    if by == "item" or n == 0:
        key = result.indices
    elif by == "label":
        key = result.labels
    elif by == "first_pick":
        key = result.first_pick(focus)
    elif by == "informative":
        key = result.first_informative()
    elif by == "correct":
        ok = result.correct.get(focus)
        ok = result.hit.get(focus) if ok is None else ok
        key = np.zeros(n) if ok is None else ok.astype(np.int64)
    else:
        raise ValueError(f"unknown sort {by!r}; one of {', '.join(SORTS)}")
    return np.lexsort((result.indices, np.asarray(key)))
