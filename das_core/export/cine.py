"""sequence.mp4 and sequence.gif: the study frame by frame with each method's picks marked
(`draw.cine_frame`), written atomically."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterator, Sequence, Union

import numpy as np
from PIL import Image

from ..atomic import atomic_path, atomic_write
from .draw import CineCanvas, PickRow, pad_to_multiple
from .picks import SampleRun
from .settings import ExportSettings
from .study import Study

__all__ = ["cine_frames", "write_mp4", "write_gif", "gif_frame_indices"]


def cine_frames(study: Study, results: Sequence[SampleRun], settings: ExportSettings,
                frames: Sequence[int] | None = None) -> Iterator[np.ndarray]:
    """The cine's frames, uint8 RGB (H, W, 3), all the same size (padded to multiples of 16).

    Args:
        study: the study.
        results: the methods' picks.
        settings: min_size / max_size of the frame.
        frames: which study frames (default: all).
    """
    canvas = CineCanvas(study, [PickRow(r) for r in results], min_size=settings.min_size, max_size=settings.max_size,
                        window=settings.window)
    for t in (range(study.num_frames) if frames is None else frames):
        yield pad_to_multiple(canvas.frame(t), 16)


def write_mp4(path: Union[str, Path], study: Study, results: Sequence[SampleRun], settings: ExportSettings) -> Path:
    """Every frame of the study as an H.264 MP4 (imageio-ffmpeg's bundled ffmpeg) at the study's fps.

    Args:
        path: the .mp4 file (written to a temporary name beside it, then renamed).
        study: the study.
        results: the methods' picks.
        settings: volume_fps, min_size, max_size.
    """
    import imageio.v2 as imageio

    with atomic_path(path) as tmp:
        writer = imageio.get_writer(str(tmp), format="FFMPEG", fps=study.fps(settings.volume_fps), codec="libx264",
                                    pixelformat="yuv420p", macro_block_size=16, ffmpeg_log_level="error")
        try:
            for img in cine_frames(study, results, settings):
                writer.append_data(img)
        finally:
            writer.close()
    return Path(path)


def gif_frame_indices(num_frames: int, max_frames: int) -> list[int]:
    """Every frame up to `max_frames`, else every n-th (n the smallest step that fits)."""
    step = max(1, -(-num_frames // max(1, max_frames)))
    return list(range(0, num_frames, step))


def write_gif(path: Union[str, Path], study: Study, results: Sequence[SampleRun], settings: ExportSettings) -> Path:
    """The cine as a looping GIF (Pillow), at most `settings.gif_max_frames` frames.

    Args:
        path: the .gif file (written atomically).
        study: the study.
        results: the methods' picks.
        settings: volume_fps, min_size, max_size, gif_max_frames.
    """
    idx = gif_frame_indices(study.num_frames, settings.gif_max_frames)
    step = idx[1] - idx[0] if len(idx) > 1 else 1
    ms = int(round(1000.0 * step / study.fps(settings.volume_fps)))
    images = [Image.fromarray(img).quantize(colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
              for img in cine_frames(study, results, settings, frames=idx)]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=max(20, ms), loop=0,
                   optimize=False, disposal=1)
    with atomic_write(path, "wb") as fh:
        fh.write(buf.getvalue())
    return Path(path)
