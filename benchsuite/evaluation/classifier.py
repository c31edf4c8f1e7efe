"""Running a model over the evaluation splits: a classifier's metrics, and an encoder's frozen features."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from benchsuite.datasets.base import Dataset
from benchsuite.datasets.splits import Split
from benchsuite.evaluation.metrics import split_metrics
from benchsuite.training.augment import normalize, to_unit_float
from benchsuite.training.trainer import autocast_for

Predictions = dict[str, tuple[Tensor, Tensor, Tensor]]


def preprocess(images: Tensor, dataset: Dataset) -> Tensor:
    """uint8 images on the device -> normalised float, the input every backbone sees at evaluation."""
    return normalize(to_unit_float(images), dataset.mean, dataset.std)


@torch.no_grad()
def apply_to_split(
    fn: Callable[[Tensor], Tensor], split: Split, dataset: Dataset, device: torch.device, batch_size: int
) -> Tensor:
    """fn(preprocessed images) over a whole split, in order, as one float32 tensor on `device`."""
    outputs = []
    for batch in split.batches(batch_size):
        images = batch["image"].to(device, non_blocking=True)
        with autocast_for(device):
            outputs.append(fn(preprocess(images, dataset)).float())
    return torch.cat(outputs)


def evaluate_classifier(
    model: Callable[[Tensor], Tensor], dataset: Dataset, device: torch.device, batch_size: int
) -> dict[str, float]:
    """Metrics of a classifier (preprocessed images -> logits) on every evaluation split."""
    predictions: Predictions = {}
    for name in dataset.eval_splits:
        split = dataset.split(name)
        logits = apply_to_split(model, split, dataset, device, batch_size)
        predictions[name] = (logits.cpu(), split.labels, split.groups)
    return split_metrics(predictions, dataset)


def frozen_features(encoder: nn.Module, dataset: Dataset, device: torch.device, batch_size: int) -> dict[str, Tensor]:
    """Split name -> (N, D) features of `encoder` in eval mode, without augmentation, for the training split and
    every evaluation split; the encoder's train/eval mode is restored afterwards."""
    was_training = encoder.training
    encoder.eval()
    try:
        return {
            name: apply_to_split(encoder, dataset.split(name), dataset, device, batch_size)
            for name in ("train", *dataset.eval_splits)
        }
    finally:
        encoder.train(was_training)
