"""Specifications of the fast path (issue 10): bfloat16 autocast, channels-last and fused optimisers on CUDA,
no host read in the inner loop, the same numbers as the eager float32 baseline where nothing is faster (the CPU),
checkpoints that resume with either setting; and smoke runs of the two benchmark scripts.

The CUDA tests are skipped on a machine without a GPU; ``benchmarks/gpu_check.py`` checks the same on one."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from nascourse.data import load_dataset
from nascourse.relaxation import Cell201Supernet, Supernet
from nascourse.relaxation.search import SearchConfig, relaxation_search, search_optimizers, search_step
from nascourse.train import FastPath, fast_path, train

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
# (supernet, method, order): every strategy's step on both supernets
STEPS = [("darts", "darts", 1), ("darts", "darts", 2), ("darts", "gdas", 1), ("darts", "pcdarts", 1),
         ("darts", "idarts", 1), ("cell201", "darts", 1), ("cell201", "darts", 2), ("cell201", "gdas", 1),
         ("cell201", "pcdarts", 1), ("cell201", "idarts", 1)]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", train_subset=256)


def small_supernet(kind: str, method: str, channels: int = 3) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "darts":  # two nodes, three cells: every code path of the DARTS cell at a fraction of its cost
        return Supernet((channels, 8, 8), 10, cells=3, channels=4, nodes=2, method=method)
    return Cell201Supernet((channels, 8, 8), 10, channels=4, method=method)


def batches(device: str = "cpu", channels: int = 3, size: int = 16):
    generator = torch.Generator().manual_seed(1)
    return [(torch.randn(size, channels, 8, 8, generator=generator).to(device),
             torch.randint(0, 10, (size,), generator=generator).to(device)) for _ in range(2)]


def one_step(model: torch.nn.Module, fast: bool, order: int, device: str = "cpu") -> dict[str, torch.Tensor]:
    """One search step of a copy of ``model`` (3-channel images) on ``device``; its loss, gradients and
    updated parameters."""
    model = copy.deepcopy(model).to(device)
    fast_path(device, fast).prepare_model(model)
    weight_optimizer, arch_optimizer = search_optimizers(model, SearchConfig(order=order), fast)
    train_batch, val_batch = batches(device)
    torch.manual_seed(7)  # GDAS's Gumbel noise: the same draws in both runs
    loss, _ = search_step(model, train_batch, val_batch, weight_optimizer, arch_optimizer, order=order, xi=0.025,
                          fast=fast)
    flat = lambda tensors: torch.cat([t.detach().float().flatten().cpu() for t in tensors])  # noqa: E731
    return {"loss": loss.detach().float().cpu(), "alpha": flat(model.arch_parameters()),
            "alpha_grad": flat(a.grad for a in model.arch_parameters()),
            "weights": flat(model.weight_parameters()),
            "weight_grad": flat(w.grad if w.grad is not None else torch.zeros_like(w)
                                for w in model.weight_parameters())}


# ------------------------------------------------------------------------------------------ which path
def test_the_fast_path_is_everything_on_cuda_and_nothing_on_the_cpu():
    assert fast_path("cuda", True) == FastPath(autocast=True, channels_last=True, fused=True)
    assert fast_path("cuda", False) == FastPath()
    assert fast_path("cpu", True) == FastPath() == fast_path("cpu", False)
    assert FastPath(fused=True).optimizer_options() == {"fused": True} and FastPath().optimizer_options() == {}


def test_channels_last_applies_to_image_batches_only():
    path = FastPath(channels_last=True)
    images = path.prepare(torch.randn(2, 3, 4, 4))
    assert images.is_contiguous(memory_format=torch.channels_last) and not images.is_contiguous()
    features = torch.randn(2, 5)
    assert path.prepare(features) is features  # a 2-D tensor has no channels-last layout: left alone


# ------------------------------------------------------------------------------- same math on the CPU
@pytest.mark.parametrize("kind,method,order", STEPS)
def test_on_the_cpu_the_fast_step_is_the_baseline_step_bit_for_bit(kind, method, order):
    model = small_supernet(kind, method)
    fast, baseline = one_step(model, True, order), one_step(model, False, order)
    for key in fast:
        assert torch.equal(fast[key], baseline[key]), key
    assert not torch.equal(fast["alpha"], torch.cat([a.detach().flatten() for a in model.arch_parameters()]))


def test_train_gives_the_same_curve_with_and_without_the_fast_path_on_the_cpu(digits):
    import random

    from nascourse.spaces.cell201 import Cell201Space

    space = Cell201Space(channels=4)
    architecture = space.sample(random.Random(0))
    curves = []
    for fast in (True, False):
        torch.manual_seed(0)
        model = space.build(architecture, digits.input_shape, digits.num_classes)
        result = train(model, digits, epochs=1, batch_size=64, fast=fast)
        curves.append([(r.train_loss, r.val_accuracy) for r in result.curve])
    assert curves[0] == curves[1]


# ---------------------------------------------------------------------------------- no host read per step
def count_host_reads(monkeypatch) -> list[str]:
    """Record every Tensor.item / tolist / float() / int() / bool() call made by the course library.

    (PyTorch's own reads of values it keeps on the host by design, such as the step counter of an unfused
    Adam, are not reads from the device and are not counted.)"""
    reads: list[str] = []
    library = str(Path(__file__).resolve().parent.parent / "nascourse")
    for name in ("item", "tolist", "__float__", "__int__", "__bool__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if caller.startswith(library):
                reads.append(f"{_name} in {Path(caller).name}:{sys._getframe(1).f_lineno}")
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return reads


@pytest.mark.parametrize("method", ["darts", "pcdarts", "idarts"])
def test_a_search_epoch_reads_from_the_device_a_fixed_number_of_times_whatever_its_steps(digits, method, monkeypatch):
    reads = count_host_reads(monkeypatch)
    counts = []
    for batch_size in (64, 16):  # 2 and 8 steps per epoch
        reads.clear()
        relaxation_search(small_supernet("cell201", method, channels=1), digits,
                          SearchConfig(epochs=1, batch_size=batch_size), progress=False)
        counts.append(len(reads))
    # what remains is per epoch: the losses, the accuracy, the strengths and the derived cell
    assert counts[0] == counts[1], f"host reads per epoch grew with the steps: {counts}"


def test_gdas_reads_its_sampled_path_once_per_forward_pass_and_nothing_else_per_step(digits, monkeypatch):
    reads = count_host_reads(monkeypatch)
    counts = []
    for batch_size in (64, 16):
        reads.clear()
        relaxation_search(small_supernet("cell201", "gdas", channels=1), digits,
                          SearchConfig(epochs=1, batch_size=batch_size), progress=False)
        counts.append(len(reads))
    extra_steps = 8 - 2  # the weight half holds 128 images: 8 steps at batch 16, 2 at batch 64
    assert counts[1] - counts[0] == 2 * extra_steps  # architecture step + weight step: one forward pass each


# --------------------------------------------------------------------------------------- checkpoints
def comparable(result):
    return [(s.epoch, s.train_loss, s.train_accuracy, s.val_accuracy, s.architecture, s.strengths)
            for s in result.snapshots]


def test_a_checkpoint_of_the_fast_path_resumes_on_the_baseline_bit_identically_on_the_cpu(digits, tmp_path):
    config = SearchConfig(epochs=2, batch_size=32, arch_lr=3e-3)
    uninterrupted = relaxation_search(small_supernet("cell201", "darts", 1), digits, config, progress=False)
    path = tmp_path / "search.pt"
    relaxation_search(small_supernet("cell201", "darts", 1), digits, config, checkpoint=path, progress=False,
                      max_epochs=1, fast=True)
    resumed = relaxation_search(small_supernet("cell201", "darts", 1), digits, config, checkpoint=path, resume=True,
                                progress=False, fast=False)
    assert comparable(resumed) == comparable(uninterrupted)


def test_a_checkpoint_of_fused_optimisers_resumes_with_unfused_ones(digits, tmp_path, monkeypatch):
    """A CUDA run's checkpoint (fused optimisers) resumed by a baseline or CPU run uses that run's optimisers."""
    import nascourse.relaxation.search as search

    config = SearchConfig(epochs=2, batch_size=32)
    path = tmp_path / "search.pt"
    with monkeypatch.context() as patch:  # the CPU has fused SGD and Adam kernels too: stand in for a CUDA run
        patch.setattr(search, "fast_path", lambda device, fast=True: FastPath(fused=True))
        relaxation_search(small_supernet("cell201", "darts", 1), digits, config, checkpoint=path, progress=False,
                          max_epochs=1)
    assert torch.load(path, weights_only=True)["weight_optimizer"]["param_groups"][0]["fused"] is True
    result = relaxation_search(small_supernet("cell201", "darts", 1), digits, config, checkpoint=path, resume=True,
                               progress=False)
    assert len(result.snapshots) == 2
    state = torch.load(path, weights_only=True)
    for optimizer in ("weight_optimizer", "arch_optimizer"):
        assert not state[optimizer]["param_groups"][0].get("fused")
        assert set(state[optimizer]["state"]) and all(  # the momentum / Adam moments came through the resume
            torch.isfinite(value).all() for entry in state[optimizer]["state"].values() for value in entry.values())


def test_resumed_optimiser_state_takes_the_memory_layout_of_its_parameters():
    """A CPU checkpoint resumed by a fast CUDA run: its channels-last weights get channels-last buffers."""
    from nascourse.relaxation.search import _load_optimizer

    saved_weight = torch.nn.Parameter(torch.randn(4, 3, 3, 3))
    saving = torch.optim.SGD([saved_weight], lr=0.1, momentum=0.9)
    saved_weight.grad = torch.randn_like(saved_weight)
    saving.step()
    weight = torch.nn.Parameter(saved_weight.detach().clone().contiguous(memory_format=torch.channels_last))
    loading = torch.optim.SGD([weight], lr=0.1, momentum=0.9)
    _load_optimizer(loading, saving.state_dict())
    buffer = loading.state[weight]["momentum_buffer"]
    assert buffer.stride() == weight.stride() and torch.equal(buffer, saving.state[saved_weight]["momentum_buffer"])


def test_data_and_supernet_on_different_devices_are_refused_clearly(digits):
    model = small_supernet("cell201", "darts", 1)
    wrong = replace(digits, train=replace(digits.train, x=digits.train.x.to("meta")))
    with pytest.raises(ValueError, match="the data is on meta"):
        relaxation_search(model, wrong, SearchConfig(epochs=1), progress=False)


# ------------------------------------------------------------------------------------------- CUDA
@CUDA
@pytest.mark.parametrize("kind,method,order", STEPS)
def test_on_cuda_the_fast_step_agrees_with_the_baseline_within_bfloat16_rounding(kind, method, order):
    model = small_supernet(kind, method)
    fast, baseline = one_step(model, True, order, "cuda"), one_step(model, False, order, "cuda")
    assert torch.isfinite(fast["loss"]) and abs(fast["loss"] - baseline["loss"]) <= 0.05 * baseline["loss"]
    for key in ("alpha_grad", "weight_grad"):
        cosine = torch.nn.functional.cosine_similarity(fast[key], baseline[key], dim=0)
        assert cosine > 0.9, (key, float(cosine))


@CUDA
@pytest.mark.parametrize("method", ["darts", "pcdarts", "idarts"])
def test_on_cuda_the_fast_steps_never_synchronise_with_the_host(method):
    model = small_supernet("darts", method).cuda()
    fast_path("cuda").prepare_model(model)
    weight_optimizer, arch_optimizer = search_optimizers(model, SearchConfig(), fast=True)
    train_batch, val_batch = batches("cuda")
    search_step(model, train_batch, val_batch, weight_optimizer, arch_optimizer)  # creates optimiser state
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for order in (1, 2, 1):
            search_step(model, train_batch, val_batch, weight_optimizer, arch_optimizer, order=order, xi=0.025)
    finally:
        torch.cuda.set_sync_debug_mode("default")


# ------------------------------------------------------------------------------- the benchmark scripts
def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_bench_steps_measures_every_workload_in_both_modes(tmp_path, capsys):
    bench = load_script("bench_steps")
    result = bench.main(["--device", "cpu", "--quick", "--rounds", "1", "--json", str(tmp_path / "figures.json")])
    rows = {(row["workload"], row["mode"]): row for row in result["rows"]}
    assert set(rows) == {(workload, mode) for workload in bench.WORKLOADS for mode in bench.MODES}
    for row in rows.values():
        assert row["images_per_second"] > 0 and row["peak_mib"] > 0 and row["device"] == "cpu"
    assert json.loads((tmp_path / "figures.json").read_text())["rows"] == result["rows"]
    table = capsys.readouterr().out
    assert "PC-DARTS search step" in table and "speed-up" in table


def test_bench_steps_refuses_an_unknown_workload():
    with pytest.raises(SystemExit):
        load_script("bench_steps").main(["--workloads", "darts,enas"])


def test_the_gpu_check_runs_every_check_on_the_cpu_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("OUT", str(tmp_path))
    check = load_script("gpu_check")
    report = check.main(["--device", "cpu", "--quick"])
    failed = {name: entry for name, entry in report["checks"].items() if entry["status"] != "ok"}
    assert not failed, failed
    assert {"search step darts order 2 (darts space)", "final training step", "table-based search",
            "training evaluator", "one-shot (SPOS) step", "benchmark"} <= set(report["checks"])
    assert json.loads((tmp_path / "gpu_check.json").read_text())["checks"].keys() == report["checks"].keys()
