"""What a method is: it builds its modules and declares its training stages, its evaluation and its artefacts.

`run` calls `setup(backbone, dataset)` once (build every module, so that a checkpoint can be restored into
them), then `Trainer.fit(method, dataset, run_dir)`, which trains each `Stage` that `stages(dataset, context)`
yields, calls `evaluate(dataset, context)` for the stages that are evaluated, writes the files of
`artefacts(dataset, context)` into the run folder, and returns the last evaluation: row label -> metrics. A
method never sees the Trainer; `context` holds the run facts it may read (device, evaluation batch size). A
method whose stages depend on an earlier stage's outcome (JTT's error set) computes it between two yields.

Two families share most of their code:
- `SupervisedMethod`: backbone + linear classifier, evaluated by that classifier;
- `RepresentationMethod`: encoder(s) + projection head(s) trained without labels, evaluated on frozen
  features by a converged linear probe and a kNN (evaluation.FrozenEncoderEvaluation, which `run` builds
  at the gin root and hands over with `use_evaluation`); `probed_encoders` names what is evaluated, so a
  method with two encoders (WCL) reports two rows.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from benchsuite.datasets.base import Dataset
from benchsuite.datasets.splits import Batch
from benchsuite.evaluation import FrozenEncoderEvaluation, evaluate_classifier
from benchsuite.models.backbones import Backbone, projection_head
from benchsuite.training import distributed
from benchsuite.training.augment import ContrastiveAugment, normalize
from benchsuite.training.trainer import Evaluation, ParameterGroup, RunContext, Stage

__all__ = [
    "ArtefactWriter", "BackboneFactory", "ContrastiveMethod", "Evaluation", "Method", "ParameterGroup",
    "RepresentationMethod", "RunContext", "Stage", "SupervisedMethod", "TwoViewMethod",
]

BackboneFactory = Callable[[], Backbone]
#: writes one artefact to the path it is given (inside the run folder)
ArtefactWriter = Callable[[Path], None]


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
    def stages(self, dataset: Dataset, context: RunContext) -> Iterator[Stage]:
        """The training stages, in order; the Trainer trains each before it asks for the next."""

    @abc.abstractmethod
    def evaluate(self, dataset: Dataset, context: RunContext) -> Evaluation:
        """Row label -> metrics on every evaluation split of `dataset`."""

    def artefacts(self, dataset: Dataset, context: RunContext) -> dict[str, ArtefactWriter]:
        """File name -> writer of the files the method adds to its run folder after training (WCL's figure);
        the Trainer calls each writer with the file's path, in the main process only."""
        return {}

    def check_dataset(self, dataset: Dataset) -> None:
        """Raise ConfigError if the method cannot run on `dataset` (CLAD needs masks)."""

    def record_details(self) -> dict[str, Any]:
        """Method-specific facts for the run record (JTT: T, lambda_up, the error set's size)."""
        return {}

    def evaluation_details(self) -> dict[str, str]:
        """What produces the metrics of this method's evaluations, for the run record."""
        return {"evaluate": f"{type(self).__name__}.evaluate"}

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

    def evaluate(self, dataset: Dataset, context: RunContext) -> Evaluation:
        self.eval()
        metrics = evaluate_classifier(self.logits, dataset, context.device, context.eval_batch_size)
        self.train()
        return {self.label: metrics}

    def evaluation_details(self) -> dict[str, str]:
        return {"classifier": "the method's own linear classifier on its backbone"}


class RepresentationMethod(Method):
    """Encoders trained without labels and evaluated by a linear probe on their frozen features.

    The frozen-encoder evaluation (probe and kNN) is configured at the gin root: `run` builds it once and hands
    it over with `use_evaluation` before training.
    """

    family = "self-supervised"
    #: set by `use_evaluation`
    frozen_evaluation: FrozenEncoderEvaluation | None = None

    def use_evaluation(self, evaluation: FrozenEncoderEvaluation) -> None:
        """Evaluate the probed encoders with `evaluation` (`run` passes the one the gin config builds)."""
        self.frozen_evaluation = evaluation

    def _evaluation(self) -> FrozenEncoderEvaluation:
        if self.frozen_evaluation is None:
            raise RuntimeError(
                f"{type(self).__name__} has no frozen-encoder evaluation: pass one with use_evaluation(...) "
                "(run does, with the FrozenEncoderEvaluation() of the gin config)."
            )
        return self.frozen_evaluation

    def probed_encoders(self) -> dict[str, nn.Module]:
        """Row label -> encoder whose features the probe evaluates."""
        return {self.label: self.encoder}

    def evaluate(self, dataset: Dataset, context: RunContext) -> Evaluation:
        evaluation = self._evaluation()
        return {
            label: evaluation(encoder, dataset, context.device, context.eval_batch_size)
            for label, encoder in self.probed_encoders().items()
        }

    def evaluation_details(self) -> dict[str, str]:
        return self._evaluation().describe()


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

    def parameter_groups(self) -> list[ParameterGroup] | None:
        """The training stage's parameter groups, one optimizer each; None: one over all parameters."""
        return None

    def stages(self, dataset: Dataset, context: RunContext) -> Iterator[Stage]:
        def step(batch: Batch) -> Tensor:
            return self.views_loss(self.two_views(batch, dataset))

        yield Stage("train", self, step, dataset.split("train"), parameter_groups=self.parameter_groups())


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

