"""Hostile inputs: small crafted files that would decode to gigabytes, values that turn into NaN,
labels that would make a billion classes, and malformed options. Each must give a `DASError` with
one sentence naming the file, within bounded memory (measured in a child process)."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings, strategies as st

from das_core.data import load_dataset, load_sequence
from das_core.data import budget as budget_mod
from das_core.errors import DASError, DataError

from data_fixtures import write_dicom

REPO = Path(__file__).resolve().parents[1]


def one_sentence(err: BaseException, *names: str) -> str:
    msg = str(err)
    assert isinstance(err, DASError)
    assert "\n" not in msg and msg.endswith("."), msg
    for n in names:
        assert n in msg, msg
    return msg


def npy_header(shape, dtype="<f8", fortran=False) -> bytes:
    """A version 1.0 npy header (magic + dict), as numpy writes it."""
    d = repr({"descr": dtype, "fortran_order": fortran, "shape": tuple(shape)})
    pad = 64 - (10 + len(d) + 1) % 64
    h = (d + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h


def gif_bomb(path: Path, width: int, height: int, frames: int) -> Path:
    """A GIF with a width x height canvas and ``frames`` 1x1 frames (a few hundred bytes)."""
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff")
    for _ in range(frames):
        out += b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # graphic control: 100 ms
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0)  # one pixel at (0, 0)
        out += b"\x02\x02\x44\x01\x00"  # LZW: clear, 0, end
    out += b"\x3b"
    path.write_bytes(bytes(out))
    return path


def npz_zero_bomb(path: Path, shape, dtype="|u1", written: int = 1 << 24, key: str = "volume") -> Path:
    """An .npz whose member declares ``shape`` and holds ``written`` deflated zero bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open(f"{key}.npy", "w", force_zip64=True) as fh:
            fh.write(npy_header(shape, dtype))
            zero = bytes(1 << 20)
            for _ in range(written >> 20):
                fh.write(zero)
    return path


def child_peak(path: Path, budget_mb=None, loader: str = "sequence"):
    """Load ``path`` in a child python; returns (error message or None, growth of peak RSS in MiB during the load).

    The peak is the child's own VmHWM (``ru_maxrss`` would include the parent's RSS at fork on Linux); the
    baseline is the peak after importing das_core.data and torch (about 500 MiB), so the growth is what
    the load itself cost.
    """
    code = f"""
import json, resource
from das_core.data import load_sequence, load_dataset
from das_core.errors import DASError

def peak():
    try:
        with open("/proc/self/status") as fh:
            return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM")) / 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

base = peak()
err = None
try:
    if {loader!r} == "sequence":
        load_sequence({str(path)!r})
    else:
        load_dataset("npz", "train", {str(path)!r})
except DASError as e:
    err = str(e)
print(json.dumps([err, peak() - base]))
"""
    env = dict(os.environ)
    env.pop(budget_mod.BUDGET_ENV, None)
    if budget_mb is not None:
        env[budget_mod.BUDGET_ENV] = str(budget_mb)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ decode budget


def test_gif_canvas_bomb_refused_in_bounded_memory(tmp_path):
    p = gif_bomb(tmp_path / "bomb.gif", 4000, 4000, 40)
    assert p.stat().st_size < 2000
    err, peak = child_peak(p)
    assert err and "bomb.gif" in err and "canvas" in err and "DAS_DECODE_BUDGET_MB" in err, err
    assert peak < 100, f"peak RSS grew by {peak:.0f} MiB"


def test_small_gif_canvas_bomb_refused_by_env_budget(tmp_path, monkeypatch):
    p = gif_bomb(tmp_path / "b.gif", 1000, 1000, 12)
    monkeypatch.setenv(budget_mod.BUDGET_ENV, "8")
    with pytest.raises(DataError) as e:
        load_sequence(p, num_frames=4, size=16)
    one_sentence(e.value, "b.gif", "8.0 MiB", "max_decoded_bytes")
    # raising the cap by argument lets the same file through
    monkeypatch.delenv(budget_mod.BUDGET_ENV)
    x, meta = load_sequence(p, num_frames=4, size=16, max_decoded_bytes=1 << 27)
    assert x.shape == (4, 1, 16, 16) and meta["original_frames"] == 12


