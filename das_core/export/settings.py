"""The settings of an export (`ExportSettings`), the report's fixed wording and the method colours.

The method colours (Okabe-Ito) live here, in the library, and the app's figures import them
(`explorer.figures`), so the exports and every page colour a method alike.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

from ..cli_options import option as _opt

__all__ = ["ExportSettings", "DISCLAIMER", "METHOD_COLORS", "EXTRA_COLORS", "ARTEFACTS"]

DISCLAIMER = "DAS Explorer is a research tool, not for diagnosis: do not use these picks or predictions " \
             "for clinical decisions."

# the files an export writes into its folder, in the order they are written
ARTEFACTS = ("picks.csv", "picks.json", "picks.png", "sequence.mp4", "sequence.gif", "report.html")

METHOD_COLORS = {
    "full": "#7f7f7f",
    "uniform": "#0072B2",
    "random": "#E69F00",
    "dps": "#009E73",
    "adps": "#CC79A7",
    "das": "#D55E00",
    "central": "#8C564B",
    "edge-energy": "#B8860B",
    "pgadps": "#9467BD",
}
# a method without a colour above, or the second checkpoint of one method, takes the next of these
EXTRA_COLORS = ("#56B4E9", "#882255", "#44AA99", "#999933", "#332288", "#AA4499", "#117733", "#000000")


@dataclass
class ExportSettings:
    """How an export runs the models and draws the study (`python -m das_core export --help` prints
    each field's help).

    Args:
        volume_fps: frames per second of the MP4/GIF for a volume (a video keeps its own fps).
        min_size: small frames are upscaled (nearest neighbour, whole factor) to at least this many pixels.
        max_size: larger frames are shrunk to at most this many pixels (longest side) in the cine.
        tile: size in pixels of each picked frame in picks.png.
        tiles_per_row: picked frames per row of picks.png before wrapping.
        gif_max_frames: the GIF keeps every frame up to this many, else every n-th (the MP4 keeps all).
        stochastic: tempered stochastic picks argmax(A/tau + G) instead of the deterministic argmax(A),
            for the samplers that accept it.
        seed: seed of the stochastic draw.
        tau0: base temperature of the samplers that accept it (None: each model's own).
        heads: the active attention heads (None: all).
        focus: the one method tau0/heads/stochastic act on (None: every method that accepts them).
        all_probabilities: also report the class probabilities of models not trained on the study's data
            set (they are marked as not meaningful).
        threads: torch CPU threads while the models run (None: leave torch's setting).
        window: the display window (level, width) of the drawn frames, on the study's [0, 1] values (the
            app passes the window chosen on Explore); None draws [0, 1] as read. The models' input is
            never windowed.
    """

    volume_fps: float = _opt(8.0, "frames per second of the MP4/GIF for a volume (a video keeps its own fps)")
    min_size: int = _opt(256, "upscale small frames (whole factor, crisp pixels) to at least this many pixels")
    max_size: int = _opt(768, "shrink larger frames to at most this many pixels (longest side) in the MP4/GIF")
    tile: int = _opt(72, "pixels of each picked frame in picks.png")
    tiles_per_row: int = _opt(14, "picked frames per row of picks.png")
    gif_max_frames: int = _opt(300, "the GIF keeps every frame up to this many, else every n-th (the MP4 keeps all)")
    stochastic: bool = _opt(False, "tempered stochastic picks argmax(A/tau + G) where the sampler takes them")
    seed: int = _opt(0, "seed of the stochastic picks")
    tau0: Optional[float] = _opt(None, "base temperature of the samplers that take one (default: each model's own)")
    heads: Optional[list[int]] = _opt(None, "active attention heads, e.g. 0 2 (default: all)")
    focus: Optional[str] = _opt(None, "the one method tau0/heads/stochastic act on (default: every method)")
    all_probabilities: bool = _opt(False, "also report the class probabilities of models not trained on this "
                                          "data set (marked as not meaningful)")
    threads: Optional[int] = _opt(None, "torch CPU threads while the models run")
    window: Optional[list[float]] = _opt(None, "display window LEVEL WIDTH of the drawn frames on the study's [0, 1] "
                                               "values, e.g. 0.5 0.3 (the models' input is not windowed)")

    def controls(self) -> "LiveControls":
        """The live controls these settings give the samplers."""
        from ..samplers.controls import LiveControls

        return LiveControls(tau0=self.tau0, heads=tuple(self.heads) if self.heads is not None else None,
                            stochastic=bool(self.stochastic), seed=int(self.seed), focus=self.focus)

    @classmethod
    def from_controls(cls, controls, **settings) -> "ExportSettings":
        """Export settings carrying `controls` (a `LiveControls`), plus any other field given."""
        return cls(tau0=controls.tau0, heads=list(controls.heads) if controls.heads is not None else None,
                   stochastic=controls.stochastic, seed=controls.seed, focus=controls.focus, **settings)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["heads"] = [int(h) for h in self.heads] if self.heads is not None else None
        d["window"] = [float(v) for v in self.window] if self.window is not None else None
        return d
