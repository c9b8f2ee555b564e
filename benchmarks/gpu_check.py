"""The GPU check of issue 10: every strategy's step is correct on CUDA, then the fast path is benchmarked.

Run it on a machine with a GPU, from the repository root (no installation needed beyond PyTorch,
NumPy, scikit-learn, SciPy and tqdm; the course library is imported from this checkout)::

    PYTHONUNBUFFERED=1 python benchmarks/gpu_check.py              # about 3-5 minutes on an H100/H200
    python benchmarks/gpu_check.py --device cpu --quick            # the CPU fallback: a smoke run in seconds

Part 1 checks, each under its own time guard, on the device:

* the search step (``search_step``) of DARTS first and second order, GDAS, PC-DARTS and I-DARTS on the
  DARTS ``Supernet`` and on ``Cell201Supernet``: one step in three runs from the same initial weights and
  batches: eager float32 on the CPU (the reference), eager float32 on the device, the fast path on the
  device. Each must give a finite loss and move alpha; the device's eager step must agree with the CPU
  (cosine of the alpha gradients and of the weight gradients > 0.99; cuDNN uses TF32 for float32
  convolutions by default), and the fast step with the device's eager one and with the CPU within
  bfloat16 rounding (cosines > 0.9; loss within 5 % of eager). GDAS draws its Gumbel noise from the device's generator, so its CPU
  comparison is skipped; the two device runs draw the same noise. On CUDA three more fast steps (first and
  second order) run under ``torch.cuda.set_sync_debug_mode("error")``: any host synchronisation fails
  (GDAS is exempt: its sampled path is read on the host by design);
* a P-DARTS stage step (pruned operations, skip dropout) and a short ``pdarts_search``;
* ``relaxation_search`` on digits held on the device with on-device augmentation, checkpointed after one
  epoch and resumed for the second;
* the final-architecture training step (``nascourse.final_training.training_step``), CPU vs device, and
  (on CUDA) two more fast steps with drop-path under the same synchronisation check;
* a table-based search (``run_search`` with random search on the course benchmark);
* a ``TrainingEvaluator`` candidate trained on digits on the device;
* one-shot (SPOS) supernet training steps and a path's score on the device.

Part 2 runs ``benchmarks/bench_steps.py`` for the device (eager float32 vs fast, paper setting).

Everything is printed; a JSON report goes to ``$OUT/gpu_check.json`` when the environment variable
``OUT`` is set (or to ``--out``). The whole run stops starting new parts after ``--budget`` seconds
(default 420: under 8 minutes with start-up); the exit status is 0 when every check passed.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import json
import math
import os
import random
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for folder in (str(ROOT), str(HERE)):  # the library of this checkout, and bench_steps next to this file
    if folder not in sys.path:
        sys.path.insert(0, folder)

import bench_steps  # noqa: E402
from nascourse.data import Split, load_dataset  # noqa: E402
from nascourse.relaxation import Cell201Supernet, Supernet  # noqa: E402
from nascourse.relaxation.search import (SearchConfig, pdarts_search, prune_operations, relaxation_search,  # noqa: E402
                                         search_optimizers, search_step)
from nascourse.train import fast_path  # noqa: E402

METHODS = [("darts", 1), ("darts", 2), ("gdas", 1), ("pcdarts", 1), ("idarts", 1)]
AGREE_EAGER = 0.99  # cosine, device eager float32 (TF32 convolutions) vs the CPU
AGREE_FAST = 0.9  # cosine, device fast path (bfloat16) vs device eager
LOSS_FAST = 0.05  # relative loss difference, fast vs eager


class CheckFailed(AssertionError):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise TimeoutError in this (main) thread after ``seconds``; a no-op where SIGALRM does not exist."""
    if not hasattr(signal, "SIGALRM") or seconds <= 0:
        yield
        return

    def alarm(signum, frame):
        raise TimeoutError(f"the part ran past its {seconds:.0f} s guard")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(F.cosine_similarity(a.double().flatten(), b.double().flatten(), dim=0))


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.detach().float().flatten().cpu() for t in tensors])


# ------------------------------------------------------------------------------------------- search steps
class Sizes:
    def __init__(self, quick: bool):
        self.image = (3, 8, 8) if quick else (3, 32, 32)
        self.batch = 8 if quick else 32
        self.cells, self.channels, self.nodes = (3, 4, 2) if quick else (5, 8, 4)


def make_supernet(space: str, method: str, sizes: Sizes) -> torch.nn.Module:
    torch.manual_seed(0)
    if space == "darts":
        return Supernet(sizes.image, 10, cells=sizes.cells, channels=sizes.channels, nodes=sizes.nodes, method=method)
    return Cell201Supernet(sizes.image, 10, channels=sizes.channels * 2, method=method)


