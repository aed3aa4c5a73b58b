"""Compare: the same sample through every registered sampler (full, uniform, random, DPS, ADPS, DAS,
and any sampler registered with `das_core.register_sampler`), side by side.

tau0 and the active DAS heads apply live to the loaded model (no retraining). The controls and
everything they change live in an `st.fragment`, so moving them reruns only that part.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os

import numpy as np
import streamlit as st
from PIL import Image

from das_core import num_selected_for_ratio
from das_core.samplers.das import TAU_FORMULA, TAU_RANGE
from explorer import adaptivity, catalogue, exports, figures, lineup, methods, samples
from explorer.samples import SampleData
from explorer.text import md
from pages.ui.caches import cached_checkpoints, cached_model, cached_untrained, dataset
from pages.ui.captions import sample_caption
from pages.ui.data_picker import data_sidebar_ui, show_item, shown_index
from pages.ui.guards import loopback_guard, show_error
from pages.ui.keys import Compare as K
from pages.ui.session import valid_choice, window_for
from pages.ui.timing import Timer
from pages.ui.upload import study_input_ui

UNTRAINED = lineup.UNTRAINED
FOCUS = lineup.FOCUS  # the method the live controls (tau0, heads, stochastic view) act on
TAU_VALUES = [0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0]
VIEW_SOFT = "Deterministic picks + soft matrix softmax(A/τ)"
VIEW_STOCH = "Tempered stochastic picks argmax(A/τ + G)"


def model_choice_ui(s: SampleData, entries: list) -> tuple:
    """DAS checkpoint picker + ratio. Returns (das entry or None for an untrained DAS, ratio).

    The picker starts each data set on its first DAS checkpoint (untrained where it has none): a choice
    made on another data set is not carried over, so the picker never shows "untrained" while the
    line-up runs a checkpoint, nor the reverse."""
    T = s.x.shape[0]
    c1, c2, c3 = st.columns([4, 2, 1.3], vertical_alignment="bottom")
    show_all = c3.toggle("All data sets", key=K.SHOW_ALL, help="List checkpoints trained on other data sets too.")
    das = lineup.das_options(entries, s.dataset, show_all=show_all, kind=s.kind)
    options = [UNTRAINED] + [e.label for e in das]
    own = [e.label for e in das if lineup.serves(e.dataset, s.dataset, s.kind)]  # an upload: your own data's
    valid_choice(K.DAS, options, own[0] if own else UNTRAINED, scope=(K.DAS_FOR, s.dataset))
    label = c1.selectbox("DAS model (the one tau0 and heads act on)", options, key=K.DAS)
    entry = next((e for e in das if e.label == label), None)
    if entry is not None and entry.k and entry.T:  # a trained model keeps its own k: say it, no stale slider
        c2.metric("Ratio k/T (the model's)", f"{entry.k / entry.T:.0%} (k={entry.k})")
        return entry, entry.k / entry.T
    ratio = c2.select_slider("Ratio k/T (untrained)", [0.125, 0.25, 0.5, 0.75], value=0.5,
                             key=K.RATIO, format_func=lambda r: f"{r:.0%} (k={num_selected_for_ratio(T, r)})",
                             disabled=entry is not None)
    return entry, ratio


def build_lineup(s: SampleData, entries: list, das_entry, ratio: float) -> lineup.LineUp:
    """The page's line-up (`explorer.lineup.choose_lineup`): the DAS the picker names, and per other method
    the newest checkpoint on this data set with the same T and k, else an untrained model."""
    return lineup.choose_lineup(
        lineup.Fit.of(s.dataset, s.x, s.classes), entries, das=das_entry, ratio=ratio,
        load=lambda p: cached_model(p, os.path.getmtime(p)),
        check=lambda meta: catalogue.check_sample_compatible(meta, s), build=cached_untrained)


def controls_ui(das_model) -> dict:
    """tau0, active heads, which tau view, seed. Returns them as a dict."""
    H = das_model.sampler.heads
    c1, c2, c3 = st.columns([3, 2.6, 3], gap="medium")
    tau0 = c1.select_slider("tau0 (DAS base temperature)", TAU_VALUES, value=1.0, key=K.TAU0,
                            help=f"{TAU_FORMULA}, one per sample, in {TAU_RANGE}. The deterministic picks "
                                 "argmax(A) do not depend on tau; the soft matrix and stochastic picks do.")
    heads = c2.pills("Active heads", list(range(H)), selection_mode="multi", default=list(range(H)),
                     key=K.HEADS, format_func=lambda h: f"h{h}",
                     help="Switch DAS attention heads off to see what each one contributes (no retraining).")
    view = c3.radio("What tau0 changes here", [VIEW_SOFT, VIEW_STOCH], key=K.VIEW)
    seed = 0
    if view == VIEW_STOCH:
        seed = int(c3.number_input("Gumbel seed", 0, 10_000, 0, key=K.SEED))
    return {"tau0": float(tau0), "heads": sorted(int(h) for h in heads or []), "stochastic": view == VIEW_STOCH,
            "seed": seed}


def predictions_ui(s: SampleData, results: dict, models: dict) -> None:
    """Predicted class and confidence, only for models trained on this data set unless asked: a model's
    probabilities on data it never saw look confident and mean nothing."""
    own = {m for m, c in models.items() if c.meaningful_on(s.dataset)}
    hidden = [figures.method_label(m) for m in results if m not in own]
    show_all = False
    if hidden:
        st.caption(f"Class probabilities hidden for models not trained on **{md(s.dataset)}** "
                   f"({', '.join(hidden)}): untrained, or trained on other data.")
        show_all = st.toggle("Show their class probabilities anyway", key=K.SHOW_FOREIGN)
    rows = []
    for m, r in results.items():
        if m not in own and not show_all:
            continue
        pred = r.predicted_index
        names = s.classes or models[m].classes  # an upload has no classes: the model's own names them
        name = names[pred] if names and pred is not None and pred < len(names) else str(pred)
        rows.append({"method": m, "predicted": name, "confidence": r.confidence,
                     "correct": (pred == s.y) if s.y is not None and s.y >= 0 else None})
    if rows:
        st.plotly_chart(figure("fig_confidence", rows, s.label_name), width="stretch", key=K.CONFIDENCE_FIG)


def strips_ui(s: SampleData, results: dict, models: lineup.LineUp) -> None:
    """Each method's picked frames, labelled with the model that picked them (the line-up's choice)."""
    word = samples.frame_word(s.kind)
    for m, r in results.items():
        c1, c2 = st.columns([1.2, 6], vertical_alignment="center")
        tag = md(models[m].tag)  # Markdown and HTML escaped: it is rendered with unsafe_allow_html
        c1.markdown(f"<span style='color:{figures.method_color(m)};font-weight:700'>■ {figures.method_label(m)}</span><br>"
                    f"<small>{tag} · k={len(r.indices)}</small>", unsafe_allow_html=True)

        hit = ""
        if s.informative:
            hit = " · kept the informative " + word if set(s.informative) & set(r.indices) else " · missed the informative " + word
        c2.image(_strip_uri(s.x, s.key, tuple(r.indices), m), width="stretch" if len(r.indices) > 10 else "content",
                 caption=f"{word}s {samples.frame_names(s, r.indices)}{hit}")
    # built only when asked for: dozens of large images on every rerun would slow the page down
    chosen = st.selectbox(f"Enlarge the picked {word}s of", [None, *results], key=K.ENLARGE,
                          format_func=lambda m: "(choose a method)" if m is None else figures.method_label(m))
    if chosen is not None:
        enlarged_ui(s, results[chosen], word)


@st.cache_data(show_spinner=False, max_entries=256)
def _strip_uri(_x, x_key: str, indices: tuple, method: str) -> str:
    """A method's picked-frames strip as a PNG data URI, encoded once per sample and picks. A URI goes to the
    browser as it is: given bytes, st.image opens, checks and registers the image again on every rerun, and
    the six strips cost 60-100 ms of each tau0 step or head toggle (measured in the browser)."""
    buf = io.BytesIO()
    Image.fromarray(figures.strip(_x, indices, method, tile=48)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def enlarged_ui(s: SampleData, r, word: str) -> None:
    """The picked frames of one method at a readable size, four to a row, each with its index."""
    cols = st.columns(4)
    for j, t in enumerate(r.indices):
        mark = " · informative" if s.informative and t in s.informative else ""
        cols[j % 4].image(figures.frame_image(s.x, t, min_size=160), caption=f"{word} {t}{mark}", width="stretch",
                          output_format="PNG")


@st.cache_data(show_spinner=False, max_entries=16)
def _sweep(_model, model_key: str, _x, x_key: str, heads: tuple) -> dict:
    return methods.tau_sweep(_model, _x, heads=list(heads))


@st.cache_data(show_spinner=False, max_entries=16)
def _fixed_results(_models: dict, model_key: str, _x, x_key: str) -> dict:
    """Every method but DAS on this sample: they do not depend on tau0 or the heads, so a control
    change reruns DAS alone."""
    return methods.compare_methods(_x, {m: v for m, v in _models.items() if m != FOCUS})


@st.cache_data(show_spinner=False, max_entries=64)
def _das_result(_focus: lineup.ModelChoice, model_key: str, _x, x_key: str, tau0: float, heads: tuple,
                stochastic: bool, seed: int):
    """DAS on this sample with the live controls, once per model, sample and control values (a control moved
    back to a value it had shows at once)."""
    controls = methods.LiveControls(tau0=tau0, heads=heads, stochastic=stochastic, seed=seed)
    return methods.run_at_tau0(_focus, _x, controls, _das_classified(_focus, model_key, _x, x_key, heads))


@st.cache_data(show_spinner=False, max_entries=32)
def _das_classified(_focus: lineup.ModelChoice, model_key: str, _x, x_key: str, heads: tuple):
    """DAS's deterministic picks and prediction with these heads (at its trained tau0)."""
    return methods.run_choice(_focus, _x, methods.LiveControls(tau0=_focus.model.sampler.tau0, heads=heads))


