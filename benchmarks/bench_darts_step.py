"""How much faster is the library's DARTS search step than a literal transcription of the DARTS code?

One first-order DARTS search step (Algorithm 1 for one pair of batches): an architecture step on a
validation batch, then a weight step on a training batch. Two versions of the same network
(``Supernet`` and ``LiteralSupernet`` with identical weights and alpha; the unit test
``tests/test_relaxation_speed_path.py`` checks they compute the same logits and gradients):

(a) **literal**: ``LiteralSupernet`` (every operation on every edge, a Python loop over them),
    stepped the way the DARTS code steps it: architecture step ``loss.backward()`` on everything
    (the weights' gradients too, which are then thrown away) and an Adam step; weight step
    ``zero_grad``, ``backward``, gradient clipping at norm 5 and an SGD step.
(b) **library**: ``Supernet`` (parameter-free operations computed once per node, ``none`` skipped)
    stepped by ``nascourse.relaxation.search.search_step`` (the architecture step asks autograd for
    alpha's gradient only), with ``fast=False`` so that on CUDA both run in float32 as well: this script
    compares the supernets; ``benchmarks/bench_steps.py`` measures the fast path (bfloat16, fused).

Setting: C = 8, 5 cells, 4 nodes, 16x16 single-channel random images, batch 64, 10 classes, float32.
The two are timed interleaved (a, b, a, b, ... one step each per round, after one untimed warm-up
step each) so that a slow spell of a shared machine hits both; the script reports the medians.

Run::

    python benchmarks/bench_darts_step.py                    # CPU, 1 thread, 5 rounds
    python benchmarks/bench_darts_step.py --threads 2 --rounds 9
    python benchmarks/bench_darts_step.py --device cuda

Measured on 2026-11-29, 2-core CPU shared with other jobs (load average 3-4), torch 2.14.1, 1 thread,
7 rounds: literal 9.96 s/step (0.100 steps/s), library 4.98 s/step (0.201 steps/s): 2.00x. Another
run under heavier load: 14.69 vs 8.07 s/step, 1.82x. Before the supernet ran channels-last on the
CPU (sharing and skipping ``none`` only), 3 rounds: 8.24 vs 5.61 s/step, 1.47x.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from nascourse.relaxation import Supernet
from nascourse.relaxation.literal import LiteralSupernet
from nascourse.relaxation.search import search_step

Batch = tuple[torch.Tensor, torch.Tensor]


def _optimizers(model: nn.Module) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """DARTS's optimisers: SGD with momentum for the weights, Adam for alpha."""
    weights = torch.optim.SGD(model.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    alphas = torch.optim.Adam(model.arch_parameters(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    return weights, alphas


def literal_step(model: nn.Module, train_batch: Batch, val_batch: Batch, weight_optimizer: torch.optim.Optimizer,
                 arch_optimizer: torch.optim.Optimizer) -> None:
    """One step the way the DARTS code takes it (first order)."""
    arch_optimizer.zero_grad()
    x, y = val_batch
    F.cross_entropy(model(x), y).backward()  # gradients of every parameter, though only alpha's are used
    arch_optimizer.step()
    x, y = train_batch
    weight_optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    nn.utils.clip_grad_norm_(model.weight_parameters(), 5.0)
    weight_optimizer.step()


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps (default: cpu)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument("--rounds", type=int, default=5, help="timed steps of each version, interleaved (default: 5)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.threads < 1:
        parser.error("--rounds and --threads must be positive")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    torch.manual_seed(0)
    shape, classes = (1, 16, 16), 10
    library = Supernet(shape, classes, cells=5, channels=8, method="darts").to(device)
    literal = LiteralSupernet(shape, classes, cells=5, channels=8).to(device).copy_from(library)
    batches = [(torch.randn(args.batch_size, *shape, device=device),
                torch.randint(0, classes, (args.batch_size,), device=device)) for _ in range(2)]
    train_batch, val_batch = batches
    steps = {
        "literal": (literal, *_optimizers(literal)),
        "library": (library, *_optimizers(library)),
    }

    def run(name: str) -> float:
        model, weight_optimizer, arch_optimizer = steps[name]
        _synchronize(device)
        started = time.perf_counter()
        if name == "literal":
            literal_step(model, train_batch, val_batch, weight_optimizer, arch_optimizer)
        else:
            search_step(model, train_batch, val_batch, weight_optimizer, arch_optimizer, order=1, fast=False)
        _synchronize(device)
        return time.perf_counter() - started

    for name in steps:  # warm-up: optimiser state, allocator, kernel selection
        run(name)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name in steps:
            times[name].append(run(name))

    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} thread(s), "
          f"{args.rounds} interleaved rounds, batch {args.batch_size}, C=8, 5 cells, 16x16x1 input")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(f"{name:8s} median {medians[name]:.3f} s/step = {1 / medians[name]:.3f} steps/s   "
              f"(all: {', '.join(f'{v:.2f}' for v in values)})")
    ratio = medians["literal"] / medians["library"]
    print(f"speed-up of the library over the literal version: {ratio:.2f}x")
    return {"literal": medians["literal"], "library": medians["library"], "ratio": ratio}


if __name__ == "__main__":
    main()
