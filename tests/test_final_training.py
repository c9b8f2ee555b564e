"""Specification of the final training (nascourse.final_training, ``python -m nascourse train``) and of what it
reads: CIFAR-10's python batches (without checksums, so stand-in files load) and Cutout.

Networks here are tiny (3 cells, 4 channels) and runs last one to three epochs, so the file stays fast on a
shared 2-core machine; the stand-in CIFAR-10 files hold 300 + 60 random images (tests/fake_cifar.py).
"""

from __future__ import annotations

import copy
import json
import pickle
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from fake_cifar import write_fake_cifar10
from nascourse.cli import main
from nascourse.cli.train import resolve_genotype
from nascourse.data import Split, cutout, iterate_batches, load_dataset, read_cifar10_batch
from nascourse.final_training import (CheckpointError, FinalTrainingConfig, build_final_network, make_optimizer,
                                      train_final, training_step)
from nascourse.spaces.darts_genotype import Genotype
from nascourse.spaces.darts_published import PUBLISHED

DARTS_V2 = PUBLISHED["DARTS (2nd order)"].genotype
TINY = FinalTrainingConfig(epochs=3, batch_size=64, cells=3, channels=4, cutout=2)
# the stand-in CIFAR-10 holds out a tenth of its 300 training images for validation, and says so
pytestmark = pytest.mark.filterwarnings("ignore:.*holding out a tenth")


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cifar")
    write_fake_cifar10(root)
    return root


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", train_subset=128)


def zero_mask(x: torch.Tensor) -> torch.Tensor:
    return (x == 0).all(dim=1)  # (n, h, w): pixels zero in every channel


# ----------------------------------------------------------------------------------------- CIFAR-10 files
def test_cifar10_is_read_from_its_python_batches_without_checksums(fake_root):
    data = load_dataset("cifar10", root=fake_root)
    # 5 x 60 official training images: a tenth (30) is held out for validation; 60 test images
    assert (len(data.train), len(data.val), len(data.test)) == (270, 30, 60)
    assert data.input_shape == (3, 32, 32) and data.augment and data.class_names[:2] == ("airplane", "automobile")
    images, labels = read_cifar10_batch(fake_root / "cifar-10-batches-py" / "data_batch_1")
    assert images.shape == (60, 3, 32, 32) and images.dtype == torch.uint8 and labels.dtype == torch.int64
    raw = pickle.loads((fake_root / "cifar-10-batches-py" / "data_batch_1").read_bytes())
    # rows are the red, green and blue planes one after another, each row by row
    assert images[7, 1, 2, 5] == raw[b"data"][7, 1024 + 2 * 32 + 5]
    assert labels.tolist() == raw[b"labels"]


def test_a_training_set_too_small_even_for_a_tenth_is_refused(tmp_path):
    write_fake_cifar10(tmp_path, per_batch=10, test_images=10)  # 50 images: a tenth would be 5
    with pytest.raises(ValueError, match="too few"):
        load_dataset("cifar10", root=tmp_path)


@pytest.mark.parametrize("damage, complaint", [
    (lambda path: path.write_bytes(path.read_bytes()[:500]), "not a readable CIFAR-10 python file"),
    (lambda path: path.write_bytes(pickle.dumps({b"data": [[1, 2, 3]], b"labels": [1]})), "(N, 3072) uint8"),
    (lambda path: path.write_bytes(pickle.dumps({"data": torch.zeros(2, 3072, dtype=torch.uint8).numpy(),
                                                 "labels": [1, 10]})), "integers in 0..9"),
])
def test_a_damaged_batch_file_is_named_in_a_clear_error(tmp_path, damage, complaint):
    folder = write_fake_cifar10(tmp_path, per_batch=30, test_images=10)
    damage(folder / "data_batch_3")
    with pytest.raises(ValueError) as raised:
        load_dataset("cifar10", root=tmp_path)
    assert "data_batch_3" in str(raised.value) and complaint in str(raised.value)


class _Boom:  # a pickle that would run code when loaded
    def __reduce__(self):
        return (exec, ("raise SystemExit('the pickle ran code')",))


