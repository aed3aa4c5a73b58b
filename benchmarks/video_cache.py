"""Decode-cache benchmark: load POCUS clips through the data set twice (cold cache, then warm).

Usage:
    python benchmarks/video_cache.py [--root DIR] [--clips N] [--num-frames T] [--size S]

Prints the first (decode + cache write) and second (cache read) pass times. Nothing is asserted.
The cache goes to a fresh temporary folder that is removed at the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from das_core.data import load_dataset  # noqa: E402
from das_core.data.registry import pocus_root  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=None, help="POCUS folder (default: $DAS_DATA_ROOT or ../shared/data)")
    ap.add_argument("--clips", type=int, default=0, help="number of clips (0 = all)")
    ap.add_argument("--num-frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=32)
    args = ap.parse_args()
    root = pocus_root(args.root)
    if root is None or not root.is_dir():
        sys.exit("POCUS clips not found; pass --root or set DAS_DATA_ROOT")
    with tempfile.TemporaryDirectory(prefix="das_cache_bench_") as cache:
        kw = dict(root=root, num_frames=args.num_frames, size=args.size, include_uncertain=True, cache_dir=cache)
        n = len(load_dataset("pocus-lung", "all", **kw))
        n = min(n, args.clips) if args.clips > 0 else n
        times = []
        for label in ("cold (decode + write)", "warm (cache read)"):
            ds = load_dataset("pocus-lung", "all", **kw)  # a new object: nothing kept in memory
            t = time.perf_counter()
            for i in range(n):
                ds[i]
            times.append(time.perf_counter() - t)
            print(f"{label:24s}: {times[-1]:7.2f} s for {n} clips ({1000 * times[-1] / n:7.1f} ms/clip)")
        size_mb = sum(p.stat().st_size for p in Path(cache).rglob("*.npz")) / 1e6
        print(f"speed-up {times[0] / times[1]:.0f}x; cache size {size_mb:.1f} MB "
              f"(T={args.num_frames}, {args.size}x{args.size}, grayscale)")


if __name__ == "__main__":
    main()
