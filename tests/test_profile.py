"""Profiles, devices and seeds: the settings every notebook prints at its top."""

import pytest
import torch

from nascourse.profile import PROFILES, get_profile, seed_everything, select_device, setup


def test_quick_is_the_default_profile(monkeypatch):
    monkeypatch.delenv("NASCOURSE_PROFILE", raising=False)
    assert get_profile().name == "quick"


def test_profile_is_chosen_by_environment_variable(monkeypatch):
    monkeypatch.setenv("NASCOURSE_PROFILE", "full")
    assert get_profile().name == "full"


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("NASCOURSE_PROFILE", "turbo")
    with pytest.raises(ValueError, match="Unknown profile 'turbo'.*quick"):
        get_profile()


def test_full_profile_has_larger_budgets_than_quick():
    quick, full = PROFILES["quick"], PROFILES["full"]
    assert full.epochs > quick.epochs and full.search_trials > quick.search_trials
    assert max(full.channel_choices) > max(quick.channel_choices)


def test_overrides_replace_single_budgets_and_reject_unknown_ones():
    assert get_profile("quick", epochs=1).epochs == 1
    with pytest.raises(ValueError, match="Unknown budget"):
        get_profile("quick", epoch=1)


def test_cpu_device_can_be_forced(monkeypatch):
    monkeypatch.setenv("NASCOURSE_DEVICE", "cpu")
    assert select_device() == torch.device("cpu")


def test_unknown_device_name_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown device 'gpu0'"):
        select_device("gpu0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_missing_cuda_says_what_to_do():
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        select_device("cuda")


def test_auto_device_falls_back_to_cpu_without_accelerators():
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("this machine has an accelerator")
    assert select_device("auto") == torch.device("cpu")


def test_seed_everything_repeats_torch_draws():
    seed_everything(3)
    first = torch.rand(4)
    seed_everything(3)
    assert torch.equal(first, torch.rand(4))


def test_negative_seed_is_rejected():
    with pytest.raises(ValueError, match="non-negative"):
        seed_everything(-1)


def test_setup_prints_profile_device_and_seed(capsys, monkeypatch):
    monkeypatch.delenv("NASCOURSE_PROFILE", raising=False)
    context = setup(seed=7, device="cpu")
    printed = capsys.readouterr().out
    assert "profile: quick" in printed and "device: cpu" in printed and "seed: 7" in printed
    assert context.seed == 7


def test_bad_seed_in_environment_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("NASCOURSE_SEED", "abc")
    with pytest.raises(ValueError, match="NASCOURSE_SEED"):
        setup(device="cpu")


def test_the_profile_is_the_one_source_of_every_budget():
    from nascourse.final_training import FinalTrainingConfig

    full = PROFILES["full"]
    assert FinalTrainingConfig.from_profile(full) == FinalTrainingConfig(), "full: DARTS's CIFAR-10 evaluation"
    quick = FinalTrainingConfig.from_profile(PROFILES["quick"])
    assert (quick.epochs, quick.cells, quick.channels, quick.cutout) == (10, 5, 8, 4)
    # DARTS's search network (8 cells, C = 16, 50 epochs, batch 64) and P-DARTS's last stage (17 cells, 25 epochs)
    assert (full.cells, full.cell_channels, full.relaxation_epochs, full.relaxation_batch_size) == (8, 16, 50, 64)
    assert (full.pdarts_cells, full.pdarts_epochs) == (17, 25)
    for name in ("table_trials", "population", "relaxation_epochs", "final_epochs", "final_cells"):
        assert getattr(full, name) >= getattr(PROFILES["quick"], name), name
