#!/usr/bin/env bash
# The CUDA path checked on one GPU machine in at most 8 minutes (issue 12): the CUDA-marked tests, one
# short training on CUDA, and `speed --device cuda`; writes docs/speed-gpu.md (and its JSON) under $OUT
# (default: the repository's docs/). Run through the device tool from the repository root:
#   bash scripts/gpu-check.sh            # then copy $OUT/docs/speed-gpu.* into docs/
# Each step has its own time limit, so one slow step cannot use up the machine.
set -uo pipefail
OUT=${OUT:-.}
mkdir -p "$OUT/docs" runs/gpu-check
export PYTHONUNBUFFERED=1 PYTHONPATH=.
PY=${PY:-python3}
log="$OUT/docs/gpu-check.log"
: > "$log"
$PY - <<'PY' 2>&1 | tee -a "$log"
import torch, platform
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else "-", "python", platform.python_version())
PY
echo "== CUDA tests" | tee -a "$log"
timeout 120 $PY -m pytest -q -m cuda tests/test_cuda.py -p no:cacheprovider 2>&1 | tail -5 | tee -a "$log"
echo "== one short training on CUDA (synthetic moving, MobileNetV3-Small, 3 epochs x 24 batches)" | tee -a "$log"
timeout 120 $PY -m das_core train --dataset synthetic-volumes --moving --method das --epochs 3 --min-epochs 1 \
  --max-train-batches 24 --backbone mobilenet_v3_small --lr 1e-3 --device cuda --out runs/gpu-check/das \
  --no-progress 2>&1 | tail -3 | tee -a "$log"
echo "== speed on CUDA" | tee -a "$log"
timeout 180 $PY -m das_core speed --device cuda --sizes 28 64 --repeats 5 \
  --out-json "$OUT/docs/speed-gpu.json" --out-md "$OUT/docs/speed-gpu.md" 2>&1 | tail -3 | tee -a "$log"
echo "== speed on CUDA, fp16 autocast (the samplers stay float32)" | tee -a "$log"
timeout 60 $PY -m das_core speed --device cuda --precision fp16 --sizes 28 --repeats 3 \
  --out-json "$OUT/docs/speed-gpu-fp16.json" --out-md "$OUT/docs/speed-gpu-fp16.md" 2>&1 | tail -3 | tee -a "$log"
ls -la "$OUT/docs"
