"""Where a grid's independent runs execute: in this process, in local worker processes, or on Ray.

A grid (bench) is a list of `TrainConfig`s, each with its own run folder. `run_configs` trains the
unfinished ones and calls `on_done(config, summary)` in this process as each one ends, so the caller
can re-aggregate after every run. With `workers > 1` the runs go to a pool of that many spawned
processes, each limited to `threads` torch threads (one by default: on a 2-core machine two one-thread
runs side by side beat one two-thread run, docs/speed.md). Resume semantics are those of one run: a
finished run folder is skipped, an interrupted one continues from its `last.pt`, so a killed grid
picks up where it stopped whichever executor ran it.

`executor="ray"` makes every run a Ray task (`num_cpus=1`, `threads` torch threads, one by default) on
a local Ray instance started for the grid (`ray_address=None`) or on a running cluster (`"auto"`, or
`ray://HOST:PORT`), with at most `workers` runs in flight (default: all of them; Ray schedules them by
free CPUs). Runs the caller already found finished are never submitted; each task runs in the driver's
working directory, so relative run folders and data paths mean the same on every node, which on a
cluster must therefore share that folder (and have das-explorer installed). Ray is imported only here,
when that executor is chosen: `pip install 'das-explorer[ray]'`.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch

from ..engine import TrainConfig, fit
from ..errors import ConfigError
from .probes import selection_probe

__all__ = ["run_configs", "train_and_probe", "EXECUTORS"]

EXECUTORS = ("local", "ray")


def train_and_probe(config: TrainConfig) -> dict:
    """`fit(config)`, then the selection probe of its run folder (cached there for the aggregate)."""
    summary = fit(config)
    selection_probe(Path(config.out))
    return summary


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def run_configs(configs: Sequence[TrainConfig], *, workers: Optional[int] = None, threads: Optional[int] = None,
                executor: str = "local", ray_address: Optional[str] = None,
                on_start: Optional[Callable[[TrainConfig], None]] = None,
                on_done: Optional[Callable[[TrainConfig, dict], None]] = None) -> list[dict]:
    """Train every config (in order with one worker, `workers` at a time otherwise); summaries in order.

    `workers`: runs at once (default 1 locally; every run submitted at once on Ray). `threads`: torch
    threads per worker process or Ray task (default 1 when runs share the machine; the config's own
    `threads` still wins inside `fit`). `executor`: "local" or "ray" (see the module docstring).
    A run that raises stops the grid after the runs in flight end.
    """
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}.")
    if executor not in EXECUTORS:
        raise ConfigError(f"Unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}.")
    configs = list(configs)
    if executor == "ray":
        return _run_on_ray(configs, workers=workers, threads=threads, address=ray_address,
                           on_start=on_start, on_done=on_done)
    workers = workers or 1
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


def _ray_run(config: TrainConfig, threads: int, cwd: str) -> dict:
    """One run as a Ray task: in the driver's working directory, with `threads` torch threads."""
    if not os.path.isdir(cwd):
        raise ConfigError(f"The grid's folder {cwd} is not on this Ray node ({platform.node()}); run the "
                          f"grid from a folder every node shares.")
    os.chdir(cwd)
    torch.set_num_threads(threads)
    return train_and_probe(config)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray, which is not installed; install it with "
                          "pip install 'das-explorer[ray]'.") from None
    return ray


def _run_on_ray(configs: list[TrainConfig], *, workers: Optional[int], threads: Optional[int],
                address: Optional[str], on_start, on_done) -> list[dict]:
    """`run_configs` on Ray: one task per run, `workers` (default: all) in flight, results as they end."""
    ray = _import_ray()
    if not configs:
        return []
    started_here = not ray.is_initialized()
    if started_here:  # address None: a fresh local instance; "auto" / "ray://...": join that cluster
        ray.init(address=address, include_dashboard=False if address is None else None)
    task = ray.remote(num_cpus=1, max_retries=0)(_ray_run)
    cwd = os.getcwd()
    limit = workers or len(configs)
    results: dict[int, dict] = {}
    pending: dict = {}
    queue = list(enumerate(configs))
    try:
        while queue or pending:
            while queue and len(pending) < limit:
                i, c = queue.pop(0)
                if on_start:
                    on_start(c)
                pending[task.remote(c, threads or 1, cwd)] = i
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                i = pending.pop(ref)
                try:
                    results[i] = ray.get(ref)
                except ray.exceptions.RayTaskError as err:  # the run's own error, not Ray's wrapper
                    cause = getattr(err, "cause", None)
                    if isinstance(cause, Exception):
                        raise cause from err
                    raise
                if on_done:
                    on_done(configs[i], results[i])
    except BaseException:
        for ref in pending:  # a killed grid stops its runs; each resumes from its last.pt next time
            try:
                ray.cancel(ref, force=True)
            except Exception:  # already ended, or the cluster is gone: nothing left to stop
                pass
        raise
    finally:
        if started_here:
            ray.shutdown()
    return [results[i] for i in sorted(results)]
