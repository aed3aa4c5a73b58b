"""`train` under torchrun with 2 CPU processes (gloo): both ranks end with the same weights and metrics.

About 11 s on an idle 2-core machine (about 50 s while other jobs share the cores), so it is not slow-marked.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(300)
def test_torchrun_two_processes_agree(tmp_path):
    reports = tmp_path / "ranks"
    env = {**os.environ, "DAS_RANK_REPORT_DIR": str(reports), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "das_core", "train", "--dataset", "synthetic-volumes", "--frames", "8", "--size", "16",
           "--num-samples", "16", "--method", "das", "--epochs", "1", "--batch-size", "4", "--backbone", "small_cnn",
           "--device", "cpu", "--threads", "1", "--no-progress", "--out", str(tmp_path / "run")]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0 = json.loads((reports / "rank0.json").read_text())
    r1 = json.loads((reports / "rank1.json").read_text())
    assert r0["world_size"] == r1["world_size"] == 2
    assert r0["checksum"] == pytest.approx(r1["checksum"], rel=1e-9, abs=1e-9)
    assert r0["auc"] == r1["auc"] and r0["balanced_accuracy"] == r1["balanced_accuracy"]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["world_size"] == 2
    # each rank trained on half of the 16 items: 2 batches of 4 per epoch
    assert (tmp_path / "run" / "best.pt").is_file()
