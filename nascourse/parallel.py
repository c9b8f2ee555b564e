"""The NAS loop of ``run_search`` with candidates evaluated concurrently, as Ray tasks.

Early NAS spent hundreds of GPU days (survey Sec. 1), and got them done by training many candidates
at once: "NAS-RL uses parallel and asynchronous updates to accelerate the training of candidate
network architectures" (survey Sec. 3.4). ``run_search_ray`` evaluates candidates in parallel on
Ray (Moritz et al., "Ray: A Distributed Framework for Emerging AI Applications", OSDI 2018), from
a laptop's cores to a cluster of GPU machines::

    strategy --ask x batch--> candidates --Ray tasks, concurrently--> results --tell, in proposal order--> strategy
                                                                          |
                                                                       history (same records as run_search)

Semantics, precisely:

* The strategy is asked ``batch`` candidates at a time (default: as many as the cluster can run at
  once: its CPUs, or its GPUs divided by ``gpus_per_trial``). They are evaluated concurrently, each
  as one Ray task holding one CPU (``torch.set_num_threads(1)``: a CPU share is one core), or
  ``gpus_per_trial`` GPUs (default 1 when the evaluator's data lies on CUDA).
* When the whole batch is back, the results are added to the ``History`` and told to the strategy
  in the order the strategy proposed them, then the next batch is asked. The run is therefore
  deterministic for a given seed and ``batch``; with ``batch=1`` it is exactly ``run_search``; and
  a strategy that ignores feedback (random search) gives the same trials as ``run_search`` for any
  batch. An adaptive strategy sees results one batch later than it would sequentially: the price of
  parallelism the asynchronous searches of the survey paid too. (A batch waits for its slowest
  member; asking a new candidate whenever any task finishes would keep every core busy, but then
  the order of the results, and so the search, would depend on timing.)
* ``History`` costs stay compute costs: ``cumulative_seconds`` adds the training seconds of every
  trial, not the (shorter) wall time of the parallel run.
* Nothing is lost silently: every asked candidate ends as a trial. An exception raised by the
  evaluator is recorded as a trial with status ``"failed: <ExceptionType>: <message>"``, accuracy
  NaN and cost 0 (the traceback is printed in the worker's log), and the search goes on. A worker
  that dies (the process killed, out of memory, its node lost) has its task retried by Ray, up to
  ``max_retries`` times; when the retries are used up, the trial is recorded failed with a status
  that says the worker was lost. A task that fails outside the evaluator (most often: the workers
  cannot import the module the evaluator's class comes from) would fail every trial alike, so it
  stops the search with a ``RuntimeError`` that says what to install; logged trials are kept.
* ``log_path`` works as in ``run_search``: each trial is appended as it is recorded, and a run
  started again on the same file replays the finished trials into the strategy (asking in the
  same batches, so give it the same ``batch``) without evaluating them again, then goes on.
* The evaluator is put into Ray's object store once (``ray.put``), not sent with every task; each
  task works on its own copy. An evaluator must therefore not rely on state that changes from call
  to call: ``Benchmark.evaluator()`` without a ``seed`` draws a trained seed per lookup from its own
  generator, and every copy would draw the same one; give it a ``seed`` (a warning says so).
* Strategies that need each result before the next ask cannot take batches:
  ``LargeScaleEvolution`` needs ``batch=1``, ``GeNet`` a batch that divides its population size
  (a generation is bred only when all of it is scored); a clear error says so.

Where it runs: if this process is already connected to Ray (``ray.init`` called before), that
connection is used, whatever ``address`` says, and left open. Otherwise ``address=None`` starts a
local instance with this machine's cores and shuts it down at the end (starting takes seconds:
call ``ray.init()`` once yourself to keep one across searches). A string connects to an existing
cluster and leaves it running: ``"auto"`` finds the cluster this machine belongs to,
``"HEAD_IP:6379"`` names its head. To run on several machines, give each the same Python
environment (``pip install -r requirements.txt``, then ``pip install "nascourse[ray]"``; same
versions everywhere, since the evaluator and its data travel pickled), then::

    ray start --head --port=6379                   # on the first machine (the head)
    ray start --address=HEAD_IP:6379               # on every other machine
    # on the head, in Python (or the command line's search with its Ray address option):
    run_search_ray(space, strategy, evaluator, trials=200, address="auto", batch=16, log_path="search.jsonl")
    ray stop                                       # on each machine, when done

``ray status`` on the head shows the CPUs and GPUs the cluster offers; a fixed ``batch`` keeps a
resumed search asking in the same batches even if machines come or go. Ray is an optional extra
(``pip install "nascourse[ray]"``); ``import nascourse`` never needs it.
"""

from __future__ import annotations

