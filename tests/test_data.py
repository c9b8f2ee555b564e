"""Specification of nascourse.data: the datasets, their splits, and the batches cut from them.

MNIST, Fashion-MNIST and CIFAR-10 cannot be downloaded here, so their tests write small
stand-ins in the real on-disk formats (idx files, CIFAR python pickles) and let torchvision
read them, exactly as it reads the real files.
"""

from __future__ import annotations

import hashlib
import pickle
import struct
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torchvision

from nascourse import data
from nascourse.data import (
    DATASETS,
    DatasetSplits,
    DatasetUnavailableError,
    Split,
    augment_batch,
    available_offline,
    iterate_batches,
    load_dataset,
)

TORCHVISION_DATASETS = ("mnist", "fashion_mnist", "cifar10")
FAKE_TRAIN, FAKE_TEST, FAKE_VALIDATION = 60, 20, 10  # image counts of the stand-in files


# --------------------------------------------------------------------------- helpers


def fake_label(image_id: int, test: bool) -> int:
    # Test labels use another rule, so a mix-up of the two files would show.
    return (image_id + (5 if test else 0)) % 10


def write_fake_mnist(root: Path, folder: str = "MNIST") -> None:
    """Write the four idx files torchvision's MNIST reads, uncompressed, in <root>/<folder>/raw.

    Image ``i`` carries its id in pixel (0, 0) and 200 in pixel (0, 1) (to catch transposed
    images); everything else is 0. Its label is ``fake_label(i)``.
    """
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    for prefix, count, test in (("train", FAKE_TRAIN, False), ("t10k", FAKE_TEST, True)):
        images = np.zeros((count, 28, 28), dtype=np.uint8)
        images[:, 0, 0] = np.arange(count)
        images[:, 0, 1] = 200
        labels = np.array([fake_label(i, test) for i in range(count)], dtype=np.uint8)
        # idx format: big-endian magic (0x0803: unsigned bytes, 3 dimensions), then the sizes.
        image_header = struct.pack(">IIII", 2051, count, 28, 28)
        label_header = struct.pack(">II", 2049, count)  # 0x0801: unsigned bytes, 1 dimension
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(image_header + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(label_header + labels.tobytes())


def write_fake_cifar10(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Write CIFAR-10's python batches in <root>/cifar-10-batches-py, FAKE_TRAIN images over 5 batches.

    Rows are 3072 bytes, channel-major (1024 red, 1024 green, 1024 blue, each row by row).
    Image ``i``: red (0, 0) = i, red (0, 1) = 200, green everywhere = 10 * label, blue (1, 0) = 50.
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)

    def batch(ids: range, test: bool) -> dict:
        labels = [fake_label(i, test) for i in ids]
        planes = np.zeros((len(ids), 3, 32, 32), dtype=np.uint8)
        planes[:, 0, 0, 0] = list(ids)
        planes[:, 0, 0, 1] = 200
        planes[:, 1] = (10 * np.array(labels, dtype=np.uint8))[:, None, None]
        planes[:, 2, 1, 0] = 50
        # The real files are Python 2 pickles; read with encoding="latin1" their keys are str.
        return {"data": planes.reshape(len(ids), 3072), "labels": labels}

    per_batch = FAKE_TRAIN // 5
    contents = {f"data_batch_{b + 1}": batch(range(b * per_batch, (b + 1) * per_batch), False) for b in range(5)}
    contents["test_batch"] = batch(range(FAKE_TEST), True)
    contents["batches.meta"] = {"label_names": [f"class {c}" for c in range(10)]}
    md5 = {}
    for name, content in contents.items():
        payload = pickle.dumps(content, protocol=2)
        (folder / name).write_bytes(payload)
        md5[name] = hashlib.md5(payload).hexdigest()
    # torchvision pins the md5 sums of the real CIFAR-10 files and refuses others. Point it at
    # the sums of these stand-ins instead (patching CIFAR10._check_integrity alone is not enough:
    # the metadata file is checked separately). Its loading code then runs unchanged.
    cls = torchvision.datasets.CIFAR10
    monkeypatch.setattr(cls, "train_list", [[f"data_batch_{b + 1}", md5[f"data_batch_{b + 1}"]] for b in range(5)])
    monkeypatch.setattr(cls, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5["batches.meta"]})


