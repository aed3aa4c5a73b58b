"""The cine that plays in the browser (`figures.fig_cine`, a plotly animation) and where the pages show it.

Unit tests check the figure's contract (one animation frame per sequence frame or the documented cap,
the frame rate, the picks named in each frame's title, the marker at the frame, a bounded payload);
AppTests check Explore shows it with Play / Pause and Compare's toggle shows one timeline row per method.
"""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from explorer import figures

PICKS = {"das": [3, 10, 50, 99], "uniform": [0, 10, 20, 30, 40, 50, 60, 70, 80, 90], "random": [7, 50]}


def _seq(T=100, H=128, W=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(T, 1, H, W, generator=g)


@pytest.fixture(scope="module")
def cine():
    """A 100-frame 128 x 128 noise sequence (the worst case for PNG) with three methods' picks and scores."""
    scores = np.sin(np.arange(100) / 7.0)
    return figures.fig_cine(_seq(), PICKS, fps=12.5, scores=scores, informative=[50], frame_word="slice")


def _play_pause(fig):
    buttons = fig.layout.updatemenus[0].buttons
    return {b.label: b.args for b in buttons}


def _text(title: str) -> str:
    return re.sub(r"</?b>", "", title)


def _picked_in_title(title: str) -> set[str]:
    m = re.search(r"picked by (.*)$", _text(title))
    return set(m.group(1).split(", ")) if m else set()


def test_one_animation_frame_per_sequence_frame_at_the_frame_rate(cine):
    assert len(cine.frames) == 100
    assert [f.name for f in cine.frames] == [str(t) for t in range(100)]
    buttons = _play_pause(cine)
    assert set(buttons) == {"▶ Play", "❚❚ Pause"}
    play = buttons["▶ Play"][1]
    assert play["frame"]["duration"] == pytest.approx(1000 / 12.5)  # 80 ms a frame
    assert play["transition"]["duration"] == 0 and play["frame"]["redraw"] is True
    assert list(buttons["❚❚ Pause"][0]) == [None]  # plotly's pause: animate to no frame
    steps = cine.layout.sliders[0].steps
    assert [list(s.args[0]) for s in steps] == [[str(t)] for t in range(100)]  # the slider scrubs every frame


def test_each_frame_title_names_exactly_the_methods_that_picked_it(cine):
    labels = {m: figures.method_label(m) for m in PICKS}
    for f in cine.frames:
        t = int(f.name)
        want = {labels[m] for m, idx in PICKS.items() if t in idx}
        title = _text(f.layout.title.text)
        assert title.startswith(f"slice {t} of 100")
        assert _picked_in_title(title) == want, title
        assert ("not picked" in title) == (not want)
    assert _picked_in_title(cine.frames[50].layout.title.text) == {"DAS", "Uniform", "Random"}
    assert cine.layout.title.text == cine.frames[0].layout.title.text  # the figure opens on frame 0


def test_frames_move_the_marker_and_ring_the_pickers_and_resend_nothing_else(cine):
    methods = list(PICKS)
    for f in cine.frames:
        t = int(f.name)
        assert len(f.data) == len(f.traces)
        by_trace = dict(zip(f.traces, f.data))
        # only the two markers (timeline, scores) and the rings are in a frame, plus the image and the title
        assert sorted(cine.data[i].name for i in f.traces) == ["current", "current", "picked here"]
        assert [im.source[:22] for im in f.layout.images] == ["data:image/png;base64,"]
        assert set(f.layout.to_plotly_json()) == {"title", "images"}
        for i in f.traces:
            if cine.data[i].name == "current":
                assert list(by_trace[i].x) == [t, t]
            if cine.data[i].name == "picked here":
                ring_rows = {methods[int(y)] for y in by_trace[i].y}
                assert ring_rows == {m for m, idx in PICKS.items() if t in idx}
                assert set(by_trace[i].x) <= {t}
    assert cine.layout.images[0].source == cine.frames[0].layout.images[0].source  # opens on frame 0


def test_one_timeline_row_per_method_in_its_colour(cine):
    rows = cine.layout.yaxis2
    assert list(rows.ticktext) == [figures.method_label(m) for m in PICKS]
    picked = [d for d in cine.data if d.name in {figures.method_label(m) for m in PICKS}]
    assert [d.marker.color for d in picked] == [figures.method_color(m) for m in PICKS]
    assert [list(d.x) for d in picked] == [sorted(v) for v in PICKS.values()]


def test_payload_of_a_100_frame_128x128_sequence_is_bounded(cine):
    size = len(cine.to_json())
    assert size < 8e6, size
    assert cine.layout.meta["frame_size"] == [128, 128]  # small enough: not shrunk


def test_long_or_large_sequences_are_capped():
    x = _seq(T=450, H=96, W=200, seed=1)
    fig = figures.fig_cine(x, {"das": [1, 2, 448]}, fps=10, frame_word="frame")
    step = int(np.ceil(450 / figures.CINE_MAX_FRAMES))
    shown = [int(f.name) for f in fig.frames]
    assert shown == sorted(set(range(0, 450, step)) | {1, 2, 448})  # every step-th frame and every pick
    assert _play_pause(fig)["▶ Play"][1]["frame"]["duration"] == pytest.approx(step * 1000 / 10)  # real pace
    h, w = fig.layout.meta["frame_size"]
    assert max(h, w) <= figures.CINE_MAX_SIZE and abs(w / h - 200 / 96) < 0.05
    assert h * w * len(shown) <= figures.CINE_MAX_PIXELS
    big = figures.fig_cine(_seq(T=8, H=512, W=512), None, fps=8)
    assert max(big.layout.meta["frame_size"]) == figures.CINE_MAX_SIZE
    assert (big.layout.images[0].sizex, big.layout.images[0].sizey) == (512, 512)  # drawn over the original pixels
    small = figures.fig_cine(_seq(T=3, H=28, W=28), None, fps=8)
    png = small.frames[1].layout.images[0].source.split(",", 1)[1]
    side = Image.open(io.BytesIO(base64.b64decode(png))).size[0]
    assert side >= figures.CINE_MIN_SIZE and side % 28 == 0  # enlarged pixel by pixel: the browser keeps it sharp


def test_without_picks_the_marker_runs_along_the_curve():
    x = _seq(T=12, H=28, W=28)
    fig = figures.fig_cine(x, {}, fps=4, scores=np.arange(12.0), scores_name="inter-frame variance",
                           frame_word="slice", window=(0.5, 0.5))
    assert len(fig.frames) == 12 and "picked" not in json.dumps([f.layout.title.text for f in fig.frames])
    assert fig.layout.yaxis2.title.text == "inter-frame variance"
    assert [list(f.data[-1].x) for f in fig.frames] == [[t, t] for t in range(12)]
    assert _play_pause(fig)["▶ Play"][1]["frame"]["duration"] == pytest.approx(250)


# ----------------------------------------------------------------------------- pages

APP_TIMEOUT = 90  # seconds per AppTest run (the conftest `app` fixture)


def _cines(at):
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart") if '"frames"' in c.proto.spec
            and json.loads(c.proto.spec).get("frames")]


