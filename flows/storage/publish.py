"""Publishing a job's outputs: a file appears in `jobs/<jobId>/` complete or not at all."""

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
