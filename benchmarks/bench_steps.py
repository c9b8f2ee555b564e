"""Throughput and peak memory of the fast path against the plain eager float32 baseline, per device.

Four workloads, each timed in two modes of the same code, interleaved in the same run:

* **DARTS (1st order)**, **GDAS**, **PC-DARTS** search steps at DARTS's CIFAR-10 search setting: a
  ``Supernet`` of 8 cells, C = 16, 4 nodes, the 8 DARTS operations, 3x32x32 inputs, 10 classes, batch 64.
  One step is Algorithm 1 for one pair of batches (``nascourse.relaxation.search.search_step``): an
  architecture step on a batch of the alpha half, then a weight step on a batch of the weight half;
  the optimisers are ``search_optimizers`` (SGD with momentum, Adam for alpha). (PC-DARTS's paper
  searches with batch 256; 64 here keeps the three methods comparable.)
* **final training** of the DARTS-V2 cell (``nascourse.spaces.darts_published.genotype("DARTS (2nd order)")``) in
  DARTS's evaluation network: 20 cells, C = 36, auxiliary head (weight 0.4), drop-path 0.2, batch 96,
  one ``nascourse.final_training.training_step`` with the optimiser of ``make_optimizer``.

Batches come from random CIFAR-sized images held on the device and go through the library's batching
with on-device augmentation (crop and flip; Cutout 16 for the final training), as a real run's do.
On the CPU the default batches are 8 (search) and 12 (final training), with the paper's networks and
images: at batch 64 one DARTS search step takes about a minute on a 2-core CPU, so the paper's batches
would not fit a 10-minute run; ``--search-batch 64 --final-batch 96`` measures them anyway.

Modes:

* **eager**: ``fast=False``: float32, NCHW layout, for-each (unfused) optimisers. On the CPU the
  search supernet's own channels-last layout (``Supernet.channels_last_on_cpu``, part of the library's
  CPU path in both modes of ``relaxation_search``) is switched off for this row, so that every eager row
  is the plain NCHW float32 baseline and the CPU speed-up shows what the CPU path's layout buys.
* **fast**: ``fast=True``, the library's default: on CUDA bfloat16 autocast, channels-last, fused
  optimisers (``nascourse.train.fast_path``); on the CPU channels-last, float32.

Per workload, one untimed warm-up step per mode (three on CUDA), then ``--rounds`` rounds; a round times
``--steps`` steps of each mode, the order of the two modes alternating from round to round, so that a
slow spell of a shared machine hits both. The table gives the median round. images/s counts the images
of the weight step's batch (a search step also runs an equally large validation batch): an epoch over
DARTS's 25,000-image weight half takes 25,000 / (images/s) seconds. Peak memory is one step's working
memory, measured the same way on every device (``nascourse.relaxation.cost.step_peak_bytes``): the peak
of the bytes allocated during the step above what was allocated when it began (CUDA: allocator
statistics; CPU: the profiler's memory events).

Run (from the repository root)::

    python benchmarks/bench_steps.py                      # every device present, 1 CPU thread
    python benchmarks/bench_steps.py --device cpu --rounds 5 --steps 1 --json cpu.json
    python benchmarks/bench_steps.py --device cpu --search-batch 64 --final-batch 96   # slow: ~1 min a step
    python benchmarks/bench_steps.py --device cuda --rounds 5 --steps 20 --json cuda.json
    python benchmarks/bench_steps.py --quick              # tiny sizes: a smoke run of a few seconds

Measured figures: ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere: the course library is the one next to it
    sys.path.insert(0, str(ROOT))

from nascourse.data import Split, iterate_batches  # noqa: E402
from nascourse.final_training import (FinalTrainingConfig, build_final_network, make_optimizer,  # noqa: E402
                                      training_step)
from nascourse.spaces.darts_published import genotype  # noqa: E402
from nascourse.relaxation import Supernet  # noqa: E402
from nascourse.relaxation.cost import step_peak_bytes  # noqa: E402
from nascourse.relaxation.search import SearchConfig, search_optimizers, search_step  # noqa: E402
from nascourse.train import fast_path  # noqa: E402

WORKLOADS = {
    "darts": "DARTS (1st order) search step",
    "gdas": "GDAS search step",
    "pcdarts": "PC-DARTS search step",
    "final": "final training step (DARTS-V2)",
}
MODES = ("eager", "fast")
FINAL_GENOTYPE = "DARTS (2nd order)"  # DARTS_V2 of the DARTS code


@dataclass(frozen=True)
class Sizes:
    """The sizes of the workloads: the paper's setting, or a tiny one for a smoke run."""

    image: tuple[int, int, int] = (3, 32, 32)
    classes: int = 10
    search_cells: int = 8
    search_channels: int = 16
    search_nodes: int = 4
    search_batch: int = 64
    final_cells: int = 20
    final_channels: int = 36
    final_batch: int = 96
    cutout: int = 16


