"""Training engine: run folder contents, callback events, stop_event, resume, early stopping."""

import json
import threading

import pytest
import torch
from torch.utils.data import Dataset

from das_core.checkpoints import load_checkpoint
from das_core.runs import read_metrics, read_status
from das_core import TrainConfig, fit


class Tiny(Dataset):
    """T=6 frames of 12x12; class 1 has a bright frame 2."""

    classes = ["neg", "pos"]
    num_frames = 6

    def __init__(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        self.x = 0.3 * torch.rand(n, 6, 1, 12, 12, generator=g)
        self.labels = [i % 2 for i in range(n)]
        for i, y in enumerate(self.labels):
            self.x[i, 2] += 0.6 * y

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.x[i], self.labels[i]


DATA = {"train": Tiny(24, 0), "val": Tiny(16, 1), "test": Tiny(16, 2)}


def _cfg(tmp_path, **kw):
    base = dict(dataset="tiny", method="das", epochs=2, batch_size=8, lr=1e-3, backbone="small_cnn",
                out=str(tmp_path / "run"), min_epochs=1, patience=2)
    base.update(kw)
    return TrainConfig(**base)


def test_fit_writes_run_folder_and_events(tmp_path):
    events = []
    summary = fit(_cfg(tmp_path), callback=events.append, datasets=DATA)
    out = tmp_path / "run"
    for name in ("config.json", "metrics.jsonl", "status.json", "summary.json", "best.pt", "last.pt"):
        assert (out / name).is_file(), name
    lines = read_metrics(out)
    assert [r["epoch"] for r in lines] == [0, 1]
    assert set(lines[0]) >= {"epoch", "train_loss", "val_loss", "val_auc", "val_balanced_accuracy", "val_accuracy",
                             "seconds", "lr"}
    s = json.loads((out / "summary.json").read_text())
    assert set(s) >= {"balanced_accuracy", "auc", "accuracy", "confusion_matrix", "classes", "best_epoch", "config",
                      "test_size", "seconds"}
    assert s == json.loads(json.dumps(summary))
    assert read_status(out)["state"] == "finished"
    types = [e["type"] for e in events]
    assert types[0] == "start" and types[-1] == "end" and types.count("epoch") == 2 and types.count("batch") == 6
    batch = next(e for e in events if e["type"] == "batch")
    assert set(batch) >= {"epoch", "step", "steps", "loss"}
    _, meta = load_checkpoint(out / "best.pt")
    assert meta["metrics"]["test_auc"] == s["auc"]
    assert TrainConfig.from_dict(json.loads((out / "config.json").read_text())) == _cfg(tmp_path)


def test_stop_event_stops_cleanly_and_resume_continues(tmp_path):
    stop = threading.Event()

    def cb(ev):
        if ev["type"] == "epoch" and ev["epoch"] == 0:
            stop.set()

    result = fit(_cfg(tmp_path, epochs=3), callback=cb, stop_event=stop, datasets=DATA)
    out = tmp_path / "run"
    assert result["state"] == "stopped"
    assert read_status(out)["state"] == "stopped"
    assert [r["epoch"] for r in read_metrics(out)] == [0]
    assert (out / "last.pt").is_file() and not (out / "summary.json").exists()

    events = []
    summary = fit(_cfg(tmp_path, epochs=3, resume=True), callback=events.append, datasets=DATA)
    assert [r["epoch"] for r in read_metrics(out)] == [0, 1, 2]
    assert [e["epoch"] for e in events if e["type"] == "epoch"] == [1, 2]
    assert summary["state"] == "finished" and read_status(out)["state"] == "finished"
    steps_per_epoch = sum(1 for e in events if e["type"] == "batch") // 2
    assert summary["train_steps"] == 2 * steps_per_epoch > 0  # this process's steps (the resumed epochs)
    assert summary["train_steps_per_s"] > 0


def test_stop_callable_and_early_stopping_val_loss(tmp_path):
    assert fit(_cfg(tmp_path), stop_event=lambda: True, datasets=DATA)["state"] == "stopped"
    s = fit(_cfg(tmp_path / "b", method="uniform", epochs=4, early_stopping="val_loss", min_epochs=2, patience=1,
                 balance="sampler"), datasets=DATA)
    assert s["best_epoch"] >= 1  # no epoch before min_epochs can be best
    assert s["epochs_run"] >= 2


def test_bad_config_is_a_config_error(tmp_path):
    from das_core.errors import ConfigError

    with pytest.raises(ConfigError, match="early_stopping"):
        fit(_cfg(tmp_path, early_stopping="loss"), datasets=DATA)
    with pytest.raises(ConfigError, match="Unknown method"):
        fit(_cfg(tmp_path, method="nope"), datasets=DATA)


def test_sampler_warmup_freezes_only_the_sampler(tmp_path, monkeypatch):
    import das_core.engine.trainer as train_mod

    built = []
    real = train_mod.build_model_for

    def spy(*args, **kw):
        model = real(*args, **kw)
        built.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return model

    monkeypatch.setattr(train_mod, "build_model_for", spy)
    fit(_cfg(tmp_path, epochs=2, sampler_warmup_epochs=1), datasets=DATA)
    init = built[0]
    last = load_checkpoint(tmp_path / "run" / "last.pt")[0].state_dict()
    sampler_keys = [k for k in init if k.startswith("sampler.")]
    backbone_keys = [k for k in init if k.startswith("backbone.") and init[k].is_floating_point()]
    assert sampler_keys and backbone_keys
    assert any(not torch.equal(init[k], last[k]) for k in backbone_keys)
    assert any(not torch.equal(init[k], last[k]) for k in sampler_keys)  # epoch 1 trained the sampler

    built.clear()
    fit(_cfg(tmp_path, epochs=1, sampler_warmup_epochs=1, out=str(tmp_path / "frozen")), datasets=DATA)
    frozen = load_checkpoint(tmp_path / "frozen" / "last.pt")[0].state_dict()
    assert all(torch.equal(built[0][k], frozen[k]) for k in sampler_keys)  # warm-up epoch: sampler untouched
    assert any(not torch.equal(built[0][k], frozen[k]) for k in backbone_keys)
    with pytest.raises(Exception, match="sampler_warmup_epochs"):
        _cfg(tmp_path, sampler_warmup_epochs=-1).validate()


def _frames_seen_in_training(monkeypatch) -> list:
    """How many frames the task network sees at each training forward pass (a spy on `frame_features`)."""
    from das_core.nn.model import SubsampledClassifier

    seen = []
    real = SubsampledClassifier.frame_features

    def spy(self, frames):
        if self.training:
            seen.append(frames.shape[1])
        return real(self, frames)

    monkeypatch.setattr(SubsampledClassifier, "frame_features", spy)
    return seen


def test_warmup_on_all_frames_runs_the_backbone_on_every_frame_and_never_the_sampler(tmp_path, monkeypatch):
    """The default warm-up (a quarter of the epochs, `warmup_frames="all"`): the task network sees all T frames,
    the sampler is not called; after it the sampler picks k frames again."""
    assert TrainConfig(epochs=8).warmup_epochs == 2 and TrainConfig(epochs=3).warmup_epochs == 0
    assert TrainConfig(epochs=8, sampler_warmup_epochs=0).warmup_epochs == 0
    assert TrainConfig().warmup_frames == "all"
    seen = _frames_seen_in_training(monkeypatch)
    fit(_cfg(tmp_path, epochs=2, sampler_warmup_epochs=1, max_train_batches=2, min_epochs=0), datasets=DATA)
    T = DATA["train"][0][0].shape[0]
    assert seen[:2] == [T, T]  # warm-up epoch: every frame
    assert seen[2:] and all(n < T for n in seen[2:])  # then the k picked frames
    with pytest.raises(Exception, match="warmup_frames"):
        _cfg(tmp_path, warmup_frames="some").validate()


@pytest.mark.parametrize("method", ["uniform", "random", "full"])
def test_the_all_frames_warm_up_applies_to_methods_that_learn_nothing(tmp_path, monkeypatch, method):
    """The same recipe for every method: uniform, random and full get the all-frames warm-up too (before, it was
    gated on a learned sampler, which gave them a different recipe); the summary records that it applied."""
    seen = _frames_seen_in_training(monkeypatch)
    summary = fit(_cfg(tmp_path, method=method, epochs=2, sampler_warmup_epochs=1, max_train_batches=2, min_epochs=0),
                  datasets=DATA)
    T = DATA["train"][0][0].shape[0]
    assert seen[:2] == [T, T]  # warm-up epoch: every frame, whatever the method
    k = T if method == "full" else summary["num_selected"]
    assert seen[2:] and all(n == k for n in seen[2:])  # then the method's own k frames
    assert summary["warmup_all_methods"] is True and summary["best_epoch"] == 1


def test_early_stopping_state_round_trips():
    from das_core.engine import EarlyStopping

    es = EarlyStopping("val_auc", min_epochs=2, patience=1, epochs=10)
    assert not es.update(0, {"val_auc": 0.9, "val_loss": 0.1})  # before min_epochs: never best
    assert es.update(1, {"val_auc": 0.6, "val_loss": 0.5}) and es.best_epoch == 1
    assert not es.update(2, {"val_auc": 0.5, "val_loss": 0.6}) and es.should_stop(2)
    again = EarlyStopping("val_auc", min_epochs=2, patience=1, epochs=10)
    again.load_state_dict(es.state_dict())
    assert again == es
    loss = EarlyStopping("val_loss", min_epochs=0, patience=3, epochs=5)
    assert loss.update(0, {"val_auc": None, "val_loss": 0.7}) and not loss.update(1, {"val_auc": 0.99, "val_loss": 0.8})


def test_early_stopping_watches_any_metric_of_the_epoch_record():
    from das_core.engine import EarlyStopping
    from das_core.engine.config import EARLY_STOPPING
    from das_core.engine.early_stopping import MONITORS

    assert set(EARLY_STOPPING) == {*MONITORS, "none"}  # the config's choices are the one list
    bacc = EarlyStopping("val_balanced_accuracy", min_epochs=0, patience=1, epochs=5)
    assert bacc.update(0, {"val_balanced_accuracy": 0.6, "val_auc": 0.9})
    assert not bacc.update(1, {"val_balanced_accuracy": 0.55, "val_auc": 0.99})  # AUC is not what it watches
    assert bacc.should_stop(1)
    auc = EarlyStopping("val_auc", min_epochs=0, patience=2, epochs=5)
    assert auc.update(0, {"val_auc": None, "val_loss": 0.9})  # one class in val: -val_loss stands in
    assert auc.update(1, {"val_auc": None, "val_loss": 0.5}) and not auc.update(2, {"val_auc": None, "val_loss": 0.6})


def test_sampler_diagnostics_are_logged_without_changing_training(tmp_path):
    from das_core.data import load_dataset
    from das_core.runs import RunPaths

    opts = {"num_frames": 8, "size": 16, "num_samples": {"train": 32, "val": 16, "test": 16}}
    data = {s: load_dataset("synthetic-volumes", split=s, **opts) for s in ("train", "val", "test")}
    base = dict(dataset="synthetic-volumes", method="das", epochs=1, batch_size=8, backbone="small_cnn", lr=1e-3,
                min_epochs=1, progress=False, device="cpu")
    plain = fit(TrainConfig(**base, out=str(tmp_path / "a")), datasets=data)
    logged = fit(TrainConfig(**base, out=str(tmp_path / "b"), diagnostics_every=2), datasets=data)
    assert plain["param_checksum"] == logged["param_checksum"]  # logging leaves the weights as they were
    lines = [json.loads(l) for l in RunPaths.of(tmp_path / "b").diagnostics.read_text().splitlines()]
    assert [r["step"] for r in lines] == [0, 2, 4]
    assert set(lines[0]) >= {"spread_to_noise", "grad_mean", "grad_t", "grad_corr", "benefit_mean"}
    assert lines[0]["spread_to_noise"] == 0  # the default DAS at init: every frame scores the same ...
    assert lines[0]["informative_rank"] == (8 + 1) / 2  # ... so the informative frame sits at the mid rank
    random_init = fit(TrainConfig(**base, out=str(tmp_path / "c"), diagnostics_every=2,
                                  sampler_options={"score_init": "random"}), datasets=data)
    assert random_init["param_checksum"] != plain["param_checksum"]
    first = json.loads(RunPaths.of(tmp_path / "c").diagnostics.read_text().splitlines()[0])
    assert 0 < first["spread_to_noise"] < 0.1  # the paper's init: scores ~1% of the Gumbel noise


@pytest.mark.parametrize("method", ["das", "adps", "full"])
def test_bf16_mixed_precision_trains_with_a_float32_sampler(tmp_path, method, monkeypatch):
    """precision="bf16" runs the backbone under torch.autocast on CPU; the sampler stays float32 (its scores are
    float32; DPS's and DAS's picks, which read no backbone features, equal the fp32 picks), the loss is finite, the
    weights are float32, and the run records its precision. ADPS scores the backbone's features of the frames it has
    seen, which autocast computes in bf16, so its picks may differ where two scores are within bf16's rounding (on
    an AMD EPYC machine one test item of eight does): only its scores' dtype is checked."""
    from das_core.nn import model as model_mod

    seen = []
    real = model_mod.SubsampledClassifier.frame_features

    def spy(self, frames):
        out = real(self, frames)
        seen.append(out.dtype)
        return out

    monkeypatch.setattr(model_mod.SubsampledClassifier, "frame_features", spy)
    summary = fit(_cfg(tmp_path, method=method, precision="bf16", epochs=1, sampler_warmup_epochs=0), datasets=DATA)
    assert summary["config"]["precision"] == "bf16" and 0.0 <= summary["auc"] <= 1.0
    if method != "adps":  # ADPS encodes inside its sampler, not through frame_features
        assert torch.bfloat16 in seen
    model, _ = load_checkpoint(tmp_path / "run" / "best.pt")
    assert all(p.dtype == torch.float32 for p in model.parameters())
    x = DATA["test"].x[:8]
    with torch.no_grad():
        plain = model.select(x).indices
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = model.select(x)
    assert mixed.logits is None or mixed.logits.dtype == torch.float32
    if method != "adps":
        assert torch.equal(plain, mixed.indices)


def test_precision_errors_name_the_fix(tmp_path):
    from das_core.errors import ConfigError

    with pytest.raises(ConfigError, match="one of fp32, bf16, fp16"):
        fit(_cfg(tmp_path, precision="half"), datasets=DATA)
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device; on CPU use bf16"):
        fit(_cfg(tmp_path, precision="fp16", device="cpu"), datasets=DATA)


def test_a_warm_up_epoch_never_counts_as_best_for_any_method(tmp_path):
    """With a 2-epoch warm-up, min_epochs 1 would let epoch 0 or 1 be best: their checkpoints hold a sampler that
    never trained, or a network that has only seen all frames. The first countable epoch is the first after the
    warm-up, for every method (the warm-up is part of the one recipe they share)."""
    cfg = _cfg(tmp_path, method="das", epochs=3, sampler_warmup_epochs=2, min_epochs=1, patience=5)
    assert cfg.min_epochs_for(True) == 3 and cfg.min_epochs_for(False) == 3 and cfg.min_epochs_for() == 3
    assert _cfg(tmp_path, sampler_warmup_epochs=0, min_epochs=1).min_epochs_for() == 1
    assert _cfg(tmp_path, epochs=8, min_epochs=3).min_epochs_for(True) == 3  # the grid: 2 warm-up epochs
    assert _cfg(tmp_path, epochs=24, min_epochs=3).min_epochs_for(True) == 7  # 6 warm-up epochs
    summary = fit(cfg, datasets=DATA)
    assert summary["best_epoch"] == 2
    flags = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in flags] == [0, 1, 2]


