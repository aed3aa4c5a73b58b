"""Where the model looked: class-activation maps (Grad-CAM family) of a classifier's backbone on single frames.

The classifier pools the backbone's features over its k picked frames and applies a linear head. On one
frame, mean or max pooling is the identity, so `head(backbone(frame))` is the model's verdict from that
frame alone: `frame_cams` explains this single-frame classifier with the `grad-cam` library
(`pytorch_grad_cam`: Grad-CAM, Grad-CAM++, EigenCAM), one map per picked frame, for the class the model
predicted for the whole sequence unless another is given.

Target layer (`target_layer`): the last module, in forward order, whose output is a 4D map of at least
`MIN_MAP` x `MIN_MAP` positions on the model's own frame size, found with forward hooks on a dummy frame.
The usual choice, the last convolution, is useless on small frames: MobileNetV3-Small shrinks a 28x28
frame to 1x1 (its CAM is one flat value), so the map is taken where the network still has room to say
*where*. On 28x28 frames that is MobileNetV3-Small's `0.4.block.0` (features[4]'s expand conv block, 96
channels at 4x4, the last map before the stride-2 5x5 depthwise conv takes it to 2x2) and SmallCNN's last
conv block (`net.10`, its ReLU, 64 channels at 7x7); on 64x64, MobileNetV3-Small's `0.9.block.0` (288 x 4x4).

The model is never modified: the CAMs run on a copy of its backbone and head (in eval mode), so no
gradient, hook or train/eval switch reaches the model the app shares between sessions. Works on CPU and
CUDA (the copy stays on the model's device) and with channels-last activations (the library reads them
through numpy, which keeps the logical (N, C, h, w) layout).

Needs the `grad-cam` package (`pip install das-explorer[app]`); it is imported on first use.
"""

from __future__ import annotations

import copy
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["CAM_METHODS", "MIN_MAP", "FrameClassifier", "target_layer", "predicted_class", "available", "frame_cams",
           "overlay", "colormap", "overlay_pngs"]

MIN_MAP = 4  # smallest map side (positions) a CAM is taken from
CAM_METHODS = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "eigencam": "EigenCAM"}


class FrameClassifier(nn.Module):
    """A subsampling classifier's backbone + head as a single-frame classifier: frames (N, C, H, W) -> logits.

    Pooling the features of one frame (mean or max) is the identity, so this is what the model concludes
    from each frame on its own."""

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(frames)
        if feats.dim() == 4:  # a user backbone that returns maps: the classifier averages them over space
            feats = feats.mean(dim=(2, 3))
        return self.head(feats.flatten(1))


def target_layer(backbone: nn.Module, frame_shape: Sequence[int], min_size: int = MIN_MAP) -> tuple[str, tuple]:
    """(name in `backbone.named_modules()`, output shape (C, h, w)) of the last module, in forward order,
    whose output is a 4D map with h, w >= min_size on a frame of `frame_shape` (C, H, W).

    A container finishes after its children with the same output, so a block is preferred over its
    last layer. ValueError when no module's map is that large (a frame smaller than min_size)."""
    names = {m: n for n, m in backbone.named_modules() if n}
    found: list[tuple[str, tuple]] = []

    def hook(module, _inputs, output):
        if isinstance(output, torch.Tensor) and output.dim() == 4 and min(output.shape[-2:]) >= min_size:
            found.append((names[module], tuple(int(v) for v in output.shape[1:])))

    handles = [m.register_forward_hook(hook) for m in names]
    p = next(backbone.parameters(), None)
    was_training = backbone.training
    try:
        backbone.eval()
        with torch.no_grad():
            backbone(torch.zeros(1, *frame_shape, device=p.device if p is not None else "cpu",
                                 dtype=p.dtype if p is not None and p.is_floating_point() else torch.float32))
    finally:
        for h in handles:
            h.remove()
        backbone.train(was_training)
    if not found:
        raise ValueError(f"No layer of the backbone keeps a map of at least {min_size}x{min_size} on frames of "
                         f"shape {tuple(frame_shape)}: a class-activation map would have nothing to locate.")
    return found[-1]


def available() -> bool:
    """True when the grad-cam package (`pytorch_grad_cam`) is installed (the `app` extra)."""
    import importlib.util

    return importlib.util.find_spec("pytorch_grad_cam") is not None


def _cam_class(method: str):
    import pytorch_grad_cam as pgc  # here: the library (and OpenCV) loads only when a CAM is asked for

    classes = {"gradcam": pgc.GradCAM, "gradcam++": pgc.GradCAMPlusPlus, "eigencam": pgc.EigenCAM}
    if method not in classes:
        raise ValueError(f"Unknown CAM method {method!r}; choose one of {', '.join(classes)}.")
    return classes[method]


