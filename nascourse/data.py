"""The datasets of the course, split the way a search must use them.

Every dataset comes as three disjoint splits, following the rule of survey Sec. 2:
*train the candidate on the training set, rank it on the validation set; the test set
is touched only for the final performance evaluation.* A search that picks its winner
by test accuracy has tuned on the test set, and the number it reports is optimistic.

* ``digits``: the 1,797 UCI handwritten digits (8x8) that ship with scikit-learn, so
  it works offline. Stratified 60% / 20% / 20% split.
* ``mnist``, ``fashion_mnist`` (28x28 grey) and ``cifar10`` (32x32 colour): read from
  ``root`` (MNIST's idx files through torchvision; CIFAR-10's python batches by
  :func:`read_cifar10_batch`, without torchvision's checksums, so stand-in files in the
  real format load too). Validation is 5,000 images held out of the official training
  set (a stand-in set with at most 5,000 training images holds out a tenth of them
  instead, if it has at least 100); the test split is the official test set. They need
  a network once, to download (``python -m nascourse doctor`` says which ones are
  already here).

All images are normalised per channel with statistics of the *training* split only
(validation and test images must not influence anything the model is trained with).
The splits are whole tensors living on the device, and :func:`iterate_batches` slices
batches out of them: for datasets this small that is much faster than a DataLoader
with worker processes, and it behaves the same on a laptop CPU and on a GPU.
"""

from __future__ import annotations

import os
import pickle
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "DATASETS",
    "VALIDATION_SIZE",
    "DatasetUnavailableError",
    "default_data_root",
    "Split",
    "DatasetSplits",
    "load_dataset",
    "iterate_batches",
    "augment_batch",
    "cutout",
    "available_offline",
    "read_cifar10_batch",
]

DATASETS: tuple[str, ...] = ("digits", "mnist", "fashion_mnist", "cifar10")

# Images held out of the official training set of mnist / fashion_mnist / cifar10 for validation.
VALIDATION_SIZE = 5000
# A training set with at most VALIDATION_SIZE images (stand-in files for tests, a trimmed copy) holds out
# a tenth of itself instead, if that tenth has at least this many images; smaller sets are refused.
SMALL_SET_MIN_VALIDATION = 10


def default_data_root() -> Path:
    """Where torchvision datasets live: ``NASCOURSE_DATA`` if set, else the course's ``data/`` folder
    (so a notebook in ``notebooks/`` and a script at the root share one copy), else ``./data``."""
    if os.environ.get("NASCOURSE_DATA"):
        return Path(os.environ["NASCOURSE_DATA"])
    course_data = Path(__file__).resolve().parent.parent / "data"
    return course_data if course_data.is_dir() else Path("data")


class DatasetUnavailableError(RuntimeError):
    """A dataset's files are not on this machine and could not (or may not) be downloaded."""