@st.cache_data(show_spinner=False, max_entries=32)
def _attention_scale(_model, model_key: str, _x, x_key: str) -> tuple[float, float]:
    """(min, max) of every head's scores on this sample: one colour scale while heads are toggled (the head
    scores do not depend on tau0, so a tau0 step does not recompute it)."""
    scores = methods.run_on_sample(_model, _x, classify=False).head_scores
    return float(np.min(scores)), float(np.max(scores))


@st.cache_resource(show_spinner=False, max_entries=96)
def _cached_figure(builder: str, key: str, _args: tuple, _kwargs: dict):
    """`figures.<builder>(*args, **kwargs)`, built once per `key` (a digest of everything it shows).

    Plotly builds a figure in 10-170 ms (property validation), most of a control change's rerun; a
    tau0 step leaves the picks, the timeline and the attention unchanged, so only what changed is
    rebuilt. st.plotly_chart does not modify the figure, so the cached object is shared.
    """
    return getattr(figures, builder)(*_args, **_kwargs)


def figure(builder: str, *args, **kwargs):
    """A cached `figures.<builder>` figure, keyed by the digest of its arguments."""
    h = hashlib.sha1(builder.encode())
    for v in (*args, *sorted(kwargs.items())):
        h.update(np.ascontiguousarray(v).tobytes() if isinstance(v, np.ndarray) else repr(v).encode())
    return _cached_figure(builder, h.hexdigest(), args, kwargs)