PAPER = Sizes()
# On a CPU a search step at batch 64 takes about a minute (measured: benchmarks/RESULTS.md), so the CPU's
# default keeps the paper's networks and images but takes smaller batches; --search-batch/--final-batch
# set them (e.g. 64 and 96 for the paper's batches on a CPU too).
CPU_BATCHES = {"search_batch": 8, "final_batch": 12}
QUICK = Sizes(image=(3, 16, 16), search_cells=3, search_channels=4, search_nodes=2, search_batch=8, final_cells=3,
              final_channels=4, final_batch=8, cutout=4)


@dataclass
class Row:
    """One line of the table: a workload in one mode on one device."""

    device: str
    workload: str
    mode: str
    batch: int
    images_per_second: float  # median round
    seconds_per_step: float  # median round
    peak_mib: float | None  # one step's working memory
    speedup: float  # images/s over the eager row of the same workload and device
    rounds: list[float]  # seconds per step of every round


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _endless_batches(images: int, sizes: Sizes, batch: int, device: torch.device, seed: int,
                     cutout: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of random CIFAR-sized images held on ``device``, shuffled and augmented there, forever."""
    maker = torch.Generator().manual_seed(seed)
    split = Split(torch.randn(images, *sizes.image, generator=maker).to(device),
                  torch.randint(0, sizes.classes, (images,), generator=maker).to(device))
    generator = torch.Generator(device=device).manual_seed(seed)
    while True:
        yield from iterate_batches(split, batch, generator=generator, augment=True, cutout=cutout)


def build_step(workload: str, mode: str, device: torch.device,
               sizes: Sizes = PAPER) -> tuple[Callable[[], object], Callable[[], None], int]:
    """``(step, release_gradients, batch)`` for one workload in one mode; the same initial weights in both modes."""
    fast = mode == "fast"
    torch.manual_seed(0)
    if workload == "final":
        config = FinalTrainingConfig(cells=sizes.final_cells, channels=sizes.final_channels,
                                     batch_size=sizes.final_batch, cutout=sizes.cutout)
        model = build_final_network(genotype(FINAL_GENOTYPE), sizes.image, sizes.classes, config)
        model.drop_path_probability = config.drop_path  # the value DARTS reaches at the end of training
        model.train()
        optimizer, _ = make_optimizer(model, config, steps=1, device=device, fast=fast)
        batches = _endless_batches(4 * config.batch_size, sizes, config.batch_size, device, seed=1,
                                   cutout=config.cutout)

        def step() -> object:
            x, y = next(batches)
            return training_step(model, optimizer, x, y, auxiliary_weight=config.auxiliary_weight, fast=fast,
                                 grad_clip=config.grad_clip)

        return step, lambda: optimizer.zero_grad(set_to_none=True), config.batch_size

    supernet = Supernet(sizes.image, sizes.classes, cells=sizes.search_cells, channels=sizes.search_channels,
                        nodes=sizes.search_nodes, method=workload).to(device)
    if not fast:
        supernet.channels_last_on_cpu = False  # the plain NCHW baseline (see the module's docstring)
    fast_path(device, fast).prepare_model(supernet)
    config = SearchConfig(batch_size=sizes.search_batch)
    supernet.temperature = config.initial_temperature
    supernet.train()
    weight_optimizer, arch_optimizer = search_optimizers(supernet, config, fast)
    weight_half = _endless_batches(4 * config.batch_size, sizes, config.batch_size, device, seed=1)
    alpha_half = _endless_batches(4 * config.batch_size, sizes, config.batch_size, device, seed=2)

    def search() -> object:
        return search_step(supernet, next(weight_half), next(alpha_half), weight_optimizer, arch_optimizer,
                           order=1, xi=config.weight_lr, grad_clip=config.grad_clip, fast=fast)

    def release() -> None:
        weight_optimizer.zero_grad(set_to_none=True)
        arch_optimizer.zero_grad(set_to_none=True)

    return search, release, config.batch_size


def _time(step: Callable[[], object], steps: int, device: torch.device) -> float:
    """Seconds per step over ``steps`` consecutive steps."""
    _synchronize(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    _synchronize(device)
    return (time.perf_counter() - started) / steps


def measure(workload: str, device: torch.device, rounds: int, steps: int, sizes: Sizes = PAPER,
            deadline: float | None = None) -> list[Row]:
    """Both modes of one workload on one device, interleaved; rounds stop early (after the first) past ``deadline``
    (a ``time.perf_counter()`` value)."""
    built = {mode: build_step(workload, mode, device, sizes) for mode in MODES}
    warmup = 3 if device.type == "cuda" else 1
    for step, _, _ in built.values():  # optimiser state, allocator, kernel selection: not timed
        for _ in range(warmup):
            step()
    seconds: dict[str, list[float]] = {mode: [] for mode in MODES}
    for index in range(rounds):
        if index and deadline is not None and time.perf_counter() > deadline:
            break
        for mode in (MODES if index % 2 == 0 else MODES[::-1]):
            seconds[mode].append(_time(built[mode][0], steps, device))
    rows = []
    for mode in MODES:
        step, release, batch = built[mode]
        release()  # the measured step allocates its gradients, as a step of a real run does
        peak = step_peak_bytes(step, device)
        median = statistics.median(seconds[mode])
        rows.append(Row(device=str(device), workload=workload, mode=mode, batch=batch,
                        images_per_second=batch / median, seconds_per_step=median,
                        peak_mib=None if peak is None else peak / 2**20, speedup=1.0, rounds=seconds[mode]))
    rows[1].speedup = rows[1].images_per_second / rows[0].images_per_second
    del built
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        return f"{properties.name} ({properties.total_memory / 2**30:.0f} GiB)"
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {torch.get_num_threads()} torch thread(s)"


def describe_commit() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + (" with uncommitted changes" if dirty else "")


def format_table(rows: list[Row]) -> str:
    lines = [f"{'device':7s} {'workload':33s} {'mode':5s} {'batch':>5s} {'images/s':>9s} {'s/step':>8s} "
             f"{'peak MiB':>9s} {'speed-up':>8s}"]
    for row in rows:
        peak = "n/a" if row.peak_mib is None else f"{row.peak_mib:.0f}"
        speedup = f"{row.speedup:.2f}x" if row.mode == "fast" else "1.00x"
        lines.append(f"{row.device:7s} {WORKLOADS[row.workload]:33s} {row.mode:5s} {row.batch:5d} "
                     f"{row.images_per_second:9.1f} {row.seconds_per_step:8.3f} {peak:>9s} {speedup:>8s}")
    return "\n".join(lines)


def _devices(choice: str) -> list[torch.device]:
    if choice == "all":
        return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    device = torch.device(choice)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda was asked for, but torch sees no CUDA device here; use --device cpu.")
    return [device]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="all", help="cpu, cuda, cuda:1 or all (default: every device present)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timed rounds per mode (default: 5)")
    parser.add_argument("--steps", type=int, default=None,
                        help="steps per round (default: 1 on the CPU, 20 on CUDA)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"comma-separated subset of {','.join(WORKLOADS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run, not a measurement")
    parser.add_argument("--search-batch", type=int, default=None,
                        help=f"search steps' batch (default: 64 on CUDA, {CPU_BATCHES['search_batch']} on the CPU)")
    parser.add_argument("--final-batch", type=int, default=None,
                        help=f"final training's batch (default: 96 on CUDA, {CPU_BATCHES['final_batch']} on the CPU)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds; past it, workloads get one round and the rest are skipped")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    workloads = [name.strip() for name in args.workloads.split(",") if name.strip()]
    unknown = sorted(set(workloads) - set(WORKLOADS))
    if unknown or not workloads:
        parser.error(f"unknown workload(s) {unknown}; choose from {', '.join(WORKLOADS)}")
    if args.rounds < 1 or args.threads < 1 or any(value is not None and value < 1 for value in
                                                  (args.steps, args.search_batch, args.final_batch)):
        parser.error("--rounds, --steps, --threads and the batch sizes must be positive")
    torch.set_num_threads(args.threads)
    deadline = None if args.budget is None else time.perf_counter() + args.budget

    header = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "commit": describe_commit(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "rounds": args.rounds,
    }
    print(f"{header['date']}  commit {header['commit']}  torch {header['torch']}  python {header['python']}")
    rows: list[Row] = []
    devices = {}
    skipped = []
    for device in _devices(args.device):
        steps = args.steps or (20 if device.type == "cuda" else 1)
        sizes = QUICK if args.quick else PAPER if device.type == "cuda" else replace(PAPER, **CPU_BATCHES)
        sizes = replace(sizes, **{name: value for name, value in (("search_batch", args.search_batch),
                                                                  ("final_batch", args.final_batch)) if value})
        devices[str(device)] = {"description": describe_device(device), "steps_per_round": steps,
                                "sizes": asdict(sizes)}
        print(f"device {device}: {devices[str(device)]['description']}, {steps} step(s) per round, "
              f"{args.rounds} rounds; " + ("QUICK sizes (a smoke run, not a measurement)" if args.quick else
                                           f"the paper's networks, batches {sizes.search_batch} (search) and "
                                           f"{sizes.final_batch} (final training)"))
        for workload in workloads:
            if deadline is not None and time.perf_counter() > deadline:
                skipped.append(f"{device}/{workload}")
                continue
            started = time.perf_counter()
            new = measure(workload, device, args.rounds, steps, sizes, deadline)
            rows.extend(new)
            print(f"  {WORKLOADS[workload]}: {new[0].images_per_second:.1f} -> {new[1].images_per_second:.1f} "
                  f"images/s ({time.perf_counter() - started:.0f} s)", flush=True)
    print()
    print(format_table(rows))
    if skipped:
        print(f"skipped (past the --budget): {', '.join(skipped)}")
    result = {**header, "devices": devices, "rows": [asdict(row) for row in rows], "skipped": skipped}
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        temporary = args.json.with_name(args.json.name + ".tmp")
        temporary.write_text(json.dumps(result, indent=2))
        temporary.replace(args.json)
    return result


if __name__ == "__main__":
    main()
