"""Published cells, as data: the genotypes of NASNet-A, AmoebaNet-A, ENAS, DARTS, PC-DARTS (survey Table 1).

Each entry keeps the genotype text exactly as the authors' (or a named re-implementer's) code publishes it,
with the paper, the repository and file it comes from, and the CIFAR-10 figures the survey's Table 1
reports for it. ``PUBLISHED[name].genotype`` parses the text into a ``Genotype``.

Where the cells come from, and what to know about them:

* **NASNet-A** (Zoph, Vasudevan, Shlens & Le, "Learning Transferable Architectures for Scalable Image
  Recognition", CVPR 2018; cells in its Fig. 4). Text: DARTS's repository (quark0/darts, ``cnn/genotypes.py``),
  which wrote the NASNet cells in its own format. NASNet's reported size is for N = 6 cells per stage and
  32 initial filters ("NASNet-A (6 @ 768)").
* **AmoebaNet-A** (Real, Aggarwal, Huang & Le, "Regularized Evolution for Image Classifier Architecture
  Search", AAAI 2019; cells in its Fig. 4). Text: quark0/darts, ``cnn/genotypes.py``. Reported for
  N = 6 and F = 36.
* **ENAS** (Pham, Guan, Zoph, Le & Dean, "Efficient Neural Architecture Search via Parameter Sharing",
  ICML 2018; micro cells in its Fig. 7). ENAS's own code writes cells as integer strings; the DARTS-format
  text here is the transcription in NSGA-Net's repository (ianwhale/nsga-net, ``models/micro_genotypes.py``).
  Transcriptions in other repositories differ in an edge or the reduction cell's output, so treat this one
  as a transcription, not as the authors' file. ENAS trained it in its own network (15 layers + 2 reduction
  layers, 36 filters, a 1x1 convolution on each cell's input: ``scripts/cifar10_micro_final.sh`` of
  melodyguan/enas), not in DARTS's.
* **DARTS (first order)** and **DARTS (second order)** (Liu, Simonyan & Yang, "DARTS: Differentiable
  Architecture Search", ICLR 2019). Text: PC-DARTS's repository (yuhuixu1993/PC-DARTS, ``genotypes.py``),
  where they are ``DARTS_V1`` and ``DARTS_V2``; quark0/darts publishes V2 as ``DARTS``.
* **PC-DARTS** (Xu, Xie, Zhang, Chen, Qi, Tian & Xiong, "PC-DARTS: Partial Channel Connections for
  Memory-Efficient Architecture Search", ICLR 2020). Text: yuhuixu1993/PC-DARTS, ``genotypes.py``
  (``PC_DARTS_cifar``), which writes the concat lists as ``range(2, 6)``; here they are the equal lists.

The survey's Table 1 figures (test error on CIFAR-10 in %, parameters in millions, GPU days) are copied from
Ren et al. (2021), Table 1; ``cutout`` says whether that row used Cutout augmentation.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .darts_genotype import Genotype

__all__ = ["PublishedCell", "PUBLISHED", "genotype"]


@dataclass(frozen=True)
class PublishedCell:
    """A published genotype with its provenance and the survey's Table 1 row for it."""

    name: str
    paper: str
    source: str  # where the genotype text is published: repository and file
    text: str  # the genotype, in the text form of published code
    survey_params_millions: float  # survey Table 1, "Params (Millions)"
    survey_error_percent: float  # survey Table 1, "Error Acc (%)" on CIFAR-10
    survey_gpu_days: float  # survey Table 1, "GPU Days"
    paper_setting: str  # the stacking the reported parameter count was measured with
    cutout: bool = False
    note: str = ""

    @cached_property
    def genotype(self) -> Genotype:
        return Genotype.parse(self.text)


