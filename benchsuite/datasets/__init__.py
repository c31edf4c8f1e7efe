"""The registered datasets, one file per family; synthetic.py is the embedded default, the others read real
data from disk (or through Hugging Face `datasets`) under $BENCHSUITE_DATA.

The contract and the helpers, each file named by its job:
- base.py: `Dataset`, what every dataset provides (its splits, looked up by `split(name)`; the bias metrics'
  settings; `use(image_loading)`, through which the run's root says how file-backed splits decode; the
  `data` command's `data_status`).
- splits.py: the one split family: `Split` (the contract), `TensorSplit` held in memory with its `IndexedSplit`
  views, and `FileSplit`, decoded from an image source batch by batch in DataLoader workers (`ImageLoading`).
- decoding.py: decoding and sizing images (`Preprocess`), the image and mask files a `FileSplit` reads, and
  `UnreadableImage` for one that does not decode.
- locating.py: finding a dataset's folder under $BENCHSUITE_DATA or its `root` binding (`DataSource`), and the
  one-paragraph error when it is missing or malformed.
- from_disk.py: `DiskDataset`, the base of the datasets read from disk: loaded once with the layout checked,
  the groups each evaluation split must hold, and what the run record says about the data read.
- class_folders.py: reading <split>/<class>/<image> folders (ImageNet-9, the texture sets).
- manifest.py: the manifest of the files a run reads (path and size of each), whose fingerprint joins the run id.

One file per dataset family: cifar.py, waterbirds.py, celeba.py, imagenet9.py, textures.py (read from disk),
huggingface.py (any dataset through Hugging Face `datasets`) and synthetic.py (the embedded benchmarks).
"""

from benchsuite.datasets import (  # noqa: F401  registration side effects
    celeba,
    cifar,
    huggingface,
    imagenet9,
    synthetic,
    textures,
    waterbirds,
)
