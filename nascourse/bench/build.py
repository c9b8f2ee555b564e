"""Building the course's tabular benchmark: every unique cell of the space, trained with one recipe.

Tabular benchmarks (NAS-Bench-101, NAS-Bench-201) train every architecture of a space once, so
that a search can be run hundreds of times by looking results up instead of training. The survey
(Sec. 4) notes how hard NAS results are to compare; a shared table with the same training
pipeline for every architecture is the field's answer.

The build trains each (architecture, seed) job in its own worker process (one thread each, one
worker per core), and the main process appends every finished job to a JSON-lines file at once.
Killing the build loses at most the jobs in flight: the next build reads the file and skips
what is done. When every job is there, the results are packed into the compact final file.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import multiprocessing
import os
import platform
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from statistics import median
from typing import Any, Iterator

import torch
from torch import nn

from ..compute import count_macs
from ..data import load_dataset
from ..spaces.cell201 import Cell201Space
from ..train import count_parameters, train

__all__ = ["FORMAT", "Protocol", "build_benchmark", "measure_latency", "pack_benchmark", "partial_path",
           "payload_digest"]

FORMAT = "nascourse-bench/1"  # the final file's format, checked by ``Benchmark.load``


@dataclass(frozen=True)
class Protocol:
    """The one training recipe every architecture of the benchmark gets.

    Chosen with ``experiments/bench_pilot.py`` (two seeds of 40-50 random cells per candidate
    recipe). On 8x8 digits, good cells all end near 97-98% and differ by seed noise; a short
    budget on a narrow network (3 epochs, 4 channels) keeps differences in how *fast* and how
    *well* a cell learns visible, and a longer one hid them: seed-to-seed Spearman fell from
    0.67 (3 epochs) to 0.48 (5 epochs) and 0.17 (8 epochs, 8 channels). The 1x1 convolution is
    left out of the operation set so the whole build fits in well under 2.5 hours on two cores
    (4^6 = 4,096 cells, 760 unique, instead of 5^6 = 15,625 and 4,660): the parameter-free
    operations (none, skip, average pooling) that the skip-collapse study of chapter 03 needs
    stay in.
    """

    dataset: str = "digits"
    operations: tuple[str, ...] = ("none", "skip", "conv3x3", "avgpool3x3")
    channels: int = 4
    cells_per_stage: int = 1
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 0.1
    seeds: tuple[int, ...] = (0, 1, 2, 3)
    split_seed: int = 0

    def space(self) -> Cell201Space:
        return Cell201Space(operations=self.operations, channels=self.channels, cells_per_stage=self.cells_per_stage)

    def to_dict(self) -> dict:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, record: dict) -> "Protocol":
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in record.items()})


def partial_path(final_path: Path) -> Path:
    """Where a build appends finished jobs before they are packed into ``final_path``."""
    return final_path.with_name(final_path.name.replace(".json.gz", "") + ".partial.jsonl")


def measure_latency(model: nn.Module, input_shape: tuple[int, int, int], batch: int = 256, repeats: int = 5) -> float:
    """Median milliseconds of one forward pass of ``batch`` images on this CPU, one thread, eval mode.

    Measured in CPU time of the calling (one-thread) process, so a busy machine does not inflate it.
    """
    model.eval()
    images = torch.randn(batch, *input_shape)
    times = []
    with torch.no_grad():
        model(images)  # warm-up
        for _ in range(repeats):
            start = time.process_time()
            model(images)
            times.append((time.process_time() - start) * 1000)
    return median(times)


_worker_data = {}


def _run_job(job: tuple[dict, str, int]) -> dict:
    """Train one (architecture, seed): runs in a worker process with a single thread."""
    protocol_record, architecture, seed = job
    job_start = time.process_time()
    torch.set_num_threads(1)
    protocol = Protocol.from_dict(protocol_record)
    if "data" not in _worker_data:
        _worker_data["data"] = load_dataset(protocol.dataset, split_seed=protocol.split_seed)
    data = _worker_data["data"]
    space = protocol.space()
    torch.manual_seed(seed)
    model = space.build(architecture, data.input_shape, data.num_classes)
    record = {"architecture": architecture, "seed": seed, "parameters": count_parameters(model),
              "flops": count_macs(model, data.input_shape)}
    result = train(model, data, epochs=protocol.epochs, batch_size=protocol.batch_size,
                   learning_rate=protocol.learning_rate, seed=seed, test_split=data.test,
                   clock=time.process_time)  # CPU seconds of this one-thread worker: robust to a busy machine
    record["diverged"] = result.diverged
    record["curve"] = [[r.train_loss, r.val_accuracy, r.test_accuracy, r.seconds] for r in result.curve]
    record["latency_ms"] = measure_latency(model, data.input_shape) if seed == protocol.seeds[0] else None
    record["cpu_seconds"] = time.process_time() - job_start  # the whole job: training, evaluation, measuring
    return record


def _finished_jobs(path: Path, protocol: Protocol) -> set[tuple[str, int]]:
    """Jobs already in the partial file; checks that it was written with the same protocol."""
    done = set()
    if not path.exists():
        return done
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break  # the build was killed while writing this line: that job did not finish
            raise ValueError(f"{path}, line {number}, is not a benchmark record; delete the file to start over.")
        if "protocol" in record:
            written = Protocol.from_dict(record["protocol"])
            if not _extends(protocol, written):
                raise ValueError(
                    f"{path} was written with another protocol ({record['protocol']}); resume it with that "
                    "protocol (more seeds are fine), or delete the file to build this one from the start."
                )
            continue
        if "session" in record:
            continue
        done.add((record["architecture"], record["seed"]))
    if lines and not lines[-1].endswith("}"):
        path.write_text("\n".join(lines[:-1]) + ("\n" if len(lines) > 1 else ""), encoding="utf-8")
    return done


def _extends(protocol: Protocol, written: Protocol) -> bool:
    """True if ``protocol`` is ``written`` itself, or the same recipe with more seeds (their jobs are kept)."""
    return replace(written, seeds=protocol.seeds) == protocol and set(written.seeds) <= set(protocol.seeds)


def _last_protocol(path: Path) -> Protocol | None:
    found = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith('{"protocol"'):
            found = Protocol.from_dict(json.loads(line)["protocol"])
    return found


def _append(path: Path, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as file:
        file.write(json.dumps(record) + "\n")
        file.flush()
        os.fsync(file.fileno())


def build_benchmark(
    final_path: str | Path,
    protocol: Protocol = Protocol(),
    workers: int | None = None,
    limit: int | None = None,
    progress: bool = True,
) -> Path | None:
    """Train every unique architecture of ``protocol``'s space for every seed; pack the table when complete.

    Resumable: finished jobs are appended to ``partial_path(final_path)`` and skipped next time.
    ``limit`` stops after that many new jobs (for a trial run). Returns the final file once all
    jobs are done, else None.
    """
    final_path = Path(final_path)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(final_path)
    done = _finished_jobs(partial, protocol)
    if not partial.exists() or _last_protocol(partial) != protocol:  # a new build, or one given more seeds
        _append(partial, {"protocol": protocol.to_dict()})
    jobs = [
        (protocol.to_dict(), str(architecture), seed)
        for architecture in protocol.space().unique_architectures()
        for seed in protocol.seeds
        if (str(architecture), seed) not in done
    ]
    total = len(jobs) + len(done)
    if limit is not None:
        jobs = jobs[:limit]
    workers = workers or os.cpu_count() or 1
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=len(done), desc="benchmark", unit="job")
    start = time.perf_counter()
    context = multiprocessing.get_context("spawn")  # fresh interpreters: no inherited thread pools
    with context.Pool(workers) as pool:
        for record in pool.imap_unordered(_run_job, jobs, chunksize=1):
            _append(partial, record)
            if bar is not None:
                bar.update()
    _append(partial, {"session": {"jobs": len(jobs), "seconds": time.perf_counter() - start, "workers": workers,
                                  "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}})
    if bar is not None:
        bar.close()
    if len(_finished_jobs(partial, protocol)) < total:
        return None
    return pack_benchmark(partial, final_path, protocol)


def machine_description() -> dict:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
    }


def read_partial(path: Path) -> Iterator[dict]:
    """Every record of a partial file: the protocol line, job records, and session lines."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            yield json.loads(line)


