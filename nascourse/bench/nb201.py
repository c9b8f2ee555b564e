"""NAS-Bench-201 as a table of the library: the literature's ground truth, queried like the course's own table.

NAS-Bench-201 (Dong & Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture Search",
ICLR 2020; github.com/D-X-Y/NAS-Bench-201, and its successor NATS-Bench's topology search space) trained every
one of the 15,625 cells of its space for 200 epochs on CIFAR-10, CIFAR-100 and ImageNet16-120. Its cell is the
course's ``Cell201Space`` with all five operations; only the names differ::

    NAS-Bench-201    none   skip_connect   nor_conv_1x1   nor_conv_3x3   avg_pool_3x3
    the course       none   skip           conv1x1        conv3x3        avgpool3x3

and the strings list the edges in the same order (into node 1, then 2, then 3; within a node by source), so
``to_course`` and ``to_nb201`` only rename operations, and decoding checks every ``~source``.

``NB201Table.load(path, dataset)`` reads the compact form: one CSV per dataset with the columns ``arch str``,
``train accuracy``, ``validation accuracy``, ``test accuracy`` (percent, final epoch, mean over NAS-Bench-201's
seeds). ``convert`` writes that form from the official release through its API package (the ``nb201`` extra).
The table offers what the course's searches and comparisons use (``space``, ``row``, ``mean_accuracy``,
``evaluator``, ``returned_accuracy``), so every discrete strategy runs on it unchanged.

Equivalent cells. NAS-Bench-201 lists every raw cell and trained each one separately; the course's space knows
which cells compute the same function. A lookup returns the exact cell's own row: what NAS-Bench-201 measured
for that string, as searches on it in the literature see it. ``classes``, ``unique_count`` and
``equivalent_rows`` show the equivalence: the course's rules merge the 15,625 cells into 4,660 classes (the
paper counts 6,466 unique topologies with a narrower check; the course also treats ``skip`` as the identity and
average pooling as linear, without which it would find 4,930). In NAS-Bench-201's networks a "dead" convolution
(on a node that receives nothing) still runs and adds its BatchNorm's learned constant: the equivalence holds up
to that constant, and up to training noise, which the spread of accuracies within a class shows.

Size and cost. Every cell fixes its network: NAS-Bench-201's skeleton (a 3x3 stem to C = 16 channels, three
stages of N = 5 cells at C, 2C, 4C channels joined by residual reduction blocks, then BatchNorm-ReLU, global
pooling and a linear classifier). ``NB201Space.build`` builds that network for the exact cell, every
non-``none`` edge included as NAS-Bench-201 trained it, and ``network_cost`` counts its parameters and
multiply-accumulates in closed form (``flops``, as the course counts them: convolutions and linear layers,
one forward pass of one image). A query costs one trial; its ``cost_seconds`` is an *estimate* of the
cell's training time proportional to its MACs (``estimated_training_seconds``), the same for every method.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..compute import TRAINING_FACTOR
from ..loop import EvaluationResult
from ..spaces.cell201 import EDGES, NODES, OPERATIONS, Cell201Architecture, Cell201Space
from .table import BenchmarkError

__all__ = ["NB201_TO_COURSE", "COURSE_TO_NB201", "DATASETS", "NB201Dataset", "NB201Space", "NB201Network",
           "NB201Table", "NB201Evaluator", "to_course", "to_nb201", "network_cost", "estimated_training_seconds",
           "convert", "MACS_PER_SECOND", "EPOCHS"]

NB201_TO_COURSE = {"none": "none", "skip_connect": "skip", "nor_conv_1x1": "conv1x1", "nor_conv_3x3": "conv3x3",
                   "avg_pool_3x3": "avgpool3x3"}
COURSE_TO_NB201 = {course: nb201 for nb201, course in NB201_TO_COURSE.items()}
EPOCHS = 200  # NAS-Bench-201's full schedule, the one its final accuracies come from
CHANNELS, CELLS_PER_STAGE = 16, 5  # C and N of NAS-Bench-201's skeleton
# A nominal training throughput (multiply-accumulates per second, forward and backward counted), about what a
# 2020 GPU sustains on such small CIFAR networks. NAS-Bench-201's recorded times are not in the compact form.
MACS_PER_SECOND = 1e12
SOURCE = ("Get NAS-Bench-201 (Dong & Yang, ICLR 2020) from github.com/D-X-Y/NAS-Bench-201, or NATS-Bench's "
          "topology search space (its successor, github.com/D-X-Y/NATS-Bench), and convert it once with "
          "`python -m nascourse bench nb201-convert --release FILE --out FOLDER` (needs pip install -e \".[nb201]\"); "
          "or use any CSV with the columns 'arch str', 'train accuracy', 'validation accuracy', 'test accuracy' "
          "(percent), one row per cell.")
COLUMNS = ("arch str", "train accuracy", "validation accuracy", "test accuracy")


@dataclass(frozen=True)
class NB201Dataset:
    """One of NAS-Bench-201's three training settings."""

    file: str  # the compact CSV's name in a folder
    release_name: str  # the name NAS-Bench-201's API uses
    classes: int
    resolution: int  # input images are resolution x resolution x 3
    training_images: int  # images of the split the cells were trained on


