"""The line-up of models a page shows: one `ModelChoice` per registered sampler, chosen by one rule
(`choose_lineup`) that the Compare page, the Cohort page and the export all use.

The rule:
- DAS is what the user picked: a checkpoint entry, or None for an untrained (fresh, seeded) DAS;
  "auto" takes the first DAS checkpoint trained on this data set that fits. Nothing replaces the user's
  choice behind their back: "untrained" is untrained, and a checkpoint that cannot take the sample is
  reported (`LineUp.das_error`) and replaced by an untrained DAS, which the line-up then says it is.
- Its k (else `ratio` of T) is every method's k.
- Each other method takes the newest checkpoint trained on this data set with the same T and k, else an
  untrained model.

The picker, the strips, the captions, Cohort's table and the export all read the same `ModelChoice`,
so they cannot disagree about which model ran. No streamlit here.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

from das_core import list_samplers, num_selected_for_ratio
from das_core.export import probabilities_meaningful
from das_core.samplers import sampler_class

from .samples import is_upload

__all__ = ["UNTRAINED", "FOCUS", "Fit", "ModelChoice", "LineUp", "choose_lineup", "untrained_choice",
           "checkpoint_choice", "das_options", "serves", "upload_models_note"]

UNTRAINED = "untrained (fresh init)"
FOCUS = "das"  # the method the live controls (tau0, heads, stochastic) act on
DEFAULT_HEADS = 4  # attention heads of an untrained DAS (DASConfig's default)

Loader = Callable[[str], Any]  # checkpoint path -> model
Builder = Callable[..., Any]  # (method, T, k, num_classes, C, size, heads) -> untrained model
Checker = Callable[[Mapping], None]  # checkpoint meta -> None, or raises CheckpointError (one sentence)


@dataclass(frozen=True)
class Fit:
    """What the models must take: the data set and the shape of its sequences.

    Args:
        dataset: the data set's name (an upload's "upload: <file>").
        num_frames: T.
        in_channels: C.
        frame_size: H = W.
        classes: the class names (None where the data has none, e.g. an upload).
    """

    dataset: str
    num_frames: int
    in_channels: int
    frame_size: int
    classes: Optional[tuple] = None

    @property
    def num_classes(self) -> int:
        """Classes of an untrained model's head (at least 2)."""
        return max(2, len(self.classes or ()))

    @classmethod
    def of(cls, dataset: str, x, classes=None) -> "Fit":
        """The fit of sequences shaped like `x` (T, C, H, W) of `dataset`."""
        T, C, _, W = (int(v) for v in x.shape)
        return cls(str(dataset), T, C, W, tuple(classes) if classes else None)


@dataclass
class ModelChoice:
    """One method's model in the line-up, and where it came from.

    Args:
        method: the sampler's registered name.
        model: the `SubsampledClassifier` (eval mode).
        source: the checkpoint entry's label, or UNTRAINED.
        trained: False for a freshly initialised model.
        path: the checkpoint file (None when untrained).
        mtime: the file's modification time (identifies its version for caches).
        origin: "shipped", "trained here", "stopped at epoch N", or "untrained".
        trained_on: the data set the checkpoint was trained on (None when untrained).
    """

    method: str
    model: Any = field(repr=False)
    source: str = UNTRAINED
    trained: bool = False
    path: Optional[str] = None
    mtime: float = 0.0
    origin: str = "untrained"
    trained_on: Optional[str] = None

    @property
    def k(self) -> int:
        return int(self.model.sampler.num_selected)

    @property
    def key(self) -> str:
        """What identifies this model for a cache: its checkpoint version (or "untrained") and its k."""
        where = f"{self.path}@{self.mtime:.0f}" if self.trained else "untrained"
        return f"{self.method}:{where}:k={self.k}"

    def meaningful_on(self, dataset: Optional[str]) -> bool:
        """True when its class probabilities mean something on `dataset` (trained on that data set)."""
        return probabilities_meaningful(getattr(self.model, "meta", None), dataset, self.trained)

    @property
    def classes(self) -> list:
        """The class names the checkpoint was trained with ([] when untrained or not recorded)."""
        return list((getattr(self.model, "meta", None) or {}).get("classes") or [])

    @property
    def tag(self) -> str:
        """A short line for the strips: "trained on X · shipped" or "untrained"."""
        if not self.trained:
            return "untrained"
        return f"trained on {self.trained_on or '?'} · {self.origin}"