@dataclass(repr=False)
class Split:
    """One split of a dataset: images ``x`` (N, C, H, W) float32 and labels ``y`` (N,) int64."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if self.x.ndim != 4 or self.y.ndim != 1 or len(self.x) != len(self.y):
            raise ValueError(
                f"A split needs images (N, C, H, W) and labels (N,), got {tuple(self.x.shape)} "
                f"and {tuple(self.y.shape)}."
            )

    def __len__(self) -> int:
        return len(self.y)

    def __repr__(self) -> str:
        c, h, w = self.x.shape[1:]
        return f"Split({len(self)} images of {c}x{h}x{w} on {self.x.device})"

    def to(self, device: str | torch.device) -> Split:
        return Split(self.x.to(device), self.y.to(device))


@dataclass(repr=False)
class DatasetSplits:
    """A dataset as training, validation and test splits, plus what a model needs to know of it."""

    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int
    input_shape: tuple[int, int, int]  # (C, H, W)
    # Random crops and horizontal flips suit natural images (cifar10), never digits:
    # a mirrored 2 or 7 is not a digit any more.
    augment: bool
    # Per-channel statistics the images were normalised with (x = (pixel - mean) / std, pixels
    # in [0, 1]); keep them to show images in their original colours.
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    class_names: tuple[str, ...] = ()

    def summary(self) -> str:
        c, h, w = self.input_shape
        return (
            f"{self.name}: train {len(self.train)}, val {len(self.val)}, test {len(self.test)} "
            f"images of {c}x{h}x{w}, {self.num_classes} classes"
        )

    __repr__ = summary
    __str__ = summary

    def to(self, device: str | torch.device) -> DatasetSplits:
        return replace(self, train=self.train.to(device), val=self.val.to(device), test=self.test.to(device))

    def train_and_val(self) -> Split:
        """Training and validation images together, for the final training of the chosen architecture.

        Only once the search is over: the validation images then stop ranking candidates and
        become training data, before the one report on the test split.
        """
        return Split(torch.cat([self.train.x, self.val.x]), torch.cat([self.train.y, self.val.y]))


# --------------------------------------------------------------------------- loading


def load_dataset(
    name: str = "digits",
    root: str | Path | None = None,
    device: str | torch.device = "cpu",
    train_subset: int | None = None,
    download: bool | None = None,
    split_seed: int = 0,
) -> DatasetSplits:
    """Load dataset ``name`` (one of :data:`DATASETS`) as normalised train / val / test splits on ``device``.

    ``root`` is the folder holding the torchvision datasets (``digits`` needs none); by
    default :func:`default_data_root`.
    ``train_subset`` caps the number of training images, for quick runs; validation and
    test stay whole so that scores remain comparable. ``split_seed`` fixes which images
    go to which split; it is deliberately separate from the run's seed, so that repeated
    runs of a search are ranked on the same validation images.

    ``download``: ``None`` downloads missing files unless the environment variable
    ``NASCOURSE_OFFLINE`` is set (to anything but ``0``); ``False`` never downloads;
    ``True`` always may. Missing files that are not downloaded raise
    :class:`DatasetUnavailableError`, which says where the files belong.
    """
    key = _canonical_name(name)
    if train_subset is not None and (
        isinstance(train_subset, bool) or not isinstance(train_subset, (int, np.integer)) or train_subset < 1
    ):
        raise ValueError(f"train_subset must be a positive integer or None, got {train_subset!r}.")
    device = torch.device(device)

    if key == "digits":
        images, labels, train_idx, val_idx, test_idx, class_names = _load_digits(split_seed)
    else:
        images, labels, train_idx, val_idx, test_idx, class_names = _load_torchvision(
            key, Path(root) if root is not None else default_data_root(), download, split_seed
        )
    if train_subset is not None:
        # Shuffle before cutting, so that a subset is not, say, the first digits of a file.
        order = torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(split_seed))
        train_idx = train_idx[order[:train_subset]]

    # Move the compact uint8 images first and convert split by split on the device: on a GPU
    # that is quicker, and no float copy of the whole dataset is made (CIFAR-10 is 700 MB).
    images, labels = images.to(device), labels.to(device)

    def pixels(indices: torch.Tensor) -> torch.Tensor:
        return images[indices.to(device)].float().div_(_max_pixel(key))

    train_x = pixels(train_idx)
    # Statistics of the training images only: validation and test images stay "unseen".
    mean = train_x.mean(dim=(0, 2, 3), keepdim=True)
    std = train_x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-8)

    def split(x: torch.Tensor, indices: torch.Tensor) -> Split:
        return Split(x.sub_(mean).div_(std), labels[indices.to(device)])

    return DatasetSplits(
        name=key,
        train=split(train_x, train_idx),
        val=split(pixels(val_idx), val_idx),
        test=split(pixels(test_idx), test_idx),
        num_classes=len(class_names),
        input_shape=tuple(images.shape[1:]),
        augment=key == "cifar10",
        mean=tuple(mean.flatten().tolist()),
        std=tuple(std.flatten().tolist()),
        class_names=tuple(class_names),
    )


def _canonical_name(name: str) -> str:
    """'Fashion-MNIST', 'fashion_mnist' and 'FashionMNIST' all mean the same dataset."""

    def squash(text: str) -> str:
        return "".join(ch for ch in text.lower() if ch.isalnum())

    wanted = squash(str(name))
    for known in DATASETS:
        if squash(known) == wanted:
            return known
    raise ValueError(f"Unknown dataset {name!r}. Choose one of {', '.join(DATASETS)}.")


def _max_pixel(key: str) -> float:
    # UCI digits count pixels on a 0..16 scale, the others are bytes.
    return 16.0 if key == "digits" else 255.0


# Each loader returns: every image (N, C, H, W), every label (N,), the indices of the
# three splits into them, and the class names.
_Loaded = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[str]]


def _load_digits(split_seed: int) -> _Loaded:
    # imported here: scikit-learn adds about a second to `import nascourse`, and only the digits need it
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    labels = digits.target
    everything = np.arange(len(labels))
    # Stratified: with 180 images per class, each split should hold every class in proportion.
    rest, test_idx = train_test_split(everything, test_size=0.2, stratify=labels, random_state=split_seed)
    train_idx, val_idx = train_test_split(
        rest, test_size=0.25, stratify=labels[rest], random_state=split_seed  # 25% of 80% = 20%
    )
    # (1797, 1, 8, 8); the values are whole counts 0..16, so bytes hold them exactly like the others.
    images = torch.from_numpy(digits.images.astype(np.uint8)).unsqueeze(1)
    return (
        images,
        torch.from_numpy(labels).long(),
        torch.from_numpy(train_idx),
        torch.from_numpy(val_idx),
        torch.from_numpy(test_idx),
        [str(digit) for digit in range(10)],
    )


@dataclass(frozen=True)
class _FileSource:
    """Where torchvision keeps a dataset's files, to check for them and to explain them."""

    key: str
    folder: Path
    files: tuple[str, ...]
    download_size: str
    origin: str  # what the files come from, for someone copying them by hand

    def present(self) -> bool:
        return all((self.folder / name).is_file() for name in self.files)


