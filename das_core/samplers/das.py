"""DAS: Deep Attention-guided Adaptive Subsampling (Shankaranarayana et al., arXiv 2510.12376).

Pipeline for x (B, T, C, H, W):

1. Parameter-free frame features F (B, T, d) (`das_core.nn.features`: inter-frame variance, Sobel,
   Laplacian summaries), embedded to e (B, T, D) with a learned positional embedding.
2. Multi-head attention. Paper: `s_h = Softplus(MLP_h(F))` in R^{B x k} and
   `A_h[:, j, :] = a_base * s_h[:, j]`, `A = mean_h A_h`.
   *Ambiguity resolved* (docs/method-notes.md, "Resolved ambiguities"): `a_base` is input-dependent and there is one
   per head: head h runs self-attention across the T frames of e, so each frame's base score
   `a_h` (B, T) sees the whole sequence, and heads can attend to different frames. `s_h` is
   computed from e pooled over T (one positive scale per output row j). The strict reading, one
   `a_base` shared by all heads and rows, is available with `shared_base=True` (the heads then
   differ only in their scales). Row j of A is `mean_h a_h * s_h[j]`, so rows differ in how they
   mix heads.
3. Adaptive temperature `tau = tau0 * (0.5 + sigmoid(MLP_temp(pool_T(e))))`, one per sample, in
   [0.5 tau0, 1.5 tau0].
4. Gumbel-softmax with straight-through: `soft[j] = softmax_t((A[j] + G[j]) / tau)`, one Gumbel
   draw per row (G_{b,j,t}); frames picked by rows < j are masked (after dividing by tau), so the k
   picks are distinct; hard rows are the argmax; `P = hard + soft - soft.detach()` in training.
5. Inference: noise off, deterministic top-k, indices in ascending order. `tau0=` and `heads=`
   (a list of active head indices or booleans) override the trained values per call: the app
   toggles heads on a trained model. Note `argmax((A + G) / tau)` does not depend on tau: tau
   changes the relaxed rows `soft` (and so the gradients); `stochastic=True` samples
   `argmax(A / tau + G)`, whose picks do depend on tau.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from ..nn.features import FEATURE_DIM, frame_features
from ..nn.selection import Selection
from .base import bounded, one_of
from .learned import (LearnedSampler, check_tau0, estimator_option, lr_multiplier_option, noise_end_option,
                      score_init_option, tau0_option)
from .registry import register_sampler

__all__ = ["DASConfig", "DASSampler", "FrameEncoder", "FRAME_ENCODERS", "MAX_HEADS", "MAX_DIM", "MAX_HEAD_DIM",
           "MAX_FEATURE_SIZE", "MAX_ENCODER_DIM", "MAX_GAIN"]

FRAME_ENCODERS = ("fixed", "learned")
SCORE_NORMS = ("none", "standardize")
# Bounds of DASConfig (checked by Sampler.check_options before anything is built); the recipes and every
# shipped checkpoint use heads 4, dim 32, head_dim 16, feature_size 32, encoder_dim 16.
MAX_HEADS = 64
MAX_DIM = 4096
MAX_HEAD_DIM = 1024
MAX_FEATURE_SIZE = 4096  # frames are area-pooled to at most this many pixels a side before the frame features
MAX_ENCODER_DIM = 1024
MAX_GAIN = 1000.0


@dataclass
class DASConfig:
    """Args:
    heads: number of attention heads H.
    tau0: base temperature; the adaptive tau lies in [0.5 tau0, 1.5 tau0].
    dim: width D of the frame embedding.
    head_dim: width of each head's self-attention.
    shared_base: strict paper variant: one base score shared by all heads and rows.
    positional: add a learned positional embedding over the T frames (lets DAS also learn a
        static prior, as DPS does, on top of the input-dependent scores).
    feature_size: frames larger than this are area-pooled to it before the frame features
        (keeps the sampler cheap on 64^3 inputs; 28^3 inputs are used as they are).
    estimator: how the task loss trains the scores: "both" (the default: straight-through plus the
        score-function term), "straight_through" (the paper's strict reading) or "score_function"
        (REINFORCE with a leave-one-out baseline alone); `das_core.samplers.learned.ESTIMATORS`.
        Why "both" is the default: measured in docs/results-ablation.md.
    score_norm: "none" (the paper's), or "standardize": each row of A is standardised across the
        T frames and multiplied by a learned gain (initialised to `gain_init`), so the scores' spread
        is comparable to the Gumbel noise's (std 1.28) from the first step.
    gain_init: initial gain of the standardised scores.
    exploration: in training, the share of the k picks (rows) drawn uniformly among the frames not
        yet taken instead of from the scores, so the backbone keeps seeing frames the scores would
        leave out until it can use them (the score-function term uses the mixture's probabilities).
    lr_multiplier: learning-rate factor of the sampler's parameters relative to the network's (as DPS's
        logits get x10 in the official code).
    frame_encoder: "fixed" (the paper's: the parameter-free frame features alone) or "learned" (the paper's future
        work, `das-learned`): a small CNN on each frame (pooled to 16 x 16; two stride-2 convolutions, then the mean
        over the frame) adds `encoder_dim` learned features, and the frame's z-scores of them across the T frames,
        to the fixed ones, so what makes a frame worth keeping can be learned from the pixels. Trained by the same
        estimator as the scores.
    encoder_dim: width of the learned frame features (with frame_encoder="learned").
    score_init: "zero" (the default: the layers that output the base scores start at zero, so every frame
        starts with the same score and no frame is ranked first or last by the random weights alone; why:
        docs/results/diagnostics/round2/README.md) or "random" (PyTorch's default initialisation, as before).
    noise_end: the training noise's scale at the last epoch (1: constant, the default; below 1: linear decay from
        1 after the warm-up, `LearnedSampler.set_training_progress`).
    """

    heads: int = bounded(4, 1, MAX_HEADS)
    tau0: float = tau0_option(1.0)
    dim: int = bounded(32, 1, MAX_DIM)
    head_dim: int = bounded(16, 1, MAX_HEAD_DIM)
    shared_base: bool = False
    positional: bool = True
    feature_size: int = bounded(32, 1, MAX_FEATURE_SIZE)
    estimator: str = estimator_option()
    noise_end: float = noise_end_option()
    score_norm: str = one_of("none", SCORE_NORMS)
    gain_init: float = bounded(3.0, -MAX_GAIN, MAX_GAIN)
    exploration: float = bounded(0.0, 0, 1, exclusive="high")
    lr_multiplier: float = lr_multiplier_option(1.0)
    score_init: str = score_init_option()
    frame_encoder: str = one_of("fixed", FRAME_ENCODERS)
    encoder_dim: int = bounded(16, 1, MAX_ENCODER_DIM)


# the adaptive temperature, written once: the README, docs/method-notes.md and the Compare page's help quote it
# (tests/test_readme.py checks they say the same)
TAU_FORMULA = "tau = tau0 * (0.5 + sigmoid(MLP_temp(pool_T(e))))"
TAU_RANGE = "[0.5 tau0, 1.5 tau0]"

_ENCODER_SIZE = 16  # frames are area-pooled to 16 x 16 before the learned encoder


class FrameEncoder(nn.Module):
    """A small CNN on each frame: (B, T, C, H, W) -> (B, T, 2 * dim), its features and their z-scores over T.

    Args:
        in_channels: channels C of the frames.
        dim: features per frame.
    """

    def __init__(self, in_channels: int = 1, dim: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(in_channels, dim, 3, stride=2, padding=1), nn.GELU(),
                                 nn.Conv2d(dim, dim, 3, stride=2, padding=1), nn.GELU(), nn.AdaptiveAvgPool2d(1),
                                 nn.Flatten())

    def forward(self, x: Tensor) -> Tensor:
        B, T, C, H, W = x.shape
        frames = x.reshape(B * T, C, H, W)
        if max(H, W) > _ENCODER_SIZE:
            frames = F.adaptive_avg_pool2d(frames, _ENCODER_SIZE)
        f = self.net(frames).view(B, T, -1)  # (B, T, dim)
        z = (f - f.mean(dim=1, keepdim=True)) / (f.std(dim=1, keepdim=True, unbiased=False) + 1e-3)
        return torch.cat([f, z], dim=-1)


@register_sampler("das")
class DASSampler(LearnedSampler):
    """Deep Attention-guided Adaptive Subsampling (see the module docstring); options: `DASConfig`."""

    Options = DASConfig
    label = "DAS"
    adaptive = True
    varies_per_input = True
    call_options = LearnedSampler.call_options | {"heads"}

    def __init__(self, num_frames: int, num_selected: int, **options):
        super().__init__(num_frames, num_selected, **options)  # every option checked against DASConfig's bounds
        cfg = self.config
        H, D, hd, k = cfg.heads, cfg.dim, cfg.head_dim, num_selected
        # the learned encoder reads the frames' channel mean, so it fits any channel count
        self.encoder = FrameEncoder(1, cfg.encoder_dim) if cfg.frame_encoder == "learned" else None
        d_in = FEATURE_DIM + (2 * cfg.encoder_dim if self.encoder is not None else 0)
        self.embed = nn.Sequential(nn.LayerNorm(d_in), nn.Linear(d_in, D), nn.GELU(), nn.Linear(D, D))
        self.pos = nn.Parameter(torch.randn(num_frames, D) * 0.02) if cfg.positional else None
        self.qkv = nn.Linear(D, 3 * H * hd)  # per-head self-attention across frames
        self.head_out = nn.Parameter(torch.randn(H, hd) / math.sqrt(hd))  # ctx_h -> a_h
        self.head_skip = nn.Linear(D, H)  # the frame's own evidence, per head
        self.scale_mlp = nn.Sequential(nn.Linear(D, D), nn.GELU(), nn.Linear(D, H * k))  # MLP_h
        self.temp_mlp = nn.Sequential(nn.Linear(D, D), nn.GELU(), nn.Linear(D, 1))  # MLP_temp
        self.gain = nn.Parameter(torch.tensor(float(cfg.gain_init))) if cfg.score_norm == "standardize" else None
        if cfg.score_init == "zero":
            nn.init.zeros_(self.head_out)
            nn.init.zeros_(self.head_skip.weight)
            nn.init.zeros_(self.head_skip.bias)

    @classmethod
    def parameter_count(cls, num_frames: int, num_selected: int, config, feature_dim: int) -> int:
        H, D, hd, k, e = config.heads, config.dim, config.head_dim, num_selected, config.encoder_dim
        learned = config.frame_encoder == "learned"
        d_in = FEATURE_DIM + (2 * e if learned else 0)
        return ((e * 9 + e + e * e * 9 + e if learned else 0)  # FrameEncoder: two 3x3 convolutions
                + 2 * d_in + d_in * D + D + D * D + D  # embed: LayerNorm, Linear, Linear
                + (num_frames * D if config.positional else 0)  # pos
                + D * 3 * H * hd + 3 * H * hd + H * hd  # qkv, head_out
                + D * H + H  # head_skip
                + D * D + D + D * H * k + H * k  # scale_mlp
                + D * D + D + D + 1  # temp_mlp
                + (1 if config.score_norm == "standardize" else 0))  # gain

    @property
    def heads(self) -> int:
        return self.config.heads

    def head_mask(self, heads: Optional[Union[Sequence[int], Sequence[bool], Tensor]], device) -> Tensor:
        """(H,) float mask of active heads from a list of indices or booleans (None: all)."""
        H = self.heads
        if heads is None:
            return torch.ones(H, device=device)
        values = list(heads.tolist() if isinstance(heads, Tensor) else heads)
        if len(values) == H and all(isinstance(v, bool) for v in values):
            mask = torch.tensor(values, dtype=torch.float32, device=device)
        else:
            if any(not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < H for v in values):
                raise ConfigError(f"heads must be indices in [0, {H}) or {H} booleans, got {values!r}.")
            mask = torch.zeros(H, device=device)
            mask[list(values)] = 1.0
        if mask.sum() == 0:
            raise ConfigError("At least one attention head must be active; switch one head back on.")
        return mask

    def base_scores(self, e: Tensor) -> Tensor:
        """e (B, T, D) -> a (B, H, T): one input-dependent base score per head and frame."""
        B, T, _ = e.shape
        H, hd = self.heads, self.config.head_dim
        qkv = self.qkv(e).view(B, T, 3, H, hd).permute(2, 0, 3, 1, 4)  # (3, B, H, T, hd)
        if torch.is_grad_enabled() and e.requires_grad:
            q, k, v = qkv
            ctx = F.scaled_dot_product_attention(q, k, v)  # (B, H, T, hd)
        else:  # inference: the same attention as two batched products (SDPA's CPU kernel costs more at T <= 128)
            q, k, v = qkv.reshape(3, B * H, T, hd)  # one copy
            att = torch.bmm(q, k.transpose(1, 2)).mul_(hd**-0.5).softmax(dim=-1)  # (B * H, T, T)
            ctx = torch.bmm(att, v).view(B, H, T, hd)
        a = (F.gelu(ctx) @ self.head_out[:, :, None]).squeeze(-1)  # (B, H, T): sum_d gelu(ctx) * head_out
        a = a + self.head_skip(e).transpose(1, 2)  # (B, H, T)
        if self.config.shared_base:
            a = a.mean(dim=1, keepdim=True).expand(B, H, T)
        return a

    def select(
        self,
        x: Tensor,
        *,
        tau0: Optional[float] = None,
        heads=None,
        stochastic: bool = False,
        generator: Optional[torch.Generator] = None,
        **_,
    ) -> Selection:
        B = x.shape[0]
        with torch.no_grad():
            feats = frame_features(x, self.config.feature_size)  # (B, T, d), parameter-free
        dtype = self.pos.dtype if self.pos is not None else feats.dtype
        feats = feats.to(dtype)
        if self.encoder is not None:  # das-learned: learned features of each frame beside the fixed ones
            feats = torch.cat([feats, self.encoder(x.to(dtype).mean(dim=2, keepdim=True))], dim=-1)
        e = self.embed(feats)  # (B, T, D)
        if self.pos is not None:
            e = e + self.pos
        pooled = e.mean(dim=1)  # (B, D)
        a = self.base_scores(e)  # (B, H, T)
        s = F.softplus(self.scale_mlp(pooled)).view(B, self.heads, self.num_selected)  # (B, H, k)
        if heads is None:  # all heads active: the mask is all ones, so it is left out
            A = torch.bmm(s.transpose(1, 2), a) / self.heads  # (B, k, T): mean_h a_h * s_h[j]
            head_scores = a * s.mean(dim=-1, keepdim=True)  # (B, H, T)
        else:
            mask = self.head_mask(heads, x.device).to(a.dtype)  # (H,)
            A = torch.bmm((s * mask[:, None]).transpose(1, 2), a) / mask.sum()  # (B, k, T)
            head_scores = a * s.mean(dim=-1, keepdim=True) * mask[None, :, None]  # (B, H, T)
        if self.gain is not None:  # standardised across the T frames, times a learned gain
            A = self.gain * (A - A.mean(dim=-1, keepdim=True)) / (A.std(dim=-1, keepdim=True) + 1e-6)
        base_tau = check_tau0(tau0) if tau0 is not None else self.tau0
        tau = base_tau * (0.5 + torch.sigmoid(self.temp_mlp(pooled).squeeze(-1)))  # (B,)
        return self._pick(
            A, tau, stochastic=stochastic, generator=generator,
            scores=A.mean(dim=1), head_scores=head_scores,
        )