def _labels(spec):
    return [b["label"] for b in spec["layout"]["updatemenus"][0]["buttons"]]


def test_explore_shows_the_cine_with_play_and_pause(app):
    at = app.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not _cines(at) and at.get("plotly_chart")  # a volume opens on its orthogonal views: no cine built
    at.session_state["explore_tab_volume"] = "Cine"  # what clicking the tab does
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    cines = _cines(at)
    assert len(cines) == 1
    spec = cines[0]
    assert _labels(spec) == ["▶ Play", "❚❚ Pause"]
    T = at.slider(key="explore_t").max + 1
    assert len(spec["frames"]) == T
    assert spec["layout"]["updatemenus"][0]["buttons"][0]["args"][1]["frame"]["duration"] == pytest.approx(1000 / 8)
    at.select_slider(key="explore_fps").set_value(16).run()
    assert _cines(at)[0]["layout"]["updatemenus"][0]["buttons"][0]["args"][1]["frame"]["duration"] == \
        pytest.approx(1000 / 16)
    assert any(b.proto.label == "MP4" for b in at.get("download_button"))
    assert not at.exception and not at.error


def test_compare_toggle_shows_the_cine_with_one_row_per_method(app, monkeypatch):
    from explorer import methods
    at = app.run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not _cines(at)  # off by default: the page stays fast
    runs = []
    real = methods.run_on_sample
    monkeypatch.setattr(methods, "run_on_sample", lambda model, *a, **k: runs.append(model) or real(model, *a, **k))
    at.toggle(key="cmp_cine").set_value(True).run()
    assert runs == []  # every result is cached for these controls: the cine runs no sampler of its own
    assert not at.exception, [e.value for e in at.exception]
    spec = _cines(at)[0]
    assert _labels(spec) == ["▶ Play", "❚❚ Pause"]
    timeline = json.loads(next(c for c in at.get("plotly_chart") if c.key == "cmp_timeline").proto.spec)
    T = len(timeline["data"][0]["x"])
    picks = {d["name"]: d["x"] for d in timeline["data"] if d.get("name") and len(set(d["x"])) < T}
    rows = spec["layout"]["yaxis2"]["ticktext"]
    # one row per method that selects (the full sequence, every frame, is left out and said so)
    assert rows == [figures.method_label(m) for m in figures.method_order() if m != "full"] == list(picks)
    assert any("Not shown: Full sequence" in c.value for c in at.caption)
    assert len(spec["frames"]) == T
    for f in spec["frames"]:  # the same picks as the page's timeline, named as the cine passes them
        t = int(f["name"])
        want = {name for name, xs in picks.items() if t in xs}
        assert _picked_in_title(f["layout"]["title"]["text"]) == want
    assert not at.error


def test_explore_video_plays_the_cine_at_its_own_rate_and_keeps_the_mp4(app):
    at = app.run()
    at.sidebar.selectbox(key="ds_name").set_value("synthetic-video").run()
    assert not at.exception, [e.value for e in at.exception]
    spec = _cines(at)[0]
    assert _labels(spec) == ["▶ Play", "❚❚ Pause"]
    assert not at.get("video")  # the MP4 is encoded when its tab is opened
    duration = spec["layout"]["updatemenus"][0]["buttons"][0]["args"][1]["frame"]["duration"]
    at.select_slider(key="explore_speed").set_value(2.0).run()
    faster = _cines(at)[0]["layout"]["updatemenus"][0]["buttons"][0]["args"][1]["frame"]["duration"]
    assert faster == pytest.approx(duration / 2) or faster == pytest.approx(1000 / 30)  # capped at 30 frames/s
    at.session_state["explore_tab_video"] = "MP4 player"
    at.run()
    assert len(at.get("video")) == 1 and not _cines(at)  # the MP4 in the browser's player, in the tab beside
    assert not at.exception and not at.error