@dataclass
class LineUp:
    """The models of one page, in registry order, with the k they share.

    Args:
        choices: method -> its `ModelChoice`.
        k: the frames each method keeps (full keeps all).
        notes: sentences about checkpoints that were skipped and why.
        das_error: why the DAS checkpoint the user picked could not be used (then DAS is untrained).
    """

    choices: dict
    k: int
    notes: list = field(default_factory=list)
    das_error: Optional[Exception] = None

    def __getitem__(self, method: str) -> ModelChoice:
        return self.choices[method]

    def __contains__(self, method: str) -> bool:
        return method in self.choices

    def __iter__(self) -> Iterator[str]:
        return iter(self.choices)

    def __len__(self) -> int:
        return len(self.choices)

    def items(self):
        return self.choices.items()

    def values(self):
        return self.choices.values()

    @property
    def das(self) -> Optional[ModelChoice]:
        return self.choices.get(FOCUS)

    @property
    def key(self) -> str:
        """What identifies the whole line-up for a cache."""
        return "|".join(c.key for c in self.choices.values())

    def untrained(self) -> list[str]:
        """The methods that run untrained."""
        return [m for m, c in self.choices.items() if not c.trained]


def _mtime(path: str) -> float:
    try:
        return os.path.getmtime(path)
    except OSError:
        return 0.0


def serves(trained_on: Optional[str], dataset: str, kind: Optional[str] = None) -> bool:
    """True when a model trained on `trained_on` is one for data of `dataset`: trained on it, or, for an upload
    ("upload: ..." of `kind` "volume" or "video"), trained on data a user brought of that kind (an .npz of
    volumes, a folder of clips: `das_core.data.USER_DATASETS`)."""
    from das_core.data import USER_DATASETS

    if trained_on == dataset:
        return True
    return bool(kind) and is_upload(dataset) and USER_DATASETS.get(trained_on or "") == kind


def das_options(entries: Sequence, dataset: str, *, show_all: bool = False, kind: Optional[str] = None) -> list:
    """The DAS checkpoint entries a picker lists for `dataset` (see `serves`; every data set's with `show_all`),
    those for it first."""
    own = [e for e in entries if e.method == FOCUS and serves(e.dataset, dataset, kind)]
    return own + ([e for e in entries if e.method == FOCUS and e not in own] if show_all else [])


def untrained_choice(method: str, fit: Fit, k: int, *, build: Optional[Builder] = None,
                     heads: int = DEFAULT_HEADS) -> ModelChoice:
    """A freshly initialised (seeded) model of `method` for `fit` with k frames.

    Args:
        method: a registered sampler name.
        fit: what it must take.
        k: frames it keeps (a sampler that keeps all frames keeps T).
        build: (method, T, k, num_classes, C, size, heads) -> model (default `methods.untrained_model`).
        heads: attention heads, for a sampler that has them.
    """
    if build is None:
        from .methods import untrained_model

        def build(m, T, kk, nc, C, size, h):
            return untrained_model(m, T, kk, num_classes=nc, in_channels=C, frame_size=size, heads=h)

    model = build(method, fit.num_frames, int(k), fit.num_classes, fit.in_channels, fit.frame_size, heads)
    return ModelChoice(method, model)


def checkpoint_choice(entry, model) -> ModelChoice:
    """The choice of a loaded checkpoint `model` of the catalogue entry `entry`."""
    trained_on = (getattr(model, "meta", None) or {}).get("dataset") or entry.dataset
    return ModelChoice(model.sampler.name, model, source=entry.label or entry.path, trained=True, path=entry.path,
                       mtime=_mtime(entry.path), origin=entry.origin, trained_on=trained_on)


