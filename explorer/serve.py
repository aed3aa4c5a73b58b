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

Also here, because every way the project serves the app goes through it: Streamlit listens on loopback only
(another `--server.address` is refused with one sentence: a network goes through `explorer.network`'s login
proxy), session ids are cut out of Streamlit's log lines (a session id in a log is as good as a login to
whoever reads it), and behind the proxy a browser's "clear cache" message is ignored (the caches are shared
by every user).
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Optional, Sequence

__all__ = ["PRELOAD", "preload", "loopback_args", "redact_session_ids", "main"]

ROOT = Path(__file__).resolve().parents[1]
# In the order the first page imports them (app.py -> pages.ui, its guards and session -> the default page,
# Explore: explorer.figures, then its helpers of pages.ui; timing is Compare's and Cohort's), so the thread
# takes each module's import lock in the same order as the script run that may meet it half-way.
PRELOAD = (
    "torch",
    "pages.ui",  # explorer.methods, das_core; torch's threads for the app
    "pages.ui.guards",
    "pages.ui.keys",  # imported by pages.ui.session
    "pages.ui.session",
    "explorer.figures",
    "pages.ui.caches",
    "pages.ui.captions",
    "pages.ui.data_picker",  # imports pages.ui.upload
    "pages.ui.upload",
    "pages.ui.hu_window",
    "pages.ui.timing",
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


_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def loopback_args(args: Sequence[str], environ=None) -> list[str]:
    """`args` with `--server.address 127.0.0.1` (added when absent); ValueError with one sentence for any other
    address, given as a flag or in STREAMLIT_SERVER_ADDRESS."""
    env = os.environ if environ is None else environ
    out, i, address = [], 0, env.get("STREAMLIT_SERVER_ADDRESS")
    args = list(args)
    while i < len(args):
        a = args[i]
        if a == "--server.address" and i + 1 < len(args):
            address, i = args[i + 1], i + 2
            continue
        if a.startswith("--server.address="):
            address, i = a.split("=", 1)[1], i + 1
            continue
        out.append(a)
        i += 1
    if address is not None and address.strip().strip("[]") not in _LOOPBACK:
        raise ValueError(f"Streamlit only listens on loopback here, not on {address!r}; to serve on a network run "
                         f"`make run HOST={address or '0.0.0.0'}`, which puts a login in front of it.")
    return [*out, "--server.address", (address or "127.0.0.1").strip()]


def redact_session_ids() -> None:
    """Log records of Streamlit's loggers have any session id (a UUID) replaced by "<session>"."""
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        if record.name.startswith("streamlit"):
            try:
                text = record.getMessage()
            except Exception:  # noqa: BLE001 - a malformed record is left to logging's own handling
                return record
            if _UUID.search(text):
                record.msg, record.args = _UUID.sub("<session>", text), None
        return record

    logging.setLogRecordFactory(factory)


def _ignore_clear_cache_from_browsers() -> None:
    from streamlit.runtime.app_session import AppSession

    def ignored(self) -> None:  # the caches are shared by every user: one browser may not empty them for all
        logging.getLogger("das.serve").warning("a browser asked to clear the caches; ignored behind the proxy")

    AppSession._handle_clear_cache_request = ignored


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Start the preload thread, then `streamlit run app.py *argv` in this process (loopback only)."""
    try:
        args = loopback_args(sys.argv[1:] if argv is None else argv)
    except ValueError as err:
        print(err, file=sys.stderr)
        sys.exit(2)
    redact_session_ids()
    if os.environ.get("DAS_BEHIND_PROXY") == "1":
        _ignore_clear_cache_from_browsers()
    threading.Thread(target=_preload_when_serving, name="das-preload", daemon=True).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *args]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
