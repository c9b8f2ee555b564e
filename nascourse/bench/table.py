"""The benchmark table: a compact file, checked on load, queried by architecture in microseconds.

The file is gzip-compressed JSON: a provenance record (protocol, library versions, machine,
build time, date), a SHA-256 of the payload, and the payload: per unique architecture its
parameters, multiply-accumulates, CPU latency, and per seed and epoch the training loss,
validation and test accuracy, and training seconds.

``BenchmarkEvaluator`` plugs the table into the NAS loop: a strategy runs on it exactly as it
runs with real training, and the cost it reports is the training time the table recorded.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..compute import TRAINING_FACTOR
from ..data import default_data_root, load_dataset
from ..loop import EvaluationResult
from ..stats import spearman
from .build import FORMAT, Protocol, payload_digest

__all__ = ["BenchmarkError", "Benchmark", "BenchmarkEvaluator", "BenchmarkRecord", "default_path"]


class BenchmarkError(RuntimeError):
    """A benchmark file that is missing, corrupted, or not what the caller expects."""


FILE_NAME = "cell201-digits.json.gz"


def default_path() -> Path:
    """The benchmark the course ships: ``data/bench/`` of the course, else under ``$NASCOURSE_DATA``."""
    shipped = Path(__file__).resolve().parents[2] / "data" / "bench" / FILE_NAME
    return shipped if shipped.exists() else default_data_root() / "bench" / FILE_NAME


@dataclass
class BenchmarkRecord:
    """What the table says about one architecture, for one seed, after ``epoch`` epochs."""

    architecture: str  # the canonical form
    epoch: int
    seed: int
    train_loss: float
    val_accuracy: float
    test_accuracy: float
    train_seconds: float  # simulated cost: training time recorded to reach this epoch
    parameters: int
    flops: int
    latency_ms: float


class Benchmark:
    """A loaded benchmark table. Look up any architecture, in any equivalent form, at any epoch."""

    def __init__(self, provenance: dict, payload: dict):
        self.provenance = provenance
        self.protocol = Protocol.from_dict(provenance["protocol"])
        self.space = self.protocol.space()
        self.architectures: list[str] = payload["architectures"]
        self.seeds: list[int] = payload["seeds"]
        entries = payload["entries"]
        curves = np.array([entry["curves"] for entry in entries], dtype=np.float64)  # (A, S, E, 4)
        self.train_loss, self.val_accuracy, self.test_accuracy, self.train_seconds = np.moveaxis(curves, -1, 0)
        self.parameters = np.array([entry["parameters"] for entry in entries])
        self.flops = np.array([entry["flops"] for entry in entries])
        self.latency_ms = np.array([entry["latency_ms"] for entry in entries])
        row_of_canonical = {text: row for row, text in enumerate(self.architectures)}
        # every raw architecture of the space -> the row of its canonical form
        self._row = {str(a): row_of_canonical[str(self.space.canonical(a))] for a in self.space.enumerate()}

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Benchmark":
        path = Path(path) if path is not None else default_path()
        if not path.exists():
            raise BenchmarkError(
                f"No benchmark file at {path}. The course ships one in data/bench/; rebuild it with "
                "`python -m nascourse bench build` (about two hours on 2 cores)."
            )
        try:
            with gzip.open(path, "rt", encoding="utf-8") as file:
                content = json.load(file)
            provenance, digest, payload = content["provenance"], content["sha256"], content["payload"]
        except (OSError, EOFError, json.JSONDecodeError, KeyError, TypeError) as error:
            raise BenchmarkError(f"{path} is not a readable benchmark file ({error}); rebuild it.") from None
        if provenance.get("format") != FORMAT:
            raise BenchmarkError(f"{path} has format {provenance.get('format')!r}; this library reads {FORMAT!r}.")
        if payload_digest(payload) != digest:
            raise BenchmarkError(f"{path} is corrupted: its checksum does not match its content. Rebuild it.")
        return cls(provenance, payload)

    def __len__(self) -> int:
        return len(self.architectures)

    def __repr__(self) -> str:
        return (f"Benchmark({len(self)} unique architectures of {len(self._row):,}, {len(self.seeds)} seeds, "
                f"{self.protocol.epochs} epochs on {self.protocol.dataset})")

    def row(self, architecture: Any) -> int:
        """The table row of ``architecture`` (an architecture or its string, in any equivalent form)."""
        text = str(architecture)
        if text not in self._row:
            text = str(self.space.decode(text))  # clear error for a malformed string
        return self._row[text]

    def query(self, architecture: Any, epoch: int | None = None, seed: int | None = None) -> BenchmarkRecord:
        """The recorded result after ``epoch`` epochs (default: the last) for ``seed`` (default: the first)."""
        row = self.row(architecture)
        epochs = self.protocol.epochs
        epoch = epochs if epoch is None else epoch
        if not 1 <= epoch <= epochs:
            raise ValueError(f"epoch must lie in 1..{epochs}, got {epoch}.")
        seed = self.seeds[0] if seed is None else seed
        if seed not in self.seeds:
            raise ValueError(f"The benchmark trained seeds {self.seeds}; got seed {seed}.")
        s, e = self.seeds.index(seed), epoch - 1
        return BenchmarkRecord(
            self.architectures[row], epoch, seed, float(self.train_loss[row, s, e]),
            float(self.val_accuracy[row, s, e]), float(self.test_accuracy[row, s, e]),
            float(self.train_seconds[row, s, e]), int(self.parameters[row]), int(self.flops[row]),
            float(self.latency_ms[row]),
        )

    def final_validation(self, seed_index: int | None = None) -> np.ndarray:
        """Validation accuracy after the last epoch: (A,) for one seed, mean over seeds if None."""
        last = self.val_accuracy[:, :, -1]
        return last.mean(axis=1) if seed_index is None else last[:, seed_index]

    def seed_spearman(self, epoch: int | None = None) -> float:
        """How well one training run ranks the cells like another: Spearman rank correlation of
        validation accuracy between two seeds, averaged over every pair of seeds."""
        e = (epoch or self.protocol.epochs) - 1
        pairs = list(itertools.combinations(range(len(self.seeds)), 2))
        return float(np.mean([spearman(self.val_accuracy[:, a, e], self.val_accuracy[:, b, e]) for a, b in pairs]))

    def split_half_spearman(self, epoch: int | None = None) -> float:
        """How reliable the table's *mean* over seeds is: Spearman between the mean of the first half
        of the seeds and the mean of the second half (needs at least two seeds)."""
        e = (epoch or self.protocol.epochs) - 1
        half = len(self.seeds) // 2
        first, second = self.val_accuracy[:, :half, e].mean(axis=1), self.val_accuracy[:, half:2 * half, e].mean(axis=1)
        return spearman(first, second)

    def summary(self) -> str:
        final = self.final_validation()
        return (
            f"{self!r}\nvalidation accuracy (mean over seeds): best {final.max():.3f}, median {np.median(final):.3f}, "
            f"worst {final.min():.3f}\nseed-to-seed Spearman: {self.seed_spearman():.3f} (one run against another); "
            f"{self.split_half_spearman():.3f} (mean of {len(self.seeds) // 2} seeds against the other "
            f"{len(self.seeds) // 2})\n"
            f"build: {self.provenance['build_seconds'] / 3600:.2f} h wall on {self.provenance['machine']['cores']} "
            f"cores; {self.provenance.get('job_cpu_seconds', 0) / 3600:.2f} CPU-hours of training jobs"
        )

    def returned_accuracy(self, history, budget_seconds: float | None = None, split: str = "val") -> float:
        """What a search is worth: the table's final accuracy (mean over seeds) of the architecture it would
        return — its best by validation among the trials finished within ``budget_seconds`` (default: all).

        A search sees one noisy training run per candidate; this scores the cell it hands over, not the
        luckiest run it saw."""
        if split not in ("val", "test"):
            raise ValueError(f"split must be 'val' or 'test', got {split!r}.")
        seen = [t for t in history if t.ok and (budget_seconds is None or t.cumulative_seconds <= budget_seconds)]
        if not seen:
            raise ValueError("No successful trial finished within the budget; give a larger budget_seconds.")
        return self.mean_accuracy(max(seen, key=lambda t: t.accuracy).architecture, split)

    def mean_accuracy(self, architecture: Any, split: str = "val") -> float:
        """The table's final accuracy of ``architecture`` (any equivalent form), mean over its training seeds:
        what the cell is worth, as opposed to one noisy run of it."""
        if split not in ("val", "test"):
            raise ValueError(f"split must be 'val' or 'test', got {split!r}.")
        table = self.val_accuracy if split == "val" else self.test_accuracy
        return float(np.nanmean(table[self.row(architecture), :, -1]))

    def returned_on_grid(self, histories, grid, split: str = "test") -> np.ndarray:
        """(searches, len(grid)): ``returned_accuracy`` of each history at each budget in ``grid``; NaN where a
        search had finished no trial yet. (Chapter 06's ``compare.returned_on_grid`` does it for any search.)"""
        values = np.full((len(histories), len(grid)), np.nan)
        for i, history in enumerate(histories):
            for j, budget in enumerate(grid):
                if any(t.ok and t.cumulative_seconds <= budget for t in history):
                    values[i, j] = self.returned_accuracy(history, budget, split)
        return values

    # ---------------------------------------------------------------------------------- cost
    @property
    def training_images(self) -> int:
        """Images in the training split every cell of the table was trained on."""
        if not hasattr(self, "_training_images"):
            self._training_images = len(load_dataset(self.protocol.dataset, split_seed=self.protocol.split_seed).train)
        return self._training_images

    @property
    def seconds_per_mac(self) -> float:
        """The build machine's training speed: its recorded training seconds over the MACs those trainings did
        (``TRAINING_FACTOR`` x one forward pass per image, per epoch), over every cell and seed of the table."""
        if not hasattr(self, "_seconds_per_mac"):
            finished = np.isfinite(self.val_accuracy[:, :, -1])  # a diverged run stopped early
            macs = TRAINING_FACTOR * self.flops[:, None] * self.training_images * self.protocol.epochs
            self._seconds_per_mac = float(self.train_seconds[:, :, -1][finished].sum()
                                          / np.broadcast_to(macs, finished.shape)[finished].sum())
        return self._seconds_per_mac

    def seconds_for(self, macs: float) -> float:
        """Training seconds of the table's unit for a computation of ``macs`` multiply-accumulates done anywhere:
        what it would have cost at the build machine's speed. Charge a search that trains here (a supernet,
        ENAS) with this, never with the seconds it took on your machine, and it costs the same on every
        machine as the table's lookups do."""
        if not macs >= 0:
            raise ValueError(f"macs must be a non-negative count, got {macs!r}.")
        return float(macs) * self.seconds_per_mac

    def evaluator(self, epochs: int | None = None, seed: int | None = None, average: int = 1) -> "BenchmarkEvaluator":
        return BenchmarkEvaluator(self, epochs, seed, average=average)


class BenchmarkEvaluator:
    """Evaluate by lookup: the same result record as training, with the recorded training time as cost.

    ``seed=None`` draws one of the trained seeds per query (from its own generator), as a fresh
    training run would land on one of them; a fixed seed makes every lookup deterministic.

    ``average`` is the search signal's noise knob: the number of training runs (distinct seeds of the table, drawn
    per query) whose validation accuracies are averaged into the one accuracy the strategy sees. 1 is one training
    run, as a search that trains each candidate once sees it; ``len(benchmark.seeds)`` is the table's mean, free of
    seed noise. Averaging k runs costs k trainings: the cost is the sum of their recorded seconds.
    """

    def __init__(self, benchmark: Benchmark, epochs: int | None = None, seed: int | None = None, rng_seed: int = 0,
                 average: int = 1):
        if not isinstance(average, int) or not 1 <= average <= len(benchmark.seeds):
            raise ValueError(f"average must be a whole number of training runs between 1 and the table's "
                             f"{len(benchmark.seeds)} seeds, got {average!r}.")
        if seed is not None and average > 1:
            raise ValueError("A fixed seed gives one training run; average several runs with seed=None.")
        self.benchmark = benchmark
        self.epochs = epochs or benchmark.protocol.epochs
        self.seed = seed
        self.average = average
        self.rng = random.Random(rng_seed)

    def _seeds(self) -> list[int]:
        if self.seed is not None:
            return [self.seed]
        if self.average == 1:
            return [self.rng.choice(self.benchmark.seeds)]
        return self.rng.sample(self.benchmark.seeds, self.average)

    def __call__(self, architecture: Any) -> EvaluationResult:
        bench = self.benchmark
        row, e = bench.row(architecture), self.epochs - 1
        columns = [bench.seeds.index(seed) for seed in self._seeds()]
        with np.errstate(all="ignore"):  # a diverged run is NaN: the mean of the runs is NaN too
            curve = [
                {"epoch": k + 1, "train_loss": float(np.mean(bench.train_loss[row, columns, k])),
                 "val_accuracy": float(np.mean(bench.val_accuracy[row, columns, k])),
                 "seconds": float(np.sum(bench.train_seconds[row, columns, k]))}
                for k in range(self.epochs)
            ]
        accuracy = curve[e]["val_accuracy"] if math.isfinite(curve[e]["val_accuracy"]) else math.nan
        return EvaluationResult(accuracy, curve[e]["seconds"], float(self.epochs * len(columns)),
                                int(bench.parameters[row]), curve=curve)