@st.cache_resource(show_spinner=False, max_entries=32)
def _static_figs(model_key: str, x_key: str, _dps, _adps, T: int, word: str):
    """DPS's and ADPS's figures do not depend on tau0 or the DAS heads: built once per model and sample."""
    return (figures.fig_dps_logits(_dps.scores, _dps.indices, word),
            figures.fig_adps_steps(_adps.indices, _adps.pick_rank, T, word))


SPLIT_ITEMS = 64  # items of the sample's split the control-change counts run over
PRIOR_ITEMS = 128  # items of the train split the modal set is taken over


@st.cache_resource(show_spinner=False, max_entries=8)
def _items(name: str, split: str, options_json: str, n: int):
    """The first n sequences of a split, stacked (N, T, C, H, W)."""
    return adaptivity.stack_items(dataset(name, split, options_json), n)


@st.cache_data(show_spinner=False, max_entries=64)
def _split_change(_model, model_key: str, source: tuple, heads: tuple, tau0, stochastic: bool,
                  seed: int) -> tuple[float, int, list]:
    """(share of the first SPLIT_ITEMS items of the sample's split whose DAS picks these controls change, N,
    their indices)."""
    xs = _items(*source, SPLIT_ITEMS)
    items = adaptivity.changed_items(_model, xs, heads=list(heads), tau0=tau0, stochastic=stochastic, seed=seed)
    return (len(items) / xs.shape[0] if xs.shape[0] else float("nan")), int(xs.shape[0]), items


@st.cache_data(show_spinner=False, max_entries=16)
def _modal(_model, model_key: str, name: str, options_json: str) -> tuple[list, float, int]:
    """(DAS's most common pick set over the first PRIOR_ITEMS train items, the share that gets it, N)."""
    xs = _items(name, "train", options_json, PRIOR_ITEMS)
    best, share = adaptivity.modal_set(_model, xs)
    return best, share, int(xs.shape[0])


