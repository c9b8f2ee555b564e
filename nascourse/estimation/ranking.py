"""How well does a cheap estimate rank architectures like the expensive truth? (survey Sec. 3.4)

Every shortcut of Sec. 3.4 — shared weights, a few epochs instead of convergence, a predicted
learning curve, a training-free score — replaces a candidate's real accuracy by an estimate.
A search only needs the estimate to *order* candidates correctly ("the performance ranking of
candidate network architectures is extremely important", survey Sec. 3.4), so the quality of
an estimator is measured with rank statistics:

* Spearman's rho: the Pearson correlation of the ranks;
* Kendall's tau-b: over all pairs of architectures, (concordant - discordant) pairs, normalised
  so that ties in either list are handled (Kendall 1945), as ``scipy.stats.kendalltau`` does;
* the top-k hit rate: of the truly best k architectures, the share that the estimate also puts
  in its top k (what a search that keeps only its k best candidates cares about).

The three are computed in ``nascourse.stats`` and re-exported here, beside what this chapter does with them.

``rank_consistency`` applies them to the benchmark's learning curves: how well does the
accuracy after epoch k rank the cells like the final accuracy? MdeNAS (Zheng et al., 2019)
observed that this early ranking is already consistent with the final one, which is what
makes early stopping and successive halving work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bench.table import Benchmark
from ..stats import kendall_tau, spearman, top_k_hit_rate

__all__ = ["kendall_tau", "spearman", "top_k_hit_rate", "RankConsistency", "rank_consistency"]


@dataclass
class RankConsistency:
    """Rank correlation between the accuracy after each epoch and the final accuracy.

    ``spearman`` and ``kendall`` have shape (seeds, epochs): entry [s, k-1] compares the
    accuracy after epoch k of seed s with the target. ``target`` says what "final" is:
    "same_seed" (the last epoch of the same run, so the last column is 1 by construction) or
    "mean" (the mean over seeds of the last epoch: a less noisy truth, so the last column
    shows how well one full run ranks like the average of all runs, the ceiling any cheap
    estimate is up against)."""

    epochs: np.ndarray  # (epochs,): 1..E
    spearman: np.ndarray  # (seeds, epochs)
    kendall: np.ndarray  # (seeds, epochs)
    split: str
    target: str

    @property
    def mean_spearman(self) -> np.ndarray:
        """(epochs,): averaged over seeds."""
        return self.spearman.mean(axis=0)

    @property
    def mean_kendall(self) -> np.ndarray:
        """(epochs,): averaged over seeds."""
        return self.kendall.mean(axis=0)

    def table(self) -> str:
        lines = [f"rank consistency ({self.split} accuracy at epoch k vs {self.target} final), "
                 f"mean over {self.spearman.shape[0]} seeds [min, max]",
                 f"{'epoch':>5} {'Spearman':>9} {'range':>15} {'Kendall':>8} {'range':>15}"]
        for k in range(len(self.epochs)):
            s, t = self.spearman[:, k], self.kendall[:, k]
            lines.append(f"{self.epochs[k]:>5} {s.mean():>9.3f} {f'[{s.min():.3f}, {s.max():.3f}]':>15} "
                         f"{t.mean():>8.3f} {f'[{t.min():.3f}, {t.max():.3f}]':>15}")
        return "\n".join(lines)


def rank_consistency(bench: Benchmark, split: str = "val", target: str = "same_seed") -> RankConsistency:
    """MdeNAS's observation measured on the benchmark: for every epoch k and seed, Spearman and
    Kendall between the accuracy after epoch k and the final accuracy, over all the table's cells.

    ``target``: ``"same_seed"``, the final epoch of the same run (epoch 3 agrees with itself by construction);
    ``"other_seeds"``, the mean final accuracy of the *other* training seeds, a truth that shares no run with the
    estimate, so agreement with it is earned at every epoch; ``"mean"``, the mean over all seeds (the run
    itself included, which flatters the late epochs).
    Cells with a NaN in either list (a diverged run) are left out of that comparison.
    """
    if split not in ("val", "test"):
        raise ValueError(f"split must be 'val' or 'test', got {split!r}.")
    if target not in ("same_seed", "other_seeds", "mean"):
        raise ValueError(f"target must be 'same_seed', 'other_seeds' or 'mean', got {target!r}.")
    accuracy = bench.val_accuracy if split == "val" else bench.test_accuracy  # (A, S, E)
    _, seeds, epochs = accuracy.shape
    mean_final = accuracy[:, :, -1].mean(axis=1)
    rho, tau = np.empty((seeds, epochs)), np.empty((seeds, epochs))
    for s in range(seeds):
        if target == "same_seed":
            final = accuracy[:, s, -1]
        elif target == "other_seeds":
            final = np.delete(accuracy[:, :, -1], s, axis=1).mean(axis=1)
        else:
            final = mean_final
        for e in range(epochs):
            early = accuracy[:, s, e]
            keep = np.isfinite(early) & np.isfinite(final)
            rho[s, e] = spearman(early[keep], final[keep])
            tau[s, e] = kendall_tau(early[keep], final[keep])
    return RankConsistency(np.arange(1, epochs + 1), rho, tau, split, target)