def make_batches(sizes: Sizes, device: torch.device, count: int = 2):
    generator = torch.Generator().manual_seed(1)
    return [(torch.randn(sizes.batch, *sizes.image, generator=generator).to(device),
             torch.randint(0, 10, (sizes.batch,), generator=generator).to(device)) for _ in range(count)]


def run_search_step(reference: torch.nn.Module, device: torch.device, fast: bool, order: int,
                    sizes: Sizes) -> dict:
    model = copy.deepcopy(reference).to(device)
    fast_path(device, fast).prepare_model(model)
    model.train()
    config = SearchConfig(order=order)
    weight_optimizer, arch_optimizer = search_optimizers(model, config, fast)
    train_batch, val_batch = make_batches(sizes, device)
    before = _flat(model.arch_parameters())
    torch.manual_seed(7)  # GDAS's noise: the same draws on the same device
    loss, logits = search_step(model, train_batch, val_batch, weight_optimizer, arch_optimizer, order=order,
                               xi=config.weight_lr, grad_clip=config.grad_clip, fast=fast)
    return {
        "model": model, "optimizers": (weight_optimizer, arch_optimizer), "batches": (train_batch, val_batch),
        "loss": float(loss), "logits_finite": bool(torch.isfinite(logits).all()),
        "alpha_moved": float((_flat(model.arch_parameters()) - before).abs().max()),
        "alpha_grad": _flat(a.grad for a in model.arch_parameters()),
        "weight_grad": _flat(w.grad if w.grad is not None else torch.zeros_like(w) for w in model.weight_parameters()),
    }


def check_search_step(space: str, method: str, order: int, device: torch.device, sizes: Sizes) -> dict:
    reference = make_supernet(space, method, sizes)
    fast = run_search_step(reference, device, True, order, sizes)
    eager = run_search_step(reference, device, False, order, sizes)
    details: dict = {"loss_fast": fast["loss"], "loss_eager": eager["loss"]}
    for name, run in (("fast", fast), ("eager", eager)):
        expect(math.isfinite(run["loss"]) and run["logits_finite"], f"{name}: loss {run['loss']} is not finite")
        expect(bool(torch.isfinite(run["alpha_grad"]).all() and torch.isfinite(run["weight_grad"]).all()),
               f"{name}: a gradient is not finite")
        expect(run["alpha_moved"] > 0, f"{name}: alpha did not move")
    details["fast_vs_eager"] = {"alpha_grad_cosine": cosine(fast["alpha_grad"], eager["alpha_grad"]),
                                "weight_grad_cosine": cosine(fast["weight_grad"], eager["weight_grad"]),
                                "loss_relative": abs(fast["loss"] - eager["loss"]) / max(abs(eager["loss"]), 1e-12)}
    agreement = details["fast_vs_eager"]
    expect(agreement["alpha_grad_cosine"] > AGREE_FAST and agreement["weight_grad_cosine"] > AGREE_FAST
           and agreement["loss_relative"] < LOSS_FAST, f"fast path disagrees with eager: {agreement}")
    if method != "gdas":  # (on the CPU fallback this compares the CPU with itself: it exercises the code)
        cpu = run_search_step(reference, torch.device("cpu"), False, order, sizes)
        details["eager_vs_cpu"] = {"alpha_grad_cosine": cosine(eager["alpha_grad"], cpu["alpha_grad"]),
                                   "weight_grad_cosine": cosine(eager["weight_grad"], cpu["weight_grad"]),
                                   "loss_relative": abs(eager["loss"] - cpu["loss"]) / max(abs(cpu["loss"]), 1e-12)}
        agreement = details["eager_vs_cpu"]
        expect(agreement["alpha_grad_cosine"] > AGREE_EAGER and agreement["weight_grad_cosine"] > AGREE_EAGER,
               f"eager float32 on {device} disagrees with the CPU: {agreement}")
        details["fast_vs_cpu"] = {"alpha_grad_cosine": cosine(fast["alpha_grad"], cpu["alpha_grad"]),
                                  "weight_grad_cosine": cosine(fast["weight_grad"], cpu["weight_grad"])}
        agreement = details["fast_vs_cpu"]
        expect(agreement["alpha_grad_cosine"] > AGREE_FAST and agreement["weight_grad_cosine"] > AGREE_FAST,
               f"the fast path on {device} disagrees with the CPU beyond bfloat16 rounding: {agreement}")
    if device.type == "cuda" and method != "gdas":
        model, (weight_optimizer, arch_optimizer), (train_batch, val_batch) = (
            fast["model"], fast["optimizers"], fast["batches"])
        torch.cuda.synchronize(device)
        torch.cuda.set_sync_debug_mode("error")
        try:
            for step_order in (1, 2, 1):
                search_step(model, train_batch, val_batch, weight_optimizer, arch_optimizer, order=step_order,
                            xi=0.025)
        except RuntimeError as error:
            raise CheckFailed(f"the fast step synchronised with the host: {error}") from None
        finally:
            torch.cuda.set_sync_debug_mode("default")
        details["host_syncs_in_three_steps"] = 0
    return details