def control_effect_ui(s: SampleData, das: lineup.ModelChoice, model_key: str, ctl: dict) -> None:
    """What the live controls change: picks changed on this sample and on how many items of its split."""
    H = das.model.sampler.heads
    heads = tuple(ctl["heads"])
    if not heads:
        return
    moved = []
    if len(heads) < H:
        moved.append("heads " + " ".join(f"h{h}" for h in heads) + " only")
    if ctl["stochastic"]:
        moved.append(f"a tempered stochastic draw (tau0 {ctl['tau0']:g}, seed {ctl['seed']})")
    if not moved:
        tau = "" if ctl["tau0"] == das.model.sampler.tau0 else \
            f" tau0 {ctl['tau0']:g} changes only the soft matrix below, never the deterministic picks."
        st.caption(f"All {H} heads, deterministic picks: DAS's own picks.{tau} Switch heads off or draw "
                   f"stochastic picks to see what they change.")
        return
    tau0 = ctl["tau0"] if ctl["stochastic"] else None
    change = adaptivity.pick_change(das.model, s.x, heads=heads, tau0=tau0, stochastic=ctl["stochastic"],
                                    seed=ctl["seed"])
    word = samples.frame_word(s.kind)
    text = f"With {' and '.join(moved)}: **{change.changed} of {change.k} picks change** on this sample"
    items: list = []
    if s.source is not None:
        try:
            share, n, items = _split_change(das.model, model_key, s.source, heads, tau0, ctl["stochastic"],
                                            ctl["seed"])
            text += f"; the picks change on **{share:.0%}** of the first {n} {s.source[1]} items"
        except Exception as err:  # a data set that cannot be read in bulk: the sample's count stands alone
            text += f" (the split could not be read: {md(err)})"
    st.caption(text + f" (against DAS's own picks: all {H} heads, deterministic). A {word} that stays picked "
                      f"whatever the heads is one DAS would pick from its prior alone (see its prior below).")
    index = shown_index() if s.source is not None else None
    others = [i for i in items if i != index]
    if change.changed == 0 and others:
        st.button(f"Show item {others[0]}, where these controls change the picks", key=K.GO_CHANGED,
                  on_click=show_item, args=(others[0],), icon=":material/arrow_forward:",
                  help=f"The first of the {len(items)} items of the first {SPLIT_ITEMS} of this split on which the "
                       f"same controls move at least one pick.")


def prior_ui(s: SampleData, das: lineup.ModelChoice, model_key: str) -> None:
    """DAS's picks on this sample against its picks on a blank input and its most common set on the train
    split: how much of what it picks is a positional prior, and how much it changes per input."""
    if not st.toggle("What DAS's picks are made of (its prior)", key=K.PRIOR,
                     help="Its picks here against its picks on an all-zero input and against the set it picks "
                          "most often on the training split."):
        return
    word = samples.frame_word(s.kind)
    own = adaptivity.own_picks(das.model, s.x)  # all heads, deterministic: whatever the controls show above
    blank = adaptivity.blank_picks(das.model, tuple(s.x.shape))
    modal = share = n = None
    if s.source is not None:
        try:
            modal, share, n = _modal(das.model, model_key, s.source[0], s.source[2])
        except Exception as err:
            st.caption(f"The training split could not be read for the modal set ({md(err)}).")
    view = adaptivity.prior_view(own, blank, modal, share)
    rows = {"DAS, this sample": view.own, "DAS, blank input": view.blank}
    if view.modal is not None:
        rows["DAS, most common set"] = view.modal
    st.plotly_chart(figure("fig_timeline", rows, s.x.shape[0], s.informative, word,
                           title="DAS's own picks here (all heads, deterministic) and its prior", color=figures.method_color(FOCUS)),
                    width="stretch", key=K.PRIOR_FIG)
    text = (f"Of DAS's {view.k} picks on this sample, **{view.shared_blank}** are also its picks on an all-zero "
            f"input (what it picks when the input says nothing)")
    if view.modal is not None:
        text += (f" and **{view.shared_modal}** are in the set it picks most often on the first {n} training "
                 f"items (exactly that set on {share:.0%} of them): it changes {view.k - view.shared_modal} "
                 f"{word}{'s' if view.k - view.shared_modal != 1 else ''} for this input")
    st.caption(text + ". " + ("" if das.trained else "This DAS is untrained: its prior is the tie-break. ")
               + "Whether its own picks beat that fixed set over a whole split: Cohort, and the grids' static "
                 "control on Results.")


@st.fragment
def results_ui(s: SampleData, models: dict, model_key: str, x_key: str) -> dict:
    """Everything tau0 / heads change: reruns on its own when those controls move. Returns the live controls
    (`controls_ui`; a rerun of the fragment alone returns nothing to the page)."""
    with Timer() as timer:
        ctl = controls_ui(models[FOCUS].model)
        control_effect_ui(s, models[FOCUS], model_key, ctl)
        if not ctl["heads"]:  # DAS has nothing to score with; the other methods are still shown
            st.warning("No attention head is active, so DAS picks nothing: switch a head back on. The other "
                       "methods are shown.", icon=":material/visibility_off:")
        try:
            results = _live_results(s, models, model_key, x_key, ctl)
        except Exception as err:
            show_error(err)
            return ctl
        das = results.get(FOCUS)
        if das is not None:
            _das_view_ui(das, ctl)
        _timeline_ui(s, results)
        _picks_and_predictions_ui(s, results, models)
        if das is not None:  # full width: one cell per frame and head must be readable
            _attention_ui(s, das, models[FOCUS].model, model_key, x_key, ctl)
        cine_ui(s, results)
        saliency_ui(s, results, models, model_key)
        if das is None:
            return ctl
        prior_ui(s, models[FOCUS], model_key)
        _sampling_matrix_ui(s, das)
        _tau_sweep_ui(s, models[FOCUS].model, model_key, x_key, ctl)
    st.caption(f"Rendered in {timer.seconds * 1000:.0f} ms (models cached; this block reruns alone when tau0, "
               f"heads or the view change).")
    return ctl


