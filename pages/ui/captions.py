"""A sample in one line of Markdown, as the data pages show it under their title."""

from __future__ import annotations

from pathlib import Path

from explorer import samples
from explorer.samples import SampleData
from explorer.text import md

__all__ = ["sample_caption"]


def sample_caption(s: SampleData) -> str:
    """The sample in one line of Markdown; what comes from the file (its name, labels) is escaped."""
    T, C, H, W = s.x.shape
    word = samples.frame_word(s.kind)
    parts = [f"**{md(s.dataset)}**", f"{md(s.kind)}", f"T={T} {word}s of {C}×{H}×{W}"]
    shape = s.meta.get("original_shape")
    if isinstance(shape, (list, tuple)) and len(shape) >= 3 and list(shape[-3:]) != [T, H, W]:
        parts.append("original " + "×".join(str(int(v)) for v in shape))
    original = s.meta.get("original_frames")
    if isinstance(original, int) and original != T:  # say it when frames were resampled, above all when repeated
        parts.append(f"resampled from {original} {word}{'s' if original != 1 else ''}"
                     + (" (repeated)" if original < T else ""))
    spacing = s.meta.get("spacing")
    if s.kind == "volume" and isinstance(spacing, (list, tuple)) and len(spacing) == 3:
        parts.append("spacing " + " × ".join(f"{float(v):g}" for v in spacing) + " (z × y × x)")
    lab = s.meta.get("orientation_labels")
    if s.kind == "volume" and isinstance(lab, dict) and lab:
        parts.append(f"shown {md(lab.get('left'))}→{md(lab.get('right'))} across, {md(lab.get('top'))}→"
                     f"{md(lab.get('bottom'))} down, {word}s {md(lab.get('first'))}→{md(lab.get('last'))}")
    plane = s.meta.get("acquired_plane")
    if s.kind == "volume" and plane in ("coronal", "sagittal"):
        parts.append(f"acquired {plane}: shown as axial slices reformatted from its "
                     f"{int((s.meta.get('stored_shape') or [0])[0])} {plane} ones (its own plane is an orthogonal view)")
    if s.meta.get("volumes", 1) and int(s.meta.get("volumes") or 1) > 1:
        parts.append(f"the first of its {int(s.meta['volumes'])} volumes")
    if s.meta.get("viewer_frames"):
        parts.append(f"shown at {s.meta['viewer_frames']} evenly spread {word}s (the full study is over the "
                     f"decode cap)")
    if s.label_name is not None:
        parts.append(f"label **{md(s.label_name)}**")
    src = s.meta.get("source")
    if src and src != "synthetic":
        parts.append(f"source {md(Path(str(src)).name)}")  # its own name, on its own user's screen
    if s.meta.get("fps"):
        parts.append(f"{float(s.meta['fps']):.0f} fps")
    if s.informative:
        parts.append(f"informative {samples.frame_word(s.kind)}(s) {', '.join(map(str, s.informative))}")
    return " · ".join(parts)
