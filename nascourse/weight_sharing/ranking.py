"""Does the supernet rank architectures like stand-alone training does? (Sciuto et al. 2020; FairNAS)

Survey Sec. 3.4: weight sharing assumes that a child's accuracy with inherited weights ranks it
like its accuracy after training alone; "the performance ranking of candidate network
architectures is extremely important". Sciuto et al. ("Evaluating the search phase of neural
architecture search", ICLR 2020) tested that assumption on a space with known stand-alone accuracies
and found the weight-sharing ranking barely better than random; FairNAS (Chu et al. 2021) measured
Kendall tau against NAS-Bench-201 and blamed unfair training. ``ranking_quality`` is that test on
the course benchmark: it trains a one-shot supernet, and at checkpoints scores a fixed sample of the
benchmark's cells with the shared weights, then compares with the benchmark's accuracy after its last
epoch:

* Kendall tau-b and Spearman rho between shared-weight and benchmark accuracy;
* the top-k hit rate: the share of the sample's k truly best cells that the supernet puts in its top k;
* the benchmark accuracy of the cell the supernet scores best (what a search would return; mean of all seeds).

One yardstick for every estimate: the *targets* are, for each seed s of the benchmark, the mean of its
other seeds (``seed_targets``). A stand-alone run (seed s) is scored against target s, which leaves out
its own run; the supernet, which is no run of the table, is scored against every target and the
agreements averaged, so both meet exactly the same four targets. ``standalone`` is that yardstick:
how well *one* full training run ranks the sample.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..bench.table import Benchmark
from ..stats import kendall_tau, spearman, top_k_hit_rate
from .spos import OneShotTrainer

__all__ = ["rank_agreement", "RankingQuality", "ranking_quality", "standalone_agreement", "seed_targets",
           "target_agreement"]


def rank_agreement(estimate, truth, top_k: int) -> dict[str, float]:
    """Kendall tau-b, Spearman rho (both in [-1, 1]) and the top-k hit rate (in [0, 1]) of ``estimate``
    against ``truth``, both shape (n,), higher is better."""
    return {"kendall": kendall_tau(estimate, truth), "spearman": spearman(estimate, truth),
            "top_k_hit_rate": top_k_hit_rate(estimate, truth, top_k)}


def _truth(benchmark: Benchmark) -> np.ndarray:
    """(A,): the benchmark's final validation accuracy, mean over the seeds that did not diverge."""
    final = benchmark.val_accuracy[:, :, -1]
    with np.errstate(all="ignore"):
        counts = np.isfinite(final).sum(axis=1)
        return np.where(counts > 0, np.nansum(final, axis=1) / np.maximum(counts, 1), np.nan)


def seed_targets(benchmark: Benchmark, rows: Sequence[int]) -> np.ndarray:
    """(seeds, n): target s is the mean final validation accuracy of the cells ``rows`` over every seed but s."""
    final = benchmark.val_accuracy[np.asarray(rows), :, -1]  # (n, seeds)
    seeds = final.shape[1]
    if seeds < 2:
        raise ValueError("The yardstick needs a benchmark with at least two seeds.")
    return np.stack([np.delete(final, s, axis=1).mean(axis=1) for s in range(seeds)])


def _mean_agreement(results: list[dict[str, float]]) -> dict[str, float]:
    return {key: float(np.mean([r[key] for r in results])) for key in results[0]}


def target_agreement(estimate, targets: np.ndarray, top_k: int) -> dict[str, float]:
    """``rank_agreement`` of an estimate that is no run of the table against each target (``seed_targets``), averaged."""
    return _mean_agreement([rank_agreement(estimate, target, top_k) for target in targets])


def standalone_agreement(benchmark: Benchmark, rows: Sequence[int], top_k: int) -> dict[str, float]:
    """The yardstick: one stand-alone run (the last epoch of seed s) against target s (the mean of the other
    seeds), over the cells ``rows``, averaged over the seeds (each seed in turn as "the run")."""
    final = benchmark.val_accuracy[np.asarray(rows), :, -1]  # (n, seeds)
    targets = seed_targets(benchmark, rows)
    return _mean_agreement([rank_agreement(final[:, s], targets[s], top_k) for s in range(len(targets))])