import logging
import math
import os
import traceback
import warnings
from pathlib import Path
from typing import Any

from .loop import EvaluationResult, Evaluator, History, check_budget, replayed
from .spaces.base import SearchSpace
from .strategies.base import Strategy

__all__ = ["run_search_ray"]

INSTALL_HINT = 'Parallel evaluation needs Ray, an optional extra: pip install "nascourse[ray]" (or pip install "ray>=2.9").'


def _import_ray():
    try:
        import ray
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    return ray


def failed_result(reason: str) -> EvaluationResult:
    """The record of a candidate whose evaluation produced no result: NaN accuracy, no cost reported."""
    return EvaluationResult(accuracy=math.nan, cost_seconds=0.0, cost_epochs=0.0, parameters=0, status=f"failed: {reason}")


def _evaluate_in_worker(evaluator: Evaluator, architecture: Any, threads: int) -> EvaluationResult:
    """The body of one Ray task: evaluate one candidate; an exception becomes a failed result."""
    import torch

    torch.set_num_threads(threads)
    try:
        result = evaluator(architecture)
    except Exception as error:  # the candidate failed, not the search: record why and go on
        traceback.print_exc()  # the whole story goes to the worker's log (shown by the driver)
        return failed_result(f"{type(error).__name__}: {error}")
    if not isinstance(result, EvaluationResult):
        return failed_result(f"TypeError: the evaluator returned a {type(result).__name__}, not an EvaluationResult")
    return result


def _data_on_cuda(evaluator: Any) -> bool:
    """Whether the evaluator trains on data held on a CUDA device (TrainingEvaluator and friends keep ``.data``)."""
    data = getattr(evaluator, "data", None)
    train = getattr(data, "train", None)
    x = getattr(train, "x", None)
    return getattr(getattr(x, "device", None), "type", None) == "cuda"


def _check_strategy_takes_batches(strategy: Any, batch: int) -> None:
    if batch != 1 and isinstance(strategy, Strategy):  # each strategy says whether it can take a batch
        strategy.check_batch(batch)


def _warn_if_stateful(evaluator: Any) -> None:
    from .bench import BenchmarkEvaluator

    if isinstance(evaluator, BenchmarkEvaluator) and evaluator.seed is None:
        warnings.warn(
            "This BenchmarkEvaluator draws a trained seed per lookup from its own random generator; each Ray task "
            "gets a fresh copy of it, so every lookup would use the same draw. Give it a seed "
            "(benchmark.evaluator(seed=0)), or use run_search.",
            stacklevel=3,
        )


def _connect(ray: Any, address: str | None) -> bool:
    """Make sure this process is connected to Ray; True when this call made the connection (to undo at the end)."""
    if ray.is_initialized():
        return False
    quiet = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": True}
    if address is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        try:
            ray.init(num_cpus=cores, **quiet)
        except Exception as error:
            if "timed out during startup" not in str(error):
                raise
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
            raise RuntimeError(
                f"Ray's local instance did not come up within Ray's startup limit (30 s): the machine is busy "
                f"(load average {load:.1f} on {cores} cores). Close other programs and try again, or run the "
                "search sequentially with run_search."
            ) from None
        return True
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True)
    except ConnectionError as error:
        raise ConnectionError(
            f"Could not connect to a Ray cluster at {address!r} ({error}). Start one with `ray start --head` on the "
            "head machine and `ray start --address=HEAD_IP:6379` on the others, then pass address='auto' (on a "
            "machine of the cluster) or the head's address; address=None runs on a local instance instead."
        ) from None
    return True


def _worker_lost(error: Exception, max_retries: int) -> EvaluationResult:
    first_line = (str(error).strip().splitlines() or [""])[0][:300]
    attempts = max_retries + 1
    return failed_result(
        f"worker lost ({type(error).__name__}) on each of {attempts} attempt{'s' if attempts > 1 else ''}: {first_line}"
    )


def _task_setup_error(error: Exception) -> RuntimeError:
    """The task failed outside the evaluator (which catches its own exceptions): every trial would fail alike."""
    cause = getattr(error, "cause", None) or error
    lines = str(cause).strip().splitlines() or [""]
    return RuntimeError(
        f"A Ray worker could not run the evaluation ({type(cause).__name__}: {lines[0][:300]}). Most often the "
        "worker cannot import the module the evaluator's class comes from: install nascourse and your own code "
        "on every machine of the cluster (a class defined in a notebook or script travels by value)."
    )


