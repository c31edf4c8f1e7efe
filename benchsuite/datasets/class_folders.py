"""Reading class-folder datasets (ImageFolder layout: <split>/<class>/<image>), shared by ImageNet-9 and the
texture sets. Never silently partial: a class folder without images is an error naming it (unless the caller
allows it, for an evaluation split under `allow_missing_groups`), and a split whose class folders differ from
the reference split's is an error naming the folders missing and the folders extra."""

from __future__ import annotations

from pathlib import Path

from benchsuite.datasets.locating import DataSource

#: image file suffixes read from class folders (compared lower-case)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def class_folders(folder: Path, source: DataSource, what: str = "the folder") -> list[str]:
    """The sorted class folder names under `folder`, which must exist and hold at least one."""
    source.require(folder, what)
    classes = sorted(entry.name for entry in folder.iterdir() if entry.is_dir())
    if not classes:
        raise source.error(folder, f"'{folder.name}' holds no class folders")
    return classes


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def images_by_class(
    folder: Path, classes: list[str], source: DataSource, reference: Path, allow_empty: bool = False,
    binding: str = "",
) -> tuple[list[Path], list[int]]:
    """Every image under folder/<class>/ with its class index. The class folders must be exactly `classes`
    (those of the folder `reference`), and each must hold an image unless `allow_empty`; `binding` names the
    gin binding that would allow empty ones (evaluation splits), for the error."""
    found = class_folders(folder, source)
    if found != classes:
        missing = [name for name in classes if name not in found]
        extra = [name for name in found if name not in classes]
        parts = [f"missing here: {', '.join(missing)}" if missing else "",
                 f"not in '{reference}': {', '.join(extra)}" if extra else ""]
        raise source.error(
            folder,
            f"its class folders differ from those of '{reference}' ({'; '.join(p for p in parts if p)}); every "
            "split must have the same classes",
        )
    paths: list[Path] = []
    labels: list[int] = []
    empty = []
    for label, name in enumerate(classes):
        files = _images(folder / name)
        if not files:
            empty.append(folder / name)
        paths += files
        labels += [label] * len(files)
    if empty and not allow_empty:
        listed = ", ".join(f"'{path}'" for path in empty)
        raise source.error(
            folder,
            f"{len(empty)} class folder(s) hold no image ({', '.join(IMAGE_SUFFIXES)}): {listed}; the class would "
            "silently drop out of training or evaluation (a partial copy or an unfinished extraction?)"
            + (f"; complete it, or bind {binding} = True to evaluate without it" if binding else ""),
        )
    return paths, labels
