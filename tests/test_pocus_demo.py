"""The POCUS demo models (issue 14): the licence-restricted split (`train_licences`), its CLI flag, the
checkpoint manifest merge that ships one set without touching the others, and the shipped POCUS files.

Fast: the licence tests build data sets over empty `.mp4` files (a split never decodes a clip); the merge
test trains one 1-epoch small-CNN run on 8-frame synthetic items.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from das_core.data import DataError, load_dataset
from das_core.data.splits import make_splits

REPO = Path(__file__).resolve().parents[1]
CC_BY = ["CC BY 4.0", "CC BY 2.0"]
# (label, licence) per clip, POCUS-like: the CC BY clips are few and mostly healthy
CLIPS = ([("Reg", "CC BY 4.0")] * 10 + [("Cov", "CC BY 4.0")] * 3 + [("Vir", "CC BY 2.0")] * 2
         + [("Pneu", "CC BY 2.0")] + [("Pneu", "CC BY-NC 4.0")] * 8 + [("Reg", "CC BY-NC 4.0")] * 6
         + [("Cov", "COVID-19 emergency license")] * 4 + [("Cov", "CC BY-NC -SA 4.0")] * 3
         + [("Vir", "CC BY-NC -SA 3.0")] * 2)


def _folder(root: Path, *, licence_column: str = "license", unlisted: int = 1) -> Path:
    """Empty clips named `<label>_<i>.mp4` (half in convex/, half in linear/) and an inventory.csv with the
    POCUS columns; the last `unlisted` clips have no inventory row."""
    rows = []
    for i, (label, licence) in enumerate(CLIPS):
        rel = f"{'convex' if i % 2 else 'linear'}/{label}_{i:02d}.mp4"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")
        if i < len(CLIPS) - unlisted:
            rows.append(f"{rel},{label},x,{licence},10")
    (root / "inventory.csv").write_text(f"local_path,cls,label,{licence_column},meta_frames\n" + "\n".join(rows) + "\n")
    return root


def _licences(root: Path) -> dict:
    import csv

    with open(root / "inventory.csv") as fh:
        return {r["local_path"]: r["license"] for r in csv.DictReader(fh)}


def _splits(root: Path, **options) -> dict:
    return {s: load_dataset("pocus-lung", s, root=root, cache=False, train_licences=CC_BY, **options)
            for s in ("train", "val", "test")}


@pytest.mark.parametrize("options", [{"seed": 0}, {"seed": 3}, {"seed": 0, "val_fraction": 0.0},
                                     {"num_folds": 3, "fold": 0}, {"num_folds": 3, "fold": 2, "seed": 1}])
def test_only_listed_licences_reach_train_and_the_splits_partition_the_clips(tmp_path, options):
    root = _folder(tmp_path / "pocus")
    licence = _licences(root)
    splits = _splits(root, **options)
    rels = {s: [c.rel for c in d.clips] for s, d in splits.items()}
    assert rels["train"] and all(licence.get(r) in CC_BY for r in rels["train"])  # the unlisted clip is not trainable
    every = [r for s in rels.values() for r in s]
    assert len(every) == len(set(every)) == len(CLIPS)  # disjoint and covering
    eval_only = {r for r in every if licence.get(r) not in CC_BY}
    assert eval_only <= set(rels["val"]) | set(rels["test"])
    assert all(c.licence == licence.get(c.rel) for d in splits.values() for c in d.clips)
    again = _splits(root, **options)
    assert {s: [c.rel for c in d.clips] for s, d in again.items()} == rels  # deterministic per seed
    if "num_folds" not in options:
        # hold-out: the eval-only clips fill val and test, so every CC BY clip is trained on
        assert len(rels["train"]) == sum(lic in CC_BY for _, lic in CLIPS)
        if options.get("val_fraction") == 0.0:
            assert not rels["val"]


def test_kfold_tests_every_clip_once_and_never_trains_an_eval_only_one(tmp_path):
    root = _folder(tmp_path / "pocus")
    licence = _licences(root)
    tested = []
    for fold in range(3):
        splits = _splits(root, num_folds=3, fold=fold)
        tested += [c.rel for c in splits["test"].clips]
        assert all(licence.get(c.rel) in CC_BY for c in splits["train"].clips)
    assert sorted(tested) == sorted({r for r in tested}) and len(tested) == len(CLIPS)


def test_without_a_licence_column_the_error_is_one_sentence(tmp_path):
    root = _folder(tmp_path / "pocus", licence_column="terms")
    with pytest.raises(DataError, match="has no licence column") as err:
        load_dataset("pocus-lung", "train", root=root, cache=False, train_licences=CC_BY)
    text = str(err.value)
    assert "\n" not in text and text.count(". ") == 0 and text.endswith(".")
    # without train_licences the folder loads as before (labels from the file-name prefix)
    assert len(load_dataset("pocus-lung", "all", root=root, cache=False)) == len(CLIPS)


def test_licence_errors_name_the_fix(tmp_path):
    root = _folder(tmp_path / "pocus")
    with pytest.raises(DataError, match="no clip of pocus-lung has one of the licences"):
        load_dataset("pocus-lung", "train", root=root, cache=False, train_licences=["CC0"])
    with pytest.raises(DataError, match="names no licence"):
        load_dataset("pocus-lung", "train", root=root, cache=False, train_licences=[])
    (root / "inventory.csv").unlink()
    with pytest.raises(DataError, match="licence_manifest"):
        load_dataset("pocus-lung", "train", root=root, cache=False, train_licences=CC_BY)
    # a manifest whose split column puts an eval-only clip in train is refused, not silently changed
    man = tmp_path / "given.csv"
    clips = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.mp4"))
    lic = {c: ("CC BY 4.0" if i % 2 else "CC BY-NC 4.0") for i, c in enumerate(clips)}
    man.write_text("file,label,split,licence\n" + "\n".join(f"{c},{c.split('/')[1][:3]},train,{lic[c]}" for c in clips))
    with pytest.raises(DataError, match="forbids"):
        load_dataset("video-folder", "train", root=root, manifest=man, cache=False, train_licences=CC_BY)


def test_an_explicit_licence_manifest_and_a_string_is_not_a_list(tmp_path):
    root = _folder(tmp_path / "pocus")
    other = tmp_path / "licences.csv"
    shutil.copy(root / "inventory.csv", other)
    (root / "inventory.csv").unlink()
    d = load_dataset("video-folder", "train", root=root, cache=False, train_licences=("CC BY 4.0",),
                     licence_manifest=str(other))
    assert d.train_licences == ["CC BY 4.0"] and {c.licence for c in d.clips} == {"CC BY 4.0"}
    with pytest.raises(DataError, match="must be a list of licences"):
        load_dataset("video-folder", "train", root=root, cache=False, train_licences="CC BY 4.0",
                     licence_manifest=str(other))


def test_make_splits_trainable_keeps_groups_whole():
    labels = [0] * 20 + [1] * 20
    groups = [i // 2 for i in range(40)]
    trainable = [i % 5 != 0 for i in range(40)]  # item 0, 5, 10, ...: eval-only; their partner too (same group)
    sp = make_splits(labels, groups=groups, trainable=trainable, seed=0)
    g = np.array(groups)
    bad_groups = {groups[i] for i in range(40) if not trainable[i]}
    assert not set(g[sp["train"]]) & bad_groups
    assert sorted(np.concatenate([sp["train"], sp["val"], sp["test"]]).tolist()) == list(range(40))
    sets = [set(g[sp[k]]) for k in ("train", "val", "test")]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    # every item trainable: exactly the usual split
    usual = make_splits(labels, seed=0)
    same = make_splits(labels, seed=0, trainable=[True] * 40)
    assert all(np.array_equal(usual[k], same[k]) for k in usual)
    with pytest.raises(DataError, match="no item"):
        make_splits(labels, trainable=[False] * 40)


def test_train_licences_flag_fills_dataset_options_and_round_trips():
    from das_core import TrainConfig
    from das_core.cli import build_parser, config_from_args
    from das_core.cli_options import to_argv

    args = build_parser().parse_args(["train", "--dataset", "pocus-lung", "--frames", "32", "--train-licences",
                                      "CC BY 4.0", "CC BY 2.0", "--epochs", "2"])
    cfg = config_from_args(args)
    assert cfg.dataset_options == {"num_frames": 32, "train_licences": CC_BY} and cfg.epochs == 2
    argv = to_argv(cfg)
    assert argv[argv.index("--train-licences"):argv.index("--train-licences") + 3] == ["--train-licences", *CC_BY]
    back = config_from_args(build_parser().parse_args(["train", *argv]))
    assert back == cfg
    # the generic form works too
    args = build_parser().parse_args(["train", "--data-option", 'train_licences=["CC BY 4.0"]'])
    assert config_from_args(args).dataset_options == {"train_licences": ["CC BY 4.0"]}
    assert TrainConfig().dataset_options == {}


def test_make_checkpoints_ships_one_demo_set_and_keeps_the_other_entries(tmp_path, monkeypatch):
    from das_core import cli, load_model
    from das_core.errors import ConfigError
    from das_core.experiments import shipped

    runs, ship = tmp_path / "runs", tmp_path / "ship"
    assert cli.main(["bench", "--datasets", "synthetic-volumes:moving", "--methods", "uniform", "--seeds", "0",
                     "--epochs", "1", "--min-epochs", "1", "--backbone", "small_cnn", "--frames", "8", "--size", "16",
                     "--data-option", 'num_samples={"train": 24, "val": 12, "test": 16}', "--device", "cpu",
                     "--runs-dir", str(runs), "--out-dir", str(tmp_path / "out"),
                     "--results-md", str(tmp_path / "r.md")]) == 0
    # a shipped folder with another set's file and entry, which must stay byte-for-byte as they are
    ship.mkdir()
    (ship / "other-das.pt").write_bytes(b"x" * 1000)
    other = {"file": "other-das.pt", "dataset": "other", "method": "das", "size_bytes": 1000,
             "metrics": {"test_auc": 0.7}, "anything": ["kept", 1]}
    gone = {"file": "gone-das.pt", "dataset": "gone", "method": "das", "size_bytes": 5}
    (ship / "manifest.json").write_text(json.dumps({"description": "old", "checkpoints": [other, gone]}))
    monkeypatch.setattr(shipped, "DEMO_SETS", [("tiny-demo", "synthetic-volumes-moving", str(runs), "make tiny-demo")])
    with pytest.raises(ConfigError, match="make tiny-demo"):  # a demo set's missing run names its own target
        shipped.make_checkpoints(out_dir=str(ship), datasets=["tiny-demo"], methods=["das"], log=lambda *a: None)
    with pytest.raises(ConfigError, match="Unknown shipped data set"):
        shipped.make_checkpoints(out_dir=str(ship), datasets=["nope"], log=lambda *a: None)
    manifest = shipped.make_checkpoints(out_dir=str(ship), datasets=["tiny-demo"], methods=["uniform"],
                                        log=lambda *a: None)
    files = {e["file"]: e for e in manifest["checkpoints"]}
    assert set(files) == {"other-das.pt", "tiny-demo-uniform.pt"}  # merged; the entry whose file is gone dropped
    assert files["other-das.pt"] == other and (ship / "other-das.pt").read_bytes() == b"x" * 1000
    new = files["tiny-demo-uniform.pt"]
    assert new["run"].endswith("synthetic-volumes-moving/uniform-r0.5-s0") and "train_licences" not in new
    assert manifest["total_bytes"] == 1000 + new["size_bytes"]
    assert "tiny-demo" in manifest["description"] and "make tiny-demo" in manifest["recreate"]
    assert load_model(ship / "tiny-demo-uniform.pt").spec.method == "uniform"
    # the cap covers the whole folder (files and manifest): over it, nothing is rewritten
    before = (ship / "manifest.json").read_text()
    monkeypatch.setattr(shipped, "MAX_TOTAL_BYTES", manifest["total_bytes"] + 100)
    with pytest.raises(ConfigError, match="MiB cap"):
        shipped.make_checkpoints(out_dir=str(ship), datasets=["tiny-demo"], methods=["uniform"], log=lambda *a: None)
    assert (ship / "manifest.json").read_text() == before


def test_licence_fields_of_a_licence_restricted_run():
    from das_core.experiments.shipped import _licence_fields

    assert _licence_fields({"dataset_options": {"num_frames": 32}}, {}) == {}
    fields = _licence_fields({"dataset_options": {"train_licences": CC_BY}},
                             {"train_size": 43, "val_size": 37, "test_size": 50})
    assert fields["train_licences"] == CC_BY and fields["split_sizes"] == {"train": 43, "val": 37, "test": 50}
    assert "CC BY 4.0 or CC BY 2.0 (43 clips)" in fields["licence_note"]


def test_the_shipped_pocus_models_are_trained_on_cc_by_clips_only():
    from das_core import list_samplers
    from das_core.experiments.shipped import MAX_TOTAL_BYTES

    ckpt = REPO / "checkpoints"
    manifest = json.loads((ckpt / "manifest.json").read_text())
    pocus = [e for e in manifest["checkpoints"] if e["dataset"] == "pocus-lung"]
    shipped = {e["method"] for e in pocus}  # the six original methods ship; the later ones have no checkpoint yet
    assert {"full", "uniform", "random", "dps", "adps", "das"} <= shipped <= set(list_samplers())
    assert len(pocus) == len(shipped)
    for e in pocus:
        assert e["file"] == f"pocus-lung-{e['method']}.pt" and (ckpt / e["file"]).stat().st_size == e["size_bytes"]
        assert e["train_licences"] == CC_BY and e["dataset_options"]["train_licences"] == CC_BY
        assert "--train-licences 'CC BY 4.0' 'CC BY 2.0'" in e["command"]
        assert e["backbone"] == "small_cnn" and e["T"] == 32
    folder = sum(p.stat().st_size for p in ckpt.iterdir() if p.is_file())
    assert folder < MAX_TOTAL_BYTES


def test_pocus_licence_split_on_the_real_inventory(shared_data):
    import csv

    root = shared_data / "pocus_lung_videos"
    with open(root / "inventory.csv") as fh:
        licence = {r["local_path"]: r["license"] for r in csv.DictReader(fh)}
    splits = {s: load_dataset("pocus-lung", s, cache=False, train_licences=CC_BY) for s in ("train", "val", "test")}
    train = [c.rel for c in splits["train"].clips]
    assert train and all(licence[r] in CC_BY for r in train)
    assert len(train) == sum(lic in CC_BY for r, lic in licence.items() if "uncertain" not in r)
    every = [c.rel for d in splits.values() for c in d.clips]
    assert len(every) == len(set(every)) == len(load_dataset("pocus-lung", "all", cache=False))


APP_TIMEOUT = 180  # the Compare page decodes one POCUS clip (cold cache) and loads six models


def test_compare_lists_the_shipped_pocus_models_as_trained(app, shared_data):
    """A POCUS sample on the Compare page: every method with a shipped pocus-lung checkpoint runs it; the ones
    without one (added after the checkpoints were trained) run untrained and the page says so."""
    pytest.importorskip("streamlit")
    from das_core import list_samplers
    from explorer import figures

    manifest = json.loads((REPO / "checkpoints" / "manifest.json").read_text())
    shipped = {e["method"] for e in manifest["checkpoints"] if e["dataset"] == "pocus-lung"}
    missing = [figures.method_label(m) for m in list_samplers() if m not in shipped]
    at = app.run()
    at.sidebar.selectbox(key="ds_name").set_value("pocus-lung").run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page("pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.sidebar.selectbox(key="ds_name").value == "pocus-lung"
    das = at.selectbox(key="cmp_das")
    assert das.value.startswith("DAS · pocus-lung · shipped")
    assert any("k=16" in m.value for m in at.metric)  # the model's own k (16 of T = 32)
    untrained = [c.value for c in at.caption if "Untrained" in c.value]
    if missing:
        assert len(untrained) == 1 and f"meaningless): {', '.join(missing)}." in untrained[0], untrained
    else:
        assert not untrained, untrained
    tags = [m.value for m in at.markdown if "</span><br><small>" in m.value]
    assert len(tags) == len(list_samplers()), tags
    assert sum("<small>trained on pocus-lung · shipped · k=" in t for t in tags) == len(shipped), tags
    assert sum("<small>untrained · k=" in t for t in tags) == len(missing), tags
    assert not [w for w in at.warning if "trained on" in w.value]  # trained on this data set
    # the app splits POCUS as the shipped models were: its test split holds no clip they trained on
    assert at.sidebar.selectbox(key="ds_split").value == "test"
    assert at.sidebar.selectbox(key="ds_split").options == ["train", "val", "test"]


def test_the_app_offers_pocus_split_as_the_shipped_models_were(shared_data):
    """The app's pocus-lung entry carries the shipped models' `train_licences` and split sizes (read from the
    manifest), and its test split is the models' own: no CC BY (training) clip in it."""
    import csv

    from explorer import samples

    pocus = next(d for d in samples.app_datasets() if d["name"] == "pocus-lung")
    assert pocus["default_options"]["train_licences"] == CC_BY
    assert pocus["split_sizes"] == {"train": 43, "val": 37, "test": 50}
    assert samples.default_split(pocus["split_sizes"]) == "test"
    assert "never for training" in pocus["description"]
    with open(shared_data / "pocus_lung_videos" / "inventory.csv") as fh:
        licence = {r["local_path"]: r["license"] for r in csv.DictReader(fh)}
    test = samples.open_dataset("pocus-lung", "test", {**pocus["default_options"], "cache": False})
    assert len(test) == 50 and not [c.rel for c in test.clips if licence[c.rel] in CC_BY]
    assert samples.shipped_licence_splits(shared_data / "no-such-folder") == {}