def test_npz_deflate_bomb_refused_in_bounded_memory(tmp_path):
    p = npz_zero_bomb(tmp_path / "bomb.npz", (1024, 1024, 1024), written=64 << 20)
    assert p.stat().st_size < 1_000_000
    err, peak = child_peak(p)
    assert err and "bomb.npz" in err and "GiB" in err, err
    assert peak < 100, f"peak RSS grew by {peak:.0f} MiB"


def test_npz_member_inflating_past_its_header_is_not_read_past_it(tmp_path):
    # the header says 4x4x4 uint8; the member inflates to 16 MiB more: only 64 bytes are read
    p = npz_zero_bomb(tmp_path / "long.npz", (4, 4, 4), written=16 << 20)
    x, _ = load_sequence(p, max_decoded_bytes=1 << 20)
    assert x.shape == (4, 1, 4, 4)


def test_npz_dataset_images_over_budget(tmp_path, monkeypatch):
    p = tmp_path / "set.npz"
    np.savez_compressed(p, train_images=np.zeros((64, 32, 64, 64), np.uint8), train_labels=np.zeros(64, np.int64))
    monkeypatch.setenv(budget_mod.BUDGET_ENV, "4")
    with pytest.raises(DataError) as e:
        load_dataset("npz", "train", p)
    one_sentence(e.value, "set.npz", "DAS_DECODE_BUDGET_MB")
    ds = load_dataset("npz", "train", p, max_decoded_bytes=64 << 20)
    assert len(ds) == 64


def test_forged_npy_header_refused_before_allocating(tmp_path):
    p = tmp_path / "forged.npy"
    p.write_bytes(npy_header((100000, 100000, 100000)) + bytes(64))
    with pytest.raises(DataError) as e:
        load_sequence(p)
    one_sentence(e.value, "forged.npy", "decode cap")
    q = tmp_path / "short.npy"
    q.write_bytes(npy_header((64, 64, 64)) + bytes(64))
    with pytest.raises(DataError) as e:
        load_sequence(q)
    one_sentence(e.value, "short.npy", "truncated")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.lists(st.integers(0, 10 ** 7), min_size=0, max_size=5),
       dtype=st.sampled_from(["<f8", ">f4", "|u1", "<i8", "|b1", "<c16", "|O", "<U3", "|V4", "<M8[s]", "<f2"]),
       fortran=st.booleans(), extra=st.integers(0, 300))
@example(shape=[0, 442, 442, 999385, 5905034], dtype="<f8", fortran=False, extra=0)  # empty, past numpy's index range
def test_npy_header_fields_fuzz(tmp_path, shape, dtype, fortran, extra):
    p = tmp_path / "fuzz.npy"
    p.write_bytes(npy_header(shape, dtype, fortran) + bytes(extra))
    try:
        x, _ = load_sequence(p, max_decoded_bytes=1 << 22)
    except DataError as e:
        one_sentence(e, "fuzz.npy")
    else:
        assert torch.isfinite(x).all() and x.ndim == 4


def _deflated_dicom(path: Path, frames: np.ndarray) -> Path:
    from pydicom import dcmread
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    write_dicom(path, frames)
    ds = dcmread(path)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    return path


def test_deflated_dicom_bounded(tmp_path, monkeypatch):
    small = np.stack([np.full((16, 20), 30 * t, np.uint8) for t in range(5)])
    p = _deflated_dicom(tmp_path / "ok.dcm", small)
    x, meta = load_sequence(p)
    assert x.shape == (5, 1, 16, 20) and meta["original_frames"] == 5
    assert torch.allclose(x[:, 0, 0, 0], torch.tensor([30.0 * t / 255 for t in range(5)]))
    big = _deflated_dicom(tmp_path / "big.dcm", np.zeros((48, 512, 512), np.uint8))  # 12 MiB inflated
    assert big.stat().st_size < 200_000
    monkeypatch.setenv(budget_mod.BUDGET_ENV, "4")
    with pytest.raises(DataError) as e:
        load_sequence(big)
    one_sentence(e.value, "big.dcm", "DAS_DECODE_BUDGET_MB")


def test_dicom_single_frame_repeated_is_resized_once(tmp_path):
    p = write_dicom(tmp_path / "xray.dcm", np.full((1, 600, 500), 200, np.uint8), cine_rate=None)
    # 1 native frame + 64 small output frames fit 4 MiB; 64 native copies (19 MiB) would not
    x, meta = load_sequence(p, num_frames=64, size=32, max_decoded_bytes=4 << 20)
    assert x.shape == (64, 1, 32, 32) and meta["frame_indices"] == [0] * 64