def write_fake(name: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if name == "cifar10":
        write_fake_cifar10(root, monkeypatch)
    else:
        write_fake_mnist(root, "MNIST" if name == "mnist" else "FashionMNIST")


def raw_pixels(dataset: DatasetSplits, split: Split) -> torch.Tensor:
    """Undo the normalisation: the original byte values 0..255, as integers."""
    mean = torch.tensor(dataset.mean).view(1, -1, 1, 1)
    std = torch.tensor(dataset.std).view(1, -1, 1, 1)
    return (split.x * std + mean).mul(255).round().long()


@pytest.fixture
def small_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hold out FAKE_VALIDATION images instead of 5,000, so the stand-in files can stay tiny."""
    monkeypatch.setattr(data, "VALIDATION_SIZE", FAKE_VALIDATION)


@pytest.fixture
def forbid_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if torchvision tries to download anything (FashionMNIST inherits MNIST's)."""

    def download(self) -> None:
        pytest.fail(f"{type(self).__name__}.download() was called")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", download)
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "download", download)


@pytest.fixture(scope="module")
def digits() -> DatasetSplits:
    return load_dataset("digits")


def row_set(split: Split) -> set[bytes]:
    return {row.numpy().tobytes() for row in split.x.flatten(1)}


# --------------------------------------------------------------------------- digits


def test_digits_loads_offline_from_an_empty_folder(tmp_path, monkeypatch, forbid_downloads):
    monkeypatch.setenv("NASCOURSE_OFFLINE", "1")
    dataset = load_dataset("digits", root=tmp_path)
    assert str(dataset) == "digits: train 1077, val 360, test 360 images of 1x8x8, 10 classes"
    assert list(tmp_path.iterdir()) == []


def test_digits_splits_add_up_to_all_1797_images(digits):
    assert len(digits.train) + len(digits.val) + len(digits.test) == 1797
    assert (len(digits.train), len(digits.val), len(digits.test)) == (1077, 360, 360)


def test_digits_splits_share_no_image(digits):
    # The 1,797 UCI digits are pairwise distinct, so a shared row would be a shared image.
    train, val, test = row_set(digits.train), row_set(digits.val), row_set(digits.test)
    assert len(train) + len(val) + len(test) == 1797
    assert not (train & val) and not (train & test) and not (val & test)


def test_every_digit_class_appears_in_every_split(digits):
    for split in (digits.train, digits.val, digits.test):
        assert sorted(split.y.unique().tolist()) == list(range(10))


def test_digits_splits_are_stratified_by_class(digits):
    # Each split holds its share (60/20/20) of every class, give or take rounding.
    everything = torch.cat([digits.train.y, digits.val.y, digits.test.y]).bincount()
    for split, share in ((digits.train, 0.6), (digits.val, 0.2), (digits.test, 0.2)):
        assert ((split.y.bincount() - share * everything).abs() <= 1).all()


def test_digits_have_the_documented_shapes_and_types(digits):
    assert digits.input_shape == (1, 8, 8) and digits.num_classes == 10
    assert digits.train.x.shape == (1077, 1, 8, 8)
    assert digits.train.x.dtype == torch.float32 and digits.train.y.dtype == torch.int64
    assert digits.class_names == tuple("0123456789")


def test_digits_are_never_augmented(digits):
    # A mirrored digit is another symbol, so flips would teach the model wrong labels.
    assert digits.augment is False


def test_training_split_is_normalised_to_mean_0_and_std_1(digits):
    assert digits.train.x.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert digits.train.x.std().item() == pytest.approx(1.0, abs=1e-4)


def test_validation_is_normalised_with_training_statistics_not_its_own(digits):
    # Its mean is near 0 but not forced to 0: no statistics came from the validation images.
    assert abs(digits.val.x.mean().item()) < 0.1
    assert digits.val.x.mean().item() != pytest.approx(0.0, abs=1e-5)


def test_same_split_seed_gives_the_same_split():
    first, second = load_dataset("digits", split_seed=3), load_dataset("digits", split_seed=3)
    assert torch.equal(first.val.x, second.val.x) and torch.equal(first.test.y, second.test.y)


def test_different_split_seed_gives_a_different_split(digits):
    other = load_dataset("digits", split_seed=1)
    assert row_set(other.val) != row_set(digits.val)


def test_loading_does_not_touch_the_global_random_state():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    load_dataset("digits", train_subset=100)
    assert torch.equal(torch.rand(3), expected)


def test_dataset_names_accept_any_case_and_dashes():
    assert load_dataset("DIGITS").name == "digits"


