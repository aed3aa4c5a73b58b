"""`python -m das_core export`: the take-it-away folder (MP4, GIF, picks CSV/JSON/PNG, HTML report) of one
study with two shipped checkpoints, its user errors, and the Compare page's download buttons.

Fast: two small shipped checkpoints (small_cnn), a 28-slice synthetic item and a 40-slice .npy volume.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image

from das_core import cli
from das_core.export import ARTEFACTS, DISCLAIMER, ExportSettings, probabilities_meaningful
from das_core.export.settings import METHOD_COLORS
from das_core.export.study import FILE_STUDY

REPO = Path(__file__).resolve().parents[1]
DAS = str(REPO / "checkpoints" / "synthetic-volumes-das.pt")
UNIFORM = str(REPO / "checkpoints" / "synthetic-volumes-uniform.pt")


def _export(*args: str) -> int:
    return cli.main(["export", "--checkpoint", DAS, "--checkpoint", UNIFORM, "--threads", "1", *args])


@pytest.fixture(scope="module")
def dataset_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "synthetic"
    assert _export("--dataset", "synthetic-volumes", "--index", "0", "--out", str(out)) == 0
    return out


@pytest.fixture(scope="module")
def volume(tmp_path_factory) -> Path:
    """A 40-slice volume of 64 x 48 (T and frame size differ from the checkpoints' 28 x 28 x 28)."""
    rng = np.random.default_rng(0)
    v = rng.random((40, 64, 48)).astype(np.float32)
    v[20, 20:30, 10:20] = 3.0
    path = tmp_path_factory.mktemp("input") / "study.npy"
    np.save(path, v)
    return path


@pytest.fixture(scope="module")
def volume_out(tmp_path_factory, volume) -> Path:
    out = tmp_path_factory.mktemp("export") / "volume"
    assert _export("--input", str(volume), "--out", str(out)) == 0
    return out


def _mp4_frames(path: Path) -> int:
    reader = imageio.get_reader(str(path), format="FFMPEG")
    try:
        return sum(1 for _ in reader)
    finally:
        reader.close()


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_dataset_export_writes_every_file_complete(dataset_out):
    names = sorted(p.name for p in dataset_out.iterdir())
    assert names == sorted(ARTEFACTS)  # and no temporary file left behind
    assert _mp4_frames(dataset_out / "sequence.mp4") == 28  # every slice of the study
    gif = Image.open(dataset_out / "sequence.gif")
    assert gif.n_frames == 28 and min(gif.size) >= 256  # 28 x 28 slices upscaled for visibility
    assert Image.open(dataset_out / "picks.png").size[0] > 300


def test_picks_csv_one_row_per_pick(dataset_out):
    rows = _csv(dataset_out / "picks.csv")
    assert list(rows[0]) == ["method", "checkpoint", "rank", "frame", "model_frame", "score"]
    doc = json.loads((dataset_out / "picks.json").read_text())
    assert len(rows) == sum(m["k"] for m in doc["methods"]) == 28  # k = 14 for each checkpoint
    assert {r["checkpoint"] for r in rows} == {"synthetic-volumes-das.pt", "synthetic-volumes-uniform.pt"}
    assert all(0 <= int(r["frame"]) < 28 for r in rows)
    das = [r for r in rows if r["method"] == "das"]
    uniform = [r for r in rows if r["method"] == "uniform"]
    assert all(r["score"] for r in das) and not any(r["score"] for r in uniform)  # only DAS scores frames
    assert sorted(int(r["rank"]) for r in das) == list(range(14))
    assert [int(r["frame"]) for r in uniform] == np.round(np.linspace(0, 27, 14)).astype(int).tolist()


def test_picks_json_fields(dataset_out):
    doc = json.loads((dataset_out / "picks.json").read_text())
    assert doc["disclaimer"] == DISCLAIMER and doc["created"]
    assert doc["input"]["name"] == "synthetic-volumes test #0" and doc["input"]["shape"] == [28, 1, 28, 28]
    assert doc["settings"] == json.loads(json.dumps(ExportSettings(threads=1).to_dict()))
    das, uniform = doc["methods"]
    assert (das["method"], uniform["method"]) == ("das", "uniform")
    assert das["spec"]["num_frames"] == 28 and das["spec"]["num_selected"] == 14
    assert das["tau"] > 0 and uniform["tau"] is None
    assert das["run"]["dataset"] == "synthetic-volumes" and "command" in das["run"]  # from checkpoints/manifest.json
    # both were trained on this data set: their predictions are reported
    for m in (das, uniform):
        assert m["trained_on_this_data"] is True
        assert sum(m["prediction"]["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert [p["frame"] for p in m["picks"]] == sorted(p["frame"] for p in m["picks"])


def test_report_is_self_contained(dataset_out):
    page = (dataset_out / "report.html").read_text()
    assert len(page) > 5000
    assert "synthetic-volumes-das.pt" in page and "synthetic-volumes-uniform.pt" in page
    assert "not for diagnosis" in page
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", page)  # nothing fetched from elsewhere
    assert len(re.findall(r"src='data:image/png;base64,", page)) == 2  # picks and attention over time
    assert "square: 0." in page  # the prediction of a model trained on this data set


def test_file_export_resamples_and_hides_foreign_probabilities(volume_out):
    assert _mp4_frames(volume_out / "sequence.mp4") == 40  # the study's own 40 slices
    assert Image.open(volume_out / "sequence.gif").n_frames == 40
    doc = json.loads((volume_out / "picks.json").read_text())
    # a file is exported under a neutral label, never its name (it may hold the patient's; see test_phi.py)
    assert doc["input"]["shape"] == [40, 1, 64, 48] and doc["input"]["name"] == FILE_STUDY
    expected_map = np.round(np.linspace(0, 39, 28)).astype(int).tolist()  # 40 slices -> each model's 28
    for m in doc["methods"]:
        assert m["frame_map"] == expected_map
        assert m["prediction"] is None and m["trained_on_this_data"] is False  # a user's file: no data set
        assert all(p["frame"] == expected_map[p["model_frame"]] for p in m["picks"])
    rows = _csv(volume_out / "picks.csv")
    assert len(rows) == 28 and all(0 <= int(r["frame"]) < 40 for r in rows)
    page = (volume_out / "report.html").read_text()
    assert "Class probabilities are hidden" in page and FILE_STUDY in page and "study.npy" not in page


def test_python_api_escapes_names(tmp_path):
    """`export_study` on a tensor: the report shows a hostile study name as text, never as markup."""
    import torch

    from das_core import export_study
    from das_core.export import study_from_tensor

    study = study_from_tensor(torch.rand(12, 1, 20, 20), "<script>alert(1)</script>", dataset="synthetic-volumes")
    written = export_study([DAS], study, tmp_path / "api", settings=ExportSettings(min_size=64, threads=1))
    assert set(written) == set(ARTEFACTS) and all(p.stat().st_size for p in written.values())
    page = written["report.html"].read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert _mp4_frames(written["sequence.mp4"]) == 12


def test_probabilities_only_for_models_trained_on_the_data():
    meta = {"dataset": "vesselmnist3d"}
    assert probabilities_meaningful(meta, "vesselmnist3d")
    assert not probabilities_meaningful(meta, "adrenalmnist3d")
    assert not probabilities_meaningful(meta, None)  # a user's file
    assert not probabilities_meaningful(meta, "vesselmnist3d", trained=False)


def _rgb_checkpoint(path: Path) -> str:
    from das_core import ModelSpec, SubsampledClassifier
    from das_core.checkpoints import save_checkpoint

    model = SubsampledClassifier.from_config(ModelSpec("uniform", 8, 4, backbone="small_cnn", in_channels=3))
    return str(save_checkpoint(path, model, {"dataset": "rgb-clips"}))


def test_user_errors_give_one_sentence(tmp_path, volume, capsys):
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not an array")
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    cases = {
        "missing checkpoint": (["--checkpoint", str(tmp_path / "nope.pt"), "--input", str(volume)], "does not exist"),
        "unreadable input": (["--checkpoint", DAS, "--input", str(bad)], "bad.npy"),
        "missing input": (["--checkpoint", DAS, "--input", str(tmp_path / "gone.npy")], "gone.npy"),
        "other channel count": (["--checkpoint", _rgb_checkpoint(tmp_path / "rgb.pt"), "--input", str(volume)],
                                "3-channel"),
        "out is a file": (["--checkpoint", DAS, "--input", str(volume), "--out", str(a_file)], "not a folder"),
        "two studies": (["--checkpoint", DAS, "--input", str(volume), "--dataset", "synthetic-volumes"], "not both"),
    }
    for name, (args, words) in cases.items():
        out = [] if "--out" in args else ["--out", str(tmp_path / name.replace(" ", "-"))]
        capsys.readouterr()
        assert cli.main(["export", *args, *out]) == 2, name
        err = capsys.readouterr().err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and words in err, (name, err)
    assert not any((tmp_path / "other-channel-count").iterdir())  # nothing half-written


def test_failed_video_write_leaves_no_file(tmp_path, monkeypatch):
    """A write that fails midway leaves neither the file nor its temporary name."""
    import torch

    from das_core.export import cine, study_from_tensor

    def broken(*args, **kwargs):
        yield np.zeros((32, 32, 3), np.uint8)
        raise RuntimeError("disk gone")

    monkeypatch.setattr(cine, "cine_frames", broken)
    with pytest.raises(RuntimeError):
        cine.write_mp4(tmp_path / "sequence.mp4", study_from_tensor(torch.zeros(4, 1, 8, 8)), [], ExportSettings())
    assert list(tmp_path.iterdir()) == []


def test_every_method_has_one_distinct_colour_in_the_export_and_the_app():
    from das_core import list_samplers
    from explorer import figures

    assert set(list_samplers()) <= set(METHOD_COLORS)
    colours = [METHOD_COLORS[m] for m in list_samplers()]
    assert len(set(colours)) == len(colours) and all(re.fullmatch(r"#[0-9a-fA-F]{6}", c) for c in colours)
    assert [figures.method_color(m) for m in list_samplers()] == colours


def test_compare_page_export_downloads(monkeypatch, tmp_path):
    pytest.importorskip("streamlit")
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from explorer import jobs

    monkeypatch.setattr(jobs, "RUNS_ROOT", tmp_path / "runs" / "app")
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=90).run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    assert not at.get("download_button")  # built only on a click
    at.button(key="cmp_export_build").click().run()
    assert not at.exception, [e.value for e in at.exception]
    files = at.session_state["_cmp_export"]["files"]
    assert set(files) == set(ARTEFACTS) and all(files.values())
    assert files["sequence.mp4"][4:8] == b"ftyp" and files["sequence.gif"][:3] == b"GIF"
    assert "not for diagnosis" in files["report.html"].decode()
    assert len(_csv_text_rows(files["picks.csv"])) == sum(m["k"] for m in json.loads(files["picks.json"])["methods"])
    assert len(at.get("download_button")) == len(ARTEFACTS)
    at.run()  # a rerun keeps the built files instead of rendering again
    assert len(at.get("download_button")) == len(ARTEFACTS) and not at.exception


def _csv_text_rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(data.decode().splitlines()))
