"""The evaluation of a representation method: features of the frozen encoder computed once, then a linear
probe and a kNN read them.

`FrozenEncoderEvaluation.probe` selects the probe: the converged `LogisticProbe` by default, the authors'
epoch-based `LinearProbe` in the paper-scale protocol files (gin/protocols/authors_probe.gin).
`FrozenEncoderEvaluation.knn = False` turns the kNN off (`KNNEvaluation.k` and `.temperature` configure
it). `describe()` goes into every run record.
"""

from __future__ import annotations

from typing import Protocol

import gin
import torch
from torch import Tensor, nn

from benchsuite.datasets.base import Dataset
from benchsuite.evaluation.classifier import frozen_features
from benchsuite.evaluation.knn import KNNEvaluation
from benchsuite.evaluation.linear import LogisticProbe


class FeatureEvaluation(Protocol):
    def __call__(self, features: dict[str, Tensor], dataset: Dataset) -> dict[str, float]: ...

    def describe(self) -> str: ...


@gin.configurable
class FrozenEncoderEvaluation:
    """probe: what reads the features linearly (default LogisticProbe()); knn: also report the kNN's metrics."""

    def __init__(self, probe: FeatureEvaluation | None = None, knn: bool = True) -> None:
        self.probe = probe if probe is not None else LogisticProbe()
        self.knn = KNNEvaluation() if knn else None

    def describe(self) -> dict[str, str]:
        return {"probe": self.probe.describe(), **({"knn": self.knn.describe()} if self.knn is not None else {})}

    def __call__(
        self, encoder: nn.Module, dataset: Dataset, device: torch.device, batch_size: int = 512
    ) -> dict[str, float]:
        features = frozen_features(encoder, dataset, device, batch_size)
        metrics = self.probe(features, dataset)
        if self.knn is not None:
            metrics |= self.knn(features, dataset)
        return dict(sorted(metrics.items()))