def check_pdarts(device: torch.device, sizes: Sizes, digits) -> dict:
    torch.manual_seed(0)
    first = make_supernet("darts", "darts", sizes)
    edge_operations = {kind: prune_operations(torch.rand(len(first.edge_operations[kind]), 8),
                                              first.edge_operations[kind], keep=5) for kind in ("normal", "reduce")}
    model = Supernet(sizes.image, 10, cells=sizes.cells + 1, channels=sizes.channels, nodes=sizes.nodes,
                     edge_operations=edge_operations).to(device)
    for module in model.modules():
        if hasattr(module, "skip_dropout"):
            module.skip_dropout = 0.4
    fast_path(device).prepare_model(model)
    weight_optimizer, arch_optimizer = search_optimizers(model, SearchConfig())
    train_batch, val_batch = make_batches(sizes, device)
    before = _flat(model.arch_parameters())
    loss, _ = search_step(model, train_batch, val_batch, weight_optimizer, arch_optimizer)
    expect(math.isfinite(float(loss)), f"P-DARTS stage step: loss {float(loss)}")
    expect(float((_flat(model.arch_parameters()) - before).abs().max()) > 0, "P-DARTS stage step: alpha did not move")
    genotype = model.derive(max_skips=2)
    few = replace(digits, train=Split(digits.train.x[:128], digits.train.y[:128]))  # two steps per stage
    stages = pdarts_search(few, [(3, 4, 0.0), (3, 3, 0.3)], SearchConfig(epochs=1, batch_size=32), channels=4,
                           progress=False, device=device)
    expect(len(stages) == 2 and all(len(result.snapshots) == 1 for _, result in stages), "pdarts_search stages")
    return {"stage_step_loss": float(loss), "derived": str(genotype), "pdarts_cell": stages[-1][1].architecture}


def check_relaxation_search(device: torch.device, digits, tmp: Path) -> dict:
    augmented = replace(digits, augment=True)  # crop and flip on the device, as for CIFAR-10
    config = SearchConfig(epochs=2, batch_size=32, arch_lr=3e-3)
    details = {}
    for method in ("darts", "gdas"):
        torch.manual_seed(0)
        model = Cell201Supernet(digits.input_shape, digits.num_classes, channels=4, method=method).to(device)
        initial = model.alpha.detach().clone()
        checkpoint = tmp / f"search-{method}.pt"
        first = relaxation_search(model, augmented, config, checkpoint=checkpoint, progress=False, max_epochs=1)
        expect(len(first.snapshots) == 1 and checkpoint.exists(), f"{method}: no checkpoint after one epoch")
        torch.manual_seed(1)
        resumed_model = Cell201Supernet(digits.input_shape, digits.num_classes, channels=4, method=method).to(device)
        result = relaxation_search(resumed_model, augmented, config, checkpoint=checkpoint, resume=True,
                                   progress=False)
        expect(len(result.snapshots) == 2, f"{method}: the resumed search did not finish")
        expect(all(math.isfinite(s.train_loss) for s in result.snapshots), f"{method}: loss not finite")
        expect(float((resumed_model.alpha.detach() - initial).abs().max()) > 1e-4, f"{method}: alpha did not move")
        details[method] = {"train_loss": [s.train_loss for s in result.snapshots],
                           "val_accuracy": [s.val_accuracy for s in result.snapshots],
                           "architecture": result.architecture}
    return details