def _torchvision_class(key: str) -> type:
    from torchvision import datasets  # imported here: heavy, and only the downloadable image datasets need it

    return {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST, "cifar10": datasets.CIFAR10}[key]


def _file_source(key: str, root: Path) -> _FileSource:
    """The files torchvision reads, taken from its own class attributes so the two cannot drift apart."""
    cls = _torchvision_class(key)
    root = root.expanduser().resolve()
    if key == "cifar10":
        files = [name for name, _md5 in cls.train_list + cls.test_list] + [cls.meta["filename"]]
        origin = f"extracted from {cls.filename}"
        return _FileSource(key, root / cls.base_folder, tuple(files), "170 MB", origin)
    # MNIST and Fashion-MNIST are read from the uncompressed idx files in <root>/<ClassName>/raw.
    files = [os.path.splitext(name)[0] for name, _md5 in cls.resources]
    size = "12 MB" if key == "mnist" else "30 MB"
    origin = "uncompressed from the official .gz files"
    return _FileSource(key, root / cls.__name__ / "raw", tuple(files), size, origin)


def _download_refusal(download: bool | None) -> str | None:
    """Why missing files may not be downloaded, or None when they may."""
    if download is False:
        return "download=False forbids fetching them"
    if download is None and os.environ.get("NASCOURSE_OFFLINE", "") not in {"", "0"}:
        return "NASCOURSE_OFFLINE is set, so nothing was downloaded"
    return None


def _read_torchvision(key: str, root: Path, download: bool | None) -> tuple:
    """MNIST / Fashion-MNIST through torchvision: (train images, train labels, test images, test labels, classes)."""
    cls = _torchvision_class(key)
    try:
        # Never let torchvision reach for the network on the first try.
        train_set, test_set = cls(root, train=True, download=False), cls(root, train=False, download=False)
    except RuntimeError:  # torchvision's "Dataset not found or corrupted"
        refusal = _download_refusal(download)
        if refusal is not None:
            raise DatasetUnavailableError(_unavailable_message(key, root, refusal)) from None
        try:
            train_set, test_set = cls(root, train=True, download=True), cls(root, train=False, download=True)
        except Exception as error:  # URLError, OSError, RuntimeError, a failed checksum...
            raise DatasetUnavailableError(_unavailable_message(key, root, _download_failure(error))) from None
    return (*_as_tensors(train_set), *_as_tensors(test_set), list(train_set.classes))


