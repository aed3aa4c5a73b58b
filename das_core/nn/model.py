"""`SubsampledClassifier`: sampler -> per-frame backbone on the k picked frames -> pooling -> linear head.

`SubsampledClassifier.from_config(spec)` checks the size of the model a `ModelSpec` describes before it builds
anything: `model_size(spec)` counts its parameters without allocating them (the backbone's once per backbone
and channel count, built on PyTorch's `meta` device; the head's and the sampler's in closed form,
`Sampler.parameter_count`, or for a user's sampler without one by building it on `meta`), and a spec over
`MAX_MODEL_BYTES` is a ConfigError with one sentence.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError, DASError
from ..samplers import Sampler, make_sampler, sampler_class
from .backbones import BACKBONES, DEFAULT_BACKBONE, build_backbone
from .selection import Selection
from .spec import ModelSpec

__all__ = ["SubsampledClassifier", "MAX_MODEL_BYTES", "ModelSize", "model_size", "check_model_size"]

# The most bytes of parameters and buffers a model built from a spec may hold (a checkpoint's model included).
# The shipped models hold 0.3 to 5 MB; MobileNetV3-Small with DAS at T = k = 4096 and 64 heads about 40 MB.
MAX_MODEL_BYTES = 512 << 20


class ModelSize(NamedTuple):
    """What the model a spec describes holds: `parameters` (values of its parameters) and `bytes` (of its
    parameters and buffers)."""

    parameters: int
    bytes: int


def _tensors(module: nn.Module) -> tuple[int, int]:
    """(parameter values, bytes of parameters and buffers) of a module (on any device, meta included)."""
    params = sum(p.numel() for p in module.parameters())
    nbytes = sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))
    return params, nbytes


@functools.lru_cache(maxsize=64)
def _backbone_size(backbone: str, in_channels: int) -> tuple[int, int, int]:
    """(parameter values, bytes, feature width D) of a named backbone, built once on the meta device."""
    with torch.device("meta"):
        module, dim = build_backbone(backbone, in_channels)
    return (*_tensors(module), int(dim))


def _sampler_parameters(spec: ModelSpec, feature_dim: int) -> tuple[int, int]:
    """(parameter values, bytes) of the sampler `spec` describes inside a classifier of `feature_dim` features."""
    cls = sampler_class(spec.method)
    options = cls.check_options(spec.sampler_options)
    try:
        config = cls.Options(**options) if cls.Options is not None else None
    except TypeError:  # a user's Options with a required field: make_sampler below says which
        config = None
    k = spec.num_selected if cls.takes_k else spec.num_frames
    n = cls.parameter_count(spec.num_frames, k, config, feature_dim)
    if n is not None:
        return int(n), 4 * int(n)
    try:  # a user's sampler without a closed form: built on meta (shapes only) and counted
        with torch.device("meta"):
            sampler = make_sampler(spec.method, spec.num_frames, k, **options)
            if sampler.reads_task_features:
                sampler.bind_task_features(feature_dim)
    except DASError:
        raise
    except Exception:  # noqa: BLE001 - a sampler that reads values while it is built (meta tensors hold none)
        return 0, 0
    return _tensors(sampler)


def model_size(spec: ModelSpec) -> ModelSize:
    """The parameters and bytes of the model `spec` describes, counted without building it (module docstring).

    Raises:
        ConfigError: the spec itself is invalid (`ModelSpec.validate`).
    """
    spec = spec.validate()
    b_params, b_bytes, dim = _backbone_size(spec.backbone, spec.in_channels)
    head = dim * spec.num_classes + spec.num_classes
    s_params, s_bytes = _sampler_parameters(spec, dim)
    return ModelSize(b_params + head + s_params, b_bytes + 4 * head + s_bytes)


def _mib(n: float) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


def check_model_size(spec: ModelSpec, max_bytes: int = MAX_MODEL_BYTES) -> ModelSize:
    """`model_size(spec)`, or a ConfigError with one sentence when it is over `max_bytes` (nothing is built)."""
    size = model_size(spec)
    if size.bytes > max_bytes:
        raise ConfigError(
            f"The {spec.method} model this spec describes (T={spec.num_frames}, k={spec.num_selected}, "
            f"{spec.backbone}) would hold {_mib(size.bytes)} of weights, more than the {_mib(max_bytes)} limit "
            f"(das_core.nn.model.MAX_MODEL_BYTES); choose fewer frames, a smaller k or smaller sampler options.")
    return size


class SubsampledClassifier(nn.Module):
    """Classify a sequence from the k frames its sampler picks.

    Args:
        sampler: any `Sampler` (see `make_sampler`).
        backbone: "mobilenet_v3_small" (the paper's, the default), "small_cnn", or any `nn.Module` mapping frames
            (N, C, H, W) to features (N, D) or (N, D, h, w).
        num_classes: classes of the task.
        in_channels: channels C of each frame.
        feature_dim: D of a user backbone (probed with a dummy frame when omitted).
        frame_size: H = W of the probe frame for a user backbone.
        pooling: "mean" or "max" over the selected frames.
        dropout: dropout before the linear head.

    `forward(x)` takes x (B, T, C, H, W) and returns `(logits (B, num_classes), Selection)`. The
    backbone runs on the k selected frames only. With a named backbone, `spec` describes the model
    and `SubsampledClassifier.from_config(spec)` rebuilds it (what checkpoints do).
    """

    def __init__(
        self,
        sampler: Sampler,
        backbone: Union[str, nn.Module] = DEFAULT_BACKBONE,
        num_classes: int = 2,
        in_channels: int = 1,
        *,
        feature_dim: int | None = None,
        frame_size: int = 28,
        pooling: str = "mean",
        dropout: float = 0.0,
    ):
        super().__init__()
        if not isinstance(sampler, Sampler):
            raise ConfigError("sampler must be a das_core Sampler; build one with make_sampler(name, T, k).")
        if pooling not in ("mean", "max"):
            raise ConfigError(f"pooling must be 'mean' or 'max', got {pooling!r}.")
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ConfigError(f"num_classes must be an integer >= 2, got {num_classes!r}.")
        sampler_channels = sampler.options.get("in_channels")
        if sampler_channels is not None and sampler_channels != in_channels:
            raise ConfigError(
                f"The {sampler.name} sampler was built for in_channels={sampler_channels} but the classifier "
                f"for {in_channels}; pass in_channels={in_channels} to make_sampler."
            )
        self.sampler = sampler
        self.backbone_name = backbone if isinstance(backbone, str) else type(backbone).__name__
        self.backbone, self.feature_dim = build_backbone(
            backbone, in_channels, feature_dim=feature_dim, frame_size=frame_size
        )
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.pooling = pooling
        self.frame_size = frame_size
        self.dropout = float(dropout)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.feature_dim, num_classes))
        self.meta: dict = {}  # what a checkpoint says about the model's data (set by load_model)
        if sampler.reads_task_features:  # ADPS: its LSTM reads this backbone's features
            sampler.bind_task_features(self.feature_dim)

    @classmethod
    def from_config(cls, spec: ModelSpec) -> "SubsampledClassifier":
        """A freshly initialised model with the architecture `spec` describes.

        The spec is validated and the model's size checked first (`check_model_size`, counted without
        building it), so a spec of gigabytes of weights is a ConfigError before any memory is taken."""
        spec = spec.validate()
        check_model_size(spec)
        sampler = make_sampler(spec.method, spec.num_frames, spec.num_selected, **spec.sampler_options)
        return cls(sampler, backbone=spec.backbone, num_classes=spec.num_classes, in_channels=spec.in_channels,
                   frame_size=spec.frame_size, pooling=spec.pooling, dropout=spec.dropout)

    @property
    def spec(self) -> ModelSpec:
        """The `ModelSpec` that rebuilds this model (ConfigError for a user-supplied backbone module)."""
        if self.backbone_name not in BACKBONES:
            raise ConfigError(f"A model with a custom backbone ({self.backbone_name}) has no ModelSpec; use one of "
                              f"{', '.join(BACKBONES)} or save its state_dict yourself.")
        s = self.sampler
        return ModelSpec(method=s.name, num_frames=int(s.num_frames), num_selected=int(s.num_selected),
                         backbone=self.backbone_name, num_classes=int(self.num_classes),
                         in_channels=int(self.in_channels), frame_size=int(self.frame_size), pooling=self.pooling,
                         dropout=self.dropout, sampler_options=dict(s.options))

    def _check_channels(self, channels: int) -> None:
        if channels != self.in_channels:
            raise ConfigError(
                f"The model expects {self.in_channels}-channel frames but got {channels}; "
                f"convert the data (grayscale/RGB) or build the model with in_channels={channels}."
            )

    def frame_features(self, frames: Tensor) -> Tensor:
        """(B, k, C, H, W) -> (B, k, D): the backbone on every selected frame."""
        B, k = frames.shape[:2]
        self._check_channels(frames.shape[2])
        return self.backbone(frames.flatten(0, 1)).view(B, k, -1)

    def select(self, x: Tensor, **sampler_kwargs) -> Selection:
        """The sampler's picks for x (B, T, C, H, W), without the head. A sampler that reads task features
        (ADPS) gets this backbone and runs it on each frame it acquires; the others run alone.

        Under `torch.autocast` (mixed precision, das_core.engine.precision) the sampler still computes in
        float32: its scores are ranked, and bfloat16 would round nearby scores into ties. ADPS's backbone
        passes keep the caller's autocast."""
        device_type = x.device.type
        if not torch.is_autocast_enabled(device_type):  # the usual case: no context to enter (~0.1 ms a call)
            return self._run_sampler(x, self.backbone, **sampler_kwargs)
        dtype = torch.get_autocast_dtype(device_type)

        def encoder(frames: Tensor) -> Tensor:  # ADPS's backbone passes in mixed precision, features float32
            with torch.autocast(device_type=device_type, dtype=dtype):
                return self.backbone(frames).float()

        with torch.autocast(device_type=device_type, enabled=False):
            return self._run_sampler(x, encoder, **sampler_kwargs)

    def _run_sampler(self, x: Tensor, encoder: Callable[[Tensor], Tensor], **sampler_kwargs) -> Selection:
        if not self.sampler.reads_task_features:
            return self.sampler(x, **sampler_kwargs)
        if x.dim() == 5:
            self._check_channels(x.shape[2])
        return self.sampler(x, encoder=encoder, **sampler_kwargs)

    def _select_and_encode(self, x: Tensor, **sampler_kwargs) -> tuple[Selection, Tensor]:
        """(selection, features (B, k, D) of the picked frames in ascending order)."""
        sel = self.select(x, **sampler_kwargs)
        feats = sel.features if self.sampler.reads_task_features else self.frame_features(sel.gather(x))
        return sel, feats

    def _pool(self, feats: Tensor) -> Tensor:
        return feats.mean(dim=1) if self.pooling == "mean" else feats.amax(dim=1)

    def forward(self, x: Tensor, **sampler_kwargs) -> tuple[Tensor, Selection]:
        sel, feats = self._select_and_encode(x, **sampler_kwargs)  # feats (B, k, D)
        return self.head(self._pool(feats)), sel

    def step_logits(self, feats: Tensor, sel: Selection) -> Tensor:
        """Predictions after each of the k picks (ADPS): (B, k, num_classes).

        Step i pools the features of the rows whose `pick_rank` is <= i.
        """
        k = feats.shape[1]
        steps = torch.arange(k, device=feats.device)
        seen = (sel.pick_rank[:, None, :] <= steps[None, :, None])  # (B, steps, rows)
        if self.pooling == "mean":
            w = seen.to(feats.dtype)
            pooled = torch.einsum("bsr,brd->bsd", w, feats) / w.sum(-1, keepdim=True)
        else:
            neg = torch.finfo(feats.dtype).min
            pooled = torch.where(seen[..., None], feats[:, None], torch.full_like(feats[:, None], neg)).amax(2)
        return self.head(pooled)

    def training_loss(
        self, x: Tensor, y: Tensor, criterion: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy, **sampler_kwargs
    ) -> tuple[Tensor, Tensor, Selection]:
        """(loss, logits, selection). For a sampler with `per_step_loss` (ADPS) the loss averages the task
        loss over the k step predictions."""
        sel, feats = self._select_and_encode(x, **sampler_kwargs)  # feats (B, k, D)
        logits = self.head(self._pool(feats))
        if self.sampler.per_step_loss:
            per_step = self.step_logits(feats, sel)  # (B, k, classes)
            B, k, n = per_step.shape
            loss = criterion(per_step.reshape(B * k, n), y.repeat_interleave(k))
        else:
            loss = criterion(logits, y)
        if sel.log_prob is not None:  # score-function estimator: (loss_b - baseline_b) * log P(picks_b)
            loss = loss + self._score_function_term(criterion(logits, y, reduction="none"), sel.log_prob)
        return loss, logits, sel

    def all_frames_loss(
        self, x: Tensor, y: Tensor, criterion: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy
    ) -> tuple[Tensor, Tensor]:
        """(loss, logits) of the task network on all T frames of x (B, T, C, H, W), the sampler unused: the
        warm-up in which the task network learns to use every frame before the sampler learns to choose."""
        logits = self.head(self._pool(self.frame_features(x)))
        return criterion(logits, y), logits

    @staticmethod
    def _score_function_term(item_losses: Tensor, log_prob: Tensor) -> Tensor:
        """REINFORCE surrogate with a leave-one-out baseline (the other items' mean loss); its value
        is 0 in expectation, its gradient reaches only the sampler."""
        losses = item_losses.detach()
        B = losses.shape[0]
        baseline = (losses.sum() - losses) / (B - 1) if B > 1 else losses
        return ((losses - baseline) * log_prob).mean()

    def parameter_groups(self, lr: float) -> list[dict]:
        """Optimizer groups: the sampler's own (e.g. DPS logits at lr x 10) plus the rest at `lr`."""
        groups = self.sampler.parameter_groups(lr)
        rest = [p for p in list(self.backbone.parameters()) + list(self.head.parameters()) if p.requires_grad]
        grouped = {id(p) for g in groups for p in g["params"]}
        rest += [p for p in self.sampler.parameters() if p.requires_grad and id(p) not in grouped]
        return groups + [{"params": rest, "lr": lr, "name": "network"}]
