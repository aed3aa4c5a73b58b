"""Where a grid's independent runs execute: in this process, or in local worker processes.

A grid (bench) is a list of `TrainConfig`s, each with its own run folder. `run_configs` trains the
unfinished ones and calls `on_done(config, summary)` in this process as each one ends, so the caller
can re-aggregate after every run. With `workers > 1` the runs go to a pool of that many spawned
processes, each limited to `threads` torch threads (one by default: on a 2-core machine two one-thread
runs side by side beat one two-thread run, docs/speed.md). Resume semantics are those of one run: a
finished run folder is skipped, an interrupted one continues from its `last.pt`, so a killed grid
picks up where it stopped whichever executor ran it.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch

from ..engine import TrainConfig, fit
from ..errors import ConfigError
from .probes import selection_probe

__all__ = ["run_configs", "train_and_probe"]


def train_and_probe(config: TrainConfig) -> dict:
    """`fit(config)`, then the selection probe of its run folder (cached there for the aggregate)."""
    summary = fit(config)
    selection_probe(Path(config.out))
    return summary


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def run_configs(configs: Sequence[TrainConfig], *, workers: int = 1, threads: Optional[int] = None,
                on_start: Optional[Callable[[TrainConfig], None]] = None,
                on_done: Optional[Callable[[TrainConfig, dict], None]] = None) -> list[dict]:
    """Train every config (in order with one worker, `workers` at a time otherwise); summaries in order.

    `threads`: torch threads per worker process (default 1 when workers > 1; the config's own
    `threads` still wins inside `fit`). A run that raises stops the grid after the runs in flight end.
    """
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}.")
    configs = list(configs)
    if workers == 1 or len(configs) <= 1:
        out = []
        for c in configs:
            if on_start:
                on_start(c)
            s = train_and_probe(c)
            if on_done:
                on_done(c, s)
            out.append(s)
        return out
    results: dict[int, dict] = {}
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no forked torch thread pools
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(threads or 1,)) as pool:
        pending, queue = {}, list(enumerate(configs))
        try:
            while queue or pending:
                while queue and len(pending) < workers:  # submit lazily, so on_start reports real starts
                    i, c = queue.pop(0)
                    if on_start:
                        on_start(c)
                    pending[pool.submit(train_and_probe, c)] = i
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = pending.pop(fut)
                    results[i] = fut.result()  # re-raises a run's error here
                    if on_done:
                        on_done(configs[i], results[i])
        except BaseException:
            queue.clear()
            for fut in pending:
                fut.cancel()
            raise
    return [results[i] for i in sorted(results)]