def test_a_batch_file_that_would_run_code_is_refused_not_run(tmp_path):
    folder = write_fake_cifar10(tmp_path, per_batch=30, test_images=10)
    (folder / "test_batch").write_bytes(pickle.dumps({"data": _Boom(), "labels": []}))
    with pytest.raises(ValueError, match="test_batch.*builtins.exec"):
        load_dataset("cifar10", root=tmp_path)


# ----------------------------------------------------------------------------------------- Cutout
def test_cutout_zeroes_one_square_of_the_given_side_per_image_away_from_the_borders():
    x = torch.rand(400, 3, 32, 32) + 0.5  # no pixel is 0 before
    out = cutout(x, 8, torch.Generator().manual_seed(0))
    masks = zero_mask(out)
    assert ((out == 0) == masks[:, None]).all(), "every channel of the square is zeroed, nothing else"
    full = 0
    for mask in masks:
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        assert mask.sum() == len(rows) * len(cols), "the zeroed pixels form one rectangle"
        assert list(range(rows[0], rows[-1] + 1)) == rows.tolist()
        touches_border = rows[0] == 0 or rows[-1] == 31 or cols[0] == 0 or cols[-1] == 31
        if not touches_border:
            assert (len(rows), len(cols)) == (8, 8)
            full += 1
        else:  # clipped: the centre lies in the image, so at least half of each side remains
            assert 4 <= len(rows) <= 8 and 4 <= len(cols) <= 8
    assert 0 < full < 400, "some squares lie inside the image, some are clipped at a border"
    assert torch.equal(out[~masks[:, None].expand_as(out)], x[~masks[:, None].expand_as(x)]), "the rest is unchanged"


def test_cutout_centres_are_drawn_uniformly_over_the_image_and_clipped():
    x = torch.ones(6, 1, 10, 10)
    out = cutout(x, 4, torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(3)
    centre_rows = torch.randint(0, 10, (6,), generator=generator)
    centre_cols = torch.randint(0, 10, (6,), generator=generator)
    for image, cy, cx in zip(out, centre_rows.tolist(), centre_cols.tolist()):
        expected = torch.ones(10, 10)
        expected[max(cy - 2, 0):cy + 2, max(cx - 2, 0):cx + 2] = 0  # rows cy-2 .. cy+1, clipped at 0 and 9
        assert torch.equal(image[0], expected)


def test_cutout_repeats_with_the_same_generator_and_leaves_its_input_alone():
    x = torch.randn(16, 3, 32, 32)
    before = x.clone()
    first = cutout(x, 16, torch.Generator().manual_seed(5))
    again = cutout(x, 16, torch.Generator().manual_seed(5))
    other = cutout(x, 16, torch.Generator().manual_seed(6))
    assert torch.equal(first, again) and not torch.equal(first, other) and torch.equal(x, before)
    assert first.device == x.device and first.dtype == x.dtype
    assert torch.equal(cutout(x, 0), x) and (cutout(x, 64) == 0).all()  # 0: nothing; twice the side: everything
    with pytest.raises(ValueError, match="cutout"):
        cutout(x, -1)


def test_batches_get_cutout_when_asked_and_only_then():
    split = Split(torch.rand(40, 3, 12, 12) + 1, torch.zeros(40, dtype=torch.long))
    plain = torch.cat([x for x, _ in iterate_batches(split, 16, generator=torch.Generator().manual_seed(0))])
    cut = torch.cat([x for x, _ in iterate_batches(split, 16, generator=torch.Generator().manual_seed(0), cutout=4)])
    assert (plain != 0).all()
    assert zero_mask(cut).sum(dim=(1, 2)).gt(0).all(), "every image lost a square"
    assert torch.equal(cut[cut != 0], plain[cut != 0])  # the same images in the same order otherwise


# ----------------------------------------------------------------------------------------- the training step
def test_training_step_is_cross_entropy_plus_the_weighted_auxiliary_loss_then_one_sgd_step():
    torch.manual_seed(0)
    model = build_final_network(DARTS_V2, (1, 8, 8), 10, FinalTrainingConfig(cells=3, channels=4))
    reference, without_head_loss = copy.deepcopy(model), copy.deepcopy(model)
    x, y = torch.randn(12, 1, 8, 8), torch.randint(0, 10, (12,))
    logits = reference(x)
    main_loss = F.cross_entropy(logits, y).detach()
    expected = main_loss + 0.4 * F.cross_entropy(reference.auxiliary_logits, y).detach()
    before = [p.detach().clone() for p in model.parameters()]

    optimizer, _ = make_optimizer(model, FinalTrainingConfig(), steps=10, device="cpu", fast=False)
    loss = training_step(model, optimizer, x, y, auxiliary_weight=0.4, fast=False)
    assert not loss.requires_grad and loss.device == x.device and loss.dtype == torch.float32
    assert torch.allclose(loss, expected, atol=1e-6)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters())), "the optimizer stepped"
    optimizer, _ = make_optimizer(without_head_loss, FinalTrainingConfig(), steps=10, device="cpu", fast=False)
    assert torch.allclose(training_step(without_head_loss, optimizer, x, y, auxiliary_weight=0.0, fast=False),
                          main_loss, atol=1e-6)


