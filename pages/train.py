"""Train: start small runs of `python -m das_core train` in the background, watch them, stop them.

Job state lives in the run folders on disk (explorer.jobs), so a reload or a second tab sees the
same runs; runs started at once are queued (one at a time on this machine).
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from das_core import TrainConfig, list_samplers
from das_core.engine.config import BACKBONE_CHOICES
from das_core.data import load_dataset, user_dataset
from das_core.nn.backbones import LIGHT_BACKBONE
from das_core.samplers import sampler_class
from explorer import figures, jobs
from explorer.text import md
from pages.ui.caches import datasets
from pages.ui.guards import loopback_guard, show_error, signed_in_user
from pages.ui.keys import Train as K
from pages.ui.session import valid_choice

DEFAULT_METHOD = "das"
# Material icons (Streamlit's own icon font): emoji render as empty boxes where the system has no emoji font
STATE_ICON = {"queued": ":material/schedule:", "running": ":material/play_circle:", "finished": ":material/check_circle:",
              "failed": ":material/error:", "stopped": ":material/stop_circle:",
              "interrupted": ":material/warning:"}


def _users_of(option: str, methods: list[str]) -> str:
    """"DPS/ADPS/DAS": the labels of the methods whose options include `option`."""
    return "/".join(figures.method_label(m) for m in methods if option in sampler_class(m).option_names())


def _dataset_options(frames: int, size: int) -> dict:
    """The data set options the quick-run limits set (0 = the data set's default)."""
    return {k: int(v) for k, v in (("num_frames", frames), ("size", size)) if v}


OWN_DATA = "Your own data…"
LEARNING_RATES = [1e-4, 2e-4, 5e-4, 1e-3, 2e-3]
WARMUPS = [None, 0, 1, 2, 3, 4]


def form_ui() -> TrainConfig | None:
    """The run settings form; returns the run's TrainConfig when submitted."""
    names = _trainable_datasets() + [OWN_DATA]
    methods = list_samplers()
    with st.form(K.FORM, border=True):
        values = _run_row_ui(names, methods)
        values.update(_sampler_row_ui(methods))
        values.update(_optimiser_row_ui())
        values["own"] = _own_data_ui()
        values.update(_limits_ui())
        submitted = st.form_submit_button("Start training", type="primary", icon=":material/play_arrow:")
    if not submitted:
        return None
    return _train_config(values)


def _trainable_datasets() -> list[str]:
    """The data sets a run can train on (two classes or more, a train split); synthetic-volumes if none."""
    try:
        names = [d["name"] for d in datasets() if d.get("classes") and len(d["classes"]) >= 2
                 and any(v for k, v in (d.get("split_sizes") or {}).items() if k == "train")]
    except Exception:
        names = []
    return names or ["synthetic-volumes"]


def _run_row_ui(names: list[str], methods: list[str]) -> dict:
    """Data set, method, backbone, epochs."""
    c1, c2, c3, c4 = st.columns(4)
    dataset = c1.selectbox("Data set", names, key=K.DATASET)
    method = c2.selectbox("Method", methods, key=K.METHOD, format_func=figures.method_label,
                          index=methods.index(DEFAULT_METHOD) if DEFAULT_METHOD in methods else 0)
    backbones = sorted(BACKBONE_CHOICES, key=lambda b: b != LIGHT_BACKBONE)  # the fast one first
    backbone = c3.selectbox("Backbone", backbones, key=K.BACKBONE,
                            help="small_cnn is fast on a CPU; MobileNetV3-Small is the paper's.")
    epochs = c4.number_input("Epochs", 1, 100, 6, key=K.EPOCHS)
    return {"dataset": dataset, "method": method, "backbone": backbone, "epochs": epochs}


def _sampler_row_ui(methods: list[str]) -> dict:
    """Sampling ratio, tau0, heads, seed."""
    c1, c2, c3, c4 = st.columns(4)
    ratio = c1.select_slider("Sampling ratio", [0.125, 0.25, 0.5, 0.75, 1.0], value=0.5, key=K.RATIO,
                             format_func=lambda r: f"{r:.0%}")
    tau0 = c2.number_input(f"tau0 ({_users_of('tau0', methods)})", 0.05, 10.0, 1.0, 0.05, key=K.TAU0)
    heads = c3.number_input(f"Heads ({_users_of('heads', methods)})", 1, 16, 4, key=K.HEADS)
    seed = c4.number_input("Seed", 0, 10_000, 0, key=K.SEED)
    return {"ratio": ratio, "tau0": tau0, "heads": heads, "seed": seed}


def _optimiser_row_ui() -> dict:
    """Learning rate and warm-up epochs, with what a quick run reaches."""
    c1, c2, c3 = st.columns([2, 2, 4])
    lr = c1.select_slider("Learning rate", LEARNING_RATES, value=1e-3, key=K.LR, format_func=lambda v: f"{v:g}",
                          help="Adam's learning rate (the grids use 1e-3 on this CPU budget; the paper 1e-4).")
    warmup = c2.selectbox("Warm-up epochs", WARMUPS, key=K.WARMUP,
                          format_func=lambda v: "a quarter of the epochs" if v is None else str(v),
                          help="First epochs in which the task network trains on all frames and a learned "
                               "sampler is not updated; given to every method alike.")
    c3.caption("Measured on synthetic-volumes (DAS, small_cnn, lr 1e-3, seed 0, 2 CPU cores): 3 epochs reach test "
               "AUC 0.99 but balanced accuracy 0.50 (the ranking is learnt before the decision: every item gets "
               "one class); 6 epochs reach 0.96 in 18 s.")
    return {"lr": lr, "warmup": warmup}


def _own_data_ui() -> str:
    """The path of the user's own data (used with OWN_DATA)."""
    return st.text_input(
        f"Your own data (with \"{OWN_DATA}\"): a path on this server", key=K.OWN_PATH,
        placeholder="/data/my_scans.npz  or  /data/my_clips/",
        help="An .npz in the MedMNIST layout (train_images, train_labels, val_*, test_*), or a folder with one "
             "subfolder of clips per class. The trained model is then offered on Compare for uploads of that "
             "kind (volumes for an .npz, videos for a folder).")


def _limits_ui() -> dict:
    """Frames, frame size and batch limits of a quick run (0 = the default, or all)."""
    with st.expander("Quick-run limits"):
        c1, c2, c3, c4 = st.columns(4)
        frames = c1.number_input("Frames T (0 = default)", 0, 128, 0, key=K.FRAMES)
        size = c2.selectbox("Frame size", [0, 28, 64], key=K.SIZE, format_func=lambda v: "default" if v == 0 else str(v))
        max_batches = c3.number_input("Max train batches/epoch (0 = all)", 0, 10_000, 0, key=K.MAX_BATCHES)
        max_eval = c4.number_input("Max eval batches (0 = all)", 0, 10_000, 0, key=K.MAX_EXAMPLES)
    return {"frames": frames, "size": size, "max_batches": max_batches, "max_eval": max_eval}


def _train_config(v: dict) -> TrainConfig | None:
    """The submitted form's TrainConfig, or None (after saying why) when the user's own data cannot be used."""
    root = None
    dataset = v["dataset"]
    options = _dataset_options(v["frames"], v["size"])
    if dataset == OWN_DATA:
        try:
            dataset, root = user_dataset(v["own"])
            load_dataset(dataset, "train", root=root, **options)  # one sentence if unusable
        except Exception as err:
            show_error(err)
            return None
    # tau0 and heads are always set: the engine gives each sampler only the options it accepts
    return TrainConfig(dataset=dataset, root=root, dataset_options=options,
                       method=v["method"], ratio=float(v["ratio"]), epochs=int(v["epochs"]), backbone=v["backbone"],
                       tau0=float(v["tau0"]), heads=int(v["heads"]), seed=int(v["seed"]), lr=float(v["lr"]),
                       sampler_warmup_epochs=v["warmup"], max_train_batches=int(v["max_batches"]) or None,
                       max_eval_batches=int(v["max_eval"]) or None, threads=1)


def runs_table(runs: list[dict]) -> list[dict]:
    """One row per run; a value not there yet is an empty cell (never "None")."""
    rows = []
    for r in runs:
        st_, cfg, last, summ = r["status"], r["settings"], r["last"], r["summary"] or {}
        rows.append({
            "run": r["name"], "state": st_.get("state", "?"),
            "epoch": f"{st_.get('epoch', 0)}/{st_.get('epochs') or cfg.get('epochs', '?')}",
            "method": figures.method_label(cfg.get("method", "")), "data set": cfg.get("dataset") or "",
            "ratio": f"{cfg['ratio']:.0%}" if isinstance(cfg.get("ratio"), (int, float)) else "",
            "val AUC": _number(last.get("val_auc")), "test AUC": _number(summ.get("auc")),
        })
    return rows


def _number(v) -> float:
    """A table cell: the number, or NaN (an empty cell; st.dataframe writes None as "None")."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else float("nan")


def run_detail_ui(run: dict) -> None:
    status = run["status"]
    state = status.get("state", "?")
    c1, c2 = st.columns([5, 1], vertical_alignment="center")
    c1.markdown(f"**{md(run['name'])}** — {STATE_ICON.get(state, '')} {md(state)}"
                + (f": {md(status.get('message'))}" if status.get("message") else ""))
    if state in jobs.ACTIVE:
        if c2.button("Stop", key=f"{K.STOP_PREFIX}{run['name']}", icon=":material/stop:"):
            try:
                jobs.stop_run(run["dir"], user=signed_in_user())
                st.toast(f"Stopping {md(run['name'])}")
            except Exception as err:
                show_error(err)
    elif state in jobs.RESUMABLE:  # stopped, failed, interrupted (its processes ended without a final status)
        if c2.button("Resume", key=f"{K.RESUME_PREFIX}{run['name']}", icon=":material/play_arrow:",
                     help="Continue from the last saved epoch."):
            try:
                jobs.resume_run(run["dir"], user=signed_in_user())
                st.toast(f"Resuming {md(run['name'])}")
            except Exception as err:
                show_error(err)
    if state == "stopped" and (Path(run["dir"]) / "best.pt").is_file():
        st.caption("Its best epoch so far is listed on the Compare page; Resume continues the training.")
    if state == "failed" and status.get("message"):
        st.error(f"The run failed: {md(status['message'])}")  # a reader's error may quote the data's file names
    if state == "interrupted":
        st.warning(f"The run was interrupted: {md(status.get('message') or 'its processes ended')}. "
                   "Resume continues from its last saved epoch.")
    metrics = jobs.read_metrics(run["dir"])
    if metrics:
        st.plotly_chart(figures.fig_training_curves(metrics), width="stretch", key=f"{K.CURVES_PREFIX}{run['name']}")
    elif state in jobs.ACTIVE:
        st.caption("Waiting for the first epoch…")
    if run["summary"]:
        s = run["summary"]
        st.caption(f"Test: AUC {s.get('auc', float('nan')):.3f} · balanced accuracy "
                   f"{s.get('balanced_accuracy', float('nan')):.3f} · accuracy {s.get('accuracy', float('nan')):.3f}. "
                   "The checkpoint is listed on the Compare page.")


@st.fragment(run_every=2.0)
def runs_ui() -> None:
    """Polls the run folders every 2 s (only this block reruns)."""
    runs = jobs.list_jobs()
    if not runs:
        st.caption("No runs yet.")
        return
    active = [r for r in runs if r["status"].get("state") in jobs.ACTIVE]
    st.dataframe(runs_table(runs), hide_index=True, width="stretch",
                 column_config={"run": st.column_config.TextColumn(width="medium"),
                                "val AUC": st.column_config.NumberColumn(format="%.3f"),
                                "test AUC": st.column_config.NumberColumn(format="%.3f")})
    compare_runs_ui(runs)
    names = [r["name"] for r in runs]
    default = active[0]["name"] if active else names[0]
    valid_choice(K.SELECTED, names, default)
    sel = st.selectbox("Show run", names, key=K.SELECTED)
    run_detail_ui(next(r for r in runs if r["name"] == sel))
    st.caption(f"Updated {time.strftime('%H:%M:%S')} · {len(active)} active · run folders under "
               f"`{jobs.RUNS_ROOT}`")


def compare_runs_ui(runs: list[dict]) -> None:
    """Validation curves of several runs on one chart."""
    with_metrics = [r["name"] for r in runs if r["last"]]
    if len(with_metrics) < 2:
        return
    with st.expander("Compare runs: curves on one chart"):
        chosen = st.multiselect("Runs", with_metrics, default=with_metrics[:3], key=K.OVERLAY)
        key = st.radio("Curve", ["val_auc", "val_loss", "val_balanced_accuracy", "train_loss"], horizontal=True,
                       key=K.OVERLAY_CURVE, format_func=lambda k: figures.CURVE_LABELS[k])
        if chosen:
            curves = {name: jobs.read_metrics(next(r["dir"] for r in runs if r["name"] == name)) for name in chosen}
            st.plotly_chart(figures.fig_runs_overlay(curves, key), width="stretch", key=K.OVERLAY_FIG)


def main() -> None:
    loopback_guard()  # a session's first request may run this page without app.py
    st.title("Train")
    st.caption("Starts `python -m das_core train` in the background. Runs are queued and run one at a time; "
               "they keep going when you leave or reload this page.")
    config = form_ui()
    if config is not None:
        try:
            out = jobs.start_run(config, owner=signed_in_user())
            st.session_state[K.SELECTED] = out.name
            st.success(f"Started {md(out.name)}.")
        except Exception as err:
            show_error(err)
    st.subheader("Runs")
    runs_ui()


main()