def test_unknown_dataset_name_raises_value_error_listing_the_valid_names():
    with pytest.raises(ValueError, match="imagenet") as raised:
        load_dataset("imagenet")
    for name in DATASETS:
        assert name in str(raised.value)


# --------------------------------------------------------------------------- train_subset


def test_train_subset_caps_only_the_training_split(digits):
    small = load_dataset("digits", train_subset=100)
    assert len(small.train) == 100
    assert torch.equal(small.val.y, digits.val.y) and torch.equal(small.test.y, digits.test.y)


def test_train_subset_is_drawn_from_the_training_split_deterministically(digits):
    small, again = load_dataset("digits", train_subset=50), load_dataset("digits", train_subset=50)
    assert torch.equal(small.train.y, again.train.y)
    # Compared on labels and the number of distinct images (the normalisation differs).
    assert len(row_set(small.train)) == 50
    assert len(small.train.y.unique()) > 5  # shuffled first, not the first few classes


def test_train_subset_larger_than_the_split_keeps_the_whole_split(digits):
    assert len(load_dataset("digits", train_subset=10_000).train) == len(digits.train)


@pytest.mark.parametrize("bad", [0, -5, 2.5, "100", True])
def test_train_subset_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="train_subset"):
        load_dataset("digits", train_subset=bad)


# --------------------------------------------------------------------------- splits and devices


def test_train_and_val_concatenates_the_two_splits(digits):
    both = digits.train_and_val()
    assert len(both) == len(digits.train) + len(digits.val)
    assert torch.equal(both.x[: len(digits.train)], digits.train.x)
    assert torch.equal(both.y[len(digits.train) :], digits.val.y)


def test_split_rejects_images_and_labels_of_different_lengths():
    with pytest.raises(ValueError):
        Split(torch.zeros(3, 1, 8, 8), torch.zeros(2, dtype=torch.long))


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_every_split_ends_on_the_requested_device(device):
    dataset = load_dataset("digits", device=torch.device(device))
    for split in (dataset.train, dataset.val, dataset.test):
        assert split.x.device.type == device and split.y.device.type == device
    moved = dataset.to("cpu")
    assert moved.train.x.device.type == "cpu" and moved.name == "digits"


# --------------------------------------------------------------------------- torchvision datasets


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_mnist_style_datasets_load_from_idx_files(name, tmp_path, monkeypatch, small_validation, forbid_downloads):
    write_fake(name, tmp_path, monkeypatch)
    dataset = load_dataset(name, root=tmp_path)
    assert (len(dataset.train), len(dataset.val), len(dataset.test)) == (50, 10, 20)
    assert dataset.input_shape == (1, 28, 28) and dataset.num_classes == 10 and not dataset.augment
    assert dataset.train.x.shape == (50, 1, 28, 28)
    assert dataset.train.x.dtype == torch.float32 and dataset.train.y.dtype == torch.int64
    # Every image keeps its label, and validation is held out of the official training images.
    seen = []
    for split, test in ((dataset.train, False), (dataset.val, False), (dataset.test, True)):
        pixels = raw_pixels(dataset, split)
        ids = pixels[:, 0, 0, 0].tolist()
        assert split.y.tolist() == [fake_label(i, test) for i in ids]
        assert (pixels[:, 0, 0, 1] == 200).all() and (pixels[:, 0, 1, 0] == 0).all()  # not transposed
        seen.append(sorted(ids))
    assert sorted(seen[0] + seen[1]) == list(range(FAKE_TRAIN))
    assert seen[2] == list(range(FAKE_TEST))


def test_fashion_mnist_accepts_its_usual_spelling(tmp_path, monkeypatch, small_validation):
    write_fake("fashion_mnist", tmp_path, monkeypatch)
    assert load_dataset("Fashion-MNIST", root=tmp_path).name == "fashion_mnist"