def test_the_fast_path_on_the_cpu_is_channels_last_with_the_same_loss():
    torch.manual_seed(1)
    model = build_final_network(DARTS_V2, (3, 16, 16), 10, FinalTrainingConfig(cells=3, channels=4))
    twin = copy.deepcopy(model)
    fast_optimizer, _ = make_optimizer(model, FinalTrainingConfig(), steps=5, device="cpu", fast=True)
    slow_optimizer, _ = make_optimizer(twin, FinalTrainingConfig(), steps=5, device="cpu", fast=False)
    assert model.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert twin.stem[0].weight.is_contiguous() and not twin.stem[0].weight.is_contiguous(
        memory_format=torch.channels_last)
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,))
    assert torch.allclose(training_step(model, fast_optimizer, x, y, fast=True),
                          training_step(twin, slow_optimizer, x, y, fast=False), atol=1e-5)


def test_make_optimizer_is_dartss_sgd_with_a_cosine_schedule_to_the_minimum():
    model = build_final_network(DARTS_V2, (1, 8, 8), 10, FinalTrainingConfig(cells=3, channels=4))
    config = FinalTrainingConfig()
    optimizer, scheduler = make_optimizer(model, config, steps=4, device="cpu")
    group = optimizer.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.025, 0.9, 3e-4)
    rates = []
    for _ in range(4):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()  # (no gradients: changes nothing)
        scheduler.step()
    assert rates[0] == 0.025 and rates == sorted(rates, reverse=True)
    assert scheduler.get_last_lr()[0] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="steps"):
        make_optimizer(model, config, steps=0, device="cpu")


def test_the_recipe_is_dartss_evaluation_and_drop_path_rises_linearly():
    config = FinalTrainingConfig()
    assert (config.epochs, config.batch_size, config.cells, config.channels, config.cutout) == (600, 96, 20, 36, 16)
    assert (config.auxiliary_weight, config.drop_path, config.grad_clip, config.learning_rate_min) == (0.4, 0.2, 5, 0)
    assert config.drop_path_at(0) == 0 and config.drop_path_at(300) == pytest.approx(0.1)
    assert config.drop_path_at(599) == pytest.approx(0.2 * 599 / 600)
    for bad in ({"epochs": 0}, {"cells": 2}, {"drop_path": 1.0}, {"cutout": -2}, {"learning_rate": 0.0}):
        with pytest.raises(ValueError):
            FinalTrainingConfig(**bad)


# ----------------------------------------------------------------------------------------- train_final
def _without_seconds(curve) -> list[dict]:
    return [{k: v for k, v in asdict(epoch).items() if k != "seconds"} for epoch in curve]


@pytest.fixture(scope="module")
def uninterrupted(digits, tmp_path_factory):
    checkpoint = tmp_path_factory.mktemp("final") / "checkpoint.pt"
    return train_final(DARTS_V2, digits, TINY, seed=4, checkpoint=checkpoint, progress=False), checkpoint