def run_search_ray(
    space: SearchSpace,
    strategy: Any,
    evaluator: Evaluator,
    trials: int,
    *,
    batch: int | None = None,
    address: str | None = None,
    log_path: str | Path | None = None,
    progress: bool = True,
    max_retries: int = 2,
    description: str | None = None,
    gpus_per_trial: float | None = None,
    max_seconds: float | None = None,
) -> History:
    """Run the NAS loop for ``trials`` candidates, evaluating ``batch`` of them at a time as Ray tasks.

    Returns the same ``History`` as ``run_search``; see the module docstring for the exact semantics
    (proposal-order results, failures, retries of lost workers, resume from ``log_path``, clusters).
    ``max_seconds``, as in ``run_search``, stops the search once its candidates have cost that many
    seconds in total; here no new batch is asked after that, so the last batch may overshoot more.
    """
    check_budget(trials, max_seconds)
    if batch is not None and (not isinstance(batch, int) or batch < 1):
        raise ValueError(f"batch must be a positive integer (candidates evaluated at once) or None, got {batch!r}.")
    if not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"max_retries must be an integer >= 0 (retries of a trial whose worker died), got {max_retries!r}.")
    if gpus_per_trial is not None and not (isinstance(gpus_per_trial, (int, float)) and gpus_per_trial > 0):
        raise ValueError(f"gpus_per_trial must be a positive number (e.g. 1, or 0.5 to share a GPU), got {gpus_per_trial!r}.")
    if batch is not None:
        _check_strategy_takes_batches(strategy, batch)
    _warn_if_stateful(evaluator)
    ray = _import_ray()
    finished = History.load(log_path).trials[:trials] if log_path is not None else []
    gpus = float(gpus_per_trial) if gpus_per_trial is not None else (1.0 if _data_on_cuda(evaluator) else 0.0)

    connected = _connect(ray, address)
    pending: list[Any] = []
    bar = None
    try:
        available = ray.cluster_resources()
        if gpus and available.get("GPU", 0) < gpus:
            raise ValueError(
                f"Each trial asks for {gpus:g} GPU(s) (gpus_per_trial, or the evaluator's data lies on CUDA), but the "
                f"Ray cluster has {available.get('GPU', 0):g}. Add GPU machines to it, or move the data to the CPU "
                "(data.to('cpu')) to train on CPU cores."
            )
        if batch is None:
            batch = max(1, int(available.get("GPU", 0) // gpus) if gpus else int(available.get("CPU", 1)))
            _check_strategy_takes_batches(strategy, batch)
        try:
            evaluator_ref = ray.put(evaluator)
        except Exception as error:
            raise TypeError(
                f"The evaluator could not be sent to Ray workers ({type(error).__name__}: {error}). It must be "
                "picklable: define it at module level, and keep open files, locks and the like out of it."
            ) from None
        task = ray.remote(_evaluate_in_worker).options(
            num_cpus=1, num_gpus=gpus, max_retries=max_retries, retry_exceptions=False
        )

        history = History(log_path=None)
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(desc=description or type(strategy).__name__, unit="arch", total=trials)
        while len(history) < trials:
            start = len(history)
            spent = history.trials[-1].cumulative_seconds if history.trials else 0.0
            if max_seconds is not None and start >= len(finished) and spent >= max_seconds:
                break  # the budget is spent (logged trials are always replayed first, as in run_search)
            candidates = [strategy.ask() for _ in range(min(batch, trials - start))]
            texts = [space.encode(candidate) for candidate in candidates]
            logged = {offset: replayed(finished[start + offset], text, log_path, f", batch of {batch}")
                      for offset, text in enumerate(texts) if start + offset < len(finished)}
            pending = [
                None if offset in logged else task.remote(evaluator_ref, candidate, 1)
                for offset, candidate in enumerate(candidates)
            ]
            for offset, (candidate, text, ref) in enumerate(zip(candidates, texts, pending)):
                if ref is None:
                    result = logged[offset]
                    architecture = space.decode(text)  # as run_search tells a replayed trial
                else:
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayTaskError as error:  # outside the evaluator: the set-up is wrong
                        raise _task_setup_error(error) from None
                    except ray.exceptions.RayError as error:  # the worker or its node died, every attempt
                        result = _worker_lost(error, max_retries)
                    architecture = candidate
                    pending[offset] = None
                if start + offset == len(finished) and log_path is not None:
                    history.log_path = Path(log_path)  # from the first new trial on, record to the file
                history.add(text, result)
                strategy.tell(architecture, result)
                if bar is not None:
                    bar.update(1)
                    if history.successful():
                        bar.set_postfix(best=f"{history.best().accuracy:.3f}")
        history.log_path = Path(log_path) if log_path is not None else None
        return history
    finally:
        if bar is not None:
            bar.close()
        for ref in pending:  # interrupted mid-batch: stop the tasks nobody will collect
            if ref is not None:
                try:
                    ray.cancel(ref, force=True)
                except Exception:
                    pass
        if connected:
            ray.shutdown()  # disconnects; stops the instance only when this call started it locally