def _download_failure(error: Exception) -> str:
    # torchvision lists every mirror it tried; the last line holds the underlying cause.
    last_line = (str(error).strip().splitlines() or [""])[-1]
    return f"downloading them failed ({type(error).__name__}: {last_line})"


def _read_cifar10(root: Path, download: bool | None) -> tuple:
    """CIFAR-10's python batches, read here (torchvision would insist on the real files' md5 sums).

    Missing files are downloaded with torchvision (which checks the archive) when that is allowed."""
    source = _file_source("cifar10", root)
    if not source.present():
        refusal = _download_refusal(download)
        if refusal is not None:
            raise DatasetUnavailableError(_unavailable_message("cifar10", root, refusal))
        try:  # downloads cifar-10-python.tar.gz, checks it and extracts the batches
            _torchvision_class("cifar10")(root, train=True, download=True)
        except Exception as error:
            raise DatasetUnavailableError(_unavailable_message("cifar10", root, _download_failure(error))) from None
    names = source.files
    train = [read_cifar10_batch(source.folder / name) for name in names if name.startswith("data_batch")]
    test_images, test_labels = read_cifar10_batch(source.folder / "test_batch")
    classes = _read_cifar10_classes(source.folder / "batches.meta")
    return (torch.cat([x for x, _ in train]), torch.cat([y for _, y in train]), test_images, test_labels, classes)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, strings and numpy arrays, and nothing else: a pickle can name any Python
    callable, and a data file has no business running code."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
               ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a CIFAR-10 batch never does")
        return super().find_class(module, name)  # numpy.core (NumPy 1, the real files) still resolves in NumPy 2


def _unpickle(path: Path) -> object:
    try:
        with open(path, "rb") as file:
            # The official files are Python 2 pickles: latin1 turns their byte strings into str keys.
            return _ArrayUnpickler(file, encoding="latin1").load()
    except Exception as error:
        raise ValueError(f"{path} is not a readable CIFAR-10 python file ({type(error).__name__}: {error}). "
                         "Extract cifar-10-python.tar.gz again, or delete the folder to download it anew.") from None


def _field(content: dict, key: str):
    return content[key] if key in content else content.get(key.encode())


