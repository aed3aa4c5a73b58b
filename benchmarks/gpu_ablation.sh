#!/usr/bin/env bash
# The DAS ablation (python -m das_core ablation) on one CUDA machine, as parallel shards, in one call.
# Used through the device tool: the repository is the working directory, $OUT comes back.
#   DAS_DATA_ROOT: a folder with medmnist3d/vesselmnist3d.npz (the held-out real set).
#   SHARDS (default 14), BUDGET_S (default 420): processes, and seconds before unfinished shards stop;
#   a rerun resumes (finished runs are skipped), and the page reports what has finished.
set -uo pipefail
SHARDS=${SHARDS:-14}
BUDGET_S=${BUDGET_S:-420}
OUT=${OUT:-/tmp/gpu-out}
RUNS=${RUNS:-runs/ablation}
mkdir -p "$OUT/docs" "$RUNS"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
python3 - <<'PY' 2>&1 | tee "$OUT/env.txt"
import torch, platform
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else "-", "python", platform.python_version())
PY
start=$(date +%s)
for i in $(seq 0 $((SHARDS - 1))); do
  timeout "$BUDGET_S" python3 -m das_core ablation --shard "$i/$SHARDS" --device cuda --runs-dir "$RUNS" \
    > "$RUNS/shard$i.log" 2>&1 &
done
wait
echo "shards done in $(( $(date +%s) - start )) s" | tee -a "$OUT/env.txt"
python3 -m das_core ablation --report-only --runs-dir "$RUNS" --results-md "$OUT/docs/results-ablation.md" 2>&1 | tail -3
tail -n 3 "$RUNS"/shard*.log > "$OUT/shards-tail.txt" 2>&1
grep -l Traceback "$RUNS"/shard*.log | head -3 | xargs -r cat > "$OUT/errors.txt" 2>&1
tar czf "$OUT/ablation-runs.tgz" --exclude='*.pt' "$RUNS"
ls -la "$OUT" "$OUT/docs"
