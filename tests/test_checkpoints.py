"""Checkpoints: round trip, atomic writes, weights-only loading, foreign/pickled files refused."""

import os
from pathlib import Path

import pytest
import torch

import das_core

from das_core.checkpoints import check_compatible, load_checkpoint, save_checkpoint
from das_core.errors import CheckpointError


def _model(method="das", T=8, k=4, classes=2):
    sampler = das_core.make_sampler(method, T, None if method == "full" else k)
    return das_core.SubsampledClassifier(sampler, "small_cnn", classes, 1, frame_size=16)


@pytest.mark.parametrize("method", ["full", "uniform", "random", "dps", "adps", "das", "central", "edge-energy",
                                    "pgadps"])
def test_round_trip_same_outputs(tmp_path, method):
    torch.manual_seed(0)
    model = _model(method).eval()
    path = save_checkpoint(tmp_path / "m.pt", model, {"dataset": "tiny", "frame_size": 16, "classes": ["a", "b"]})
    loaded, meta = load_checkpoint(path)
    assert not loaded.training
    x = torch.rand(2, 8, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(model(x)[0], loaded(x)[0], atol=1e-6)
    for key in ("dataset", "dataset_options", "model", "classes", "versions", "metrics", "created"):
        assert key in meta
    for key in ("method", "num_frames", "num_selected", "sampler_options", "backbone", "num_classes", "in_channels",
                "frame_size", "pooling", "dropout"):
        assert key in meta["model"]
    assert meta["model"]["method"] == method and meta["model"]["num_frames"] == 8
    assert loaded.spec == model.spec  # the spec stored is the spec rebuilt
    # a plain weights-only load works (no pickled objects inside)
    payload = torch.load(path, weights_only=True)
    assert set(payload) >= {"state_dict", "meta"}
    assert os.path.getsize(path) < 1_000_000


def test_crash_mid_write_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "best.pt"
    save_checkpoint(path, _model(), {"dataset": "tiny", "frame_size": 16})
    before = path.read_bytes()

    real_save = torch.save

    def crashing_save(obj, f, *a, **kw):
        f.write(b"PK\x03\x04 half a zip")  # some bytes reach the temporary file, then the process "dies"
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, _model("dps"), {"dataset": "tiny"})
    monkeypatch.setattr(torch, "save", real_save)
    assert path.read_bytes() == before
    model, meta = load_checkpoint(path)
    assert meta["model"]["method"] == "das"
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]  # no temporary file left behind


def test_pickle_bearing_file_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "das_core.checkpoint", "state_dict": {}, "meta": {"x": object()}}, path)
    with pytest.raises(CheckpointError, match="pickled"):
        load_checkpoint(path)


