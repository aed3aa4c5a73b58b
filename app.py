"""DAS Explorer: a Streamlit app over das_core (learnable, input-adaptive frame subsampling).

Run: `make run` (serves on 127.0.0.1, see .streamlit/config.toml); `make run HOST=0.0.0.0` serves on
the network behind a login proxy (Caddy + the gate of explorer/gate.py; see explorer/network.py).
The pages only lay out; everything shown is computed by the `explorer` package (samples, methods,
catalogue, figures, jobs) on top of das_core.
"""

from pathlib import Path
import sys

import streamlit as st

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pages.ui.guards import loopback_guard  # noqa: E402
from pages.ui.session import persist_widget_state  # noqa: E402

PAGES = [
    st.Page(str(ROOT / "pages" / "explore.py"), title="Explore", icon=":material/view_in_ar:", default=True),
    st.Page(str(ROOT / "pages" / "compare.py"), title="Compare", icon=":material/compare:"),
    st.Page(str(ROOT / "pages" / "cohort.py"), title="Cohort", icon=":material/grid_on:"),
    st.Page(str(ROOT / "pages" / "train.py"), title="Train", icon=":material/model_training:"),
    st.Page(str(ROOT / "pages" / "results.py"), title="Results", icon=":material/leaderboard:"),
]


def main() -> None:
    st.set_page_config(page_title="DAS Explorer", page_icon=":material/filter_frames:", layout="wide")
    st.html("<style>.block-container{padding-top:2.2rem;padding-bottom:2rem}"
            "h1{padding-top:0.2rem}</style>")
    loopback_guard()  # started on another address than loopback: one sentence, and the server stops
    page = st.navigation(PAGES)
    persist_widget_state()  # the data picker's choices survive page switches (see pages.ui.session.keep)
    st.sidebar.caption(":material/science: **Research tool — not for diagnosis.** "
                       "Models here are small demos; do not use them for clinical decisions.")
    page.run()


main()