def payload_digest(payload: dict) -> str:
    """The SHA-256 a final file stores of its payload; ``Benchmark.load`` recomputes it to detect corruption."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _padded(curve: list[list[float]], epochs: int) -> list[list[float]]:
    """A diverged run stopped early: its missing epochs are NaN (it must never win), at no extra cost."""
    rounded = [[round(v, 5) for v in epoch] for epoch in curve]
    last_seconds = rounded[-1][3] if rounded else 0.0
    return rounded + [[math.nan, math.nan, math.nan, last_seconds]] * (epochs - len(rounded))


def pack_benchmark(partial: Path, final_path: Path, protocol: Protocol) -> Path:
    """Pack a complete partial file into the compact final table."""
    jobs, seconds, dates, cpu_seconds = {}, 0.0, [], 0.0
    for record in read_partial(partial):
        if "session" in record:
            seconds += record["session"]["seconds"]
            dates.append(record["session"]["date"])
        elif "architecture" in record:
            jobs[(record["architecture"], record["seed"])] = record
            cpu_seconds += record.get("cpu_seconds", 0.0)
    architectures = [str(a) for a in protocol.space().unique_architectures()]
    payload: dict[str, Any] = {"architectures": architectures, "seeds": list(protocol.seeds), "entries": []}
    for architecture in architectures:
        first = jobs[(architecture, protocol.seeds[0])]
        payload["entries"].append({
            "parameters": first["parameters"],
            "flops": first["flops"],
            "latency_ms": round(first["latency_ms"], 4),
            # per seed: per epoch [train loss, val accuracy, test accuracy, training seconds]
            "curves": [_padded(jobs[(architecture, seed)]["curve"], protocol.epochs) for seed in protocol.seeds],
        })
    provenance = {
        "format": FORMAT,
        "protocol": protocol.to_dict(),
        "machine": machine_description(),
        "build_seconds": round(seconds, 1),  # wall time of all build sessions together
        "job_cpu_seconds": round(cpu_seconds, 1),  # CPU time of all jobs: the build on an idle machine

        "build_sessions": dates,
        "packed": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rebuild": "python -m nascourse bench build",
    }
    with gzip.open(final_path, "wt", encoding="utf-8") as file:
        json.dump({"provenance": provenance, "sha256": payload_digest(payload), "payload": payload}, file)
    return final_path
