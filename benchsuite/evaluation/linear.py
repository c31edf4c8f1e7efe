"""Linear evaluation of frozen features: the converged logistic-regression probe (the default) and the authors'
epoch-based probe.

Both take the cached features of every split (`frozen.py` computes them once per evaluation) and return the
metrics of the evaluation splits.

- `LogisticProbe`, the default: multinomial logistic regression (scikit-learn, L-BFGS) on features standardised
  with the training split's mean and std, solved to convergence, its L2 strength chosen on the validation split
  (class labels only) from a small grid. What it reports is a property of the features: a probe that stops
  early reports how long it was trained instead (on the embedded waterbirds benchmark an Adam probe of 100
  epochs read 50.8% top-1 from features that the converged probe reads at 78.6%). A fit that does not converge
  raises `ProbeNotConverged` instead of reporting a number.
- `LinearProbe`, the authors' protocol (WCL, DCL and HCL code): one linear layer trained with cross-entropy for
  a fixed number of epochs through the suite's one loop; the paper-scale protocol files select it
  (gin/protocols/authors_probe.gin).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import gin
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchsuite.datasets.base import Dataset
from benchsuite.datasets.splits import Batch, TensorSplit
from benchsuite.evaluation.metrics import split_metrics
from benchsuite.training.trainer import Loop, train_loop

Features = dict[str, Tensor]


class ProbeNotConverged(RuntimeError):
    """The logistic regression stopped at its iteration limit: its accuracy would describe the solver."""


@gin.configurable
class LogisticProbe:
    """L2-regularised multinomial logistic regression on standardised features, solved to convergence.

    c_grid: inverse L2 strengths tried (scikit-learn's C, which multiplies the summed log-loss); the one with
    the best validation top-1 is kept, the strongest regularisation on a tie. Without a "val" split, a
    stratified fifth of the training features chooses C and the probe is then refit on all of them.
    max_iter, tol: L-BFGS's limit and tolerance; reaching max_iter raises ProbeNotConverged.
    """

    def __init__(
        self,
        c_grid: Sequence[float] = (0.001, 0.01, 0.1, 1.0, 10.0),
        max_iter: int = 3000,
        tol: float = 1e-6,
        selection_split: str = "val",
    ) -> None:
        if not c_grid or any(c <= 0 for c in c_grid):
            raise ValueError(f"LogisticProbe.c_grid = {tuple(c_grid)}: give one or more positive values.")
        self.c_grid = tuple(float(c) for c in c_grid)
        self.max_iter = max_iter
        self.tol = tol
        self.selection_split = selection_split

    def describe(self) -> str:
        return (
            f"LogisticProbe: L-BFGS logistic regression on standardised features, converged (tol {self.tol:g}, "
            f"at most {self.max_iter} iterations), C from {list(self.c_grid)} by {self.selection_split} top-1"
        )

    def _fit(self, x: np.ndarray, y: np.ndarray, c: float):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=c, max_iter=self.max_iter, tol=self.tol)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # checked below, as an error
            model.fit(x, y)
        if int(np.max(model.n_iter_)) >= self.max_iter:
            raise ProbeNotConverged(
                f"The logistic-regression probe did not converge: C = {c:g} reached LogisticProbe.max_iter = "
                f"{self.max_iter} iterations at tolerance {self.tol:g}. Its accuracy would describe the solver, "
                "not the features, so none is reported. Raise LogisticProbe.max_iter, drop the smallest-"
                "regularisation values from LogisticProbe.c_grid, or select the authors' epoch-based probe "
                "(include gin/protocols/authors_probe.gin)."
            )
        return model

    @staticmethod
    def _scores(model, x: np.ndarray, num_classes: int) -> Tensor:
        """(N, num_classes) class probabilities; classes absent from the training labels score 0."""
        scores = np.zeros((len(x), num_classes))
        scores[:, model.classes_] = model.predict_proba(x)
        return torch.from_numpy(scores)

    def __call__(self, features: Features, dataset: Dataset) -> dict[str, float]:
        train = dataset.split("train")
        x_train = features["train"].double().cpu().numpy()
        mean = x_train.mean(axis=0)
        std = x_train.std(axis=0)
        std[std < 1e-8] = 1.0  # a constant feature (a dead unit) stays 0 rather than dividing by 0

        def standardised(name: str) -> np.ndarray:
            return (features[name].double().cpu().numpy() - mean) / std

        x, y = standardised("train"), train.labels.numpy()
        if self.selection_split in dataset.eval_splits:
            fit_x, fit_y = x, y
            held_x = standardised(self.selection_split)
            held_y = dataset.split(self.selection_split).labels.numpy()
        else:
            from sklearn.model_selection import train_test_split

            counts = np.bincount(y)
            stratify = y if counts[counts > 0].min() >= 2 else None
            fit_x, held_x, fit_y, held_y = train_test_split(x, y, test_size=0.2, random_state=0, stratify=stratify)
        best_c, best_accuracy = self.c_grid[0], -1.0
        for c in sorted(self.c_grid):
            accuracy = float((self._fit(fit_x, fit_y, c).predict(held_x) == held_y).mean())
            if accuracy > best_accuracy:
                best_c, best_accuracy = c, accuracy
        model = self._fit(x, y, best_c)
        predictions = {
            name: (self._scores(model, standardised(name), dataset.num_classes), split.labels, split.groups)
            for name in dataset.eval_splits
            for split in (dataset.split(name),)
        }
        return split_metrics(predictions, dataset) | {"probe/C": best_c}


class _FeatureSplit(TensorSplit):
    """A split of cached feature vectors, which the epoch-based probe trains on like images."""

    def __post_init__(self) -> None:  # features are float (N, D), not uint8 images
        pass


@gin.configurable
class LinearProbe:
    """The authors' epoch-based linear probe (WCL, DCL and HCL code): one linear layer, cross-entropy, a fixed
    number of epochs on the raw cached features.

    Defaults are their CIFAR protocol: Adam, lr 1e-3, weight decay 1e-6, 100 epochs. The binary datasets'
    protocol in the WCL code is SGD with momentum 0.9 and weight decay 1e-4 (gin/protocols/ssl_binary.gin).
    Its result depends on the budget: prefer LogisticProbe unless reproducing the authors' numbers.
    """

    def __init__(
        self,
        epochs: int = 100,
        lr: float = 1e-3,
        weight_decay: float = 1e-6,
        optimizer: Callable[..., torch.optim.Optimizer] = torch.optim.Adam,
        batch_size: int = 512,
        seed: int = 0,
    ) -> None:
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.seed = seed

    def describe(self) -> str:
        return (
            f"LinearProbe: {self.epochs} epochs of {getattr(self.optimizer, '__name__', self.optimizer)} "
            f"(lr {self.lr:g}, weight decay {self.weight_decay:g}, batch {self.batch_size}) on raw features"
        )

    def __call__(self, features: Features, dataset: Dataset) -> dict[str, float]:
        train = dataset.split("train")
        device = features["train"].device
        # The probe's own generator keeps its initialisation and shuffling independent of the encoder's
        # training RNG, so evaluating more or less often does not change the encoder's training.
        generator = torch.Generator().manual_seed(self.seed)
        linear = nn.Linear(features["train"].shape[1], dataset.num_classes).to(device)
        with torch.no_grad():
            bound = 1 / features["train"].shape[1] ** 0.5
            weight = torch.empty(linear.weight.shape).uniform_(-bound, bound, generator=generator)
            linear.weight.copy_(weight)
            linear.bias.zero_()

        def step(batch: Batch) -> Tensor:
            return F.cross_entropy(linear(batch["image"]), batch["label"])

        data = _FeatureSplit(features["train"], train.labels.to(device), train.groups.to(device))
        optimizer = self.optimizer(linear.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        loop = Loop("linear probe", linear, step, data, self.epochs, self.batch_size, [optimizer], drop_last=False)
        train_loop(loop, device, generator)

        linear.eval()
        with torch.no_grad():
            predictions = {
                name: (linear(features[name]).cpu(), split.labels, split.groups)
                for name in dataset.eval_splits
                for split in (dataset.split(name),)
            }
        return split_metrics(predictions, dataset)
