"""Cohort: every method over a split (the first N items), with the models the Compare page would choose.

Per method: hit rate (kept an informative frame, where the data set reports them), accuracy and balanced
accuracy (for models trained on this data set), an items x t heatmap of the picks; and the items where DAS
and another method disagree, each one a click away from the Compare page. `explorer.cohort` computes,
`explorer.cohort_figures` draws; this page only lays out. A run is kept (shared cache keyed by data set,
split, data options, item count and the checkpoints' paths and modification times), so leaving the page
and coming back shows it again without recomputing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from typing import Optional

import pandas as pd
import streamlit as st

from explorer import cohort, cohort_figures, figures, lineup, samples
from explorer.text import md
from pages.ui.caches import cached_checkpoints, cached_model, cached_untrained, dataset, datasets
from pages.ui.data_picker import picked_dataset, select_sample
from pages.ui.guards import loopback_guard, show_error
from pages.ui.keys import Cohort as K, choose_compare_das
from pages.ui.session import DATA_OPTIONS, valid_choice
from pages.ui.timing import Timer

FOCUS = "das"
KEEP_RUNS = 8  # cohort results kept in the shared cache (a 128-item run is well under 1 MB)


@st.cache_resource(show_spinner=False)
def _runs() -> OrderedDict:
    """The cohort results computed on this server: run key -> CohortResult (the newest KEEP_RUNS).
    A plain store rather than a cached function, so the run can draw its progress bar."""
    return OrderedDict()


@st.cache_resource(show_spinner=False, max_entries=64)
def _heatmap(run_key: str, method: str, by: str, _result, _rows, word: str):
    return cohort_figures.fig_picks_heatmap(_result, method, _rows, frame_word=word)


@st.cache_resource(show_spinner=False, max_entries=16)
def _pick_rate(run_key: str, _result, word: str):
    return cohort_figures.fig_pick_rate(_result, frame_word=word)


def data_options(info: dict) -> dict:
    """The data options the sidebar's picker uses for this data set (its T and frame size as chosen in this
    session, else the defaults), so an item opened in Compare is the very item shown here."""
    opts = dict(info["default_options"])
    chosen = st.session_state.get(DATA_OPTIONS, {}).get(info["name"], {})
    for key in ("num_frames", "size"):
        if key in opts:
            opts[key] = int(chosen.get(key, opts[key] or 28))
    return opts


def data_choice_ui() -> Optional[tuple]:
    """Data set, split (test by default) and number of items. Returns (info, split, options_json, ds, n)."""
    try:
        infos = datasets()
    except Exception as err:
        show_error(err)
        return None
    by_name = {d["name"]: d for d in infos}
    if not by_name:
        st.info("No data set is available on this machine.")
        return None
    picked = picked_dataset()  # start at the data set picked in the sidebar
    valid_choice(K.DATA_SET, by_name, picked if picked in by_name else next(iter(by_name)), kept=True)
    c1, c2, c3 = st.columns([3, 1.5, 1.5], vertical_alignment="bottom")
    name = c1.selectbox("Data set", list(by_name), key=K.DATA_SET,
                        format_func=lambda n: f"{n} ({by_name[n]['kind']})")
    info = by_name[name]
    splits = [s for s, n in info["split_sizes"].items() if n] or ["test"]
    valid_choice(K.SPLIT, splits, samples.default_split(info["split_sizes"]), kept=True)
    split = c2.selectbox("Split", splits, key=K.SPLIT)
    opts_json = json.dumps(data_options(info), sort_keys=True)
    try:
        ds = dataset(name, split, opts_json)
        size = len(ds)
    except Exception as err:
        show_error(err)
        return None
    if size == 0:
        st.warning("This split is empty.")
        return None
    valid_choice(K.ITEMS, range(1, size + 1), min(cohort.DEFAULT_ITEMS, size), kept=True)
    n = int(c3.number_input(f"Items (of {size})", 1, size, step=16, key=K.ITEMS,
                            help="The first N items of the split."))
    return info, split, opts_json, ds, n


def model_choice_ui(name: str, entries: list):
    """The DAS checkpoint (the other methods follow it as on the Compare page). Returns its entry or None."""
    das = lineup.das_options(entries, name)
    options = [e.label for e in das] + [cohort.UNTRAINED]
    valid_choice(K.DAS, options, options[0], kept=True, scope=(K.DAS_FOR, name))  # each data set: its own
    label = st.selectbox("DAS model (the others: the newest checkpoint of each method trained on this data set "
                         "with the same k, else untrained, as on the Compare page)", options, key=K.DAS)
    return next((e for e in das if e.label == label), None)


def run_ui(run_key: str, ds, models: dict, notes: list, n: int):
    """The result of this data set, split, item count and models: kept from an earlier run, or computed on a
    click with a progress bar. Returns it, or None until asked for."""
    runs = _runs()
    if run_key in runs:
        runs.move_to_end(run_key)
        return runs[run_key]
    st.caption(f"Runs {len(models)} methods over the first {n} item{'s' if n != 1 else ''} (deterministic picks, "
               f"batched).")
    if not st.button("Run all methods", key=K.RUN, type="primary", icon=":material/play_arrow:"):
        return None
    bar = st.progress(0.0, text="Running…")
    try:
        result = cohort.run_cohort(ds, models, max_items=n, notes=notes,
                                   progress=lambda done, total, msg: bar.progress(done / max(1, total), text=msg))
    except Exception as err:
        bar.empty()
        show_error(err)
        return None
    bar.empty()
    runs[run_key] = result
    while len(runs) > KEEP_RUNS:
        runs.popitem(last=False)
    return result


def summary_ui(result: cohort.CohortResult, run_key: str, word: str) -> None:
    st.subheader("Per method")
    df = pd.DataFrame(result.summary_rows())
    pct = st.column_config.NumberColumn(format="percent")
    st.dataframe(df, hide_index=True, width="stretch", key=K.SUMMARY,
                 column_config={"hit rate": pct, "accuracy": pct, "balanced accuracy": pct,
                                "picks ≠ its modal set": pct, "balanced acc. on its modal set": pct,
                                "seconds": st.column_config.NumberColumn(format="%.2f s")})
    known = []
    if not result.has_informative:
        known.append(f"this data set reports no informative {word}s, so there is no hit rate")
    foreign = [figures.method_label(m) for m in result.methods if not result.meaningful[m]]
    if foreign:
        known.append(f"no accuracy for models not trained on {md(result.dataset)} ({', '.join(foreign)}): their "
                     f"predictions here mean nothing")
    elif not result.has_labels:
        known.append("this data set has no labels, so there is no accuracy")
    total = sum(result.seconds.values())
    n = len(result.indices)
    hit = (f" Hit rate: share of items on which the method kept at least one informative {word}."
           if result.has_informative else "")
    hit += (f" For an input-adaptive method: the share of items whose picks differ from the one set it picks most "
            f"often on these items (its modal set, chosen from the picks alone), and its balanced accuracy when "
            f"every item gets that fixed set: own minus modal is what adapting per input adds here.")
    st.caption(f"{n} item{'s' if n != 1 else ''} of {md(result.dataset)} ({md(result.split)}), T={result.num_frames}; "
               f"all methods ran in {total:.1f} s.{hit}"
               + ("  \n" + "; ".join(known).capitalize() + "." if known else ""))
    for note in result.notes:
        st.caption(f":material/info: {md(note)}")  # a skipped checkpoint's reason may quote its path
    st.plotly_chart(_pick_rate(run_key, result, word), width="stretch", key=K.RATE_FIG)


def heatmaps_ui(result: cohort.CohortResult, run_key: str, word: str) -> None:
    """Per method the items x t picks, in one shared row order (sortable), two to a row."""
    st.subheader(f"Picks per item (items × {word})")
    c1, c2 = st.columns([2, 3])
    options = cohort.sort_options(result, FOCUS)
    valid_choice(K.SORT, options, options[0], kept=True)
    by = c1.selectbox("Sort the items by", options, key=K.SORT, format_func=lambda k: cohort.SORTS[k],
                      help="One order for every method, so a row is the same item in every heatmap.")
    valid_choice(K.METHODS, result.methods, list(result.methods), kept=True, multi=True)
    shown = c2.multiselect("Methods", result.methods, key=K.METHODS, format_func=figures.method_label)
    rows = cohort.order(result, by, FOCUS)
    cols = st.columns(2)
    for j, m in enumerate(shown):
        cols[j % 2].plotly_chart(_heatmap(run_key, m, by, result, rows, word), width="stretch",
                                 key=f"{K.HEATMAP_PREFIX}{m}")
    marks = [f"a coloured cell: the method picked that {word}"]
    if result.has_informative:
        marks.append(f"a ring: the item's informative {word}")
    if any(v is not None for v in (*result.correct.values(), *result.hit.values())):
        marks.append(f"the square left of {word} 0: right (green) or wrong (orange) where known, else whether it "
                     f"kept an informative {word}")
    st.caption("; ".join(marks).capitalize() + ".")


def open_in_compare(name: str, split: str, index: int, das_label: str) -> None:
    """Select item `index` of `name`/`split` in the shared data picker (and this DAS model on the Compare
    page), so the Compare page opens on it. The picker's keys are set both live and in the backup `keep`
    restores them from, as they would be after a pick in the sidebar."""
    select_sample(name, split, index)
    choose_compare_das(das_label, name)


def disagreements_ui(result: cohort.CohortResult, split: str, das_label: str) -> None:
    """The items where DAS is right and another method wrong, and the reverse; a row opens it in Compare."""
    st.subheader("Where DAS and another method disagree")
    others = [m for m in result.methods if m != FOCUS]
    if FOCUS not in result.methods or not others:
        return
    by = "correct" if result.correct.get(FOCUS) is not None else "hit" if result.hit.get(FOCUS) is not None else None
    if by is None:
        st.info("Neither correctness (no labels, or DAS was not trained on this data set) nor informative frames "
                "are known here, so there is nothing to disagree about.")
        return
    valid_choice(K.OTHER, others, "uniform" if "uniform" in others else others[0], kept=True)
    other = st.selectbox("DAS against", others, key=K.OTHER, format_func=figures.method_label)
    if by == "correct" and result.correct.get(other) is None:
        by = "hit" if result.hit.get(other) is not None else None
        if by is None:
            st.info(f"{figures.method_label(other)} was not trained on {md(result.dataset)}: its predictions here mean "
                    f"nothing, and this data set reports no informative frames.")
            return
    rows = cohort.disagreements(result, FOCUS, other, by=by)
    what = "was right" if by == "correct" else f"kept an informative {samples.frame_word(result.kind)}"
    if not rows:
        st.success(f"DAS and {figures.method_label(other)} agree on every item: on each, both or neither {what}.")
        return
    wins = sum(r["right"] == FOCUS for r in rows)
    st.caption(f"{len(rows)} item{'s' if len(rows) != 1 else ''} where one of the two {what} and the other did not: "
               f"DAS on {wins}, "
               f"{figures.method_label(other)} on {len(rows) - wins}; largest confidence gap first. "
               f"**Click a row to open that item in Compare.**")
    df = pd.DataFrame(rows)
    df["right"] = df["right"].map(figures.method_label)
    pct = st.column_config.NumberColumn(format="percent")
    event = st.dataframe(df.dropna(axis=1, how="all"), hide_index=True, width="stretch", key=K.DISAGREE,
                         on_select="rerun", selection_mode="single-row",
                         column_config={**{c: pct for c in df.columns if c.endswith("confidence")},
                                        "confidence gap": st.column_config.NumberColumn(format="%+.2f")})
    picked = event.selection.rows if event is not None else []
    if picked:
        open_in_compare(result.dataset, split, rows[picked[0]]["index"], das_label)
        st.switch_page("pages/compare.py")


def main() -> None:
    loopback_guard()  # a session's first request may run this page without app.py
    st.title("Cohort")
    st.caption("Every method over a split: what each picks on every item, how often it keeps the informative "
               "frame, how often it is right, and where DAS and another method disagree.")
    chosen = data_choice_ui()
    if chosen is None:
        return
    info, split, opts_json, ds, n = chosen
    entries = cached_checkpoints()
    das_entry = model_choice_ui(info["name"], entries)
    try:
        with st.spinner("Loading models…"):
            models = cohort.choose_models(ds, entries, das_entry=das_entry,
                                          load=lambda p: cached_model(p, os.path.getmtime(p)), untrained=cached_untrained)
    except Exception as err:
        show_error(err)
        return
    run_key = hashlib.sha1(f"{info['name']}|{split}|{opts_json}|n={n}|{models.key}"
                           .encode()).hexdigest()
    result = run_ui(run_key, ds, models, models.notes, n)
    if result is None:
        return
    word = samples.frame_word(result.kind)
    with Timer() as timer:
        summary_ui(result, run_key, word)
        heatmaps_ui(result, run_key, word)
        disagreements_ui(result, split, result.sources.get(FOCUS, cohort.UNTRAINED))
    st.caption(f"Rendered in {timer.seconds * 1000:.0f} ms (the run is kept: leaving the page and coming back "
               f"does not recompute it).")


main()