def test_noise_end_anneals_the_training_noise_over_the_epochs_after_the_warm_up(tmp_path, monkeypatch):
    """noise_end < 1: each epoch the trainer tells the sampler its progress (0 up to the first epoch after the
    warm-up, 1 at the last) and the noise scale falls linearly to noise_end; without it the scale stays 1."""
    from das_core.engine.trainer import sampler_progress
    from das_core.samplers.learned import LearnedSampler

    assert [sampler_progress(e, 2, 8) for e in range(8)] == pytest.approx([0, 0, 0, 0.2, 0.4, 0.6, 0.8, 1.0])
    scales = []
    real = LearnedSampler.set_training_progress

    def spy(self, progress):
        real(self, progress)
        scales.append(self.noise_scale)

    monkeypatch.setattr(LearnedSampler, "set_training_progress", spy)
    fit(_cfg(tmp_path, epochs=4, sampler_warmup_epochs=1, patience=9, sampler_options={"noise_end": 0.1}),
        datasets=DATA)
    assert scales == pytest.approx([1.0, 1.0, 0.55, 0.1])
    scales.clear()
    fit(_cfg(tmp_path, epochs=3, sampler_warmup_epochs=1, patience=9, out=str(tmp_path / "plain")), datasets=DATA)
    assert scales == pytest.approx([1.0, 1.0, 1.0])
