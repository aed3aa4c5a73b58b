"""Why a DAS-trained network reads the moving-real block worse than the edge-energy one (measured, not guessed).

    PYTHONPATH=. python benchmarks/speckle_mechanism.py RUN_DIR [RUN_DIR ...] [--items N] [--json out.json] [--md out.md]

For every trained run (a `bench` run folder of a moving-real family, `adrenalmnist3d-embedded:speckle`, ...) its
best checkpoint is scored on the test split with four pick sets, all through the same network:

- `own`: the sampler's own eval picks;
- `block`: the informative block itself (`meta(i)["informative_frames"]`, k = W = 10 frames: the oracle);
- `edge`: the edge-energy heuristic's picks on the same input (the parameter-free baseline);
- `uniform`: evenly spaced frames.

and, for a learned sampler, the share of its *training-mode* picks (Gumbel noise on, at the scale of its best epoch:
as the optimizer saw them then) inside the block on the training split, beside the share of its eval picks. A network trained worse shows in
`block` (the same frames for every run); a sampler that picks worse shows in own vs block of the same network.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from das_core import make_sampler
from das_core.samplers import uniform_indices
from das_core.checkpoints import load_checkpoint
from das_core.data import load_dataset
from das_core.experiments.static_control import score_items
from das_core.metrics import classification_metrics
from das_core.engine import TrainConfig
from das_core.engine.trainer import sampler_progress
from das_core.runs import RunPaths, read_config, read_summary


def _auc(out: dict) -> float:
    return float(classification_metrics(out["labels"], out["probs"], num_classes=out["probs"].shape[1])["auc"])


def _item_shares(picks, blocks) -> list:
    """Per item, the share of its picks inside its block."""
    return [len(set(p) & set(b)) / len(p) for p, b in zip(picks, blocks)]


def _share(picks, blocks) -> float:
    return float(np.mean(_item_shares(picks, blocks)))


@torch.no_grad()
def _train_mode_share(model, ds, blocks, n: int, draws: int = 3) -> float:
    """Share of the sampler's noisy (training-mode) picks inside the block, over `draws` draws per item."""
    model.sampler.train()
    shares = []
    for _ in range(draws):
        for start in range(0, n, 32):
            x = torch.stack([ds[i][0] for i in range(start, min(n, start + 32))])
            shares.extend(_item_shares(model.select(x).indices.tolist(), blocks[start:start + len(x)]))
    model.eval()
    return float(np.mean(shares))


def measure(run: Path, items: int, seed: int = 0) -> dict:
    torch.manual_seed(seed)  # the training-mode picks' Gumbel draws: the same table on every call
    c = read_config(run)
    model, _ = load_checkpoint(RunPaths(run).best, map_location="cpu")
    model.eval()
    split = lambda name: load_dataset(c["dataset"], split=name, root=c.get("root"), **(c.get("dataset_options") or {}))
    test, train = split("test"), split("train")
    n = min(items, len(test))
    blocks = [test.meta(i)["informative_frames"] for i in range(n)]
    T, k = int(model.sampler.num_frames), int(model.sampler.num_selected)
    x_all = torch.stack([test[i][0] for i in range(n)])
    edge = make_sampler("edge-energy", T, k).eval()(x_all).indices.tolist()
    uniform = uniform_indices(T, k)
    own = score_items(model, test, limit=n)
    out = {"run": run.name, "method": c["method"], "seed": c["seed"], "k": k,
           "auc_own": _auc(own), "auc_block": _auc(score_items(model, test, indices=np.asarray(blocks), limit=n)),
           "auc_edge": _auc(score_items(model, test, indices=np.asarray(edge), limit=n)),
           "auc_uniform": _auc(score_items(model, test, indices=np.asarray(uniform), limit=n)),
           "share_own_test": _share(own["picks"], blocks), "share_edge_test": _share(edge, blocks)}
    if model.sampler.learned:  # the noise scale of the best epoch (annealed runs: below 1)
        cfg = TrainConfig.from_dict(c)
        best = int((read_summary(run) or {}).get("best_epoch", 0))
        model.sampler.set_training_progress(sampler_progress(best, cfg.warmup_epochs, cfg.epochs))
        out["noise_scale"] = float(model.sampler.noise_scale)
        m = min(items, len(train))
        train_blocks = [train.meta(i)["informative_frames"] for i in range(m)]
        out["share_train_mode"] = _train_mode_share(model, train, train_blocks, m)
        out["share_eval_train"] = _share(score_items(model, train, limit=m)["picks"], train_blocks)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--items", type=int, default=400)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--md", type=Path, help="write the table as Markdown (the committed docs/results/*/mechanism.md)")
    args = ap.parse_args()
    rows = []
    for r in args.runs:
        rows.append({"dataset": r.parent.name, **measure(r, args.items)})
        print(_line(rows[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if args.md:
        args.md.write_text("\n".join(markdown(rows)) + "\n")


COLUMNS = [("dataset", "data set"), ("run", "run"), ("auc_own", "AUC own picks"), ("auc_block", "AUC block as picks"),
           ("auc_edge", "AUC edge-energy's picks"), ("auc_uniform", "AUC uniform picks"),
           ("share_own_test", "eval picks in block (test)"), ("noise_scale", "noise scale at the best epoch"),
           ("share_train_mode", "training-mode picks in block (train, at that scale)"),
           ("share_eval_train", "eval picks in block (train)")]


def _line(row: dict) -> str:
    return " | ".join(f"{row.get(k):.3f}" if isinstance(row.get(k), float) else str(row.get(k, "")) for k, _ in COLUMNS)


def markdown(rows: list) -> list:
    """The measured rows as a Markdown table (the columns of COLUMNS; n/a where a value does not apply)."""
    lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = [f"{r[k]:.3f}" if isinstance(r.get(k), float) else ("n/a" if r.get(k) is None else str(r[k]))
                 for k, _ in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


if __name__ == "__main__":
    main()