DATASETS = {
    # trained on half of CIFAR-10's training set, validated on the other half, tested on its test set
    "cifar10": NB201Dataset("nasbench201_cifar10.csv", "cifar10-valid", 10, 32, 25_000),
    "cifar100": NB201Dataset("nasbench201_cifar100.csv", "cifar100", 100, 32, 50_000),
    "ImageNet16-120": NB201Dataset("nasbench201_ImageNet16-120.csv", "ImageNet16-120", 120, 16, 151_700),
}


def _dataset(name: str) -> NB201Dataset:
    name = {"cifar10-valid": "cifar10"}.get(name, name)
    if name not in DATASETS:
        raise ValueError(f"NAS-Bench-201 has the datasets {list(DATASETS)}; got {name!r}.")
    return DATASETS[name]


# ------------------------------------------------------------------------------------------- names
_EDGE = re.compile(r"([A-Za-z0-9_]+)~")


def to_course(text: str) -> str:
    """A NAS-Bench-201 cell string in the course's operation names (a course string comes back unchanged)."""
    return _EDGE.sub(lambda m: NB201_TO_COURSE.get(m.group(1), m.group(1)) + "~", text.strip())


def to_nb201(architecture: Any) -> str:
    """The NAS-Bench-201 string of a cell (an architecture, or its string in either naming)."""
    architecture = NB201Space().as_architecture(to_course(architecture) if isinstance(architecture, str)
                                                else architecture)
    return _EDGE.sub(lambda m: COURSE_TO_NB201[m.group(1)] + "~", str(architecture))


# ------------------------------------------------------------------------------------------- networks
class _ReLUConvBN(nn.Sequential):
    """NAS-Bench-201's convolution: ReLU -> Conv -> BatchNorm (the course's cells use Conv-BN-ReLU)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
                         nn.BatchNorm2d(out_channels))


class _ResidualReduction(nn.Module):
    """NAS-Bench-201's reduction (its ResNetBasicblock, stride 2): two ReLU-Conv-BN 3x3 plus a shortcut of
    2x2 average pooling and a 1x1 convolution. Halves the resolution, doubles the channels."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.a = _ReLUConvBN(in_channels, out_channels, 3, stride=2)
        self.b = _ReLUConvBN(out_channels, out_channels, 3)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(in_channels, out_channels, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.b(self.a(x))


def _nb201_operation(name: str, channels: int) -> nn.Module:
    if name == "skip":
        return nn.Identity()
    if name in ("conv1x1", "conv3x3"):
        return _ReLUConvBN(channels, channels, 1 if name == "conv1x1" else 3)
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)  # avgpool3x3