def _live_results(s: SampleData, models: dict, model_key: str, x_key: str, ctl: dict) -> dict:
    """method -> its result on this sample with the live controls, in registry order (no DAS without a head)."""
    # only DAS depends on the live controls: the other methods' results are cached per model and sample
    results = dict(_fixed_results(models, model_key, s.x, x_key))
    if ctl["heads"]:
        results[FOCUS] = _das_result(models[FOCUS], model_key, s.x, x_key, ctl["tau0"], tuple(ctl["heads"]),
                                     ctl["stochastic"], ctl["seed"])
    return {m: results[m] for m in models if m in results}  # registry order


def _das_view_ui(das, ctl: dict) -> None:
    """Which picks DAS shows, this sample's tau and the soft rows' entropy."""
    shown = "tempered stochastic picks (seed %d)" % ctl["seed"] if ctl["stochastic"] else \
        "deterministic picks (independent of tau0) and the soft matrix"
    st.info(f"DAS is showing **{shown}**. τ for this sample = {das.tau:.3f} "
            f"(tau0 {ctl['tau0']:g}); soft-row entropy {methods.soft_entropy(das.soft):.2f} nats.",
            icon=":material/thermostat:")


def _timeline_ui(s: SampleData, results: dict) -> None:
    """Every method's picks on one frame timeline."""
    st.plotly_chart(figure("fig_timeline", {m: r.indices for m, r in results.items()}, s.x.shape[0], s.informative,
                           samples.frame_word(s.kind)),
                    width="stretch", key=K.TIMELINE_FIG)


def _picks_and_predictions_ui(s: SampleData, results: dict, models: dict) -> None:
    """The picked-frame strips on the left, the predictions on the right."""
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.subheader("Selected frames")
        strips_ui(s, results, models)
    with right:
        predictions_ui(s, results, models)


def _attention_ui(s: SampleData, das, das_model, model_key: str, x_key: str, ctl: dict) -> None:
    """DAS's per-head scores, the active heads marked, on one colour scale per sample."""
    active = [h in ctl["heads"] for h in range(das.head_scores.shape[0])]
    scale = _attention_scale(das_model, model_key, s.x, x_key)
    st.plotly_chart(figure("fig_attention", das.head_scores, active, das.indices, samples.frame_word(s.kind),
                           scale=scale),
                    width="stretch", key=K.ATTENTION_FIG)


def _sampling_matrix_ui(s: SampleData, das) -> None:
    """DAS's soft and hard k x T sampling matrices, side by side."""
    word = samples.frame_word(s.kind)
    st.subheader("DAS sampling matrix (k × T)")
    c1, c2 = st.columns(2)
    rows = [f"row {j} ({word} {i})" for j, i in enumerate(das.indices)]
    c1.plotly_chart(figures.fig_matrix(das.soft, f"Soft rows softmax(A/τ), τ={das.tau:.3f}", rows, zmax=1.0,
                                       colorscale="Oranges", frame_word=word), width="stretch", key=K.SOFT_FIG)
    c2.plotly_chart(figure("fig_matrix", das.hard, "Hard (one-hot) picks", rows, zmax=1.0, colorscale="Greys",
                           frame_word=word), width="stretch", key=K.HARD_FIG)


def _tau_sweep_ui(s: SampleData, das_model, model_key: str, x_key: str, ctl: dict) -> None:
    """The tau0 sweep on this sample, drawn only while its toggle is on."""
    # a toggle, not an expander: an expander's content is built on every rerun even while closed
    if st.toggle("tau0 sweep: what tau really changes on this sample", key=K.SHOW_SWEEP):
        sw = _sweep(das_model, model_key, s.x, x_key, tuple(ctl["heads"]))
        st.plotly_chart(figure("fig_tau_sweep", sw["taus"], sw["entropy"], sw["changed"], ctl["tau0"]),
                        width="stretch", key=K.SWEEP_FIG)
        st.caption("Entropy of the soft rows grows with tau0 (flatter relaxation); deterministic picks never "
                   "change; tempered stochastic picks drift away from them as tau0 grows.")