def choose_lineup(fit: Fit, entries: Sequence, *, das: Any = "auto", ratio: float = 0.5,
                  load: Optional[Loader] = None, check: Optional[Checker] = None, build: Optional[Builder] = None,
                  methods: Optional[Sequence[str]] = None, heads: int = DEFAULT_HEADS) -> LineUp:
    """The line-up for data of `fit` (see the module's docstring for the rule).

    Args:
        fit: what the models must take.
        entries: the checkpoint entries (`catalogue.list_checkpoints`), newest run first after the shipped ones.
        das: the DAS checkpoint entry the user picked, None for an untrained DAS, or "auto".
        ratio: k/T when DAS is untrained.
        load: path -> model (default `catalogue.load_model`; the pages pass their cached loader).
        check: meta -> None, raising CheckpointError when a checkpoint cannot take the data (default: the
            T, channels and classes of `fit`, as `das_core.checkpoints.check_compatible` checks them).
        build: the untrained models' builder (see `untrained_choice`).
        methods: the methods, in order (default: every registered sampler).
        heads: attention heads of an untrained DAS.
    """
    from . import catalogue

    notes: list[str] = []
    try_load = functools.partial(_try_load, load=load or catalogue.load_model, check=check or _shape_check(fit),
                                 notes=notes)
    names = list(list_samplers() if methods is None else methods)
    choices: dict = {}
    das_error = None
    k = num_selected_for_ratio(fit.num_frames, ratio)
    if das == "auto":
        das = _auto_das(fit, entries, try_load=try_load)
    if das is not None and FOCUS in names:
        got = try_load(das)
        if isinstance(got, Exception):
            das_error = got
        else:
            choices[FOCUS] = checkpoint_choice(das, got)
            k = choices[FOCUS].k
    for m in names:
        if m not in choices and m != FOCUS:
            found = _matching_checkpoint(m, fit, entries, k=k, try_load=try_load)
            if found is not None:
                choices[m] = found
    for m in names:
        if m not in choices:
            choices[m] = untrained_choice(m, fit, k, build=build, heads=heads)
    return LineUp({m: choices[m] for m in names}, k, notes, das_error)


def _try_load(entry, *, load: Loader, check: Checker, notes: list, quiet: bool = False):
    """The model of `entry` if it loads and passes `check`, else the error (said in `notes` unless `quiet`)."""
    try:
        model = load(entry.path)
        check(dict(getattr(model, "meta", None) or {}))
        return model
    except Exception as err:  # a checkpoint a user can break (bad file, another model): said, not raised
        if not quiet:
            notes.append(f"{entry.label or entry.path} is skipped: {err}")
        return err


def _auto_das(fit: Fit, entries: Sequence, *, try_load: Callable) -> Any:
    """The first DAS entry trained on `fit`'s data set with its T that loads and passes the check, or None."""
    for e in entries:
        if e.method == FOCUS and e.dataset == fit.dataset and e.T in (None, fit.num_frames):
            got = try_load(e, quiet=True)
            if not isinstance(got, Exception):
                return e
    return None


def _matching_checkpoint(method: str, fit: Fit, entries: Sequence, *, k: int,
                         try_load: Callable) -> Optional[ModelChoice]:
    """The choice of the first `method` entry on `fit`'s data set with its T (and k, for a sampler that takes
    one) that loads and passes the check, or None."""
    takes_k = sampler_class(method).takes_k
    for e in entries:
        if e.method != method or e.dataset != fit.dataset or e.T not in (None, fit.num_frames) \
                or (takes_k and e.k not in (None, k)):
            continue
        got = try_load(e)
        if not isinstance(got, Exception) and (not takes_k or got.sampler.num_selected == k):
            return checkpoint_choice(e, got)
    return None


def _shape_check(fit: Fit) -> Checker:
    """The default check: `catalogue.check_sample_compatible` against a blank sample shaped like `fit`."""
    import torch

    from . import catalogue
    from .samples import SampleData

    blank = SampleData(x=torch.zeros(fit.num_frames, fit.in_channels, fit.frame_size, fit.frame_size), y=None,
                       classes=list(fit.classes) if fit.classes else None, dataset=fit.dataset)
    return lambda meta: catalogue.check_sample_compatible(meta, blank)


def upload_models_note(modality: Optional[str], kind: str, shipped: Sequence[str]) -> str:
    """One plain sentence for an upload no model of the user's own serves: which kind of images the shipped models
    were trained on (`das_core.data.registry.IMAGING`), and whether any of them held the upload's modality.

    Args:
        modality: the upload's DICOM Modality code (CT, MR, US, ...), or None/"" where the file carries none
            (NIfTI, .npy, a video).
        kind: "volume" or "video".
        shipped: the data sets the shipped checkpoints were trained on.
    """
    from das_core.data.registry import imaging

    code = str(modality or "").strip().upper()
    seen = []
    for name in sorted(set(shipped)):
        im = imaging(name)
        seen.append(f"{name} ({im.text})" if im else name)
    trained = "; ".join(seen) or "nothing"
    same = [n for n in sorted(set(shipped)) if code and imaging(n) and code in imaging(n).modalities]
    if not code:
        verdict = (f"This {kind} does not say its modality (only DICOM carries one), so which of them saw images like it "
                   f"is for you to judge.")
    elif same:
        verdict = (f"Of these, {', '.join(same)} held {code} images, as the crops or clips described, not studies "
                   f"like this one.")
    else:
        verdict = f"None of them was trained on {code} images."
    return (f"The shipped models were trained on: {trained}. {verdict} Their picks and predictions on this upload "
            f"show what they learned there, not about this study.")