def test_dicom_bad_header_values(tmp_path):
    from pydicom import dcmread

    frames = np.zeros((3, 8, 8), np.uint8)
    p = write_dicom(tmp_path / "slope.dcm", frames)
    ds = dcmread(p)
    ds.add_new(0x00281053, "LO", "abc")  # RescaleSlope "abc"
    ds.save_as(p)
    with pytest.raises(DataError) as e:
        load_sequence(p)
    one_sentence(e.value, "slope.dcm", "RescaleSlope")
    q = write_dicom(tmp_path / "rows.dcm", frames)
    ds = dcmread(q)
    ds.add_new(0x00280008, "IS", "-5")  # NumberOfFrames
    ds.add_new(0x00280010, "US", 0)  # Rows
    ds.save_as(q)
    with pytest.raises(DataError) as e:
        load_sequence(q)
    one_sentence(e.value, "rows.dcm")


def test_dicom_two_valued_spacing_is_ignored(tmp_path):
    from pydicom import dcmread
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    p = write_dicom(tmp_path / "us.dcm", np.zeros((2, 8, 8), np.uint8))
    ds = dcmread(p)
    r = Dataset()
    r.add_new(0x0018602C, "FD", [0.1, 0.2])  # PhysicalDeltaX, two values
    r.add_new(0x0018602E, "FD", 0.1)
    ds.SequenceOfUltrasoundRegions = Sequence([r])
    ds.save_as(p)
    x, meta = load_sequence(p)
    assert meta["spacing"] is None and x.shape == (2, 1, 8, 8)


# ------------------------------------------------------------------ values


def test_float64_beyond_float32_is_refused_not_nan(tmp_path):
    np.save(tmp_path / "huge.npy", np.full((2, 4, 4), 1e300))
    with pytest.raises(DataError) as e:
        load_sequence(tmp_path / "huge.npy")
    one_sentence(e.value, "huge.npy", "float32")
    np.savez(tmp_path / "hset.npz", train_images=np.full((2, 2, 4, 4), 1e300), train_labels=np.array([0, 1]))
    with pytest.raises(DataError) as e:
        load_dataset("npz", "train", tmp_path / "hset.npz")
    one_sentence(e.value, "hset.npz", "float32")
    np.save(tmp_path / "wide.npy", np.array([[[-3e38, 3e38]]], np.float32))  # finite, range wider than float32
    x, _ = load_sequence(tmp_path / "wide.npy")
    assert torch.isfinite(x).all() and x.flatten().tolist() == [0.0, 1.0]


def test_complex_is_refused(tmp_path):
    np.save(tmp_path / "c.npy", np.ones((2, 3, 3), np.complex64))
    with pytest.raises(DataError) as e:
        load_sequence(tmp_path / "c.npy")
    one_sentence(e.value, "c.npy", "complex")


def test_bool_volumes_are_0_1_everywhere(tmp_path):
    vol = np.zeros((3, 4, 4), bool)
    vol[1, 2, 2] = True
    np.save(tmp_path / "mask.npy", vol)
    x, _ = load_sequence(tmp_path / "mask.npy")
    assert x.sum().item() == 1.0 and x.max().item() == 1.0
    np.savez(tmp_path / "mset.npz", train_images=np.stack([vol, vol]), train_labels=np.array([0, 1]))
    ds = load_dataset("npz", "train", tmp_path / "mset.npz")
    assert ds[0][0].sum().item() == 1.0 and ds[0][0].max().item() == 1.0


# ------------------------------------------------------------------ labels


@pytest.mark.parametrize("labels,match", [
    (np.array([0, 10 ** 9]), "at most 1000 classes"),
    (np.array([0.0, np.nan]), "NaN"),
    (np.array(["a", "b"]), "not numbers"),
    (np.array([0.5, 1.0]), "non-integer"),
    (np.array([-1, 0]), "negative"),
])
def test_bad_labels_in_any_split(tmp_path, labels, match):
    p = tmp_path / "lab.npz"
    imgs = np.zeros((2, 2, 4, 4), np.uint8)
    np.savez(p, train_images=imgs, train_labels=np.array([0, 1]), test_images=imgs, test_labels=labels)
    with pytest.raises(DataError, match=match) as e:
        load_dataset("npz", "train", p)
    one_sentence(e.value, "lab.npz")


