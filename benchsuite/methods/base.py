"""What a method is: it builds its modules, yields its training stages, and is evaluated.

The Trainer calls, in order: `setup(backbone, dataset)` once (build every module, so that a checkpoint can
be restored into them), then `fit(dataset, trainer)`, which runs each stage that `stages` yields through
`Trainer.fit` and returns the last evaluation: row label -> metrics. A method whose stages depend on an
earlier stage's outcome (JTT's error set) computes it between two yields.

Two families share most of their code:
- `SupervisedMethod`: backbone + linear classifier, evaluated by that classifier;
- `RepresentationMethod`: encoder(s) + projection head(s) trained without labels, evaluated by the linear
  probe on frozen features (evaluation.LinearProbe); `probed_encoders` names what is evaluated, so a method
  with two encoders (WCL) reports two rows.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from typing import ClassVar

from torch import Tensor, nn

from benchsuite.augment import normalize
from benchsuite.backbones import Backbone
from benchsuite.datasets.base import Batch, Dataset
from benchsuite.evaluation import LinearProbe, evaluate_classifier
from benchsuite.trainer import Evaluation, Stage, Trainer

BackboneFactory = Callable[[], Backbone]


class Method(nn.Module, abc.ABC):
    """Base class of every registered method."""

    registered_name: ClassVar[str]
    #: the label of the method's row in leaderboards; defaults to the registered name
    display_name: ClassVar[str | None] = None

    @property
    def label(self) -> str:
        return self.display_name or self.registered_name

    @abc.abstractmethod
    def setup(self, backbone: BackboneFactory, dataset: Dataset) -> None:
        """Build every module; called once before training or resuming."""

    @abc.abstractmethod
    def stages(self, dataset: Dataset, trainer: Trainer) -> Iterator[Stage]:
        """The training stages, in order."""

    @abc.abstractmethod
    def evaluate(self, dataset: Dataset, trainer: Trainer) -> Evaluation:
        """Row label -> metrics on every evaluation split of `dataset`."""

    def check_dataset(self, dataset: Dataset) -> None:
        """Raise ConfigError if the method cannot run on `dataset` (CLAD needs masks)."""

    def fit(self, dataset: Dataset, trainer: Trainer) -> Evaluation:
        evaluation: Evaluation = {}
        for stage in self.stages(dataset, trainer):
            evaluation = trainer.fit(stage, self) or evaluation
        return evaluation

    def normalized(self, images: Tensor, dataset: Dataset) -> Tensor:
        return normalize(images, dataset.mean, dataset.std)


class SupervisedMethod(Method):
    """A backbone with a linear classifier on its features, trained on labels."""

    def setup(self, backbone: BackboneFactory, dataset: Dataset) -> None:
        self.encoder = backbone()
        self.classifier = nn.Linear(self.encoder.feature_dim, dataset.num_classes)

    def logits(self, x: Tensor) -> Tensor:
        return self.classifier(self.encoder(x))

    def evaluate(self, dataset: Dataset, trainer: Trainer) -> Evaluation:
        self.eval()
        metrics = evaluate_classifier(self.logits, dataset, trainer.device, trainer.eval_batch_size)
        self.train()
        return {self.label: metrics}


class RepresentationMethod(Method):
    """Encoders trained without labels and evaluated by a linear probe on their frozen features."""

    def probed_encoders(self) -> dict[str, nn.Module]:
        """Row label -> encoder whose features the probe evaluates."""
        return {self.label: self.encoder}

    def evaluate(self, dataset: Dataset, trainer: Trainer) -> Evaluation:
        probe = LinearProbe()
        return {
            label: probe(encoder, dataset, trainer.device, trainer.eval_batch_size)
            for label, encoder in self.probed_encoders().items()
        }


def train_stage(method: Method, step: Callable[[Batch], Tensor], dataset: Dataset, trainer: Trainer) -> Stage:
    """The single stage most methods have: all of the method's parameters, the training split, evaluation."""
    return trainer.stage(
        "train", method, step, dataset.split("train"), evaluate=lambda: method.evaluate(dataset, trainer)
    )