def predicted_class(model, x: torch.Tensor) -> int:
    """The class the model predicts for the whole sequence x (T, C, H, W) (its sampler's picks, pooled)."""
    p = next(model.parameters())
    with torch.no_grad():
        logits, _ = model(x[None].to(p.device, p.dtype))
    return int(logits[0].argmax())


def frame_cams(model, x: torch.Tensor, frames: Sequence[int], *, target_class: Optional[int] = None,
               method: str = "gradcam", min_size: int = MIN_MAP) -> np.ndarray:
    """Class-activation maps of the model's backbone + head on the given frames of x.

    Args:
        model: a `SubsampledClassifier` (anything with `.backbone`, `.head`, and `model(x[None]) -> (logits, _)`).
        x: the sequence (T, C, H, W) as the model takes it.
        frames: indices of the frames to explain (e.g. a sampler's picks).
        target_class: the class to explain; default the model's prediction for the whole sequence.
        method: "gradcam", "gradcam++" or "eigencam" (`CAM_METHODS`).
        min_size: the smallest map side the target layer may have (`target_layer`).

    Returns:
        float32 (len(frames), H, W) in [0, 1], each map scaled to its own maximum (the library's
        normalisation) and upsampled to the frame size; all zeros where nothing speaks for the class.
    """
    frames = [int(t) for t in frames]
    T, C, H, W = x.shape
    if not frames:
        return np.zeros((0, H, W), np.float32)
    if any(t < 0 or t >= T for t in frames):
        raise IndexError(f"frame indices {frames} out of range for T={T}.")
    cam_class = _cam_class(method)
    with torch.inference_mode(False), torch.enable_grad():
        if target_class is None:
            target_class = predicted_class(model, x)
        net = FrameClassifier(copy.deepcopy(model.backbone), copy.deepcopy(model.head)).eval()
        p = next(net.parameters())
        name, _ = target_layer(net.backbone, (C, H, W), min_size)
        layer = dict(net.backbone.named_modules())[name]
        batch = x[frames].detach().clone().to(p.device, p.dtype)  # a clone: x may be an inference tensor
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        with cam_class(model=net, target_layers=[layer]) as cam:
            maps = cam(input_tensor=batch, targets=[ClassifierOutputTarget(int(target_class))] * len(frames))
        net.zero_grad(set_to_none=True)
    maps = np.nan_to_num(np.asarray(maps, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(maps, 0.0, 1.0).reshape(len(frames), H, W)


def colormap(values: np.ndarray) -> np.ndarray:
    """The 'jet' colormap (blue -> cyan -> yellow -> red) of values in [0, 1]: (..., 3) uint8, no matplotlib."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)[..., None]
    centres = np.array([0.75, 0.5, 0.25], np.float32)  # red, green, blue peak at 3/4, 1/2, 1/4
    rgb = np.clip(1.5 - np.abs(4.0 * (v - centres)), 0.0, 1.0)
    return (rgb * 255.0 + 0.5).astype(np.uint8)


def overlay(frame: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """A frame (uint8 (H, W) or (H, W, 3)) with a CAM (h, w) in [0, 1] laid over it: RGB uint8 (H, W, 3).

    The CAM is resized to the frame (bilinear) if needed; alpha is the heat map's weight."""
    img = np.asarray(frame)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"frame must be (H, W) or (H, W, 3), got shape {np.asarray(frame).shape}.")
    cam = np.asarray(cam, dtype=np.float32)
    if cam.shape != img.shape[:2]:
        t = torch.from_numpy(np.ascontiguousarray(cam))[None, None]
        cam = torch.nn.functional.interpolate(t, size=img.shape[:2], mode="bilinear", align_corners=False)[0, 0].numpy()
    a = float(np.clip(alpha, 0.0, 1.0))
    out = (1.0 - a) * img.astype(np.float32) + a * colormap(cam).astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def overlay_pngs(x, frames: Sequence[int], cams: np.ndarray, *, min_size: int = 160, alpha: float = 0.45,
                 window=None) -> list[bytes]:
    """PNG bytes of each frame of x (T, C, H, W) in `frames` with its CAM laid over it, enlarged to at least
    `min_size` pixels: the frame nearest-neighbour (its pixels stay sharp), the CAM bilinear (smooth)."""
    import io

    from PIL import Image

    from .figures import to_uint8, upscale

    out = []
    for t, cam in zip(frames, cams):
        img = overlay(upscale(to_uint8(x[int(t)], window), min_size), cam, alpha)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out