def test_whole_float_labels_accepted(tmp_path):
    p = tmp_path / "f.npz"
    np.savez(p, train_images=np.zeros((2, 2, 4, 4), np.uint8), train_labels=np.array([[0.0], [2.0]]))
    ds = load_dataset("npz", "train", p)
    assert ds.labels == [0, 2] and ds.classes == ["0", "1", "2"]


def test_npz_member_that_is_not_npy(tmp_path):
    p = tmp_path / "odd.npz"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("notes.txt", "hello")
    with pytest.raises(DataError) as e:
        load_sequence(p)
    one_sentence(e.value, "odd.npz", "not a .npy")
    q = tmp_path / "odd2.npz"
    with zipfile.ZipFile(q, "w") as zf:
        zf.writestr("train_images.npy", "not an array at all")
        zf.writestr("train_labels.npy", "nope")
    with pytest.raises(DataError) as e:
        load_dataset("npz", "train", q)
    one_sentence(e.value, "odd2.npz")


# ------------------------------------------------------------------ options and names


@pytest.mark.parametrize("name", ["..", ".", "a/b.npy", "..\\evil.npy", "x" * 300 + ".npy"])
def test_bad_upload_names(tmp_path, monkeypatch, name):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(DataError) as e:
        load_sequence(b"\x93NUMPY", filename=name)
    msg = one_sentence(e.value, "filename")
    assert len(msg) < 400
    assert list(tmp_path.iterdir()) == []  # nothing was written, not even in the temporary folder


@pytest.mark.parametrize("opts", [{"num_frames": "abc"}, {"num_frames": 0}, {"num_frames": True},
                                  {"num_frames": 2.5}, {"size": "abc"}, {"size": (8, 0)}, {"size": [8, 8, 8]},
                                  {"max_decoded_bytes": "lots"}])
def test_bad_options_one_sentence(tmp_path, opts):
    np.save(tmp_path / "v.npy", np.zeros((2, 4, 4)))
    with pytest.raises(DataError) as e:
        load_sequence(tmp_path / "v.npy", **opts)
    one_sentence(e.value, next(iter(opts)))


def test_bad_env_budget(tmp_path, monkeypatch):
    np.save(tmp_path / "v.npy", np.zeros((2, 4, 4)))
    monkeypatch.setenv(budget_mod.BUDGET_ENV, "-3")
    with pytest.raises(DataError) as e:
        load_sequence(tmp_path / "v.npy")
    one_sentence(e.value, budget_mod.BUDGET_ENV)


def test_memory_error_is_one_sentence_with_size(tmp_path, monkeypatch):
    import das_core.data.sequence as seq

    np.save(tmp_path / "v.npy", np.zeros((2, 4, 4)))

    def boom(*a, **k):
        raise MemoryError

    monkeypatch.setattr(seq, "load_array_file", boom)
    with pytest.raises(DataError) as e:
        load_sequence(tmp_path / "v.npy")
    msg = one_sentence(e.value, "v.npy", "memory", "bytes")
    assert "corrupt" not in msg


def test_medmnist_file_in_a_user_root_is_read_within_the_budget(tmp_path):
    """A root may be any folder: a MedMNIST-named file declaring a huge array is refused from its header."""
    import zipfile as _zip

    from das_core.data import DataError, load_dataset

    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 1, 1, 1), np.uint8))
    header["shape"] = (4096, 64, 64, 64)  # 1 GiB declared, a few bytes stored
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    labels = io.BytesIO()
    np.save(labels, np.zeros((4096, 1), np.uint8))
    with _zip.ZipFile(tmp_path / "vesselmnist3d.npz", "w") as zf:
        zf.writestr("train_images.npy", buf.getvalue() + b"\0" * 16)
        zf.writestr("train_labels.npy", labels.getvalue())
    with pytest.raises(DataError) as err:
        load_dataset("vesselmnist3d", split="train", root=tmp_path, max_decoded_bytes=64 * 2**20)
    assert "\n" not in str(err.value) and "vesselmnist3d.npz" in str(err.value)


def test_every_data_set_that_decodes_files_takes_the_cap():
    from das_core.data import DataError, load_dataset
    from das_core.data.dicom import echo_cine_path

    if echo_cine_path() is None:
        pytest.skip("pydicom-data's echo cine is not installed")
    ds = load_dataset("dicom-echo", max_decoded_bytes=1_000_000)  # the 120-frame 480x640 RGB cine is far larger
    with pytest.raises(DataError) as err:
        ds[0]
    assert "\n" not in str(err.value) and "max_decoded_bytes" in str(err.value)