def test_train_final_trains_on_train_and_val_and_reports_test_every_epoch(uninterrupted, digits):
    result, checkpoint = uninterrupted
    assert [e.epoch for e in result.curve] == [1, 2, 3] and result.test_accuracy == result.curve[-1].test_accuracy
    assert [e.drop_path for e in result.curve] == [TINY.drop_path_at(k) for k in range(3)]
    assert result.curve[0].learning_rate == 0.025 > result.curve[1].learning_rate > result.curve[2].learning_rate
    state = torch.load(checkpoint, weights_only=True)  # a plain-tensor checkpoint: no pickled code
    assert state["identity"]["train_images"] == len(digits.train) + len(digits.val)
    assert result.parameters == build_final_network(DARTS_V2, (1, 8, 8), 10, TINY).parameter_count()


def test_a_resumed_training_ends_exactly_like_the_uninterrupted_one(uninterrupted, digits, tmp_path):
    reference, reference_checkpoint = uninterrupted
    checkpoint = tmp_path / "checkpoint.pt"
    partial = train_final(DARTS_V2, digits, TINY, seed=4, checkpoint=checkpoint, progress=False, max_epochs=1)
    assert partial.epochs == 1
    resumed = train_final(DARTS_V2, digits, TINY, seed=4, checkpoint=checkpoint, resume=True, progress=False)
    assert _without_seconds(resumed.curve) == _without_seconds(reference.curve)
    mine, theirs = torch.load(checkpoint, weights_only=True), torch.load(reference_checkpoint, weights_only=True)
    assert all(torch.equal(mine["model"][k], theirs["model"][k]) for k in theirs["model"])


def test_corrupt_foreign_and_mismatched_checkpoints_are_refused_clearly(uninterrupted, digits, tmp_path):
    _, checkpoint = uninterrupted
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(checkpoint.read_bytes()[:2000])
    with pytest.raises(CheckpointError, match="Cannot read the checkpoint .* corrupt"):
        train_final(DARTS_V2, digits, TINY, seed=4, checkpoint=corrupt, resume=True, progress=False)
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "nascourse-relaxation/1", "model": {}}, foreign)
    with pytest.raises(CheckpointError, match="not a nascourse final training checkpoint"):
        train_final(DARTS_V2, digits, TINY, seed=4, checkpoint=foreign, resume=True, progress=False)
    with pytest.raises(CheckpointError, match="belongs to another final training.*seed"):
        train_final(DARTS_V2, digits, TINY, seed=5, checkpoint=checkpoint, resume=True, progress=False)


# ----------------------------------------------------------------------------------------- the command line
COMMAND = ["train", "--genotype", "DARTS_V2", "--profile", "full", "--epochs", "3", "--cells", "3", "--channels", "4",
           "--train-subset", "34", "--batch-size", "32", "--seed", "2", "--device", "cpu", "--threads", "1"]


