import matplotlib

matplotlib.use("Agg")  # tests draw plots without a screen

import torch

# The tests build many tiny networks; on a 2-core CI machine a second intra-op thread mostly waits for the first,
# and when the cores are shared it made a supernet's forward-backward 50x slower. Notebooks choose for themselves.
torch.set_num_threads(1)


import os
from pathlib import Path

import pytest


def nb201_data_folder() -> Path:
    """NAS-Bench-201's three CSVs: ``$NASCOURSE_NB201`` (CI sets it), else ``shared/nb201`` beside the project.
    Tests that need them skip with the reason when they are not there, and fail when the variable is set but the
    files are missing (a CI misconfiguration must not pass as a skip)."""
    from nascourse.bench.nb201 import DATASETS

    configured = os.environ.get("NASCOURSE_NB201")
    folder = Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared" / "nb201"
    if all((folder / spec.file).is_file() for spec in DATASETS.values()):
        return folder
    if configured:
        pytest.fail(f"NASCOURSE_NB201={configured} but NAS-Bench-201's three CSVs are not there.")
    pytest.skip(f"NAS-Bench-201's CSVs are not at {folder}: set NASCOURSE_NB201 to a folder of them (README).")


@pytest.fixture(scope="session")
def nb201_folder() -> Path:
    return nb201_data_folder()


@pytest.fixture
def one_thread():
    """Depthwise convolutions crawl with two threads on a busy 2-core machine; one thread keeps these tests fast."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
