"""What a method is: it builds its modules, yields its training stages, and is evaluated.

`run` calls, in order: `setup(backbone, dataset)` once (build every module, so that a checkpoint can
be restored into them), then `fit(dataset, trainer)`, which runs each stage that `stages` yields through
`Trainer.fit` and returns the last evaluation: row label -> metrics. A method whose stages depend on an
earlier stage's outcome (JTT's error set) computes it between two yields.

Two families share most of their code:
- `SupervisedMethod`: backbone + linear classifier, evaluated by that classifier;
- `RepresentationMethod`: encoder(s) + projection head(s) trained without labels, evaluated on frozen
  features by a converged linear probe and a kNN (evaluation.FrozenEncoderEvaluation); `probed_encoders`
  names what is evaluated, so a method with two encoders (WCL) reports two rows.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from benchsuite.datasets.base import Dataset
from benchsuite.datasets.splits import Batch
from benchsuite.evaluation import FrozenEncoderEvaluation, evaluate_classifier
from benchsuite.models.backbones import Backbone, projection_head
from benchsuite.training import distributed
from benchsuite.training.augment import ContrastiveAugment, normalize
from benchsuite.training.trainer import Evaluation, Stage, Trainer

BackboneFactory = Callable[[], Backbone]


class Method(nn.Module, abc.ABC):
    """Base class of every registered method."""

    registered_name: ClassVar[str]
    #: the label of the method's row in leaderboards; defaults to the registered name
    display_name: ClassVar[str | None] = None
    #: the leaderboard compares each method with its family's reference (ERM or SimCLR); recorded in record.json
    family: ClassVar[str | None] = None

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

    def record_details(self) -> dict[str, Any]:
        """Method-specific facts for the run record (JTT: T, lambda_up, the error set's size)."""
        return {}

    def evaluation_details(self) -> dict[str, str]:
        """What produces the metrics of this method's evaluations, for the run record."""
        return {"evaluate": f"{type(self).__name__}.evaluate"}

    def fit(self, dataset: Dataset, trainer: Trainer) -> Evaluation:
        evaluation: Evaluation = {}
        for stage in self.stages(dataset, trainer):
            evaluation = trainer.fit(stage, self) or evaluation
        return evaluation

    def normalized(self, images: Tensor, dataset: Dataset) -> Tensor:
        return normalize(images, dataset.mean, dataset.std)


class SupervisedMethod(Method):
    """A backbone with a linear classifier on its features, trained on labels."""

    family = "supervised"

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

    def evaluation_details(self) -> dict[str, str]:
        return {"classifier": "the method's own linear classifier on its backbone"}


class RepresentationMethod(Method):
    """Encoders trained without labels and evaluated by a linear probe on their frozen features."""

    family = "self-supervised"

    def probed_encoders(self) -> dict[str, nn.Module]:
        """Row label -> encoder whose features the probe evaluates."""
        return {self.label: self.encoder}

    def evaluate(self, dataset: Dataset, trainer: Trainer) -> Evaluation:
        evaluation = FrozenEncoderEvaluation()
        return {
            label: evaluation(encoder, dataset, trainer.device, trainer.eval_batch_size)
            for label, encoder in self.probed_encoders().items()
        }

    def evaluation_details(self) -> dict[str, str]:
        return FrozenEncoderEvaluation().describe()


class TwoViewMethod(RepresentationMethod):
    """Trained on two augmented views per image, without labels; subclasses build the encoders and the loss.

    Both views of a batch go through an encoder in one forward pass, so batch-norm statistics cover all 2B
    views as in the authors' code. Defaults are the DCL, HCL and WCL code's CIFAR settings: t = 0.5, a
    512-d hidden layer and a 128-d projection.
    """

    def __init__(
        self,
        temperature: float = 0.5,
        hidden_dim: int = 512,
        projection_dim: int = 128,
        augment: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.temperature = temperature
        self.hidden_dim = hidden_dim
        self.projection_dim = projection_dim
        self.augment = augment if augment is not None else ContrastiveAugment()

    def two_views(self, batch: Batch, dataset: Dataset) -> Tensor:
        """(2B, C, H, W): two independent augmentations of every image, normalised, ordered [views 1; views 2]."""
        images = batch["image"]
        return self.normalized(torch.cat([self.augment(images), self.augment(images)]), dataset)

    @abc.abstractmethod
    def views_loss(self, views: Tensor) -> Tensor:
        """The training loss of a (2B, C, H, W) batch of views."""

    def optimizers(self, trainer: Trainer) -> list[torch.optim.Optimizer] | None:
        """The stage's optimizers; None: one of the trainer's over all parameters."""
        return None

    def stages(self, dataset: Dataset, trainer: Trainer) -> Iterator[Stage]:
        def step(batch: Batch) -> Tensor:
            return self.views_loss(self.two_views(batch, dataset))

        yield train_stage(self, step, dataset, trainer, optimizers=self.optimizers(trainer))


class ContrastiveMethod(TwoViewMethod):
    """One encoder and projection head; subclasses give the contrastive loss of the two views' projections."""

    def setup(self, backbone: BackboneFactory, dataset: Dataset) -> None:
        self.encoder = backbone()
        self.head = projection_head(self.encoder.feature_dim, self.hidden_dim, self.projection_dim)

    @abc.abstractmethod
    def loss(self, z1: Tensor, z2: Tensor) -> Tensor:
        """The contrastive loss of the two views' projections (B, D) each."""

    def views_loss(self, views: Tensor) -> Tensor:
        z1, z2 = self.head(self.encoder(views)).chunk(2)
        return self.loss(distributed.gather(z1), distributed.gather(z2))  # the global batch's negatives


def train_stage(
    method: Method,
    step: Callable[[Batch], Tensor],
    dataset: Dataset,
    trainer: Trainer,
    optimizers: list[torch.optim.Optimizer] | None = None,
) -> Stage:
    """The single stage most methods have: all of the method's parameters, the training split, evaluation."""
    return trainer.stage(
        "train",
        method,
        step,
        dataset.split("train"),
        optimizers=optimizers,
        evaluate=lambda: method.evaluate(dataset, trainer),
    )