def read_cifar10_batch(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch file of CIFAR-10's python version: (N, 3, 32, 32) uint8 images and (N,) int64 labels.

    A batch is a pickled dict whose ``data`` is an (N, 3072) uint8 array, each row the red, green and
    blue 32x32 planes row by row, and whose ``labels`` are N integers in 0..9. A file that is not that
    raises ``ValueError`` naming the file and what is wrong with it.
    """
    path = Path(path)
    content = _unpickle(path)
    problem = None
    if not isinstance(content, dict) or _field(content, "data") is None or _field(content, "labels") is None:
        problem = "it is not a dict with 'data' and 'labels'"
    else:
        images, labels = _field(content, "data"), np.asarray(_field(content, "labels"))
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != 3072:
            problem = (f"'data' must be an (N, 3072) uint8 array, got "
                       f"{getattr(images, 'shape', type(images).__name__)} {getattr(images, 'dtype', '')}".rstrip())
        elif labels.shape != (len(images),) or (len(labels) and (labels.dtype.kind not in "iu" or labels.min() < 0
                                                                  or labels.max() > 9)):
            problem = f"'labels' must be {len(images)} integers in 0..9, got shape {labels.shape} ({labels.dtype})"
    if problem is not None:
        raise ValueError(f"{path} is not a CIFAR-10 python batch: {problem}. Extract cifar-10-python.tar.gz "
                         "again, or delete the folder to download it anew.")
    x = torch.from_numpy(np.ascontiguousarray(images)).view(-1, 3, 32, 32)
    return x, torch.from_numpy(labels.astype(np.int64))


def _read_cifar10_classes(path: Path) -> list[str]:
    content = _unpickle(path)
    names = _field(content, "label_names") if isinstance(content, dict) else None
    if not isinstance(names, list) or len(names) != 10:
        raise ValueError(f"{path} is not CIFAR-10's batches.meta: it needs 'label_names', a list of 10 names.")
    return [name.decode() if isinstance(name, bytes) else str(name) for name in names]


def _validation_size(key: str, official_train: int, root: Path) -> int:
    """VALIDATION_SIZE, or a tenth of a training set too small for it (see SMALL_SET_MIN_VALIDATION)."""
    if official_train > VALIDATION_SIZE:
        return VALIDATION_SIZE
    if official_train // 10 >= SMALL_SET_MIN_VALIDATION:
        warnings.warn(f"{key}: the training set in {root} has only {official_train} images; holding out a tenth "
                      f"({official_train // 10}) for validation instead of {VALIDATION_SIZE}.", stacklevel=4)
        return official_train // 10
    raise ValueError(
        f"{key}: the training set has {official_train} images, too few to hold out "
        f"{VALIDATION_SIZE} for validation; are the files in {root} complete?"
    )


def _load_torchvision(key: str, root: Path, download: bool | None, split_seed: int) -> _Loaded:
    if key == "cifar10":
        train_images, train_labels, test_images, test_labels, classes = _read_cifar10(root, download)
    else:
        train_images, train_labels, test_images, test_labels, classes = _read_torchvision(key, root, download)
    official_train = len(train_labels)
    validation = _validation_size(key, official_train, root)
    # Validation: a seeded random part of the official training set; test: the official test set.
    order = torch.randperm(official_train, generator=torch.Generator().manual_seed(split_seed))
    val_idx, train_idx = order[:validation], order[validation:]
    test_idx = torch.arange(len(test_labels)) + official_train
    images = torch.cat([train_images, test_images])
    labels = torch.cat([train_labels, test_labels])
    return images, labels, train_idx, val_idx, test_idx, list(classes)


def _as_tensors(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole dataset as (N, C, H, W) uint8 images and (N,) int64 labels, without per-item transforms."""
    data = dataset.data
    if isinstance(data, np.ndarray):  # CIFAR-10 keeps (N, H, W, C) numpy
        images = torch.from_numpy(data).permute(0, 3, 1, 2).contiguous()
    else:  # MNIST keeps an (N, H, W) tensor
        images = data.unsqueeze(1)
    return images, torch.as_tensor(dataset.targets, dtype=torch.long)


def _unavailable_message(key: str, root: Path, reason: str) -> str:
    source = _file_source(key, root)
    return (
        f"Dataset {key!r} is not on this machine (or its files are incomplete). Its files are "
        f"expected in {source.folder} ({', '.join(source.files)}), and {reason}.\n"
        f"It needs a network connection once, to download about {source.download_size}: run "
        f"load_dataset({key!r}, root={str(root)!r}, download=True) on a connected machine, or copy "
        f"those files there by hand ({source.origin}).\n"
        f"The 'digits' dataset ships with scikit-learn and works offline: load_dataset('digits')."
    )


def available_offline(root: str | Path | None = None) -> dict[str, bool]:
    """Which datasets load without a network: their files are present under ``root``.

    Only checks that the files exist (no download, no checksums); ``digits`` is always there.
    """
    root = Path(root) if root is not None else default_data_root()
    return {key: key == "digits" or _file_source(key, root).present() for key in DATASETS}


# --------------------------------------------------------------------------- batches


def _check_generator(generator: torch.Generator | None, device: torch.device) -> None:
    # A CPU generator cannot drive random numbers on a GPU (and vice versa); say how to fix it.
    if generator is not None and generator.device.type != device.type:
        raise ValueError(
            f"The generator is on {generator.device} but the data is on {device}; "
            f"make it with torch.Generator(device=split.x.device)."
        )


def iterate_batches(
    split: Split,
    batch_size: int,
    shuffle: bool = True,
    generator: torch.Generator | None = None,
    augment: bool = False,
    cutout: int = 0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x, y)`` batches covering the split once (one epoch), the last one possibly smaller.

    With ``shuffle`` the order is a random permutation drawn on the split's device from
    ``generator`` (or PyTorch's global generator), so a seeded generator repeats the order.
    With ``augment`` each batch goes through :func:`augment_batch` (crop and flip); with
    ``cutout`` > 0 each image then loses a ``cutout`` x ``cutout`` square (:func:`cutout`).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    _check_cutout(cutout)
    device = split.x.device
    _check_generator(generator, device)
    order = torch.randperm(len(split), generator=generator, device=device) if shuffle else None
    for start in range(0, len(split), batch_size):
        if order is None:
            x, y = split.x[start : start + batch_size], split.y[start : start + batch_size]
        else:
            chosen = order[start : start + batch_size]
            x, y = split.x[chosen], split.y[chosen]
        if augment:
            x = augment_batch(x, generator)
        if cutout:
            x = _apply_cutout(x, cutout, generator)
        yield x, y


def augment_batch(x: torch.Tensor, generator: torch.Generator | None = None, padding: int = 4) -> torch.Tensor:
    """Random crop after zero padding plus random horizontal flip, each image drawn separately.

    The standard CIFAR augmentation: pad every side by ``padding`` pixels, cut out a window
    of the original size at a random offset, and mirror half of the images. The images are
    already normalised, so the zero padding is the mean colour. Runs on ``x``'s device.
    """
    if padding < 0:
        raise ValueError(f"padding must be non-negative, got {padding}.")
    _check_generator(generator, x.device)
    n, c, h, w = x.shape
    device = x.device
    top = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=device)
    left = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=device)
    flip = torch.rand(n, generator=generator, device=device) < 0.5

    padded = F.pad(x, (padding, padding, padding, padding))
    # Row r of image i in the crop is row top[i] + r of its padded image; likewise for columns.
    rows = top[:, None] + torch.arange(h, device=device)  # (n, h)
    cols = left[:, None] + torch.arange(w, device=device)  # (n, w)
    # A mirrored crop reads the same columns right to left.
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    # gather picks, for every image, its own rows (dim 2) and then its own columns (dim 3).
    out = padded.gather(2, rows[:, None, :, None].expand(n, c, h, w + 2 * padding))
    return out.gather(3, cols[:, None, None, :].expand(n, c, h, w))


