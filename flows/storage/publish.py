"""Handing files over: a stage's finished files into its results, a job's outputs into `jobs/<jobId>/`.

Either way a file appears in its folder complete or not at all.
"""

import errno
import os
import shutil
from pathlib import Path

from flows.contract.errors import StorageError
from flows.contract.layout import make_folder


def publish(files: dict[str, Path], folder: Path) -> dict[str, int]:
    """Copy each file into `folder` under its name: to a hidden temp name, then renamed.

    Returns the sizes of what was published. Sources are copied, not moved, so
    a publish that fails half-way can be run again from the same sources.
    """
    make_folder(folder)
    sizes: dict[str, int] = {}
    try:
        for name, source in files.items():
            partial = folder / f".{name}.partial"
            shutil.copyfile(source, partial)
            with partial.open("rb") as handle:
                os.fsync(handle.fileno())
            os.replace(partial, folder / name)
            sizes[name] = (folder / name).stat().st_size
    except OSError as exc:
        for leftover in folder.glob(".*.partial"):
            leftover.unlink(missing_ok=True)
        raise StorageError(f"cannot publish into {folder}: {exc.strerror or exc}") from exc
    return sizes


def move_into(files: list[Path], folder: Path) -> list[Path]:
    """Move finished files from scratch into `folder`, all of them or none; their new paths.

    A rename, scratch and results being folders of one storage root; where scratch is another
    file system, a copy to a hidden name renamed into place, so a file there is always whole.
    """
    moved: list[Path] = []
    for path in files:
        target = folder / path.name
        try:
            try:
                os.replace(path, target)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                partial = folder / f".{path.name}.partial"
                try:
                    shutil.copyfile(path, partial)
                    os.replace(partial, target)
                finally:
                    partial.unlink(missing_ok=True)
        except OSError as exc:
            for done in moved:
                done.unlink(missing_ok=True)
            raise StorageError(f"cannot move {path.name} into {folder}: {exc.strerror or exc}") from exc
        moved.append(target)
    return moved
