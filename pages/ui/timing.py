"""`Timer`: the render time the pages show as a small caption."""

from __future__ import annotations

import time

__all__ = ["Timer"]


class Timer:
    """Measures a block; the pages show the figure as a small caption (render time)."""

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        return False