def test_not_a_checkpoint_refused(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(junk)
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(2)}, plain)
    with pytest.raises(CheckpointError, match="not a das_core checkpoint"):
        load_checkpoint(plain)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_other_architecture_refused(tmp_path):
    path = save_checkpoint(tmp_path / "das.pt", _model("das"), {"dataset": "tiny"})
    payload = torch.load(path, weights_only=True)
    other = _model("uniform", classes=3)
    payload["meta"]["model"].update(method="uniform", num_classes=3, sampler_options={})
    payload["state_dict"] = {**payload["state_dict"]}
    torch.save(payload, tmp_path / "edited.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(tmp_path / "edited.pt")
    assert other is not None


class _Data:
    name = "tiny-rgb"
    classes = ["a", "b"]

    def __init__(self, T, C):
        self.item = torch.zeros(T, C, 16, 16)

    def __getitem__(self, i):
        return self.item, 0


def test_check_compatible(tmp_path):
    _, meta = load_checkpoint(save_checkpoint(tmp_path / "m.pt", _model(), {"dataset": "tiny", "frame_size": 16}))
    check_compatible(meta, _Data(8, 1))
    with pytest.raises(CheckpointError, match=r"T=8 frames of 1 channel.*T=8 frames of 3 channel.*choose a matching"):
        check_compatible(meta, _Data(8, 3))
    with pytest.raises(CheckpointError, match="T=12"):
        check_compatible(meta, _Data(12, 1))


def _edited(tmp_path, edit, name="edited.pt"):
    payload = torch.load(save_checkpoint(tmp_path / "m.pt", _model("das"), {"dataset": "tiny"}), weights_only=True)
    edit(payload)
    torch.save(payload, tmp_path / name)
    return tmp_path / name


def test_format_1_checkpoints_still_load(tmp_path):
    """Before the ModelSpec, the architecture's keys sat at the top level of meta (format 1)."""
    model = _model("das").eval()

    def flatten(payload):
        payload["format_version"] = 1
        payload["meta"].update(payload["meta"].pop("model"))

    loaded = das_core.load_model(_edited(tmp_path, flatten))
    assert loaded.spec.method == "das" and loaded.spec.num_frames == 8 and not loaded.training
    x = torch.rand(2, 8, 1, 16, 16)
    with torch.no_grad():
        torch.manual_seed(0)
        assert loaded(x)[0].shape == model(x)[0].shape


def test_shipped_checkpoints_load_as_models():
    shipped = sorted((Path(__file__).resolve().parents[1] / "checkpoints").glob("*.pt"))
    assert shipped
    for path in shipped:
        model = das_core.load_model(path)
        assert not model.training and model.meta["dataset"] and model.spec.method in das_core.list_samplers()


@pytest.mark.parametrize("edit, match", [
    (lambda p: p["meta"]["model"].update(dropout=2.0), "dropout"),
    (lambda p: p["meta"]["model"].update(num_frames="abc"), "num_frames"),
    (lambda p: p["meta"]["model"].update(num_frames=10**7), "num_frames"),
    (lambda p: p["meta"]["model"].update(method="no-such"), "Unknown sampler"),
    (lambda p: p["meta"]["model"].update(sampler_options="x"), "sampler_options"),
    (lambda p: p.update(state_dict=[1, 2]), "not a state dict"),
    (lambda p: p.update(meta=[1]), "no metadata"),
])
def test_crafted_metadata_gets_one_sentence(tmp_path, edit, match):
    with pytest.raises(CheckpointError, match=match) as err:
        das_core.load_model(_edited(tmp_path, edit))
    assert "\n" not in str(err.value)


def test_int8_compaction_round_trip_keeps_outputs_and_shrinks_mobilenet(tmp_path):
    from das_core.checkpoints import compact_checkpoint, read_checkpoint
    from das_core.quantize import compact_state, expand_state

    torch.manual_seed(0)
    sampler = das_core.make_sampler("das", 8, 4)
    model = das_core.SubsampledClassifier(sampler, "mobilenet_v3_small", 2, 1, frame_size=28).eval()
    src = save_checkpoint(tmp_path / "f.pt", model, {"dataset": "tiny", "classes": ["a", "b"]})
    dst = compact_checkpoint(src, tmp_path / "q.pt")
    assert dst.stat().st_size < 0.35 * src.stat().st_size
    raw = torch.load(dst, weights_only=True)
    assert any(t.dtype == torch.int8 for t in raw["state_dict"].values()) and raw["int8_scales"]
    loaded, meta = load_checkpoint(dst)
    assert meta["int8_weights"] and all(v.dtype != torch.int8 for v in loaded.state_dict().values())
    x = torch.rand(3, 8, 1, 28, 28)
    with torch.no_grad():
        a, sa = model(x)
        b, sb = loaded(x)
    assert torch.equal(sa.indices, sb.indices)
    assert (a - b).abs().max() < 0.05 * a.abs().max() + 1e-3
    state, scales = compact_state({"w": torch.randn(16, 80), "b": torch.randn(16)})
    back = expand_state(state, scales)
    assert state["b"].dtype == torch.float16 and back["b"].dtype == torch.float32 and state["w"].dtype == torch.int8 and back["w"].shape == (16, 80)
    bad = dict(raw)
    bad["int8_scales"] = {next(iter(raw["int8_scales"])): torch.ones(3)}
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="do not match their scales"):
        read_checkpoint(tmp_path / "bad.pt")
    cut = dict(raw)
    cut["packing"] = {**raw["packing"], "int8": raw["packing"]["int8"][:-1]}  # a tensor left unclaimed
    torch.save(cut, tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match="corrupt"):
        read_checkpoint(tmp_path / "cut.pt")


def test_make_checkpoints_ships_the_grid_runs_with_their_metrics(tmp_path):
    import json

    from das_core import cli
    from das_core.errors import ConfigError
    from das_core.experiments.shipped import make_checkpoints

    runs, ship = tmp_path / "runs", tmp_path / "ship"
    with pytest.raises(ConfigError, match="make bench"):
        make_checkpoints(out_dir=str(ship), runs_dir=str(runs), datasets=["synthetic-volumes"], methods=["das"])
    assert cli.main(["bench", "--datasets", "synthetic-volumes:moving", "--methods", "uniform", "das", "--seeds", "0",
                     "--epochs", "1", "--min-epochs", "1", "--backbone", "small_cnn", "--frames", "8", "--size", "16",
                     "--data-option", 'num_samples={"train": 32, "val": 16, "test": 24}', "--device", "cpu",
                     "--runs-dir", str(runs), "--out-dir", str(tmp_path / "out"),
                     "--results-md", str(tmp_path / "r.md")]) == 0
    manifest = make_checkpoints(out_dir=str(ship), runs_dir=str(runs), datasets=["synthetic-volumes"],
                                methods=["uniform", "das"], log=lambda *a: None)
    assert json.loads((ship / "manifest.json").read_text()) == manifest
    files = {e["file"]: e for e in manifest["checkpoints"]}
    assert set(files) == {"synthetic-volumes-uniform.pt", "synthetic-volumes-das.pt"}
    das = files["synthetic-volumes-das.pt"]
    assert das["run"].endswith("synthetic-volumes-moving/das-r0.5-s0") and das["dataset_options"]["moving"] is True
    assert 0 <= das["run_metrics"]["hit_rate"] <= 1 and das["command"].startswith("python -m das_core train")
    assert abs(das["metrics"]["test_auc"] - das["run_metrics"]["test_auc"]) < 0.05
    assert das_core.load_model(ship / "synthetic-volumes-das.pt").spec.method == "das"
