"""Serve the app: `python -m explorer.serve [streamlit options]` is `streamlit run app.py [options]` with the
app's heavy modules imported in a background thread while the server starts.

Why: Streamlit runs app.py only when the first browser session connects, so that session used to wait for
torch, das_core, plotly and pydicom to import (~1.5 s of a cold start on 2 cores) before anything was drawn.
Here they are imported as soon as the server is up (started any earlier, they slow the server's own start,
which competes for the same two cores), overlapping the browser's loading of the frontend; the first script
run finds them in `sys.modules` (a script that imports a module the thread is still
importing waits for that one import, as Python's per-module import locks guarantee, and never imports it
twice). `make run` and the browser tests serve the app this way; `streamlit run app.py` still works, with
the slower first page.

Only imports are preloaded (no data, no models, no Streamlit cache): nothing a session sees differs.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from pathlib import Path
from typing import Optional, Sequence

__all__ = ["PRELOAD", "preload", "main"]

ROOT = Path(__file__).resolve().parents[1]
# In the order the first page imports them (app.py -> pages._common -> the page), so the thread takes each
# module's import lock in the same order as the script run that may meet it half-way.
PRELOAD = (
    "torch",
    "pages._common",
    "explorer.figures",
    "explorer.methods",
    "plotly.graph_objects",
    "pydicom.data",  # the data-set list asks pydicom-data whether its echo cine is installed
    "PIL.Image",
)


def preload(names: Sequence[str] = PRELOAD) -> dict[str, float]:
    """Import `names` one after the other; returns seconds per module. A module that fails to import is
    skipped (the page that needs it reports the error in its own words)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    took = {}
    for name in names:
        t0 = time.perf_counter()
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the app shows its own error when it needs the module
            continue
        took[name] = round(time.perf_counter() - t0, 3)
    return took


def _preload_when_serving(timeout: float = 20.0) -> None:
    """Wait until the Streamlit runtime has started (or `timeout` passed), then `preload()`."""
    from streamlit.runtime import Runtime, RuntimeState

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Runtime.exists() and Runtime.instance().state != RuntimeState.INITIAL:
            break
        time.sleep(0.02)
    preload()


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Start the preload thread, then `streamlit run app.py *argv` in this process."""
    args = list(sys.argv[1:] if argv is None else argv)
    threading.Thread(target=_preload_when_serving, name="das-preload", daemon=True).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *args]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
