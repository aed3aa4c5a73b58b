"""The base class every sampler derives from: capabilities, typed options, shape checks, parameter groups.

Every option of a sampler is a field of its `Options` dataclass, and its bounds sit beside it, declared with
`bounded(default, low, high)` (a number in [low, high]) or `one_of(default, choices)`; a `bool` field takes
True or False. `Sampler.check_options` is the one check of them all, run before anything is built
(`make_sampler`, `Sampler.__init__` and `ModelSpec.validate`, so a crafted checkpoint's options are refused
before its model is built): an unknown name, a value of the wrong type or out of its bounds is a ConfigError
with one sentence.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Mapping, Optional

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..nn.selection import Selection

__all__ = ["Sampler", "check_k", "bounded", "one_of"]

_OPEN = ("", "low", "high", "both")


def bounded(default: Any, low: float, high: float, *, exclusive: str = "") -> Any:
    """An `Options` field holding a number in [low, high] (`exclusive`: "low", "high" or "both" leaves that end
    out, e.g. `bounded(1.0, 0, 1000, exclusive="low")` is (0, 1000]). The field's annotation (int or float)
    is its type: an int field takes integers only, a float field any finite number."""
    if exclusive not in _OPEN:
        raise ValueError(f"exclusive must be one of {_OPEN}, got {exclusive!r}")
    return dataclasses.field(default=default, metadata={"bounds": (low, high), "exclusive": exclusive})


def one_of(default: Any, choices) -> Any:
    """An `Options` field holding one of `choices` (e.g. `one_of("both", ESTIMATORS)`)."""
    return dataclasses.field(default=default, metadata={"choices": tuple(choices)})


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _interval(low, high, exclusive: str) -> str:
    left = "(" if exclusive in ("low", "both") else "["
    right = ")" if exclusive in ("high", "both") else "]"
    return f"{left}{low}, {high}{right}"


def check_option(sampler: str, f: dataclasses.Field, value: Any) -> None:
    """ConfigError with one sentence when `value` does not fit the `Options` field `f` of sampler `sampler`."""
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
    where = f"Option {f.name} of the {sampler} sampler"
    choices = f.metadata.get("choices")
    if choices is not None:
        if isinstance(value, bool) != any(isinstance(c, bool) for c in choices) or value not in choices:
            raise ConfigError(f"{where} must be one of {', '.join(map(str, choices))}, got {_short(value)}.")
        return
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        ok, what = isinstance(value, bool), "true or false"
    elif kind == "int":
        ok, what = is_int, "an integer"
    elif kind == "float":
        ok, what = is_int or isinstance(value, float), "a number"
    elif kind == "str":
        ok, what = isinstance(value, str), "a string"
    else:  # a user's field of another annotation: only its bounds, if it declares any
        ok, what = True, "a number"
    bounds = f.metadata.get("bounds")
    if bounds is not None:
        low, high = bounds
        exclusive = f.metadata.get("exclusive", "")
        number = is_int or isinstance(value, float)
        ok = ok and number and (not isinstance(value, float) or math.isfinite(value)) and (
            (low < value if exclusive in ("low", "both") else low <= value)
            and (value < high if exclusive in ("high", "both") else value <= high))
        if not ok:
            raise ConfigError(f"{where} must be {what} in {_interval(low, high, exclusive)}, got {_short(value)}.")
    elif not ok:
        raise ConfigError(f"{where} must be {what}, got {_short(value)} ({type(value).__name__}).")


def check_k(num_frames: int, num_selected: int) -> None:
    """Reject k outside [1, T] with one sentence naming the fix."""
    if not isinstance(num_frames, int) or num_frames < 1:
        raise ConfigError(f"num_frames must be a positive integer, got {num_frames!r}.")
    if not isinstance(num_selected, int) or not 1 <= num_selected <= num_frames:
        raise ConfigError(
            f"num_selected k={num_selected!r} must be between 1 and the number of frames "
            f"T={num_frames}; choose k in that range (or a sampling ratio in (0, 1])."
        )


class Sampler(nn.Module):
    """Picks `num_selected` (k) of `num_frames` (T) frames for each sequence of a batch.

    Subclasses implement `select(x, **call_options) -> Selection`; `forward` checks the input first.
    Register a subclass with `das_core.register_sampler(name)` to list and build it by name.

    What a sampler is and accepts is declared on the class, and read by the training engine, bench
    and the app (never decided by the sampler's name):

    Attributes:
        Options: a dataclass of the keyword options the constructor takes (None: no options). Its
            defaults are the sampler's defaults; `options` holds the values used, so a checkpoint can
            rebuild the sampler with `make_sampler(name, T, k, **options)`.
        label: display name ("DAS"); defaults to the registered name.
        learned: has trainable parameters.
        adaptive: its picks depend on the input at inference.
        varies_per_input: its picks differ between inputs at inference (adaptive ones, and random).
        takes_k: False for a sampler that keeps all T frames (full).
        per_step_loss: the task loss is averaged over the predictions after each pick (ADPS); the
            model uses `Selection.pick_rank` for it.
        reads_task_features: the sampler reads the task network's features of the frames it has
            acquired (ADPS): `SubsampledClassifier` passes its backbone as `encoder=` and reuses the
            features the sampler returns in `Selection.features`; `bind_task_features(D)` sizes it.
        call_options: keyword arguments `forward` accepts per call (tau0, heads, stochastic, generator).
    """

    name: ClassVar[str] = "base"
    Options: ClassVar[Optional[type]] = None
    label: ClassVar[str] = ""
    learned: ClassVar[bool] = False
    adaptive: ClassVar[bool] = False
    varies_per_input: ClassVar[bool] = False
    takes_k: ClassVar[bool] = True
    per_step_loss: ClassVar[bool] = False
    reads_task_features: ClassVar[bool] = False
    call_options: ClassVar[frozenset] = frozenset()

    def __init__(self, num_frames: int, num_selected: int, **options: Any):
        super().__init__()
        check_k(num_frames, num_selected)
        self.num_frames = num_frames
        self.num_selected = num_selected
        options = self.check_options(options)
        if self.Options is None:
            self.config = None
        else:
            try:
                self.config = self.Options(**options)
            except TypeError as err:  # a user's Options with a field that has no default
                raise ConfigError(f"Invalid option for the {self.name} sampler ({err}); its options are: "
                                  f"{', '.join(self.option_names()) or 'none'}.") from None
        self.options = dataclasses.asdict(self.config) if self.config is not None else {}

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """The keyword options the constructor accepts (the fields of `Options`)."""
        return tuple(f.name for f in dataclasses.fields(cls.Options)) if cls.Options is not None else ()

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> dict:
        """`options` as a dict once every name is one of `option_names()` and every value fits its field's type
        and bounds (`bounded`, `one_of`); ConfigError with one sentence otherwise. Nothing is built."""
        if not isinstance(options, Mapping):
            raise ConfigError(f"The {cls.name} sampler's options must be a dict of option names to values, "
                              f"got {type(options).__name__}.")
        names = cls.option_names()
        unknown = sorted(str(k) for k in options if k not in names)
        if unknown:
            shown = ", ".join(k if len(k) <= 40 else k[:37] + "..." for k in unknown[:5])
            shown += ", ..." if len(unknown) > 5 else ""
            raise ConfigError(f"Invalid option {shown} for the {cls.name} sampler; its options are: "
                              f"{', '.join(names) or 'none'}.")
        if options:
            fields = {f.name: f for f in dataclasses.fields(cls.Options)}
            for name, value in options.items():
                check_option(cls.name, fields[name], value)
        return dict(options)

    @classmethod
    def parameter_count(cls, num_frames: int, num_selected: int, config: Any, feature_dim: int) -> Optional[int]:
        """The number of parameter values of this sampler for T, k and its `Options` instance `config`, inside a
        classifier whose backbone has `feature_dim` features, in closed form (nothing is built); the model-size
        check (`das_core.nn.model.check_model_size`) reads it before any model is built. None (the default):
        unknown, and the check builds the sampler on the `meta` device to count them."""
        return None

    @classmethod
    def display_name(cls) -> str:
        return cls.label or cls.name

    def check_input(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.dim() != 5:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ConfigError(
                f"Samplers take x of shape (B, T, C, H, W), got {shape}; add the missing batch or "
                f"channel dimension (x[None] or x[:, :, None])."
            )
        if x.shape[1] != self.num_frames:
            raise ConfigError(
                f"This {self.name} sampler was built for T={self.num_frames} frames but the input has "
                f"T={x.shape[1]}; resample the sequence to {self.num_frames} frames or build a sampler "
                f"for T={x.shape[1]}."
            )

    def forward(self, x: Tensor, **kwargs: Any) -> Selection:
        self.check_input(x)
        return self.select(x, **kwargs)

    def select(self, x: Tensor, **kwargs: Any) -> Selection:  # pragma: no cover - abstract
        raise NotImplementedError

    def parameter_groups(self, lr: float) -> list[dict]:
        """Optimizer parameter groups for this sampler at base learning rate `lr`, times its options'
        `lr_multiplier` where it has one (DAS)."""
        params = [p for p in self.parameters() if p.requires_grad]
        scale = float(getattr(self.config, "lr_multiplier", 1.0))
        return [{"params": params, "lr": lr * scale, "name": f"sampler:{self.name}"}] if params else []

    def extra_repr(self) -> str:
        return f"T={self.num_frames}, k={self.num_selected}, options={self.options}"

    @staticmethod
    def _device_generator(device: torch.device, seed: int) -> torch.Generator:
        g = torch.Generator(device=device)
        g.manual_seed(seed)
        return g
