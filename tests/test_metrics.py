"""Hand-computed cases for benchsuite.evaluation.metrics: top-k, per-group, worst-group, biased/debiased
pooling, BG-gap."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import Tensor

from benchsuite.evaluation.metrics import classification_metrics, split_metrics


def one_hot_logits(predicted: list[int], num_classes: int) -> Tensor:
    """Logits whose arg-max is `predicted`, so accuracy can be read off the lists below."""
    return torch.nn.functional.one_hot(torch.tensor(predicted), num_classes).float()


def prediction(labels: list[int], correct: list[bool], groups: list[int]) -> tuple[Tensor, Tensor, Tensor]:
    """A binary-task prediction that gets sample i right exactly when correct[i]."""
    predicted = [y if ok else 1 - y for y, ok in zip(labels, correct, strict=True)]
    return one_hot_logits(predicted, 2), torch.tensor(labels), torch.tensor(groups)


def test_top1_group_and_worst_group_by_hand() -> None:
    logits = torch.tensor(
        [
            [2.0, 1.0, 0.0],  # label 0, predicts 0: right, group 0
            [0.0, 3.0, 1.0],  # label 1, predicts 1: right, group 0
            [1.0, 0.0, 2.0],  # label 0, predicts 2: wrong, group 0
            [0.0, 0.0, 5.0],  # label 2, predicts 2: right, group 1
            [4.0, 1.0, 1.0],  # label 1, predicts 0: wrong, group 2
            [0.0, 1.0, 2.0],  # label 2, predicts 2: right, group 2
        ]
    )
    labels = torch.tensor([0, 1, 0, 2, 1, 2])
    groups = torch.tensor([0, 0, 0, 1, 2, 2])
    metrics = classification_metrics(logits, labels, groups, num_groups=3)
    # top1 = 4 right of 6; group 0: 2/3, group 1: 1/1, group 2: 1/2; worst = 1/2; 3 classes: no top5;
    # class 0: 1 of 2, class 1: 1 of 2, class 2: 2 of 2, worst class 1/2
    assert metrics == pytest.approx(
        {"top1": 4 / 6, "group/0": 2 / 3, "group/1": 1.0, "group/2": 0.5, "worst_group": 0.5, "worst_class": 0.5}
    )


def test_worst_class_reads_classes_not_groups() -> None:
    # Two groups that each mix both classes: group accuracy 1/2 and 1/2, but class 0 is always right (2 of 2)
    # and class 1 always wrong (0 of 2): worst class 0, worst group 1/2. A worst_class computed over the
    # groups (or over the classes of the predictions) would say 1/2.
    logits, labels, groups = prediction([0, 1, 0, 1], [True, False, True, False], [0, 0, 1, 1])
    metrics = classification_metrics(logits, labels, groups, num_groups=2)
    assert metrics["worst_group"] == 0.5 and metrics["worst_class"] == 0.0


def test_top5_counts_rank_five_but_not_rank_six() -> None:
    scores = [7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]  # class c is ranked c + 1
    logits = torch.tensor([scores, scores, scores])
    labels = torch.tensor([4, 5, 0])  # ranked 5th (in top5), 6th (not in top5), 1st
    metrics = classification_metrics(logits, labels, torch.zeros(3, dtype=torch.long), num_groups=1)
    assert metrics["top1"] == pytest.approx(1 / 3)
    assert metrics["top5"] == pytest.approx(2 / 3)


def test_top5_only_with_more_than_five_classes() -> None:
    logits = torch.eye(5)
    metrics = classification_metrics(logits, torch.arange(5), torch.zeros(5, dtype=torch.long), num_groups=1)
    assert "top5" not in metrics
    assert metrics["top1"] == 1.0
    logits = torch.cat([torch.eye(6)[:5], torch.arange(6.0).unsqueeze(0)])  # the last image ranks class 0 sixth
    six = classification_metrics(logits, torch.tensor([0, 1, 2, 3, 4, 0]), torch.zeros(6, dtype=torch.long), 1)
    assert six["top5"] == pytest.approx(5 / 6)  # six classes: top-5 is reported


def test_absent_group_is_omitted_not_zero() -> None:
    # groups 1 and 3 of 4 have no sample; group 0: 1 right of 2 = 0.5, group 2: 1 of 1 = 1.0
    logits, labels, groups = prediction([0, 1, 1], [True, False, True], [0, 0, 2])
    metrics = classification_metrics(logits, labels, groups, num_groups=4)
    assert sorted(k for k in metrics if k.startswith("group/")) == ["group/0", "group/2"]
    assert metrics["group/0"] == 0.5 and metrics["group/2"] == 1.0
    assert metrics["worst_group"] == 0.5  # an absent group counted as 0 would make this 0


def test_group_label_out_of_range_is_rejected() -> None:
    logits, labels, groups = prediction([0, 1], [True, True], [0, 3])
    with pytest.raises(ValueError, match="group"):
        classification_metrics(logits, labels, groups, num_groups=3)


def test_labels_or_groups_of_another_length_than_the_logits_are_rejected() -> None:
    logits, labels, groups = prediction([0, 1, 1], [True, True, False], [0, 1, 1])
    for bad_labels, bad_groups in ((labels[:2], groups), (labels, groups[:2])):  # each check alone
        with pytest.raises(ValueError, match="must be \\(3,\\) like the logits"):
            classification_metrics(logits, bad_labels, bad_groups, num_groups=2)


def test_biased_and_debiased_pool_samples_over_aligned_groups() -> None:
    # aligned groups 0 and 3: group 0 has 8 samples, all right; group 3 has 2, both wrong.
    # pooled biased = 8/10 = 0.8 (a mean of group accuracies would give (1 + 0) / 2 = 0.5).
    # conflicting groups 1 and 2: group 1 has 1 sample, right; group 2 has 4, one right.
    # pooled debiased = 2/5 = 0.4 (a mean of group accuracies would give (1 + 0.25) / 2 = 0.625).
    groups = [0] * 8 + [3] * 2 + [1] + [2] * 4
    correct = [True] * 8 + [False] * 2 + [True] + [True, False, False, False]
    labels = [g % 2 for g in groups]
    dataset = SimpleNamespace(num_groups=4, biased_split=None, debiased_split=None, aligned_groups=frozenset({0, 3}))
    val = prediction([0, 1], [True, False], [0, 1])
    metrics = split_metrics({"val": val, "test": prediction(labels, correct, groups)}, dataset)
    assert metrics["biased"] == pytest.approx(0.8)
    assert metrics["debiased"] == pytest.approx(0.4)
    assert metrics["test/top1"] == pytest.approx(10 / 15)
    assert metrics["test/worst_group"] == 0.0
    assert metrics["val/top1"] == 0.5 and metrics["val/group/1"] == 0.0
    assert list(metrics) == sorted(metrics)
    assert "bg_gap" not in metrics


def test_debiased_is_omitted_without_conflicting_test_samples() -> None:
    dataset = SimpleNamespace(num_groups=2, biased_split=None, debiased_split=None, aligned_groups=frozenset({0}))
    metrics = split_metrics({"test": prediction([0, 1], [True, False], [0, 0])}, dataset)
    assert metrics["biased"] == 0.5
    assert "debiased" not in metrics


def background_dataset() -> SimpleNamespace:
    return SimpleNamespace(num_groups=2, biased_split="mixed_same", debiased_split="mixed_rand", aligned_groups=None)


def test_background_benchmark_biased_debiased_and_bg_gap_sign() -> None:
    labels, groups = [0, 1, 0, 1], [0, 1, 0, 1]
    predictions = {
        "original": prediction(labels, [True] * 4, groups),
        "mixed_same": prediction(labels, [True, True, True, False], groups),  # 3/4
        "mixed_rand": prediction(labels, [True, False, True, False], groups),  # 2/4
    }
    metrics = split_metrics(predictions, background_dataset())
    assert metrics["biased"] == 0.75 and metrics["debiased"] == 0.5
    assert metrics["bg_gap"] == pytest.approx(0.25)  # Mixed-Same minus Mixed-Rand: positive when the bias helps
    assert metrics["original/top1"] == 1.0
    assert list(metrics) == sorted(metrics)

    swapped = {"mixed_same": predictions["mixed_rand"], "mixed_rand": predictions["mixed_same"]}
    assert split_metrics(swapped, background_dataset())["bg_gap"] == pytest.approx(-0.25)


def test_no_derived_metrics_when_the_dataset_defines_none_or_splits_are_missing() -> None:
    cifar_like = SimpleNamespace(num_groups=2, biased_split=None, debiased_split=None, aligned_groups=None)
    test = prediction([0, 1], [True, False], [0, 1])
    metrics = split_metrics({"val": test, "test": test}, cifar_like)
    assert not {"biased", "debiased", "bg_gap"} & set(metrics)
    kinds = ("top1", "group/0", "group/1", "worst_group", "worst_class")
    assert set(metrics) == {f"{s}/{m}" for s in ("val", "test") for m in kinds}
    # the bias attributes are optional: a dataset object that has none of them gets the same metrics
    assert split_metrics({"val": test, "test": test}, SimpleNamespace(num_groups=2)) == metrics

    only_original = split_metrics({"original": test}, background_dataset())
    assert not {"biased", "debiased", "bg_gap"} & set(only_original)