_ENTRIES = [
    PublishedCell(
        name="NASNet-A",
        paper="Zoph et al., Learning Transferable Architectures for Scalable Image Recognition, CVPR 2018",
        source="github.com/quark0/darts, cnn/genotypes.py (NASNet)",
        text="Genotype(normal=[('sep_conv_5x5', 1), ('sep_conv_3x3', 0), ('sep_conv_5x5', 0), ('sep_conv_3x3', 0), "
        "('avg_pool_3x3', 1), ('skip_connect', 0), ('avg_pool_3x3', 0), ('avg_pool_3x3', 0), ('sep_conv_3x3', 1), "
        "('skip_connect', 1)], normal_concat=[2, 3, 4, 5, 6], reduce=[('sep_conv_5x5', 1), ('sep_conv_7x7', 0), "
        "('max_pool_3x3', 1), ('sep_conv_7x7', 0), ('avg_pool_3x3', 1), ('sep_conv_5x5', 0), ('skip_connect', 3), "
        "('avg_pool_3x3', 2), ('sep_conv_3x3', 2), ('max_pool_3x3', 1)], reduce_concat=[4, 5, 6])",
        survey_params_millions=3.3,
        survey_error_percent=3.41,
        survey_gpu_days=2000,
        paper_setting="N = 6 cells per stage (20 cells), 32 initial filters",
    ),
    PublishedCell(
        name="AmoebaNet-A",
        paper="Real et al., Regularized Evolution for Image Classifier Architecture Search, AAAI 2019",
        source="github.com/quark0/darts, cnn/genotypes.py (AmoebaNet)",
        text="Genotype(normal=[('avg_pool_3x3', 0), ('max_pool_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_5x5', 2), "
        "('sep_conv_3x3', 0), ('avg_pool_3x3', 3), ('sep_conv_3x3', 1), ('skip_connect', 1), ('skip_connect', 0), "
        "('avg_pool_3x3', 1)], normal_concat=[4, 5, 6], reduce=[('avg_pool_3x3', 0), ('sep_conv_3x3', 1), "
        "('max_pool_3x3', 0), ('sep_conv_7x7', 2), ('sep_conv_7x7', 0), ('avg_pool_3x3', 1), ('max_pool_3x3', 0), "
        "('max_pool_3x3', 1), ('conv_7x1_1x7', 0), ('sep_conv_3x3', 5)], reduce_concat=[3, 4, 6])",
        survey_params_millions=3.2,
        survey_error_percent=3.34,
        survey_gpu_days=3150,
        paper_setting="N = 6 cells per stage (20 cells), F = 36 initial filters",
    ),
    PublishedCell(
        name="ENAS",
        paper="Pham et al., Efficient Neural Architecture Search via Parameter Sharing, ICML 2018",
        source="github.com/ianwhale/nsga-net, models/micro_genotypes.py (ENAS), a transcription of ENAS's Fig. 7",
        text="Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 1), ('sep_conv_5x5', 1), ('skip_connect', 0), "
        "('avg_pool_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('avg_pool_3x3', 0), ('sep_conv_5x5', 1), "
        "('avg_pool_3x3', 0)], normal_concat=[2, 3, 4, 5, 6], reduce=[('sep_conv_5x5', 0), ('avg_pool_3x3', 1), "
        "('sep_conv_3x3', 1), ('avg_pool_3x3', 1), ('avg_pool_3x3', 1), ('sep_conv_3x3', 1), ('sep_conv_5x5', 4), "
        "('avg_pool_3x3', 1), ('sep_conv_3x3', 5), ('sep_conv_5x5', 0)], reduce_concat=[2, 3, 6])",
        survey_params_millions=4.6,
        survey_error_percent=3.54,
        survey_gpu_days=0.5,
        paper_setting="ENAS's own network: 15 layers + 2 reduction layers, 36 filters, 1x1 input calibration",
        note="transcription; ENAS's own code writes cells as integer strings",
    ),
    PublishedCell(
        name="DARTS (1st order)",
        paper="Liu et al., DARTS: Differentiable Architecture Search, ICLR 2019",
        source="github.com/yuhuixu1993/PC-DARTS, genotypes.py (DARTS_V1)",
        text="Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), "
        "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], "
        "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
        "('max_pool_3x3', 0), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], "
        "reduce_concat=[2, 3, 4, 5])",
        survey_params_millions=3.3,
        survey_error_percent=3.0,
        survey_gpu_days=1.5,
        paper_setting="20 cells, 36 initial channels (DARTS's evaluation network)",
        cutout=True,
    ),
    PublishedCell(
        name="DARTS (2nd order)",
        paper="Liu et al., DARTS: Differentiable Architecture Search, ICLR 2019",
        source="github.com/yuhuixu1993/PC-DARTS, genotypes.py (DARTS_V2); github.com/quark0/darts, cnn/genotypes.py (DARTS)",
        text="Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
        "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
        "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
        "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
        "reduce_concat=[2, 3, 4, 5])",
        survey_params_millions=3.3,
        survey_error_percent=2.76,
        survey_gpu_days=4,
        paper_setting="20 cells, 36 initial channels (DARTS's evaluation network)",
        cutout=True,
    ),
    PublishedCell(
        name="PC-DARTS",
        paper="Xu et al., PC-DARTS: Partial Channel Connections for Memory-Efficient Architecture Search, ICLR 2020",
        source="github.com/yuhuixu1993/PC-DARTS, genotypes.py (PC_DARTS_cifar; concat written as range(2, 6) there)",
        text="Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), "
        "('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 1)], "
        "normal_concat=[2, 3, 4, 5], reduce=[('sep_conv_5x5', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 1), "
        "('sep_conv_5x5', 2), ('sep_conv_3x3', 0), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2)], "
        "reduce_concat=[2, 3, 4, 5])",
        survey_params_millions=3.6,
        survey_error_percent=2.57,
        survey_gpu_days=0.1,
        paper_setting="20 cells, 36 initial channels (DARTS's evaluation network)",
        cutout=True,
    ),
]

PUBLISHED: dict[str, PublishedCell] = {entry.name: entry for entry in _ENTRIES}


def genotype(name: str) -> Genotype:
    """The published genotype called ``name`` (see ``PUBLISHED``); a clear error for an unknown name."""
    if name not in PUBLISHED:
        raise KeyError(f"No published cell called {name!r}; known: {sorted(PUBLISHED)}.")
    return PUBLISHED[name].genotype