def static_methods_ui(s: SampleData, models: dict, model_key: str) -> None:
    """DPS's logits and ADPS's step-by-step picks: they do not depend on the DAS controls, so they are drawn
    outside the fragment and a control change neither rebuilds nor resends them."""
    if not {"dps", "adps"} <= set(models):
        return
    try:
        results = _fixed_results(models, model_key, s.x, s.key)
    except Exception as err:
        show_error(err)
        return
    st.subheader("DPS and ADPS (independent of the DAS controls)")
    c1, c2 = st.columns(2)
    fig_dps, fig_adps = _static_figs(model_key, s.key, results["dps"], results["adps"], s.x.shape[0],
                                     samples.frame_word(s.kind))
    c1.plotly_chart(fig_dps, width="stretch", key=K.DPS_FIG)
    c2.plotly_chart(fig_adps, width="stretch", key=K.ADPS_FIG)


def cine_ui(s: SampleData, results: dict) -> None:
    """The sample as a cine that plays in the browser (plotly animation, no rerun per frame) over one timeline
    row per method: a marker moves along it and along DAS's per-frame score, and the title names the methods
    that picked the frame on screen. Behind a toggle (the figure carries every frame); it takes the results
    shown above, so the samplers do not run again for it."""
    if not st.toggle("Cine with the picks", key=K.CINE,
                     help="Play the sample with every method's picks flagged as the cine passes them."):
        return
    word = samples.frame_word(s.kind)
    T = s.x.shape[0]
    fps = samples.video_fps(s) if s.kind == "video" else None  # its own rate, per frame kept of the original clip
    if fps is None:
        fps = float(st.select_slider("Cine rate", samples.CINE_RATES, value=samples.DEFAULT_CINE_RATE, key=K.CINE_FPS,
                                     format_func=lambda v: f"{v} {word}s/s",
                                     help="A volume has no frame rate of its own: choose one."))
    # a method that keeps every frame (the full sequence) would fill its row and be named on every frame
    every = [m for m, r in results.items() if len(set(int(i) for i in r.indices)) >= T]
    picks = {m: [int(i) for i in r.indices] for m, r in results.items() if m not in every}
    das = results.get(FOCUS)
    scores = None if das is None or das.scores is None else np.asarray(das.scores, dtype=np.float64).reshape(-1)
    informative = list(s.informative) if s.informative else None
    h = hashlib.sha1(f"{s.key}|{sorted(picks.items())}|{fps}|{informative}|{word}".encode())
    h.update(b"" if scores is None else scores.tobytes())
    fig = _cached_figure("fig_cine", h.hexdigest(), (s.x, picks),
                         dict(fps=fps, scores=scores, informative=informative, frame_word=word))
    st.plotly_chart(fig, width="stretch", key=K.CINE_FIG, config={"displayModeBar": False})
    st.caption(f"{T} {word}s at {fps:.3g} {word}s/s: ▶ Play, ❚❚ Pause, drag the slider to scrub (it plays in the "
               f"browser). A ring marks the methods that picked the {word} on screen"
               + (f"; the lowest row is DAS's score per {word}." if scores is not None else ".")
               + (f" Not shown: {', '.join(figures.method_label(m) for m in every)} (keeps every {word})."
                  if every else ""))