def check_final_training(device: torch.device, quick: bool) -> dict:
    from nascourse.final_training import FinalTrainingConfig, build_final_network, make_optimizer, training_step
    from nascourse.spaces.darts_published import genotype

    image = (3, 8, 8) if quick else (3, 32, 32)
    config = FinalTrainingConfig(cells=3 if quick else 8, channels=4 if quick else 16, batch_size=8 if quick else 32)
    torch.manual_seed(0)
    reference = build_final_network(genotype("DARTS (2nd order)"), image, 10, config)  # drop-path 0: comparable
    generator = torch.Generator().manual_seed(1)
    x, y = torch.randn(config.batch_size, *image, generator=generator), torch.randint(0, 10, (config.batch_size,),
                                                                                       generator=generator)
    runs = {}
    for name, run_device, fast in (("cpu", torch.device("cpu"), False), ("eager", device, False),
                                   ("fast", device, True)):
        model = copy.deepcopy(reference)
        model.train()
        optimizer, _ = make_optimizer(model, config, steps=1, device=run_device, fast=fast)
        loss = training_step(model, optimizer, x.to(run_device), y.to(run_device), fast=fast)
        runs[name] = {"loss": float(loss), "grad": _flat(p.grad for p in model.parameters() if p.grad is not None)}
        expect(math.isfinite(runs[name]["loss"]), f"final training {name}: loss {runs[name]['loss']}")
        if name == "fast" and device.type == "cuda":  # the steps of an epoch must not wait for the host
            model.drop_path_probability = 0.2
            x_device, y_device = x.to(device), y.to(device)  # copying from the host would synchronise
            torch.cuda.synchronize(device)
            torch.cuda.set_sync_debug_mode("error")
            try:
                for _ in range(2):
                    training_step(model, optimizer, x_device, y_device, fast=True)
            except RuntimeError as error:
                raise CheckFailed(f"the fast final training step synchronised with the host: {error}") from None
            finally:
                torch.cuda.set_sync_debug_mode("default")
    details = {name: run["loss"] for name, run in runs.items()}
    details["fast_vs_eager_grad_cosine"] = cosine(runs["fast"]["grad"], runs["eager"]["grad"])
    details["eager_vs_cpu_grad_cosine"] = cosine(runs["eager"]["grad"], runs["cpu"]["grad"])
    expect(details["fast_vs_eager_grad_cosine"] > AGREE_FAST, f"final training fast vs eager: {details}")
    expect(details["eager_vs_cpu_grad_cosine"] > AGREE_EAGER, f"final training eager vs CPU: {details}")
    expect(abs(runs["fast"]["loss"] - runs["eager"]["loss"]) < LOSS_FAST * runs["eager"]["loss"],
           f"final training loss fast vs eager: {details}")
    return details


def check_table_search() -> dict:
    from nascourse.bench import Benchmark
    from nascourse.loop import run_search
    from nascourse.strategies.random_search import RandomSearch

    benchmark = Benchmark.load()
    history = run_search(benchmark.space, RandomSearch(benchmark.space, seed=0), benchmark.evaluator(seed=None),
                         trials=20, progress=False)
    best = history.best()
    expect(len(history) == 20 and 0 < best.accuracy <= 1, f"table search: {len(history)} trials, best {best}")
    return {"trials": len(history), "best_accuracy": best.accuracy}


def check_training_evaluator(device: torch.device, digits) -> dict:
    from nascourse.evaluation import TrainingEvaluator
    from nascourse.spaces.cell201 import Cell201Space

    space = Cell201Space(channels=8)
    evaluator = TrainingEvaluator(space, digits, epochs=3, batch_size=32)
    architecture = "|conv3x3~0|+|conv3x3~0|skip~1|+|skip~0|conv3x3~1|conv1x1~2|"
    result = evaluator(architecture)
    expect(result.status == "ok" and 0.2 < result.accuracy <= 1,
           f"a trained candidate should beat chance (0.1) clearly on digits: {result.accuracy}")
    return {"architecture": architecture, "accuracy": result.accuracy, "seconds": result.cost_seconds}


def check_one_shot(device: torch.device, digits) -> dict:
    from nascourse.weight_sharing.spos import OneShotTrainer

    trainer = OneShotTrainer(digits, epochs=1, batch_size=32, seed=0)
    expect(next(trainer.supernet.parameters()).device.type == device.type, "the one-shot supernet is not on the device")
    loss = trainer.train(steps=4)
    expect(math.isfinite(loss), f"one-shot training loss {loss}")
    architecture = trainer.sampler(random.Random(0))[0]
    score = trainer.score(architecture)
    expect(0 <= score <= 1, f"one-shot score {score}")
    return {"loss": loss, "score": score}


# ------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict:
    threads = torch.get_num_threads()
    try:
        with tempfile.TemporaryDirectory(prefix="nascourse-gpu-check-") as tmp:  # the checkpoints of the checks
            return _main(argv, Path(tmp))
    finally:
        torch.set_num_threads(threads)


