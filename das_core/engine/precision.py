"""Mixed precision: which parts of a step run in bfloat16 / float16, and the gradient scaler float16 needs.

`precision` is "fp32" (everything in float32, the default), "bf16" (CPU or CUDA) or "fp16" (CUDA only, with
a `torch.amp.GradScaler`). Under "bf16"/"fp16" the step runs inside `torch.autocast`, so the per-frame
backbone (where the FLOPs are) and the head compute in the lower precision, while the loss stays float32
(autocast's own rule for cross-entropy) and the sampler is kept in float32 by `SubsampledClassifier.select`:
its scores are ranked, and bfloat16's 8-bit mantissa would turn nearby scores (and their Gumbel
perturbations) into ties.
"""

from __future__ import annotations

import contextlib
from typing import Optional

import torch

from ..errors import ConfigError

__all__ = ["PRECISIONS", "check_precision", "autocast", "grad_scaler"]

PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str, device: Optional[torch.device] = None) -> str:
    """`precision` when it is one of PRECISIONS and runs on `device`; ConfigError naming the fix otherwise."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}.")
    if precision == "fp16" and device is not None and device.type != "cuda":
        raise ConfigError("precision fp16 needs a CUDA device; on CPU use bf16 (or fp32).")
    return precision


def autocast(device: torch.device, precision: str = "fp32"):
    """A `torch.autocast` context for `precision` on `device` (a no-op context for fp32)."""
    if check_precision(precision, device) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_DTYPES[precision])


def grad_scaler(device: torch.device, precision: str = "fp32") -> Optional["torch.amp.GradScaler"]:
    """The loss scaler float16 training needs (its gradients underflow otherwise); None for fp32 and bf16."""
    if check_precision(precision, device) != "fp16":
        return None
    return torch.amp.GradScaler(device.type)
