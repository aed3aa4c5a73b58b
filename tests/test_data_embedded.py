"""The moving-real families (`das_core.data.embedded`): real slices at a per-item offset between fillers."""

import numpy as np
import pytest

from das_core.data import DataError, load_dataset
from das_core.experiments.bench import parse_dataset_spec
from data_fixtures import medmnist_dir


def _tiny_medmnist(root, n=6, depth=12, size=28):
    """adrenalmnist3d.npz whose volume i, slice d has the constant value 20 * i + d + 1 (so a frame says where it came from)."""
    def split(m):
        vols = np.zeros((m, depth, size, size), dtype=np.uint8)
        for i in range(m):
            for d in range(depth):
                vols[i, d] = 20 * i + d + 1
        return vols, (np.arange(m) % 2).reshape(m, 1)

    arrays = {}
    for s, m in (("train", n), ("val", n), ("test", n)):
        arrays[f"{s}_images"], arrays[f"{s}_labels"] = split(m)
    np.savez(root / "adrenalmnist3d.npz", **arrays)
    return root


def test_each_volume_sits_where_its_offset_says_between_slices_of_other_volumes(tmp_path):
    root = _tiny_medmnist(tmp_path)
    ds = load_dataset("adrenalmnist3d-embedded", "train", root=root, num_frames=20, window=4, filler="distractors", seed=3)
    assert ds.name == "adrenalmnist3d-embedded" and ds.num_frames == 20 and ds.labels == [0, 1, 0, 1, 0, 1]
    offsets = set()
    for i in range(len(ds)):
        x, y = ds[i]
        assert x.shape == (20, 1, 28, 28) and y == ds.labels[i]
        values = (x[:, 0, 0, 0].numpy() * 255).round().astype(int)
        m = ds.meta(i)
        o = m["offset"]
        offsets.add(o)
        assert m["informative_frames"] == list(range(o, o + 4)) and 0 <= o <= 16
        first = (12 - 4) // 2  # the central 4 of 12 slices
        assert values[o:o + 4].tolist() == [20 * i + d + 1 for d in range(first, first + 4)]
        fillers = np.delete(values, range(o, o + 4))
        assert all((v - 1) // 20 != i for v in fillers)  # never a slice of item i's own volume
        assert np.array_equal(x.numpy(), ds[i][0].numpy())  # the same sequence every time it is read
    assert len(offsets) > 1  # the block moves between items
    again = load_dataset("adrenalmnist3d-embedded", "train", root=root, num_frames=20, window=4, seed=3)
    assert [again.meta(i)["offset"] for i in range(6)] == [ds.meta(i)["offset"] for i in range(6)]
    other = load_dataset("adrenalmnist3d-embedded", "train", root=root, num_frames=20, window=4, seed=4)
    assert [other.meta(i)["offset"] for i in range(6)] != [ds.meta(i)["offset"] for i in range(6)]


def test_speckle_filler_keeps_the_block_and_fills_the_rest_with_noise(tmp_path):
    root = _tiny_medmnist(tmp_path)
    ds = load_dataset("adrenalmnist3d-embedded", "test", root=root, num_frames=16, window=6, filler="speckle")
    x, _ = ds[2]
    o = ds.meta(2)["offset"]
    block = (x[o:o + 6, 0].numpy() * 255).round()
    assert np.array_equal(block, np.broadcast_to(np.arange(3, 9)[:, None, None] + 41, block.shape))
    noise = np.delete(x[:, 0].numpy(), range(o, o + 6), axis=0)
    assert noise.std() > 0.01 and noise.min() >= 0 and noise.max() <= 1  # not constant like the volume's slices


def test_bad_options_name_the_fix(tmp_path):
    root = _tiny_medmnist(tmp_path)
    with pytest.raises(DataError, match="filler"):
        load_dataset("adrenalmnist3d-embedded", "train", root=root, filler="zeros")
    with pytest.raises(DataError, match="larger than window"):
        load_dataset("adrenalmnist3d-embedded", "train", root=root, num_frames=4, window=4)
    with pytest.raises(DataError, match="window"):
        load_dataset("adrenalmnist3d-embedded", "train", root=root, window=40, num_frames=50)


def test_bench_specs_set_the_filler():
    assert parse_dataset_spec("adrenalmnist3d-embedded:speckle") == (
        "adrenalmnist3d-embedded", {"filler": "speckle"}, "adrenalmnist3d-embedded-speckle")
    assert parse_dataset_spec("vesselmnist3d-embedded:distractors")[1] == {"filler": "distractors"}
    from das_core.errors import ConfigError

    with pytest.raises(ConfigError, match="moving-real"):
        parse_dataset_spec("vesselmnist3d:speckle")


def test_the_real_files_give_40_frame_sequences_with_the_real_central_slices():
    root = medmnist_dir()
    ds = load_dataset("vesselmnist3d-embedded", "val", root=root)
    base = load_dataset("vesselmnist3d", "val", root=root)
    x, y = ds[7]
    o = ds.meta(7)["offset"]
    assert x.shape == (40, 1, 28, 28) and y == base.labels[7] and len(ds) == len(base) == 191
    assert np.array_equal(x[o:o + 10].numpy(), base[7][0][9:19].numpy())