def _check_cutout(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
        raise ValueError(f"cutout is the side of the square in pixels (0: no cutout), got {size!r}.")


def cutout(x: torch.Tensor, size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Cutout (DeVries & Taylor, 2017): zero one ``size`` x ``size`` square of every image.

    Each image draws its own centre uniformly over all its pixels; the square covers rows
    ``cy - size // 2`` to ``cy - size // 2 + size - 1`` (columns likewise) and is clipped at the
    borders, so a square near an edge zeroes less (the paper's choice: patches may lie partly
    outside). The images are normalised, so zero is the mean colour. Every channel of the square is
    zeroed. Vectorised on ``x``'s device; ``generator`` (on that device) makes it repeatable.
    Returns a new tensor; ``x`` is left as it was.
    """
    _check_cutout(size)
    _check_generator(generator, x.device)
    n, _, h, w = x.shape
    device = x.device
    top = torch.randint(0, h, (n,), generator=generator, device=device) - size // 2
    left = torch.randint(0, w, (n,), generator=generator, device=device) - size // 2
    rows = torch.arange(h, device=device)
    cols = torch.arange(w, device=device)
    inside_rows = (rows >= top[:, None]) & (rows < top[:, None] + size)  # (n, h)
    inside_cols = (cols >= left[:, None]) & (cols < left[:, None] + size)  # (n, w)
    inside = inside_rows[:, :, None] & inside_cols[:, None, :]  # (n, h, w)
    return torch.where(inside[:, None], torch.zeros((), dtype=x.dtype, device=device), x)


_apply_cutout = cutout  # for iterate_batches, whose argument of that name hides the function
