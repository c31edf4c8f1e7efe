"""k-nearest-neighbour evaluation of frozen features: cosine similarity, votes weighted by exp(similarity / T).

The SSL literature's cheap companion to the linear probe (Wu et al., CVPR 2018; DINO, Caron et al., ICCV 2021
use k = 20 and T = 0.07): it needs no training, so it cannot be under- or over-trained, and it reads how the
features' neighbourhoods are organised rather than what a linear direction can extract. Reported under
`knn/<split>/<metric>`, beside the probe's metrics.
"""

from __future__ import annotations

import gin
import torch
import torch.nn.functional as F
from torch import Tensor

from benchsuite.datasets.base import Dataset
from benchsuite.evaluation.metrics import split_metrics

Features = dict[str, Tensor]


def knn_scores(
    train: Tensor, train_labels: Tensor, queries: Tensor, num_classes: int, k: int, temperature: float,
    chunk: int = 1024,
) -> Tensor:
    """(Q, num_classes) class scores of each query: the sum of exp(cos / T) over its k most similar training
    features of that class."""
    train = F.normalize(train.float(), dim=1)
    labels = train_labels.to(train.device).long()
    k = min(k, len(train))
    scores = []
    for start in range(0, len(queries), chunk):
        query = F.normalize(queries[start:start + chunk].float().to(train.device), dim=1)
        similarity, index = (query @ train.T).topk(k, dim=1)
        votes = torch.zeros(len(query), num_classes, device=train.device)
        votes.scatter_add_(1, labels[index], (similarity / temperature).exp())
        scores.append(votes)
    return torch.cat(scores).cpu()


@gin.configurable
class KNNEvaluation:
    """Weighted kNN on cosine similarity of the frozen features: k neighbours, temperature T."""

    def __init__(self, k: int = 20, temperature: float = 0.07) -> None:
        if k < 1 or temperature <= 0:
            raise ValueError(f"KNNEvaluation: k = {k} must be >= 1 and temperature = {temperature} > 0.")
        self.k = k
        self.temperature = temperature

    def describe(self) -> str:
        return f"kNN: cosine, k = {self.k}, votes weighted by exp(similarity / {self.temperature:g})"

    def __call__(self, features: Features, dataset: Dataset) -> dict[str, float]:
        train_labels = dataset.split("train").labels
        predictions = {}
        for name in dataset.eval_splits:
            split = dataset.split(name)
            scores = knn_scores(
                features["train"], train_labels, features[name], dataset.num_classes, self.k, self.temperature
            )
            predictions[name] = (scores, split.labels, split.groups)
        return {f"knn/{key}": value for key, value in split_metrics(predictions, dataset).items()}
