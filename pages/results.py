"""Results: the benchmark table (mean ± std over seeds), metric vs sampling ratio, speed figures.

Everything is read from the files the CLI writes (`python -m das_core bench` / `speed`).
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from explorer import catalogue, figures
from pages.ui import ROOT
from pages.ui.guards import loopback_guard, show_error
from pages.ui.keys import Results as K

DOCS = Path(os.environ.get("DAS_DOCS_DIR") or ROOT / "docs")  # override: tests
SPEED = DOCS / "speed.json"


@st.cache_data(show_spinner=False, ttl=10)
def _results(path: str, mtime: float):
    return catalogue.load_benchmark(path)


@st.cache_data(show_spinner=False, ttl=10)
def _speed(path: str, mtime: float):
    return catalogue.load_speed(path)


def _mtime(p: Path) -> float:
    return p.stat().st_mtime if p.exists() else 0.0


def result_set_ui() -> "catalogue.ResultSet | None":
    """Which benchmark grid to show (the main MobileNetV3-Small grid, the small-CNN grid, ...)."""
    sets = catalogue.result_sets(DOCS)
    chosen = sets[0] if sets else None
    if len(sets) > 1:
        chosen = st.radio("Benchmark grid (backbone)", sets, horizontal=True, key=K.GRID,
                          format_func=lambda s: s.label + (" · superseded" if s.superseded else ""))
    if chosen is not None and chosen.superseded:
        st.warning(chosen.status, icon=":material/history:")
    elif chosen is not None and chosen.status:
        st.caption(chosen.status)
    return chosen


def benchmark_ui() -> None:
    st.subheader("Benchmark")
    chosen = result_set_ui()
    try:
        rows, agg = _results(str(chosen.csv), _mtime(chosen.csv)) if chosen else (None, None)
    except Exception as err:
        show_error(err)
        return
    if not rows:
        st.info("Benchmark results are not yet generated: run `python -m das_core bench` "
                "(it writes `docs/results/results.csv`).", icon=":material/hourglass_empty:")
        return
    ratios = sorted({float(r["ratio"]) for r in agg
                     if isinstance(r.get("ratio"), (int, float)) and r.get("method") != "full"})
    ratio = 0.5 if 0.5 in ratios else (ratios[0] if ratios else None)
    if len(ratios) > 1:
        ratio = st.select_slider("Sampling ratio for the table", ratios, value=ratio, key=K.RATIO,
                                 format_func=lambda r: f"{r:.0%}")
    st.markdown(f"Mean ± std over seeds at sampling ratio {ratio:.0%} (the full sequence uses all frames)."
                if ratio is not None else "Mean ± std over seeds.")
    metrics = [m for m in ("auc", "balanced_accuracy", "accuracy") if any(r.get(f"{m}_mean") is not None for r in agg)]
    metric = st.radio("Metric", metrics, key=K.METRIC, horizontal=True,
                      format_func=lambda m: {"auc": "AUC"}.get(m, m.replace("_", " "))) if metrics else "auc"
    st.dataframe(catalogue.results_table(agg, ratio, metric), hide_index=True, width="stretch")
    datasets = [d for d in dict.fromkeys(r.get("dataset") for r in agg) if d]
    ds = st.selectbox("Data set", datasets, key=K.DATASET) if datasets else None
    sub = [r for r in agg if r.get("dataset") == ds] if ds else agg
    st.plotly_chart(figures.fig_metric_vs_ratio(sub, metric, ds), width="stretch", key=K.RATIO_FIG)
    paired_ui(chosen, ds)
    with st.expander("All rows (aggregated)"):
        st.dataframe(catalogue.summary_rows(agg), hide_index=True, width="stretch")
    if chosen.page is not None:
        with st.expander(f"docs/{chosen.page.name}"):
            st.markdown(chosen.page.read_text())


@st.cache_data(show_spinner=False, ttl=10)
def _paired(path: str, mtime: float):
    return catalogue.load_paired(path)


def paired_ui(chosen, dataset) -> None:
    """Paired differences with their CIs, and the static controls, when `python -m das_core paired` wrote them."""
    try:
        paired = _paired(str(chosen.csv), _mtime(chosen.csv.with_name("paired.json")))
    except Exception as err:
        show_error(err)
        return
    if not paired:
        st.caption("No paired differences for this grid yet: `python -m das_core paired` writes them.")
        return
    st.markdown("**Paired differences** (per seed, test AUC; mean, 95% bootstrap CI over seeds, sign-flip p). "
                "*Separates* only where the CI excludes 0; the best static/heuristic baseline is chosen on "
                "validation AUC.")
    st.dataframe(catalogue.paired_rows(paired, dataset), hide_index=True, width="stretch")
    controls = catalogue.static_control_rows(paired)
    if controls:
        st.markdown("**Static control**: each adaptive run's own network with its own picks, with the pick set it "
                    "makes most often on the training split (modal) and with its picks on a blank input.")
        st.dataframe(controls, hide_index=True, width="stretch")


def speed_ui() -> None:
    st.subheader("Speed")
    try:
        rows = _speed(str(SPEED), _mtime(SPEED))
    except Exception as err:
        show_error(err)
        return
    if not rows:
        st.info("Speed figures are not yet generated: run `python -m das_core speed` "
                "(it writes `docs/speed.json`).", icon=":material/hourglass_empty:")
        return
    numeric = [k for k in dict.fromkeys(k for r in rows for k in r)
               if k != "method" and all(isinstance(r.get(k), (int, float)) or r.get(k) is None for r in rows)
               and any(isinstance(r.get(k), (int, float)) for r in rows)]
    if "method" not in rows[0] or not numeric:
        st.dataframe(rows, hide_index=True, width="stretch")
        return
    c1, c2 = st.columns(2)
    key = c1.selectbox("Quantity", numeric, key=K.SPEED_QUANTITY)
    sizes = [s for s in dict.fromkeys(r.get("size") for r in rows) if s]
    if sizes:  # the speed report: one chart per volume size
        size = c2.radio("Volume", sizes, horizontal=True, key=K.SPEED_SIZE)
        shown = [r for r in rows if r.get("size") == size]
    else:
        shown = rows
    st.plotly_chart(figures.fig_speed(shown, key, key.replace("_", " ")), width="stretch", key=K.SPEED_FIG)
    with st.expander("Speed table"):
        st.dataframe(rows, hide_index=True, width="stretch")


def main() -> None:
    loopback_guard()  # a session's first request may run this page without app.py
    st.title("Results")
    st.caption("Read from the files the CLI writes; nothing is recomputed here.")
    benchmark_ui()
    speed_ui()


main()
