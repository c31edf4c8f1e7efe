"""Evaluation: a classifier's metrics on every evaluation split (supervised methods), and the frozen-encoder
evaluation of representation methods (a converged linear probe and a kNN on cached features)."""

from benchsuite.evaluation.classifier import apply_to_split, evaluate_classifier, frozen_features, preprocess
from benchsuite.evaluation.frozen import FrozenEncoderEvaluation
from benchsuite.evaluation.knn import KNNEvaluation
from benchsuite.evaluation.linear import LinearProbe, LogisticProbe, ProbeNotConverged

__all__ = [
    "FrozenEncoderEvaluation", "KNNEvaluation", "LinearProbe", "LogisticProbe", "ProbeNotConverged",
    "apply_to_split", "evaluate_classifier", "frozen_features", "preprocess",
]
