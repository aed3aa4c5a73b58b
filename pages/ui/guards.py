"""What every page checks or shows the same way: the loopback guard, the signed-in user, an error as one
sentence."""

from __future__ import annotations

import os
import signal
import threading
from typing import Optional

import streamlit as st

from explorer import auth
from explorer.text import md_error

__all__ = ["loopback_guard", "signed_in_user", "show_error"]


def loopback_guard() -> None:
    """Streamlit serves this app on loopback only (`explorer.serve`; a network goes through the login proxy of
    `explorer.network`). Started on another address anyway (a `streamlit run --server.address` flag), the app
    shows one sentence instead of any page and stops the server. app.py calls it; every page calls it too
    (Streamlit runs a page without app.py when the first request after the server starts names that page)."""
    from streamlit.runtime import Runtime

    address = st.get_option("server.address")
    if auth.is_loopback(address) or not Runtime.exists() or type(Runtime.instance()) is not Runtime:
        return  # loopback, or not a real server (AppTest's runtime is a stand-in)
    st.error(f"This app only listens on loopback, not on {address or 'every interface'!r}: the server is "
             "stopping. To serve on a network run `make run HOST=0.0.0.0`, which puts a login in front of it.")
    threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
    st.stop()


def signed_in_user() -> Optional[str]:
    """The user the login gate let in (`X-Das-User`, set by Caddy from the gate's answer on every request behind
    `make run HOST=...`), or None on loopback without a login."""
    try:
        user = st.context.headers.get("X-Das-User")
    except Exception:  # noqa: BLE001 - no request context (AppTest)
        return None
    return str(user) if user else None


def show_error(err: BaseException) -> None:
    """One clear sentence, never a traceback; escaped (`explorer.text.md`): a reader's error may quote a file
    name, a zip member or a tag value."""
    st.error(md_error(err))
