"""The base class every sampler derives from: capabilities, typed options, shape checks, parameter groups."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Optional

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..selection import Selection

__all__ = ["Sampler", "check_k"]


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
        if self.Options is None:
            if options:
                raise ConfigError(f"The {self.name} sampler takes no options, got {', '.join(sorted(options))}.")
            self.config = None
        else:
            try:
                self.config = self.Options(**options)
            except TypeError as err:  # an unknown keyword
                raise ConfigError(f"Invalid option for the {self.name} sampler ({err}); its options are: "
                                  f"{', '.join(self.option_names()) or 'none'}.") from None
        self.options = dataclasses.asdict(self.config) if self.config is not None else {}

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """The keyword options the constructor accepts (the fields of `Options`)."""
        return tuple(f.name for f in dataclasses.fields(cls.Options)) if cls.Options is not None else ()

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
