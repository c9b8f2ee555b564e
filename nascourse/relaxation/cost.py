"""What one step of a relaxation search costs: seconds and memory.

``step_cost`` times ``search.search_step`` (DARTS's Algorithm 1 for one pair of batches: an
architecture step on a validation batch, then a weight step on a training batch) and measures the
memory the step needs. It works on a copy of the model, so the caller's supernet is not trained.

Memory is reported the same way on every device: the **peak of the bytes allocated during one step,
above what was already allocated when the step began** (the supernet's weights, the optimiser state
and the two batches; not the gradients, which are released before the measured step). It is the
step's working memory: the activations autograd keeps for the backward pass, the gradients and the
temporaries.

* On CUDA: ``torch.cuda.reset_peak_memory_stats`` before the step, then
  ``torch.cuda.max_memory_allocated() - torch.cuda.memory_allocated()`` measured before it.
* On the CPU there is no allocator statistic, so the step runs once under
  ``torch.profiler.profile(profile_memory=True)``, which records every allocation and every free of
  a tensor's memory as a signed event; the running sum of those events in time order is the memory
  live above the start, and its maximum is the peak. (The timed steps run without the profiler.)
* Elsewhere (e.g. MPS) ``peak_memory_bytes`` is ``None``.

``step_peak_bytes`` is that measurement for any step (``benchmarks/bench_steps.py`` uses it for the
final-architecture training step too). ``fast`` selects the fast path of ``nascourse.train.fast_path``
(on CUDA: bfloat16 autocast, channels-last, fused optimisers; on the CPU nothing changes).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..train import fast_path
from .search import SearchConfig, search_optimizers, search_step

__all__ = ["StepCost", "step_cost", "step_peak_bytes"]

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass
class StepCost:
    """The cost of one search step (architecture step + weight step) of one supernet."""

    method: str  # the supernet's mixing rule and the gradient's order, e.g. "darts, order 2"
    seconds_per_step: float  # mean over the timed steps
    peak_memory_bytes: int | None  # the step's working memory (see the module docstring); None if unmeasured
    device: str


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _cpu_peak_bytes(run_step) -> int:
    """Run ``run_step()`` under the profiler; the maximum of the running sum of allocations minus frees."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        run_step()
    events = [event for event in profiler.profiler.kineto_results.events() if event.name() == "[memory]"
              and event.device_type() == torch.autograd.DeviceType.CPU]
    live = peak = 0
    for event in sorted(events, key=lambda event: event.start_ns()):
        live += event.nbytes()  # positive: an allocation; negative: a free
        peak = max(peak, live)
    return peak


def step_peak_bytes(run_step: Callable[[], object], device: torch.device | str) -> int | None:
    """The working memory of one call of ``run_step()`` on ``device``: the peak of the bytes allocated during
    it above what was allocated when it began (CUDA: allocator statistics; CPU: profiler memory events;
    ``None`` elsewhere). Release the gradients first (``zero_grad(set_to_none=True)``) so that they count."""
    device = torch.device(device)
    if device.type == "cuda":
        _synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        run_step()
        _synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    if device.type == "cpu":
        return _cpu_peak_bytes(run_step)
    return None


def step_cost(model: nn.Module, train_batch: Batch, val_batch: Batch, steps: int = 3, order: int = 1,
              warmup: int = 1, fast: bool = True) -> StepCost:
    """Time ``steps`` search steps of (a copy of) ``model`` after ``warmup`` untimed ones; measure memory.

    ``model``: a ``Supernet`` or ``Cell201Supernet`` on the device of the batches; ``train_batch`` and
    ``val_batch``: (images (B, C, H, W), labels (B,)). ``order`` 1 or 2 picks the architecture
    gradient. The optimisers are those of ``relaxation_search`` with DARTS's settings (SGD with momentum
    for the weights, Adam for alpha); the second-order virtual step uses the initial weight learning
    rate as xi. ``fast``: the fast path (see the module's docstring); the copy is converted to its layout.
    """
    if steps < 1 or warmup < 0:
        raise ValueError(f"steps must be >= 1 and warmup >= 0, got steps={steps}, warmup={warmup}.")
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}.")
    model = copy.deepcopy(model)  # the steps train it: leave the caller's supernet as it was
    model.train()
    device = next(model.parameters()).device
    fast_path(device, fast).prepare_model(model)
    config = SearchConfig(order=order)
    weight_optimizer, arch_optimizer = search_optimizers(model, config, fast)

    def run_step() -> None:
        search_step(model, train_batch, val_batch, weight_optimizer, arch_optimizer, order=order,
                    xi=config.weight_lr, grad_clip=config.grad_clip, fast=fast)

    for _ in range(warmup):  # first calls allocate optimiser state and warm up kernels: not timed
        run_step()
    _synchronize(device)
    started = time.perf_counter()
    for _ in range(steps):
        run_step()
    _synchronize(device)
    seconds = (time.perf_counter() - started) / steps

    # The measured step starts without gradients, so that allocating them counts: a gradient freed
    # inside the profiled step but allocated before it would be an untracked free on the CPU.
    weight_optimizer.zero_grad(set_to_none=True)
    arch_optimizer.zero_grad(set_to_none=True)
    peak = step_peak_bytes(run_step, device)
    method = f"{getattr(model, 'method', type(model).__name__)}, order {order}"
    return StepCost(method=method, seconds_per_step=seconds, peak_memory_bytes=peak, device=str(device))
