"""Running many searches side by side: ``run_jobs`` runs ``(function, keyword arguments)`` jobs in worker
processes, one thread each, so a 2-core machine does two at a time; each worker loads the benchmark and the data
once (``load_table`` and ``table_data`` are cached per process)."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Callable, Sequence

import torch

from .runs import Run

__all__ = ["run_jobs"]


def _call(job: tuple[Callable[..., Run], dict]) -> Run:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core per search, so two searches share a 2-core machine without contention
    try:
        function, arguments = job
        return function(**arguments)
    finally:
        torch.set_num_threads(threads)


def run_jobs(jobs: Sequence[tuple[Callable[..., Run], dict]], workers: int | None = None,
             progress: bool = True, description: str = "searches") -> list[Run]:
    """Run ``(function, keyword arguments)`` jobs, in order, in ``workers`` processes (default: one per core,
    at most 2 on the course's laptop profile; 1 runs them here). Results come back in the jobs' order."""
    workers = workers if workers is not None else max(1, min(2, os.cpu_count() or 1))
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}.")
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc=description, unit="run")
    results: list[Run] = []
    if workers == 1:
        for job in jobs:
            results.append(_call(job))
            if bar is not None:
                bar.update()
    else:  # "spawn": a fresh interpreter per worker, safe with torch's thread pools (fork is not)
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            for run in pool.map(_call, jobs):
                results.append(run)
                if bar is not None:
                    bar.update()
    if bar is not None:
        bar.close()
    return results
