"""Checkpoints cannot be turned against the server: every spec field and sampler option is bounded, the model's
size is counted before it is built, compressed records stay within the decode budget, and the manifest lists
only files inside its folder. Memory is measured in a child process (its own peak RSS, VmHWM)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch

import das_core
from das_core.checkpoints import load_checkpoint, manifest_entries, read_checkpoint, save_checkpoint
from das_core.data import budget as budget_mod
from das_core.errors import CheckpointError, ConfigError, DASError
from das_core.nn.model import MAX_MODEL_BYTES, SubsampledClassifier, check_model_size, model_size
from das_core.nn.spec import ModelSpec
from das_core.samplers import list_samplers, make_sampler, sampler_class

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "checkpoints"


def one_sentence(err: BaseException, *parts: str) -> str:
    msg = str(err)
    assert isinstance(err, DASError), type(err)
    assert "\n" not in msg and msg.endswith("."), msg
    for p in parts:
        assert p in msg, msg
    return msg


def _tiny(method="das", T=8, k=4, **options):
    sampler = make_sampler(method, T, None if method == "full" else k, **options)
    return SubsampledClassifier(sampler, "small_cnn", 2, 1, frame_size=16)


def _crafted(tmp_path, name="crafted.pt", **model):
    """A small real checkpoint whose meta["model"] is edited (the weights stay those of a T=8, k=4 DAS)."""
    payload = torch.load(save_checkpoint(tmp_path / "src.pt", _tiny(), {"dataset": "tiny"}), weights_only=True)
    payload["meta"]["model"].update(model)
    torch.save(payload, tmp_path / name)
    return tmp_path / name


def child_load(path: Path, budget_mb=None, warm_torchvision: bool = False):
    """`das_core.load_model(path)` in a child python: (error message or None, seconds, peak RSS growth in MiB).

    The baseline is the child's peak after importing das_core.checkpoints (and torchvision where asked: any
    server that has loaded one model has it imported), so the growth is what the load itself cost."""
    code = f"""
import json, time
import das_core.checkpoints
from das_core.errors import DASError
if {warm_torchvision!r}:
    import torchvision.models

def peak():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM")) / 1024

base, t0, err = peak(), time.perf_counter(), None
try:
    das_core.checkpoints.load_model({str(path)!r})
except DASError as e:
    err = str(e)