class _NB201Cell(nn.Module):
    """NAS-Bench-201's cell as it trained it (its InferCell): every edge runs, ``none`` gives zeros, and an edge
    out of a node that received nothing still runs on those zeros."""

    def __init__(self, architecture: Cell201Architecture, channels: int):
        super().__init__()
        self.operations = architecture.operations
        self.edges = nn.ModuleList(nn.Identity() if op == "none" else _nb201_operation(op, channels)
                                   for op in self.operations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for target in range(1, NODES):
            total = torch.zeros_like(x)
            for edge, op, (source, j) in zip(self.edges, self.operations, EDGES):
                if j == target and op != "none":
                    total = total + edge(nodes[source])
            nodes.append(total)
        return nodes[-1]


class NB201Network(nn.Module):
    """NAS-Bench-201's network for one cell: stem -> N cells at C -> reduction -> N cells at 2C -> reduction ->
    N cells at 4C -> BatchNorm-ReLU -> global average pooling -> linear."""

    def __init__(self, architecture: Cell201Architecture, num_classes: int, in_channels: int = 3,
                 channels: int = CHANNELS, cells_per_stage: int = CELLS_PER_STAGE):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)]
        width = channels
        for stage in range(3):
            if stage > 0:
                layers.append(_ResidualReduction(width, 2 * width))
                width *= 2
            layers.extend(_NB201Cell(architecture, width) for _ in range(cells_per_stage))
        layers += [nn.BatchNorm2d(width), nn.ReLU(inplace=False), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class NB201Space(Cell201Space):
    """NAS-Bench-201's space: the course's cell with all five operations, N = 5 cells per stage at C = 16.

    Searches use it as any ``Cell201Space`` (sample, mutate, strings, tokens, equivalence). ``build`` builds
    NAS-Bench-201's own network of the exact cell (ReLU-Conv-BN, residual reductions, dead edges kept), the
    network its accuracies were measured on; ``build_course`` builds the course's skeleton of the canonical cell.
    """

    name = "NAS-Bench-201 cell space"

    def __init__(self):
        super().__init__(OPERATIONS, channels=CHANNELS, cells_per_stage=CELLS_PER_STAGE)

    def __repr__(self) -> str:
        return f"NB201Space({self.count():,} cells, {self.count_unique():,} classes of equivalent cells)"

    def build(self, architecture, input_shape: tuple[int, int, int], num_classes: int) -> NB201Network:
        return NB201Network(self.as_architecture(architecture), num_classes, input_shape[0], self.channels,
                            self.cells_per_stage)

    def build_course(self, architecture, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
        return super().build(architecture, input_shape, num_classes)


# ------------------------------------------------------------------------------------------- size and cost
def network_cost(operations: np.ndarray | Sequence[str], dataset: str = "cifar10", channels: int = CHANNELS,
                 cells_per_stage: int = CELLS_PER_STAGE) -> tuple[np.ndarray, np.ndarray]:
    """(parameters, MACs) of ``NB201Network`` for cells given as operation names, shape (6,) or (cells, 6).

    Closed form, counted as ``compute.count_macs`` counts (convolutions and the linear layer, one image):
    each 1x1 / 3x3 edge of a stage at width w and resolution r costs w^2 / 9 w^2 weights (plus a BatchNorm's
    2w) and w^2 r^2 / 9 w^2 r^2 MACs, five cells per stage, plus the skeleton, which no cell changes."""
    spec = _dataset(dataset)
    ops = np.asarray(operations).reshape(-1, len(EDGES))
    ones, threes = (ops == "conv1x1").sum(axis=1), (ops == "conv3x3").sum(axis=1)
    c, r, k = channels, spec.resolution, spec.classes
    parameters = 27 * c + 2 * c  # stem: 3x3 convolution from RGB, BatchNorm
    macs = 27 * c * r * r
    for stage in range(3):
        w, res = c * 2 ** stage, r // 2 ** stage
        if stage > 0:  # the residual reduction from w/2 channels at 2 res: two 3x3 convolutions, a 1x1 shortcut
            parameters += 9 * (w // 2) * w + 9 * w * w + (w // 2) * w + 4 * w
            macs += (9 * (w // 2) * w + 9 * w * w + (w // 2) * w) * res * res
        parameters = parameters + cells_per_stage * (ones * (w * w + 2 * w) + threes * (9 * w * w + 2 * w))
        macs = macs + cells_per_stage * (ones + 9 * threes) * w * w * res * res
    width = 4 * c
    parameters = parameters + 2 * width + width * k + k  # final BatchNorm, classifier
    macs = macs + width * k
    return parameters, macs


def estimated_training_seconds(macs, dataset: str = "cifar10", macs_per_second: float = MACS_PER_SECOND):
    """Estimated time to train a network of ``macs`` (one forward pass of one image) as NAS-Bench-201 did: 200
    epochs over the training split, ``TRAINING_FACTOR`` forward passes' worth per image, at ``macs_per_second``."""
    images = _dataset(dataset).training_images
    return TRAINING_FACTOR * np.asarray(macs, dtype=float) * images * EPOCHS / macs_per_second


# ------------------------------------------------------------------------------------------- the table
def _resolve(path: str | Path | None, dataset: NB201Dataset) -> Path:
    if path is None:
        path = os.environ.get("NASCOURSE_NB201")
        if not path:
            raise BenchmarkError(f"No NAS-Bench-201 data given: pass a path or set NASCOURSE_NB201. {SOURCE}")
    path = Path(path).expanduser()
    file = path / dataset.file if path.is_dir() else path
    if not file.is_file():
        raise BenchmarkError(f"No NAS-Bench-201 file at {file}. {SOURCE}")
    return file


def _read_csv(file: Path, space: Cell201Space) -> tuple[list[Cell201Architecture], np.ndarray]:
    """The cells and (rows, 3) train / validation / test accuracy in [0, 1]; BenchmarkError naming the line."""
    try:
        with open(file, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [column for column in COLUMNS if column not in (reader.fieldnames or [])]
            if missing:
                raise BenchmarkError(f"{file} lacks the column(s) {missing}; a NAS-Bench-201 CSV has {list(COLUMNS)}.")
            architectures, values = [], []
            for line, record in enumerate(reader, start=2):
                try:
                    architectures.append(space.decode(to_course(record["arch str"] or "")))
                    values.append([float(record[column]) for column in COLUMNS[1:]])
                except (ValueError, TypeError) as error:
                    raise BenchmarkError(f"{file}, line {line}: {' '.join(str(error).split())}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise BenchmarkError(f"{file} is not a readable CSV ({error}).") from None
    if not architectures:
        raise BenchmarkError(f"{file} has a header but no cells.")
    percent = np.array(values) / 100
    if not np.all((percent >= 0) & (percent <= 1)):
        raise BenchmarkError(f"{file}: accuracies must be percentages between 0 and 100.")
    if len(set(architectures)) != len(architectures):
        raise BenchmarkError(f"{file} lists a cell more than once.")
    return architectures, percent


class NB201Table:
    """NAS-Bench-201's final accuracies of one dataset, by cell, with every cell's size and estimated cost.

    Arrays by row (the CSV's order): ``train_accuracy``, ``val_accuracy``, ``test_accuracy`` (fractions),
    ``parameters``, ``flops`` (MACs of one forward pass), ``train_seconds`` (estimated training time).
    """

    def __init__(self, architectures: Sequence[Any], accuracies: np.ndarray, dataset: str = "cifar10",
                 source: str = "", macs_per_second: float = MACS_PER_SECOND):
        self.dataset = {"cifar10-valid": "cifar10"}.get(dataset, dataset)
        _dataset(self.dataset)
        self.space = NB201Space()
        self.source = source
        self.macs_per_second = macs_per_second
        cells = [a if isinstance(a, Cell201Architecture) else self.space.decode(to_course(a)) for a in architectures]
        self.architectures = [str(cell) for cell in cells]  # the course's strings
        self.train_accuracy, self.val_accuracy, self.test_accuracy = np.asarray(accuracies, dtype=float).T
        self.parameters, self.flops = network_cost(np.array([cell.operations for cell in cells]), self.dataset)
        self.train_seconds = estimated_training_seconds(self.flops, self.dataset, macs_per_second)
        self._row = {text: row for row, text in enumerate(self.architectures)}

    @classmethod
    def load(cls, path: str | Path | None = None, dataset: str = "cifar10",
             macs_per_second: float = MACS_PER_SECOND) -> "NB201Table":
        """Read ``dataset`` ("cifar10": the cifar10-valid setting, "cifar100", "ImageNet16-120") from a folder
        of the compact CSVs or from one CSV; ``path`` defaults to ``$NASCOURSE_NB201``."""
        file = _resolve(path, _dataset(dataset))
        architectures, accuracies = _read_csv(file, NB201Space())
        return cls(architectures, accuracies, dataset, str(file), macs_per_second)

    def __len__(self) -> int:
        return len(self.architectures)

    def __repr__(self) -> str:
        return (f"NB201Table({self.dataset}: {len(self):,} cells, {self.unique_count:,} classes of equivalent cells, "
                f"{EPOCHS} epochs, from {self.source or 'memory'})")

    def row(self, architecture: Any) -> int:
        """The row of the exact cell ``architecture``: an architecture, or its string in the course's or
        NAS-Bench-201's names. Equivalent but different cells have rows of their own (``equivalent_rows``)."""
        text = to_course(architecture) if isinstance(architecture, str) else self.space.encode(architecture)
        if text not in self._row:
            text = str(self.space.decode(text))  # a clear error for a malformed string
            if text not in self._row:
                raise BenchmarkError(f"{to_nb201(text)} is not in this table ({len(self):,} cells from {self.source}).")
        return self._row[text]

    def mean_accuracy(self, architecture: Any, split: str = "val") -> float:
        """NAS-Bench-201's final accuracy of the cell (mean over its training seeds), as a fraction."""
        arrays = {"train": self.train_accuracy, "val": self.val_accuracy, "test": self.test_accuracy}
        if split not in arrays:
            raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}.")
        return float(arrays[split][self.row(architecture)])

    def returned_accuracy(self, history, budget_seconds: float | None = None, split: str = "val") -> float:
        """The accuracy of the cell a search returns: its best by validation among the trials finished within
        ``budget_seconds`` of estimated training time (default: all)."""
        seen = [t for t in history if t.ok and (budget_seconds is None or t.cumulative_seconds <= budget_seconds)]
        if not seen:
            raise ValueError("No successful trial finished within the budget; give a larger budget_seconds.")
        return self.mean_accuracy(max(seen, key=lambda t: t.accuracy).architecture, split)

    def evaluator(self) -> "NB201Evaluator":
        return NB201Evaluator(self)

    def seconds_for(self, macs: float) -> float:
        """The table's time unit for a computation of ``macs`` done anywhere (a supernet's training, a proxy)."""
        if not macs >= 0:
            raise ValueError(f"macs must be a non-negative count, got {macs!r}.")
        return float(macs) / self.macs_per_second

    # --------------------------------------------------------------------------------- equivalence
    @cached_property
    def classes(self) -> np.ndarray:
        """Per row, the number of its class of equivalent cells (the course's canonical form)."""
        canonical = [str(self.space.canonical(text)) for text in self.architectures]
        numbers: dict[str, int] = {}
        return np.array([numbers.setdefault(text, len(numbers)) for text in canonical])

    @property
    def unique_count(self) -> int:
        """How many distinct functions the table's cells compute, by the course's equivalence."""
        return int(self.classes.max()) + 1

    def equivalent_rows(self, architecture: Any) -> np.ndarray:
        """The rows of every cell of the table that computes the same function as ``architecture``."""
        return np.flatnonzero(self.classes == self.classes[self.row(architecture)])

    def summary(self) -> str:
        def spread(values: np.ndarray) -> str:
            return f"best {values.max():.4f}, median {np.median(values):.4f}, worst {values.min():.4f}"

        low, high = np.zeros(self.unique_count), np.zeros(self.unique_count)
        np.maximum.at(high, self.classes, self.test_accuracy)
        low[:] = 1.0
        np.minimum.at(low, self.classes, self.test_accuracy)
        sizes = np.bincount(self.classes)
        within = (high - low)[sizes > 1]
        return (
            f"{self!r}\nvalidation accuracy: {spread(self.val_accuracy)}\ntest accuracy: {spread(self.test_accuracy)}\n"
            f"parameters {self.parameters.min():,} .. {self.parameters.max():,}; MACs per image "
            f"{self.flops.min() / 1e6:.2f} M .. {self.flops.max() / 1e6:.2f} M\n"
            f"cost of a query: one trial, {EPOCHS} epochs, an estimated {self.train_seconds.min():,.0f} .. "
            f"{self.train_seconds.max():,.0f} s of training at {self.macs_per_second:.0e} MAC/s\n"
            f"equivalent cells: {len(within):,} classes hold more than one cell; their test accuracies differ by "
            f"{np.median(within) * 100 if len(within) else 0:.2f} points (median of max - min), trained apart"
        )


class NB201Evaluator:
    """Evaluate by lookup: NAS-Bench-201's validation accuracy of the exact cell (noise-free: the mean over its
    seeds), at the cost of one trial of ``EPOCHS`` epochs and the cell's estimated training seconds."""

    def __init__(self, table: NB201Table):
        self.table = table

    def __call__(self, architecture: Any) -> EvaluationResult:
        row = self.table.row(architecture)
        return EvaluationResult(float(self.table.val_accuracy[row]), float(self.table.train_seconds[row]),
                                float(EPOCHS), int(self.table.parameters[row]))


# ------------------------------------------------------------------------------------------- conversion
def convert(release: str | Path | None, out: str | Path, api: Any = None) -> list[Path]:
    """Write the compact CSVs (one per dataset, the columns of ``../shared/nb201``) from the official release.

    ``release`` is NAS-Bench-201's file (e.g. NAS-Bench-201-v1_1-096897.pth), read with its API package
    ``nas_201_api`` (``pip install -e ".[nb201]"``); or pass ``api``, an API object already made, e.g. NATS-Bench's
    ``nats_bench.create(path, "tss", fast_mode=True)``: both answer ``len(api)``, ``api.arch(i)`` and
    ``api.get_more_info(i, dataset, hp="200", is_random=False)`` (200 epochs, the mean over seeds)."""
    if api is None:
        try:
            from nas_201_api import NASBench201API
        except ImportError:
            raise BenchmarkError("Converting the official release needs its API package: pip install -e \".[nb201]\" "
                                 "(PyPI: nas-bench-201). " + SOURCE) from None
        api = NASBench201API(str(release), verbose=False)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in DATASETS.values():
        with open(out / spec.file, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file id", *COLUMNS[:1], "cfg name", "C", "N", *COLUMNS[1:]])
            for index in range(len(api)):
                info = api.get_more_info(index, spec.release_name, hp="200", is_random=False)
                writer.writerow([index, api.arch(index), "infer.tiny", CHANNELS, CELLS_PER_STAGE,
                                 info["train-accuracy"], info["valid-accuracy"], info["test-accuracy"]])
        written.append(out / spec.file)
    return written