def test_cifar10_loads_from_python_pickle_batches(tmp_path, monkeypatch, small_validation, forbid_downloads):
    write_fake("cifar10", tmp_path, monkeypatch)
    dataset = load_dataset("cifar10", root=tmp_path)
    assert (len(dataset.train), len(dataset.val), len(dataset.test)) == (50, 10, 20)
    assert dataset.input_shape == (3, 32, 32) and dataset.num_classes == 10 and dataset.augment
    assert dataset.train.x.dtype == torch.float32 and dataset.train.y.dtype == torch.int64
    assert dataset.class_names[3] == "class 3" and len(dataset.mean) == len(dataset.std) == 3
    seen = []
    for split, test in ((dataset.train, False), (dataset.val, False), (dataset.test, True)):
        pixels = raw_pixels(dataset, split)
        ids = pixels[:, 0, 0, 0].tolist()
        assert split.y.tolist() == [fake_label(i, test) for i in ids]
        # Channels and rows/columns in the right places after the HWC -> CHW conversion.
        assert (pixels[:, 0, 0, 1] == 200).all() and (pixels[:, 0, 1, 0] == 0).all()
        assert (pixels[:, 1] == 10 * split.y.view(-1, 1, 1)).all()
        assert (pixels[:, 2, 1, 0] == 50).all() and (pixels[:, 2, 0, 1] == 0).all()
        seen.append(sorted(ids))
    assert sorted(seen[0] + seen[1]) == list(range(FAKE_TRAIN))
    assert seen[2] == list(range(FAKE_TEST))


def test_validation_holds_out_5000_official_training_images():
    assert data.VALIDATION_SIZE == 5000


def test_a_training_set_too_small_for_the_holdout_is_reported(tmp_path, monkeypatch):
    write_fake("mnist", tmp_path, monkeypatch)  # 60 images, fewer than the 5,000 to hold out
    with pytest.raises(ValueError, match="too few"):
        load_dataset("mnist", root=tmp_path)


# --------------------------------------------------------------------------- missing files


def assert_explains_missing_files(error: DatasetUnavailableError, name: str, root: Path) -> None:
    message = str(error)
    assert repr(name) in message
    assert str(root.resolve()) in message
    assert "network" in message and "digits" in message


@pytest.mark.parametrize("name", TORCHVISION_DATASETS)
def test_missing_files_while_offline_raise_dataset_unavailable(name, tmp_path, monkeypatch, forbid_downloads):
    monkeypatch.setenv("NASCOURSE_OFFLINE", "1")
    with pytest.raises(DatasetUnavailableError) as raised:
        load_dataset(name, root=tmp_path)
    assert_explains_missing_files(raised.value, name, tmp_path)
    assert "NASCOURSE_OFFLINE" in str(raised.value)


@pytest.mark.parametrize("name", TORCHVISION_DATASETS)
def test_download_false_never_downloads(name, tmp_path, monkeypatch, forbid_downloads):
    monkeypatch.delenv("NASCOURSE_OFFLINE", raising=False)
    with pytest.raises(DatasetUnavailableError) as raised:
        load_dataset(name, root=tmp_path, download=False)
    assert_explains_missing_files(raised.value, name, tmp_path)


def test_the_error_names_the_files_expected(tmp_path):
    with pytest.raises(DatasetUnavailableError) as raised:
        load_dataset("cifar10", root=tmp_path, download=False)
    assert "cifar-10-batches-py" in str(raised.value) and "data_batch_1" in str(raised.value)


@pytest.mark.parametrize("offline_setting", [None, "0", ""])
def test_a_failed_download_raises_a_short_dataset_unavailable_error(offline_setting, tmp_path, monkeypatch):
    if offline_setting is None:
        monkeypatch.delenv("NASCOURSE_OFFLINE", raising=False)
    else:
        monkeypatch.setenv("NASCOURSE_OFFLINE", offline_setting)  # "0" and "" do not mean offline
    attempts = []

    def download(self) -> None:
        attempts.append(type(self).__name__)
        raise URLError("no network here")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", download)
    with pytest.raises(DatasetUnavailableError) as raised:
        load_dataset("mnist", root=tmp_path)
    assert attempts == ["MNIST"]
    assert_explains_missing_files(raised.value, "mnist", tmp_path)
    assert "no network here" in str(raised.value)
    # Raised `from None`: the urllib traceback does not bury the message.
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_dataset_unavailable_is_a_runtime_error():
    assert issubclass(DatasetUnavailableError, RuntimeError)


# --------------------------------------------------------------------------- available_offline


def test_available_offline_on_an_empty_folder_lists_only_digits(tmp_path, forbid_downloads):
    expected = {"digits": True, "mnist": False, "fashion_mnist": False, "cifar10": False}
    assert available_offline(tmp_path) == expected


def test_available_offline_sees_mnist_once_its_files_are_there(tmp_path, monkeypatch, forbid_downloads):
    write_fake("mnist", tmp_path, monkeypatch)
    offline = available_offline(tmp_path)
    assert offline["mnist"] is True and offline["fashion_mnist"] is False


