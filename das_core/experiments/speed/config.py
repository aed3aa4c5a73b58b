"""The speed benchmark's settings, the volume sizes it measures, and its targets (issue 4, issue 12).

`TARGETS` holds every target's number and `TARGET_OPS` how a measurement meets it (`value <op> number`);
the measurement (`measure.py`) and the page (`render.py`) both read them from here.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Optional

from ...cli_options import option as _opt
from ...errors import ConfigError

__all__ = ["SpeedConfig", "VolumeSize", "parse_size", "TARGETS", "TARGET_OPS", "COMPARE", "STUDY_METHODS",
           "TRAIN_SPEEDUP_TARGET", "share_target"]

TARGETS = {
    "das_throughput_vs_full": 1.8,
    "das_sampler_share": 0.05,
    "das_sampler_vs_uniform_pipeline": 0.05,  # research sizes (28^3, 64^3)
    "das_sampler_vs_uniform_pipeline_clinical": 0.02,  # the clinical sizes
    "das_vs_adps_sampling_speedup_k14": 5.0,
    "das_train_step_vs_uniform": 1.2,
}
# how each target of a result is met: measured value <op> its number in TARGETS (the sampler-vs-uniform one
# takes the research or clinical number, `share_target`)
TARGET_OPS = {
    "das_throughput_vs_full": ">=",
    "das_sampler_share": "<",
    "das_sampler_vs_uniform_pipeline": "<",
    "das_vs_adps_sampling_speedup_k14": ">=",
    "das_train_step_vs_uniform": "<=",
}
COMPARE = {">=": operator.ge, "<": operator.lt, "<=": operator.le}
STUDY_METHODS = ("uniform", "das", "adps")  # the per-study (batch 1) latency table
TRAIN_SPEEDUP_TARGET = 2.0  # issue 12: at least twice the optimizer steps per second


def share_target(clinical: bool) -> float:
    """The DAS sampler's (best) time as a share of uniform's whole pipeline must stay under this number.

    Args:
        clinical: whether the volume is a clinical-like study (`VolumeSize.clinical`), which has the tighter target.
    """
    return TARGETS["das_sampler_vs_uniform_pipeline_clinical" if clinical else "das_sampler_vs_uniform_pipeline"]


@dataclass
class SpeedConfig:
    """The speed benchmark's settings (`python -m das_core speed --help` prints each one's help)."""

    sizes: list[str] = _opt(["28", "64", "ct:96x192", "ultrasound:128x128"],
                            "volume sizes: S (T = S frames of S x S, batch `batch_size`) or NAME:TxS, a clinical "
                            "study of T frames of S x S (batch `clinical_batch_size`, `clinical_repeats` rounds)")
    ratios: list[float] = _opt([0.5, 0.25], "sampling ratios (each size is measured at every ratio, interleaved)")
    batch_size: int = _opt(8, "items per forward pass at the research sizes")
    repeats: int = _opt(7, "timing rounds at the research sizes (the median is reported)")
    train_steps: int = _opt(5, "training steps timed per round at the research sizes")
    clinical_batch_size: int = _opt(1, "items per forward pass at the clinical sizes (1: one study)")
    clinical_repeats: int = _opt(5, "timing rounds at the clinical sizes")
    clinical_train_steps: int = _opt(1, "training steps timed per round at the clinical sizes")
    threads: Optional[int] = _opt(None, "torch CPU threads (default: all cores)")
    backbone: str = _opt("mobilenet_v3_small", "the per-frame network")
    device: str = _opt("cpu", "cpu or cuda")
    precision: str = _opt("fp32", "fp32, or the models under torch.autocast: bf16 (CPU or CUDA), fp16 (CUDA); the "
                                  "samplers stay float32 (das_core.engine.precision)")
    out_json: Optional[str] = _opt("docs/speed.json", "the JSON report")
    out_md: Optional[str] = _opt("docs/speed.md", "the Markdown page")
    render_only: bool = _opt(False, "measure nothing: write the Markdown page again from out_json and the app and "
                                    "training timings beside it (app-speed.json, train-steps.json)")


@dataclass(frozen=True)
class VolumeSize:
    """One measured volume: T frames of S x S; `clinical` ones run at the clinical batch and rounds."""

    name: str
    frames: int
    size: int
    clinical: bool = False

    @property
    def label(self) -> str:
        if not self.clinical:
            return f"{self.size}^3" if self.frames == self.size else f"{self.frames} x {self.size}^2"
        return f"{self.name} ({self.frames} x {self.size}^2)"


def parse_size(spec) -> VolumeSize:
    """"28" -> 28 frames of 28 x 28; "ct:96x192" -> a clinical study of 96 frames of 192 x 192.

    Args:
        spec: S (an int or its text) or NAME:TxS; anything else (or a size below 1) raises ConfigError.
    """
    text = str(spec).strip()
    if re.fullmatch(r"\d+", text):
        s = int(text)
        if s < 1:
            raise ConfigError(f"A volume size must be positive, got {spec!r}.")
        return VolumeSize(f"{s}^3", s, s)
    m = re.fullmatch(r"([A-Za-z][\w-]*):(\d+)x(\d+)", text)
    if not m or int(m.group(2)) < 1 or int(m.group(3)) < 1:
        raise ConfigError(f"A volume size is S or NAME:TxS (for example 28 or ct:96x192), got {spec!r}.")
    return VolumeSize(m.group(1), int(m.group(2)), int(m.group(3)), clinical=True)
