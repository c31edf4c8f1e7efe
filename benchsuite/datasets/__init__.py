"""The registered datasets, one file per family; synthetic.py is the embedded default, the others read real
data from disk (or through Hugging Face `datasets`) under $BENCHSUITE_DATA."""

from benchsuite.datasets import (  # noqa: F401  registration side effects
    celeba,
    cifar,
    huggingface,
    imagenet9,
    synthetic,
    textures,
    waterbirds,
)