def test_available_offline_sees_cifar10_once_its_files_are_there(tmp_path, monkeypatch):
    write_fake("cifar10", tmp_path, monkeypatch)
    assert available_offline(str(tmp_path))["cifar10"] is True


# --------------------------------------------------------------------------- iterate_batches


def tiny_split(n: int = 10) -> Split:
    # Image i is filled with the value i, so a batch shows which images it holds.
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 4, 4).contiguous()
    return Split(x, torch.arange(n))


def test_one_epoch_yields_every_example_exactly_once():
    labels = torch.cat([y for _, y in iterate_batches(tiny_split(10), batch_size=3)])
    assert sorted(labels.tolist()) == list(range(10))


def test_images_and_labels_stay_paired_in_batches():
    for x, y in iterate_batches(tiny_split(10), batch_size=4):
        assert torch.equal(x[:, 0, 0, 0].long(), y)


def test_the_last_partial_batch_is_included():
    sizes = [len(y) for _, y in iterate_batches(tiny_split(10), batch_size=4)]
    assert sizes == [4, 4, 2]


def test_the_same_generator_seed_gives_the_same_order():
    def order(seed: int) -> list[int]:
        generator = torch.Generator().manual_seed(seed)
        return torch.cat([y for _, y in iterate_batches(tiny_split(50), 8, generator=generator)]).tolist()

    assert order(7) == order(7)
    assert order(7) != order(8)


def test_without_shuffle_batches_follow_the_split_order():
    labels = torch.cat([y for _, y in iterate_batches(tiny_split(10), 3, shuffle=False)])
    assert labels.tolist() == list(range(10))


def test_batch_size_must_be_at_least_one():
    with pytest.raises(ValueError, match="batch_size"):
        next(iterate_batches(tiny_split(), 0))


def test_augment_flag_augments_the_training_batches():
    split = Split(torch.randn(64, 3, 8, 8), torch.arange(64))
    generator = torch.Generator().manual_seed(0)
    for x, y in iterate_batches(split, 16, generator=generator, augment=True):
        assert x.shape == (len(y), 3, 8, 8)
        assert not torch.equal(x, split.x[y])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_generator_on_another_device_is_rejected_with_advice():
    with pytest.raises(ValueError, match="torch.Generator"):
        next(iterate_batches(tiny_split().to("cuda"), 4, generator=torch.Generator()))


# --------------------------------------------------------------------------- augment_batch


def test_augment_keeps_shape_dtype_and_device():
    x = torch.randn(16, 3, 32, 32)
    out = augment_batch(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device


def test_without_padding_each_image_is_kept_or_mirrored_and_both_happen():
    x = torch.randn(64, 3, 8, 8)
    out = augment_batch(x, torch.Generator().manual_seed(0), padding=0)
    kept = (out == x).flatten(1).all(1)
    mirrored = (out == x.flip(3)).flatten(1).all(1)
    assert (kept | mirrored).all()
    assert kept.any() and mirrored.any()


def test_each_augmented_image_is_a_shifted_window_of_the_zero_padded_image():
    padding = 2
    x = torch.randn(24, 2, 6, 6)
    out = augment_batch(x, torch.Generator().manual_seed(1), padding=padding)
    padded = torch.nn.functional.pad(x, (padding,) * 4)
    offsets = [(top, left) for top in range(2 * padding + 1) for left in range(2 * padding + 1)]
    for image, source in zip(out, padded):
        windows = [source[:, top : top + 6, left : left + 6] for top, left in offsets]
        assert any(torch.equal(image, w) or torch.equal(image, w.flip(2)) for w in windows)
    assert not torch.equal(out, x)  # some images did move


def test_offsets_are_drawn_per_image():
    # Identical images in, different crops out: the offsets are not shared by the batch.
    x = torch.randn(1, 1, 8, 8).expand(32, 1, 8, 8).contiguous()
    out = augment_batch(x, torch.Generator().manual_seed(0))
    assert len({image.numpy().tobytes() for image in out}) > 4


def test_augment_with_the_same_generator_seed_repeats():
    x = torch.randn(8, 3, 8, 8)
    first = augment_batch(x, torch.Generator().manual_seed(5))
    assert torch.equal(first, augment_batch(x, torch.Generator().manual_seed(5)))


def test_negative_padding_is_rejected():
    with pytest.raises(ValueError, match="padding"):
        augment_batch(torch.zeros(2, 1, 4, 4), padding=-1)