@dataclass
class RankingQuality:
    """Ranking quality of shared-weight accuracy at each checkpoint of supernet training.

    ``scores``: (checkpoints, n) shared-weight validation accuracy; ``truth``: (n,) benchmark accuracy (mean of
    all seeds); ``targets``: (seeds, n) the yardstick's targets (``seed_targets``); one entry per checkpoint in
    ``epochs`` (supernet epochs done), ``seconds`` (its training time so far on this machine), ``macs`` (its
    training compute so far, the unit to compare with the benchmark's trainings), ``scoring_macs`` (the compute
    of the trainer's scoring so far: recalibration and validation passes, this sample's included), ``kendall``,
    ``spearman``, ``top_k_hit_rate`` (each averaged over the targets), ``selected_accuracy``.
    """

    architectures: list[str]
    truth: np.ndarray
    epochs: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    macs: list[float] = field(default_factory=list)
    scoring_macs: list[float] = field(default_factory=list)
    targets: np.ndarray | None = None
    scores: list[np.ndarray] = field(default_factory=list)
    kendall: list[float] = field(default_factory=list)
    spearman: list[float] = field(default_factory=list)
    top_k_hit_rate: list[float] = field(default_factory=list)
    selected_accuracy: list[float] = field(default_factory=list)
    top_k: int = 10
    standalone: dict[str, float] = field(default_factory=dict)  # the one-run yardstick

    @property
    def best_accuracy(self) -> float:
        """The best benchmark accuracy in the sample: what a perfect ranking would select."""
        return float(np.max(self.truth))

    def table(self) -> str:
        n = len(self.architectures)
        lines = [f"shared-weight ranking of {n} cells vs the benchmark, each seed's target the mean of the other seeds "
                 f"(top-{self.top_k}; random hit rate "
                 f"{self.top_k / n:.2f}; best in sample {self.best_accuracy:.3f})",
                 f"{'epochs':>6} {'seconds':>8} {'Kendall':>8} {'Spearman':>9} {'top-k hit':>9} {'selected':>9}"]
        for k in range(len(self.epochs)):
            lines.append(f"{self.epochs[k]:>6.1f} {self.seconds[k]:>8.1f} {self.kendall[k]:>8.3f} {self.spearman[k]:>9.3f} "
                         f"{self.top_k_hit_rate[k]:>9.2f} {self.selected_accuracy[k]:>9.3f}")
        if self.standalone:
            s = self.standalone
            lines.append(f"one stand-alone run (3 epochs, per seed vs the other seeds): Kendall {s['kendall']:.3f}, "
                         f"Spearman {s['spearman']:.3f}, top-k hit {s['top_k_hit_rate']:.2f}")
        return "\n".join(lines)


def _check_compatible(trainer: OneShotTrainer, benchmark: Benchmark) -> None:
    protocol, net = benchmark.protocol, trainer.supernet
    ours = (trainer.data.name, net.operations, net.channels, net.cells_per_stage)
    theirs = (protocol.dataset, tuple(protocol.operations), protocol.channels, protocol.cells_per_stage)
    if ours != theirs:
        raise ValueError(f"The supernet (dataset, operations, channels, cells per stage) = {ours} does not match the "
                         f"benchmark's {theirs}: its accuracies would not be ground truth for these paths.")


def ranking_quality(trainer: OneShotTrainer, benchmark: Benchmark, architectures: int | Sequence[Any] = 100,
                    checkpoints: Sequence[float] = (1, 2, 4, 8), top_k: int | None = None, sample_seed: int = 0,
                    recalibrate: bool = True) -> RankingQuality:
    """Train ``trainer``'s supernet up to each checkpoint (in epochs; 0 = untrained) and measure its ranking.

    ``architectures``: a number of the benchmark's cells to draw at random (with ``sample_seed``; cells
    whose every benchmark run diverged are left out), or a list of architectures. ``top_k`` defaults to
    a tenth of the sample. ``recalibrate=False`` scores with the running BatchNorm statistics instead.
    Checkpoints must increase, start at or after the trainer's progress and end within its planned epochs.
    """
    _check_compatible(trainer, benchmark)
    truth_all = _truth(benchmark)
    if isinstance(architectures, (int, np.integer)) and not isinstance(architectures, bool):
        candidates = [row for row in range(len(benchmark)) if np.isfinite(truth_all[row])]
        if not 2 <= architectures <= len(candidates):
            raise ValueError(f"Sample between 2 and {len(candidates)} architectures, got {architectures}.")
        rows = sorted(random.Random(sample_seed).sample(candidates, int(architectures)))
    else:
        rows = [benchmark.row(a) for a in architectures]
        if len(rows) < 2 or len(set(rows)) != len(rows):
            raise ValueError("Give at least two architectures, no two of them equivalent (the same benchmark row).")
        if not np.isfinite(truth_all[rows]).all():
            raise ValueError("Some of the given architectures diverged in every benchmark run: they have no accuracy.")
    top_k = max(1, len(rows) // 10) if top_k is None else top_k
    checkpoints = [float(c) for c in checkpoints]
    if not checkpoints or any(b <= a for a, b in zip(checkpoints, checkpoints[1:])):
        raise ValueError(f"checkpoints must be a non-empty increasing sequence of epochs, got {checkpoints}.")
    if checkpoints[0] < trainer.epochs_done - 1e-9 or checkpoints[-1] > trainer.epochs:
        raise ValueError(f"checkpoints must lie between the trainer's progress ({trainer.epochs_done:.2f} epochs) and "
                         f"its planned {trainer.epochs} epochs; got {checkpoints}.")
    names = [benchmark.architectures[row] for row in rows]
    result = RankingQuality(names, truth_all[rows], top_k=top_k, targets=seed_targets(benchmark, rows),
                            standalone=standalone_agreement(benchmark, rows, top_k))
    for checkpoint in checkpoints:
        trainer.train_until(checkpoint)
        scores = np.array([trainer.score(name, recalibrate=recalibrate) for name in names])
        agreement = target_agreement(scores, result.targets, top_k)
        result.epochs.append(trainer.epochs_done)
        result.seconds.append(trainer.seconds)
        result.macs.append(trainer.macs)
        result.scoring_macs.append(trainer.scoring_macs)
        result.scores.append(scores)
        result.kendall.append(agreement["kendall"])
        result.spearman.append(agreement["spearman"])
        result.top_k_hit_rate.append(agreement["top_k_hit_rate"])
        result.selected_accuracy.append(float(result.truth[int(np.argmax(scores))]))
    return result
