"""A more strongly biased variant of the embedded background benchmark.

Same digits, background families and test variants as the suite's SyntheticBackgrounds, but 99% of training
backgrounds agree with the class (the suite's default is 90%), so the background is an almost perfect
shortcut and the BG-gap of ERM grows; a smaller training set (2000 images) keeps runs short.
"""

from __future__ import annotations

from benchsuite.datasets.synthetic import SyntheticBackgrounds
from benchsuite.registry import DATASETS


@DATASETS.register("SyntheticBackgroundsSevere")
class SyntheticBackgroundsSevere(SyntheticBackgrounds):
    """SyntheticBackgrounds with 99% of training backgrounds agreeing with the class and 2000 training images."""

    def __init__(
        self,
        image_size: int = 32,
        train_size: int = 2000,
        val_size: int = 1000,
        test_size: int = 1000,
        background_agreement: float = 0.99,
        seed: int = 0,
        cache_dir: str | None = None,
    ) -> None:
        super().__init__(
            image_size=image_size, train_size=train_size, val_size=val_size, test_size=test_size,
            background_agreement=background_agreement, seed=seed, cache_dir=cache_dir,
        )