def saliency_ui(s: SampleData, results: dict, models: dict, model_key: str) -> None:
    """Where the model looked: a class-activation map (explorer/saliency.py, with the grad-cam library) of a
    method's own backbone + head on each frame it picked, captioned with DAS's score for that frame per head.
    Behind a toggle; the maps are cached per models, sample, method, picks, class and map type, so a tau0
    change (the deterministic picks stay) does not compute them again."""
    if not st.toggle("Where the model looked (Grad-CAM)", key=K.CAM,
                     help="On each picked frame, where the evidence for the model's predicted class lies when "
                          "its classifier (backbone + head) looks at that frame alone."):
        return
    from explorer import saliency  # grad-cam (and OpenCV) load on the first map

    if not saliency.available():
        st.warning("The overlay needs the grad-cam package: `pip install 'das-explorer[app]'` "
                   "(or `pip install -r requirements.txt`).", icon=":material/extension:")
        return

    @st.cache_data(show_spinner=False, max_entries=32)
    def _overlays(_model, model_key: str, _x, x_key: str, method: str, picks: tuple, target, kind: str):
        cams = saliency.frame_cams(_model, _x, list(picks), target_class=target, method=kind)
        return saliency.overlay_pngs(_x, picks, cams), saliency.target_layer(_model.backbone, tuple(_x.shape[1:]))

    word = samples.frame_word(s.kind)
    choices = [m for m, r in results.items() if r.indices]
    if not choices:
        return
    valid_choice(K.CAM_OF, choices, FOCUS if FOCUS in choices else choices[0])
    c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
    m = c1.selectbox(f"Picked {word}s of", choices, key=K.CAM_OF, format_func=figures.method_label,
                     help="Whose picks to explain; each map is of that method's own model.")
    kind = c2.segmented_control("Map", list(saliency.CAM_METHODS), default="gradcam", key=K.CAM_KIND,
                                format_func=saliency.CAM_METHODS.get) or "gradcam"
    r, model = results[m], models[m].model
    picks = tuple(int(t) for t in r.indices)
    target = r.predicted_index
    try:
        with st.spinner("Computing the class-activation maps…"):
            pngs, (layer, shape) = _overlays(model, model_key, s.x, s.key, m, picks, target, kind)
    except Exception as err:
        show_error(err)
        return
    das = results.get(FOCUS)
    hs = None if das is None or das.head_scores is None else np.asarray(das.head_scores)
    score = None if das is None or das.scores is None else np.asarray(das.scores, dtype=np.float64).reshape(-1)
    cols = st.columns(4)
    for j, (t, png) in enumerate(zip(picks, pngs)):
        cap = f"{word} {samples.frame_names(s, [t])}" + (" · informative" if s.informative and t in s.informative else "")
        if hs is not None:
            cap += " · DAS " + (f"{score[t]:.2f} " if score is not None and t < score.size else "") + \
                "(" + " ".join(f"h{h} {hs[h, t]:.2f}" for h in range(hs.shape[0])) + ")"
        cols[j % 4].image(png, caption=cap, width="stretch", output_format="PNG")
    cls = s.classes[target] if s.classes and target is not None and target < len(s.classes) else target
    note = "" if models[m].meaningful_on(s.dataset) else \
        " This model was not trained on this data set: its maps show little."
    st.caption(f"{saliency.CAM_METHODS[kind]} of {figures.method_label(m)}'s backbone + head on each picked {word} "
               f"alone, for the class it predicts for the whole sample (**{md(cls)}**), at layer `{layer}` "
               f"({shape[-2]}×{shape[-1]} map, the last one at least {saliency.MIN_MAP}×{saliency.MIN_MAP}, "
               f"upsampled): red where the evidence is strongest, each map scaled to its own maximum. "
               + (f"Captions: DAS's score for the {word} (its attention averaged over the k rows) and per head "
                  f"h0…h{hs.shape[0] - 1} "
                  f"(0 for a head switched off)." if hs is not None else "") + note)


def export_ui(study: SampleData, models: lineup.LineUp, model_key: str, ctl: dict) -> None:
    """Download this comparison (MP4/GIF with the picks marked, HTML report, picks.csv/json/png). Built on
    a click with the live DAS controls, kept in the session until the study, models or controls change.

    `study` is the study itself (an upload at its native resolution, not the models' copy): each model
    runs on it resampled to its own T and frame size, as on this page, and its picks are written as the
    study's own slice numbers; the frames are drawn in the window chosen on Explore. `ctl`: the live DAS
    controls, as `controls_ui` returned them."""
    window = window_for(study)
    settings = exports.ExportSettings(
        tau0=ctl["tau0"], heads=ctl["heads"] or None, stochastic=ctl["stochastic"], seed=ctl["seed"],
        focus=FOCUS, window=list(window) if window else None)
    key = f"{study.key}|{model_key}|{sorted(settings.to_dict().items())}"
    built = st.session_state.get(K.EXPORT)
    T, _, H, W = study.x.shape
    word = samples.frame_word(study.kind)
    with st.expander("Export this comparison: MP4, report, picks", icon=":material/download:"):
        if not built or built["key"] != key:
            shown = (f"in the window chosen on Explore (level {window[0]:.2f}, width {window[1]:.2f} of the "
                     f"study's 0-1 range)" if window else "as read (set a window on Explore to draw it in one)")
            st.caption(f"Renders the study at its own {T} {word}s of {H}×{W}, {shown}, with every method's picks "
                       f"marked on the study's {word} numbers; a one-page report and the picks as CSV/JSON (with "
                       f"the DAS controls above). Research tool, not for diagnosis.")
            if not st.button("Build the export", key=K.EXPORT_BUILD, icon=":material/movie:"):
                return
            with st.spinner("Rendering the export…"):
                try:
                    built = {"key": key, "files": exports.export_bytes(study, models, settings)}
                except Exception as err:
                    show_error(err)
                    return
                # kept before the spinner's exit: a rerun that arrives while it renders (another click, a
                # reconnect) stops the script at its next element, and the next run shows the downloads
                st.session_state[K.EXPORT] = built
        cols = st.columns(len(exports.DOWNLOADS))
        for col, (name, (label, mime)) in zip(cols, exports.DOWNLOADS.items()):
            col.download_button(label, built["files"][name], file_name=name, mime=mime,
                                key=f"{K.EXPORT_DOWNLOAD_PREFIX}{name}", icon=":material/download:")


