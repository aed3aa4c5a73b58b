"""How much of the informative block an *untrained* DAS keeps, per initialisation and seed (docs/results/moving_real/notes.md).

    PYTHONPATH=. python benchmarks/untrained_picks.py [--dataset adrenalmnist3d-embedded] [--items 120]

Prints, for score_init "random" and "zero" and seeds 0-4, the share of the eval picks (k = T / 4) that fall inside
each test item's informative frames (`meta(i)["informative_frames"]`).
"""

from __future__ import annotations

import argparse

import torch

from das_core import make_sampler, num_selected_for_ratio
from das_core.data import load_dataset


def untrained_share(dataset: str, score_init: str, seed: int, items: int = 120, ratio: float = 0.25) -> float:
    ds = load_dataset(dataset, "test")
    n = min(items, len(ds))
    x = torch.stack([ds[i][0] for i in range(n)])
    informative = [set(ds.meta(i)["informative_frames"]) for i in range(n)]
    T = x.shape[1]
    k = num_selected_for_ratio(T, ratio)
    torch.manual_seed(seed)
    sampler = make_sampler("das", T, k, score_init=score_init).eval()
    with torch.no_grad():
        picks = sampler(x).indices.tolist()
    return sum(len(set(p) & f) for p, f in zip(picks, informative)) / (k * n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="adrenalmnist3d-embedded")
    ap.add_argument("--items", type=int, default=120)
    args = ap.parse_args()
    for init in ("random", "zero"):
        shares = [untrained_share(args.dataset, init, s, args.items) for s in range(5)]
        print(f"score_init={init}: share of picks inside the block, seeds 0-4: " + ", ".join(f"{v:.2f}" for v in shares))


if __name__ == "__main__":
    main()