@pytest.fixture(scope="module")
def cli_run(fake_root, tmp_path_factory) -> Path:
    """``train --profile full`` on the stand-in CIFAR-10, uninterrupted, as a user would run it."""
    run_dir = tmp_path_factory.mktemp("train") / "run"
    done = subprocess.run([sys.executable, "-m", "nascourse", *COMMAND, "--data", str(fake_root),
                           "--run-dir", str(run_dir)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return run_dir, done.stdout


def test_train_writes_its_settings_checkpoint_curve_and_result(cli_run):
    run_dir, stdout = cli_run
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoint.pt", "config.json", "curve.json", "final.json"]
    settings = json.loads((run_dir / "config.json").read_text())["settings"]
    assert settings["dataset"] == "cifar10" and settings["cutout"] == 16 and settings["drop_path"] == 0.2
    assert settings["auxiliary_weight"] == 0.4 and settings["genotype"] == str(DARTS_V2)
    final = json.loads((run_dir / "final.json").read_text())
    assert final["epochs"] == 3 and final["parameters"] > 0 and 0 <= final["test_accuracy"] <= 1
    curve = json.loads((run_dir / "curve.json").read_text())
    assert [e["epoch"] for e in curve] == [1, 2, 3] and curve[-1]["test_accuracy"] == final["test_accuracy"]
    summary = [line for line in stdout.splitlines() if line.startswith("summary:")]
    assert len(summary) == 1 and "DARTS (2nd order)" in summary[0] and f"{final['parameters']:,} parameters" in summary[0]


def test_a_killed_training_resumed_ends_exactly_like_the_uninterrupted_one(cli_run, fake_root, tmp_path):
    reference, _ = cli_run
    run_dir = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "nascourse", *COMMAND, "--data", str(fake_root),
                                "--run-dir", str(run_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / "checkpoint.pt").exists():  # the first epoch has been saved
            assert process.poll() is None, "the training ended before it could be interrupted"
            assert time.monotonic() < deadline, "no checkpoint after two minutes"
            time.sleep(0.01)
        process.kill()  # SIGKILL: no clean-up, as a power cut or an out-of-memory kill
    finally:
        process.kill()
        process.wait()
    assert len(torch.load(run_dir / "checkpoint.pt", weights_only=True)["curve"]) < 3, "killed too late"

    assert main(["train", "--run-dir", str(run_dir), "--resume", "--data", str(fake_root)]) == 0
    resumed = json.loads((run_dir / "final.json").read_text())
    expected = json.loads((reference / "final.json").read_text())
    assert resumed["test_accuracy"] == expected["test_accuracy"] and resumed["parameters"] == expected["parameters"]
    strip = lambda curve: [{k: v for k, v in e.items() if k != "seconds"} for e in curve]  # noqa: E731
    assert strip(json.loads((run_dir / "curve.json").read_text())) == \
        strip(json.loads((reference / "curve.json").read_text()))


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_a_corrupt_checkpoint_is_a_one_line_error_with_exit_code_2(cli_run, fake_root, tmp_path, capsys):
    run_dir = tmp_path / "corrupt"
    shutil.copytree(cli_run[0], run_dir)
    (run_dir / "checkpoint.pt").write_bytes(b"not a checkpoint at all")
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--data", str(fake_root)]) == 2
    assert "Cannot read the checkpoint" in _one_line_error(capsys)


def test_a_missing_dataset_is_a_one_line_error_with_exit_code_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NASCOURSE_OFFLINE", "1")
    assert main([*COMMAND, "--data", str(tmp_path / "empty"), "--run-dir", str(tmp_path / "run")]) == 1
    assert "'cifar10' is not on this machine" in _one_line_error(capsys)


def test_an_unknown_genotype_and_resuming_with_other_settings_are_refused(cli_run, fake_root, capsys):
    assert main(["train", "--genotype", "NoSuchNet", "--run-dir", str(cli_run[0]) + "-x"]) == 2
    assert "DARTS_V2" in _one_line_error(capsys)
    assert main(["train", "--run-dir", str(cli_run[0]), "--resume", "--epochs", "4", "--data", str(fake_root)]) == 2
    assert "other settings" in _one_line_error(capsys)
    assert main(["train", "--genotype", "DARTS_V2", "--run-dir", str(cli_run[0])]) == 2
    assert "already holds a training" in _one_line_error(capsys)


def test_genotypes_are_named_written_out_or_read_from_a_search_run(tmp_path):
    assert resolve_genotype("DARTS_V2") == (str(DARTS_V2), "DARTS (2nd order)")
    assert resolve_genotype("pc-darts")[1] == "PC-DARTS"
    assert resolve_genotype(str(DARTS_V2))[0] == str(DARTS_V2)
    (tmp_path / "best.txt").write_text(f"{DARTS_V2}\n# darts on cifar10: validation accuracy 0.9\n")
    assert resolve_genotype(str(tmp_path / "best.txt"))[0] == str(DARTS_V2)
    assert resolve_genotype(str(tmp_path))[0] == str(DARTS_V2)  # a run folder: its genotype file
    assert Genotype.parse(resolve_genotype("AmoebaNet")[0]) == PUBLISHED["AmoebaNet-A"].genotype