def study_for_models(native: SampleData, das_entry, num_frames: int, size: int) -> SampleData:
    """The uploaded study as the models take it: resampled to the chosen DAS checkpoint's own T and frame
    size, else to the sidebar's (num_frames, size) for the untrained models."""
    if das_entry is not None:
        try:
            spec = cached_model(das_entry.path, os.path.getmtime(das_entry.path)).spec
            num_frames, size = int(spec.num_frames), int(spec.frame_size)
        except Exception:  # build_models says why the checkpoint cannot be used
            pass
    return samples.resample_for(native, num_frames, size)


def upload_models_ui(s: SampleData, entries: list) -> None:
    """For an upload: which data the shipped models were trained on, so it is plain that none has seen a
    study like it, unless a model of the user's own data of its kind is listed."""
    if not s.is_upload or lineup.das_options(entries, s.dataset, kind=s.kind):
        return
    shipped = sorted({e.dataset for e in entries if e.origin == "shipped" and e.dataset})
    st.caption("No model here was trained on studies like this upload. "
               + md(lineup.upload_models_note(s.meta.get("modality"), s.kind, shipped))
               + " The Data section of the README says what each data set holds.")


def lineup_notes_ui(s: SampleData, models: lineup.LineUp) -> None:
    """What the line-up is made of, from the line-up itself: a DAS checkpoint that could not be used, a DAS
    trained on other data, and the methods that run untrained."""
    das = models.das
    if models.das_error is not None:
        show_error(models.das_error)
        st.caption("DAS runs **untrained** instead (its strip says so): pick a checkpoint that fits, or train one.")
    elif das is not None and das.trained and das.trained_on != s.dataset \
            and lineup.serves(das.trained_on, s.dataset, s.kind):
        classes = md(", ".join(map(str, das.classes))) or "?"
        st.caption(f"This DAS model was trained on **your own data** ({md(das.trained_on)}, {s.kind}s): it predicts "
                   f"that data's classes ({classes}). The upload carries no label, so "
                   f"its probabilities are shown on request only.")
    elif das is not None and das.trained and das.trained_on != s.dataset:
        st.warning(f"This DAS model was trained on **{md(das.trained_on or 'other data')}**, not on "
                   f"{md(s.dataset)}: its "
                   f"picks show what it learned there, and its prediction here is not meaningful.",
                   icon=":material/warning:")
    untrained = models.untrained()
    if untrained:
        tie = (" An untrained DAS scores every frame the same (its score layers start at zero), so it keeps the "
               "first k frames." if FOCUS in untrained else "")
        st.caption(f"**Untrained** (freshly initialised, predictions are meaningless): "
                   f"{', '.join(figures.method_label(m) for m in untrained)}. "
                   + ("Train one on your own data on the Train page (\"Your own data…\": an .npz of volumes or a "
                      "folder of clips per class) and it is offered here for uploads of that kind."
                      if s.is_upload else "Train one on the Train page or pick a shipped checkpoint.")
                   + tie)


def main() -> None:
    loopback_guard()  # a session's first request may run this page without app.py
    st.title("Compare samplers")
    s = data_sidebar_ui()
    if s is None:
        return
    native = s if s.is_upload else None
    if native is not None:  # an uploaded study: the viewer's copy is native, each model gets its T and size
        wanted = study_input_ui(native)
        s = samples.resample_for(native, *wanted)
    caption = st.empty()  # filled once the models' input is known (a checkpoint may resample the study)
    entries = cached_checkpoints()
    das_entry, ratio = model_choice_ui(s, entries)
    if native is not None:
        s = study_for_models(native, das_entry, *wanted)
        T, _, H, W = s.x.shape
        caption.markdown(sample_caption(s) + f"  \nThe models see the upload resampled to T={T} "
                         f"{samples.frame_word(s.kind)}s of {H}×{W}; Explore shows it at its native "
                         f"{native.x.shape[0]} × {native.x.shape[-2]}×{native.x.shape[-1]}.")
    else:
        caption.markdown(sample_caption(s))
    with st.spinner("Loading models…"):
        models = build_lineup(s, entries, das_entry, ratio)
    lineup_notes_ui(s, models)
    upload_models_ui(s, entries)
    model_key = models.key  # what identifies the models for the caches (untrained ones change with the ratio)
    ctl = results_ui(s, models, model_key, s.key)
    static_methods_ui(s, models, model_key)
    export_ui(native if native is not None else s, models, model_key, ctl)


main()