print(json.dumps([err, time.perf_counter() - t0, peak() - base]))
"""
    env = dict(os.environ)
    env.pop(budget_mod.BUDGET_ENV, None)
    if budget_mb is not None:
        env[budget_mod.BUDGET_ENV] = str(budget_mb)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ sampler options: bounded, typed, named


@pytest.mark.parametrize("heads", [6000, 100_000])
def test_das_heads_crafted_checkpoint_refused_fast_in_bounded_memory(tmp_path, heads):
    path = _crafted(tmp_path, sampler_options={"heads": heads})
    assert path.stat().st_size < 200_000
    err, seconds, grown = child_load(path)
    assert err is not None, "the crafted checkpoint loaded"
    assert "heads" in err and "[1, 64]" in err and str(heads) in err and "\n" not in err, err
    assert seconds < 1.0, f"refused after {seconds:.2f} s"
    assert grown < 100, f"peak RSS grew by {grown:.0f} MiB"
    with pytest.raises(CheckpointError) as e:  # and in this process: one sentence, no traceback
        das_core.load_model(path)
    one_sentence(e.value, path.name, "heads", "re-create it")


def test_unknown_sampler_option_refused_with_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError) as e:
        ModelSpec("das", 8, 4, sampler_options={"hedas": 4}).validate()
    msg = one_sentence(e.value, "hedas", "das sampler")
    for name in sampler_class("das").option_names():
        assert name in msg
    with pytest.raises(CheckpointError) as e:
        das_core.load_model(_crafted(tmp_path, sampler_options={"hedas": 4}))
    one_sentence(e.value, "hedas", "its options are")
    with pytest.raises(ConfigError) as e:  # a sampler without options
        make_sampler("uniform", 8, 4, seed=1)
    one_sentence(e.value, "seed", "none")


@pytest.mark.parametrize("method, options, part", [
    ("das", {"heads": "4"}, "heads"),
    ("das", {"heads": 4.0}, "an integer"),
    ("das", {"heads": True}, "heads"),
    ("das", {"tau0": "hot"}, "tau0"),
    ("das", {"tau0": float("nan")}, "tau0"),
    ("das", {"tau0": float("inf")}, "tau0"),
    ("das", {"positional": 1}, "true or false"),
    ("das", {"estimator": 3}, "estimator"),
    ("das", {"estimator": "magic"}, "straight_through"),
    ("das", {"frame_encoder": ["learned"]}, "frame_encoder"),
    ("das", {"exploration": 1.0}, "[0, 1)"),
    ("das", {"dim": 10**6}, "dim"),
    ("adps", {"hidden": 10**5}, "hidden"),
    ("adps", {"in_channels": 0}, "in_channels"),
    ("pgadps", {"prior_share": 0.0}, "(0, 1]"),
    ("dps", {"lr_multiplier": -1}, "lr_multiplier"),
    ("random", {"seed": -1}, "seed"),
    ("edge-energy", {"weight_edges": -1.0}, "weight_edges"),
])
def test_wrong_typed_or_out_of_bounds_option_refused_with_one_sentence(method, options, part):
    with pytest.raises(ConfigError) as e:
        make_sampler(method, 8, 4, **options)
    one_sentence(e.value, part)
    with pytest.raises(ConfigError) as e:  # the same from a spec, before anything is built
        ModelSpec(method, 8, 4, sampler_options=options).validate()
    one_sentence(e.value, part)


def test_every_built_in_option_declares_its_bounds():
    for name in list_samplers():
        cls = sampler_class(name)
        if cls.Options is None:
            continue
        for f in dataclasses.fields(cls.Options):
            declared = "bounds" in f.metadata or "choices" in f.metadata or f.type in ("bool", bool)
            assert declared, f"{name}.{f.name} has no bounds"
            cls.check_options({f.name: f.default})  # its own default fits


@pytest.mark.parametrize("edit, part", [
    ({"num_frames": 10**6}, "num_frames"),
    ({"num_classes": True}, "num_classes"),
    ({"backbone": ["small_cnn"]}, "backbone"),
    ({"pooling": {"mean": 1}}, "pooling"),
    ({"method": ["das"]}, "method"),
    ({"in_channels": 65}, "in_channels"),
])
def test_spec_fields_bounded_and_typed(tmp_path, edit, part):
    with pytest.raises(CheckpointError) as e:
        das_core.load_model(_crafted(tmp_path, **edit))
    one_sentence(e.value, part)


# ------------------------------------------------------------------ the model's size, before it is built


def test_model_size_is_counted_exactly_without_building():
    cases = [(m, {}) for m in list_samplers()] + [
        ("das", {"heads": 3, "dim": 24, "head_dim": 8, "positional": False, "score_norm": "standardize",
                 "frame_encoder": "learned", "encoder_dim": 5}),
        ("adps", {"hidden": 17, "feature_dim": 3}),
        ("pgadps", {"hidden": 9, "prior_share": 0.3, "group_share": 0.5}),
    ]
    for method, options in cases:
        spec = ModelSpec(method, 11, 5, backbone="small_cnn", num_classes=3, sampler_options=options)
        real = SubsampledClassifier.from_config(spec)
        size = model_size(spec)
        assert size.parameters == sum(p.numel() for p in real.parameters()), (method, options)
        assert size.bytes == sum(t.numel() * t.element_size() for t in (*real.parameters(), *real.buffers()))
    spec = ModelSpec("adps", 28, 14)  # MobileNetV3-Small: the LSTM reads its 576 features
    real = SubsampledClassifier.from_config(spec)
    assert model_size(spec).parameters == sum(p.numel() for p in real.parameters())


@pytest.mark.parametrize("method, options", [
    ("adps", {}),  # one step MLP of T outputs per pick: 8.4 GiB at T = k = 4096
    ("das", {"heads": 64, "dim": 4096, "head_dim": 1024}),  # every option within its bounds, 7.3 GiB together
    ("pgadps", {"hidden": 4096}),
])
def test_oversized_model_refused_before_it_is_built(method, options):
    spec = ModelSpec(method, 4096, 4096, sampler_options=options)
    assert model_size(spec).bytes > MAX_MODEL_BYTES
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as e:
        SubsampledClassifier.from_config(spec)
    assert time.perf_counter() - t0 < 1.0
    one_sentence(e.value, "MAX_MODEL_BYTES", "MiB")


def test_oversized_crafted_checkpoint_refused_in_bounded_memory(tmp_path):
    path = _crafted(tmp_path, method="adps", num_frames=4096, num_selected=4096, backbone="mobilenet_v3_small",
                    sampler_options={})
    err, seconds, grown = child_load(path, warm_torchvision=True)
    assert err and "MAX_MODEL_BYTES" in err and path.name in err, err
    assert seconds < 1.0 and grown < 100, (seconds, grown)


def test_weights_fewer_than_the_model_needs_refused_before_building(tmp_path):
    """Within the budget, but the file's weights (a T=8 model's) cannot fill a T=k=4096 DAS: refused by count."""
    path = _crafted(tmp_path, num_frames=4096, num_selected=4096, sampler_options={"heads": 64})
    assert check_model_size(ModelSpec("das", 4096, 4096, backbone="small_cnn", sampler_options={"heads": 64}))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    one_sentence(e.value, "do not fit", "weight values", "parameters")


# ------------------------------------------------------------------ compressed records within the decode budget


def _rezip(src: Path, dst: Path, *, bomb_mib: int = 0, stored_mib: int = 0) -> Path:
    """`src`'s records deflated into `dst`; with `bomb_mib` its largest data record replaced by that many MiB of
    deflated zeros (a few hundred KB on disk), with `stored_mib` by that many MiB stored."""
    with zipfile.ZipFile(src) as z:
        items = [(i.filename, z.read(i)) for i in z.infolist()]
    target = max((n for n, _ in items if "/data/" in n), key=lambda n: len(dict(items)[n]))
    with zipfile.ZipFile(dst, "w") as z:
        for name, data in items:
            if name == target and (bomb_mib or stored_mib):
                info = zipfile.ZipInfo(name)
                info.compress_type = zipfile.ZIP_DEFLATED if bomb_mib else zipfile.ZIP_STORED
                with z.open(info, "w", force_zip64=True) as fh:
                    zero = bytes(1 << 20)
                    for _ in range(bomb_mib or stored_mib):
                        fh.write(zero)
            else:
                z.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return dst


def test_deflated_checkpoint_still_loads(tmp_path):
    src = save_checkpoint(tmp_path / "m.pt", _tiny(), {"dataset": "tiny"})
    model, _ = load_checkpoint(_rezip(src, tmp_path / "deflated.pt"))
    assert model.spec.method == "das"


def test_deflate_bomb_record_refused_before_decoding(tmp_path):
    src = save_checkpoint(tmp_path / "m.pt", _tiny(), {"dataset": "tiny"})
    bomb = _rezip(src, tmp_path / "bomb.pt", bomb_mib=256)
    assert bomb.stat().st_size < 2_000_000
    err, seconds, grown = child_load(bomb)
    assert err and "bomb.pt" in err and "zip bomb" in err and "\n" not in err, err
    assert grown < 100, f"peak RSS grew by {grown:.0f} MiB"
    with pytest.raises(CheckpointError) as e:
        read_checkpoint(bomb)
    one_sentence(e.value, "bomb.pt", "256.0 MiB")


def test_declared_size_over_the_decode_budget_refused(tmp_path, monkeypatch):
    src = save_checkpoint(tmp_path / "m.pt", _tiny(), {"dataset": "tiny"})
    big = _rezip(src, tmp_path / "big.pt", stored_mib=6)
    monkeypatch.setenv(budget_mod.BUDGET_ENV, "4")
    with pytest.raises(CheckpointError) as e:
        read_checkpoint(big)
    one_sentence(e.value, "big.pt", "4.0 MiB", budget_mod.BUDGET_ENV)
    monkeypatch.delenv(budget_mod.BUDGET_ENV)
    with pytest.raises(CheckpointError, match="do not fit|not a readable"):  # within the cap: read, then refused
        load_checkpoint(big)


def test_stride_zero_tensor_larger_than_the_budget_refused(tmp_path):
    """A few bytes of storage can back a view of 2**31 values; expanding it (float16 -> float32) would take 8 GiB."""
    payload = torch.load(save_checkpoint(tmp_path / "m.pt", _tiny(), {"dataset": "tiny"}), weights_only=True)
    payload["state_dict"]["huge"] = torch.zeros(1, dtype=torch.float16).expand(2**31)
    payload["int8_scales"] = {}  # a "compacted" file: every float16 tensor is made float32
    torch.save(payload, tmp_path / "views.pt")
    assert (tmp_path / "views.pt").stat().st_size < 200_000
    err, _, grown = child_load(tmp_path / "views.pt")
    assert err and "views.pt" in err and "once expanded" in err, err
    assert grown < 100, f"peak RSS grew by {grown:.0f} MiB"


def test_non_zip_torch_file_refused(tmp_path):
    legacy = tmp_path / "legacy.pt"
    torch.save({"format": "das_core.checkpoint", "state_dict": {}, "meta": {}}, legacy,
               _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError) as e:
        read_checkpoint(legacy)
    one_sentence(e.value, "legacy.pt", "not a readable checkpoint")


# ------------------------------------------------------------------ the manifest lists files inside its folder


def test_manifest_entries_outside_the_folder_are_not_listed(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (tmp_path / "x.pt").write_bytes(b"outside")
    (folder / "ok.pt").write_bytes(b"inside")
    (folder / "sub").mkdir()
    (folder / "sub" / "deep.pt").write_bytes(b"inside")
    (folder / "link.pt").symlink_to(tmp_path / "x.pt")
    (folder / "inner-link.pt").symlink_to(folder / "ok.pt")
    files = ["ok.pt", "sub/deep.pt", "inner-link.pt", "../x.pt", "/etc/passwd", str(tmp_path / "x.pt"),
             "sub/../../x.pt", "link.pt", "..\\x.pt", "C:/x.pt", "", 7, None]
    (folder / "manifest.json").write_text(json.dumps({"checkpoints": [{"file": f, "method": "das"} for f in files]}))
    listed = [e["file"] for e in manifest_entries(folder)]
    assert listed == ["ok.pt", "sub/deep.pt", "inner-link.pt"]

    from explorer.catalogue import list_checkpoints

    shipped = [Path(e.path).name for e in list_checkpoints(folder, runs=tmp_path / "no-runs") if e.origin == "shipped"]
    assert shipped == ["ok.pt", "deep.pt", "inner-link.pt"]


def test_shipped_manifest_lists_every_shipped_file():
    listed = {e["file"] for e in manifest_entries(SHIPPED)}
    assert listed == {p.name for p in SHIPPED.glob("*.pt")}


def test_shipped_checkpoints_fit_every_limit():
    for path in sorted(SHIPPED.glob("*.pt")):
        payload = read_checkpoint(path)
        spec = ModelSpec.from_dict(payload["meta"]["model"])
        assert check_model_size(spec).bytes < 8 << 20, path.name
