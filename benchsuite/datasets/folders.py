"""Reading class-folder datasets (ImageFolder layout: <split>/<class>/<image>), shared by ImageNet-9 and the
texture sets."""

from __future__ import annotations

from pathlib import Path

from benchsuite.datasets.roots import DataSource

#: image file suffixes read from class folders (compared lower-case)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def class_folders(folder: Path, source: DataSource) -> list[str]:
    """The sorted class folder names under `folder`, which must exist and hold at least one."""
    source.require(folder, "the folder")
    classes = sorted(entry.name for entry in folder.iterdir() if entry.is_dir())
    if not classes:
        raise source.error(folder, f"'{folder.name}' holds no class folders")
    return classes


def images_by_class(folder: Path, classes: list[str], source: DataSource) -> tuple[list[Path], list[int]]:
    """Every image under folder/<class>/ with its class index; the class folders must be exactly `classes`."""
    found = class_folders(folder, source)
    if found != classes:
        raise source.error(
            folder,
            f"its class folders ({', '.join(found)}) differ from the training split's ({', '.join(classes)})",
        )
    paths: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        files = sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise source.error(
            folder, f"the class folders under '{folder.name}' hold no images ({', '.join(IMAGE_SUFFIXES)})"
        )
    return paths, labels