def _main(argv: list[str] | None, tmp: Path) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None, help="cuda (default when present), cuda:1, or cpu")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, benchmark included (a smoke run)")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for the whole run (default 420)")
    parser.add_argument("--bench-rounds", type=int, default=5)
    parser.add_argument("--bench-steps", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None, help="the JSON report (default: $OUT/gpu_check.json)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("torch sees no CUDA device here; run with --device cpu for the CPU fallback.")
    if device.type == "cpu":
        print("No CUDA device in use: this is the CPU fallback (it checks the code paths, not the GPU).")
    # threads for the CPU reference runs (the benchmark sets its own); on a CPU alone, one, as the tests do
    torch.set_num_threads(min(8, os.cpu_count() or 1) if device.type == "cuda" else 1)
    sizes = Sizes(args.quick)
    out = args.out or (Path(os.environ["OUT"]) / "gpu_check.json" if os.environ.get("OUT") else None)

    report: dict = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "commit": bench_steps.describe_commit(), "torch": torch.__version__, "device": str(device),
        "device_name": bench_steps.describe_device(device), "quick": args.quick, "checks": {},
    }
    print(f"{report['date']}  commit {report['commit']}  torch {report['torch']}  device {device}: "
          f"{report['device_name']}")

    def remaining() -> float:
        return args.budget - (time.perf_counter() - started)

    def part(name: str, limit: float, function: Callable[[], dict]) -> None:
        if remaining() < 5:
            report["checks"][name] = {"status": "skipped", "details": "out of the --budget"}
            print(f"[skipped] {name}: out of time", flush=True)
            return
        part_started = time.perf_counter()
        try:
            with time_limit(min(limit, remaining())):
                details = function()
            status = "ok"
        except CheckFailed as failure:
            status, details = "failed", str(failure)
        except TimeoutError as timeout:
            status, details = "timeout", str(timeout)
        except Exception as error:  # a crash is a failed check, reported with its trace; the run goes on
            status, details = "error", "".join(traceback.format_exception(error))[-3000:]
        seconds = time.perf_counter() - part_started
        report["checks"][name] = {"status": status, "seconds": round(seconds, 2), "details": details}
        shown = str(details) if status != "ok" else str(details)[:600]  # the JSON report keeps everything
        print(f"[{status}] {name} ({seconds:.1f} s): {shown}", flush=True)

    data_holder: dict = {}

    def load_digits() -> dict:
        data_holder["digits"] = load_dataset("digits", device=device, train_subset=256)
        return {"train": len(data_holder["digits"].train), "device": str(data_holder["digits"].train.x.device)}

    part("digits on the device", 60, load_digits)
    for space in ("darts", "cell201"):
        for method, order in METHODS:
            part(f"search step {method} order {order} ({space} space)", 60,
                 lambda space=space, method=method, order=order: check_search_step(space, method, order, device,
                                                                                   sizes))
    digits = data_holder.get("digits")
    if digits is not None:
        part("P-DARTS stage step and search", 90, lambda: check_pdarts(device, sizes, digits))
        part("relaxation search with checkpoint and resume", 90, lambda: check_relaxation_search(device, digits, tmp))
        part("training evaluator", 60, lambda: check_training_evaluator(device, digits))
        part("one-shot (SPOS) step", 60, lambda: check_one_shot(device, digits))
    part("final training step", 90, lambda: check_final_training(device, args.quick))
    part("table-based search", 60, check_table_search)

    def benchmark() -> dict:
        bench_argv = ["--device", str(device), "--rounds", str(args.bench_rounds), "--steps", str(args.bench_steps),
                      "--budget", str(max(remaining() - 60, 10))]
        if args.quick:  # the plumbing only: tests/test_fast_path.py runs every workload of the quick benchmark
            bench_argv = ["--device", str(device), "--quick", "--rounds", "1", "--steps", "1", "--workloads", "gdas"]
        result = bench_steps.main(bench_argv)
        expect(len(result["rows"]) > 0, "the benchmark measured nothing")
        return result

    part("benchmark", max(remaining() - 10, 5), benchmark)

    failed = [name for name, entry in report["checks"].items() if entry["status"] != "ok"]
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["failed"] = failed
    print(f"\n{len(report['checks']) - len(failed)} of {len(report['checks'])} checks ok in {report['seconds']} s"
          + (f"; not ok: {', '.join(failed)}" if failed else ""))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        temporary = out.with_name(out.name + ".tmp")
        temporary.write_text(json.dumps(report, indent=2, default=str))
        temporary.replace(out)
        print(f"report: {out}")
    return report


if __name__ == "__main__":
    sys.exit(1 if main()["failed"] else 0)
