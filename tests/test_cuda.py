"""The CUDA path: training steps, selection and evaluation on a GPU (skipped cleanly without one).

Run by `scripts/gpu-check.sh` on a GPU machine; on CPU-only machines (CI) every test here is skipped.
"""

import pytest
import torch

import das_core
from das_core.engine.setup import make_optimizer

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible")]

METHODS = ["full", "uniform", "random", "dps", "adps", "das"]


def _model(method: str, backbone: str = "mobilenet_v3_small", T: int = 16, k: int = 8):
    spec = das_core.ModelSpec(method=method, num_frames=T, num_selected=T if method == "full" else k,
                              backbone=backbone, frame_size=28)
    return das_core.SubsampledClassifier.from_config(spec)


@pytest.mark.parametrize("method", METHODS)
def test_a_training_step_runs_on_cuda_with_the_fused_optimizer(method):
    torch.manual_seed(0)
    model = _model(method).cuda().train()
    opt = make_optimizer(model, 1e-3)
    assert all(g.get("fused") for g in opt.param_groups)
    x, y = torch.rand(4, 16, 1, 28, 28, device="cuda"), torch.tensor([0, 1, 0, 1], device="cuda")
    before = [p.detach().clone() for p in model.parameters()]
    loss, logits, sel = model.training_loss(x, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and logits.device.type == "cuda" and sel.indices.device.type == "cuda"
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.parametrize("method", ["dps", "adps", "das"])
def test_cuda_and_cpu_pick_the_same_frames(method):
    torch.manual_seed(0)
    cpu = _model(method, backbone="small_cnn").eval()
    gpu = _model(method, backbone="small_cnn").eval()
    gpu.load_state_dict(cpu.state_dict())
    gpu.cuda()
    x = torch.rand(3, 16, 1, 28, 28)
    with torch.no_grad():
        a, b = cpu.select(x), gpu.select(x.cuda())
    assert torch.equal(a.indices, b.indices.cpu())


def test_fit_and_evaluate_on_cuda(tmp_path):
    config = das_core.TrainConfig(dataset="synthetic-volumes", method="das", backbone="small_cnn", epochs=1,
                                  min_epochs=1, max_train_batches=2, max_eval_batches=2, device="cuda",
                                  out=str(tmp_path / "run"), progress=False,
                                  dataset_options={"num_frames": 8, "size": 16,
                                                   "num_samples": {"train": 32, "val": 16, "test": 16}})
    summary = das_core.fit(config)
    assert summary["device"].startswith("cuda")
    metrics = das_core.evaluate_checkpoint(tmp_path / "run" / "best.pt", device="cuda", max_batches=1)
    assert 0.0 <= metrics["balanced_accuracy"] <= 1.0


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_mixed_precision_training_on_cuda(tmp_path, precision):
    """fp16 (with the gradient scaler) and bf16 training runs on CUDA; the sampler stays float32."""
    config = das_core.TrainConfig(dataset="synthetic-volumes", method="das", backbone="mobilenet_v3_small", epochs=1,
                                  min_epochs=1, max_train_batches=3, max_eval_batches=2, device="cuda",
                                  precision=precision, out=str(tmp_path / "run"), progress=False,
                                  dataset_options={"num_frames": 8, "size": 16,
                                                   "num_samples": {"train": 32, "val": 16, "test": 16}})
    summary = das_core.fit(config)
    assert summary["device"].startswith("cuda") and summary["config"]["precision"] == precision
    model = _model("das").cuda().eval()
    x = torch.rand(2, 16, 1, 28, 28, device="cuda")
    with torch.no_grad():
        plain = model.select(x).indices
        with torch.autocast("cuda", dtype=torch.float16 if precision == "fp16" else torch.bfloat16):
            mixed = model.select(x).indices
    assert torch.equal(plain, mixed)
