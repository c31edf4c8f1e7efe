"""Accuracy metrics of a classifier's predictions: top-k, per-group, worst-group and worst-class, biased /
debiased, BG-gap.

All accuracies are fractions in [0, 1]. A group with no sample in a split has no accuracy: its key is left
out (a 0 would wrongly become the worst group). Biased / debiased accuracies pool samples, so a large group
weighs more than a small one, as in the test accuracy of the aligned and the conflicting samples.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

#: (logits (N, C), labels (N,), groups (N,)) of one split
Prediction = tuple[Tensor, Tensor, Tensor]

_MIXED_SAME = "mixed_same"
_MIXED_RAND = "mixed_rand"


def _check_inputs(logits: Tensor, labels: Tensor, groups: Tensor, num_groups: int) -> None:
    if logits.ndim != 2 or len(logits) == 0:
        raise ValueError(f"logits must be a non-empty (N, C) tensor, got shape {tuple(logits.shape)}")
    if labels.shape != (len(logits),) or groups.shape != (len(logits),):
        raise ValueError(
            f"labels {tuple(labels.shape)} and groups {tuple(groups.shape)} must be ({len(logits)},) like the logits"
        )
    if groups.min() < 0 or groups.max() >= num_groups:
        raise ValueError(f"group labels must lie in [0, {num_groups}), got [{groups.min()}, {groups.max()}]")


def topk_correct(logits: Tensor, labels: Tensor, k: int) -> Tensor:
    """(N,) bool: whether the label is among the k highest logits (ties broken as torch.topk breaks them)."""
    top = logits.topk(k, dim=1).indices
    return (top == labels.unsqueeze(1)).any(dim=1)


def group_accuracies(correct: Tensor, groups: Tensor, num_groups: int) -> dict[int, float]:
    """Accuracy of every group present in `groups`; absent groups are left out."""
    counts = torch.bincount(groups, minlength=num_groups).tolist()
    hits = torch.bincount(groups[correct], minlength=num_groups).tolist()
    return {g: hits[g] / counts[g] for g in range(num_groups) if counts[g] > 0}


def classification_metrics(logits: Tensor, labels: Tensor, groups: Tensor, num_groups: int) -> dict[str, float]:
    """top1, top5 (only with more than 5 classes), group/{g} for the present groups, worst_group, and worst_class
    (the lowest accuracy of a class present: what a selection rule can read from a split without group labels)."""
    labels, groups = labels.to(logits.device).long(), groups.to(logits.device).long()
    _check_inputs(logits, labels, groups, num_groups)
    correct = topk_correct(logits, labels, 1)
    metrics = {"top1": correct.sum().item() / len(correct)}
    if logits.shape[1] > 5:
        metrics["top5"] = topk_correct(logits, labels, 5).sum().item() / len(correct)
    per_group = group_accuracies(correct, groups, num_groups)
    metrics.update({f"group/{g}": acc for g, acc in per_group.items()})
    metrics["worst_group"] = min(per_group.values())
    metrics["worst_class"] = min(group_accuracies(correct, labels, logits.shape[1]).values())
    return metrics


def pooled_accuracy(prediction: Prediction, keep: Tensor) -> float | None:
    """Top-1 accuracy over the samples where `keep` is true, pooled (not a mean of groups); None if none."""
    logits, labels, _ = prediction
    keep = keep.to(logits.device)
    if not keep.any():
        return None
    correct = topk_correct(logits[keep], labels.to(logits.device)[keep].long(), 1)
    return correct.sum().item() / len(correct)


def _bias_metrics(predictions: dict[str, Prediction], dataset: Any, metrics: dict[str, float]) -> dict[str, float]:
    """The biased and debiased accuracies where the dataset defines them, else nothing."""
    biased, debiased = getattr(dataset, "biased_split", None), getattr(dataset, "debiased_split", None)
    if biased and debiased and biased in predictions and debiased in predictions:
        return {"biased": metrics[f"{biased}/top1"], "debiased": metrics[f"{debiased}/top1"]}
    aligned_groups = getattr(dataset, "aligned_groups", None)
    if aligned_groups is None or "test" not in predictions:
        return {}
    test = predictions["test"]
    aligned = torch.isin(test[2].long(), torch.tensor(sorted(aligned_groups), dtype=torch.long, device=test[2].device))
    pooled = {"biased": pooled_accuracy(test, aligned), "debiased": pooled_accuracy(test, ~aligned)}
    # a test split without conflicting (or aligned) samples has no such accuracy: leave the key out
    return {key: value for key, value in pooled.items() if value is not None}


def split_metrics(predictions: dict[str, Prediction], dataset: Any) -> dict[str, float]:
    """Flat, key-sorted metrics: "{split}/{metric}" for every split, plus biased, debiased and bg_gap if defined.

    predictions: split name -> (logits, labels, groups). dataset: anything with `num_groups` and optionally
    `biased_split`, `debiased_split`, `aligned_groups` (see datasets.base.Dataset).
    """
    metrics: dict[str, float] = {}
    for split, (logits, labels, groups) in predictions.items():
        for name, value in classification_metrics(logits, labels, groups, dataset.num_groups).items():
            metrics[f"{split}/{name}"] = value
    metrics.update(_bias_metrics(predictions, dataset, metrics))
    if _MIXED_SAME in predictions and _MIXED_RAND in predictions:
        metrics["bg_gap"] = metrics[f"{_MIXED_SAME}/top1"] - metrics[f"{_MIXED_RAND}/top1"]
    return dict(sorted(metrics.items()))
