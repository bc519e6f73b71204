"""A stage's hand-over from scratch to its results: whole files, all of them or none."""

import errno
import os
from pathlib import Path

import pytest

from flows.contract.errors import StorageError
from flows.storage import publish


def finished(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(name.encode() * 100)
    return [folder / name for name in names]


def test_finished_files_move_from_scratch_into_the_results(tmp_path: Path) -> None:
    files = finished(tmp_path / "temp", "video.mp4", "thumbnail.jpg")
    out = tmp_path / "results"
    out.mkdir()
    publish.move_into(files, out)
    assert sorted(path.name for path in out.iterdir()) == ["thumbnail.jpg", "video.mp4"]
    assert not any(path.exists() for path in files)


def test_scratch_on_another_file_system_is_copied_in_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = finished(tmp_path / "temp", "video.mp4")
    out = tmp_path / "results"
    out.mkdir()
    rename = os.replace

    def across_devices(source: Path, target: Path) -> None:
        if Path(source).parent != Path(target).parent:
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
        rename(source, target)

    monkeypatch.setattr(publish.os, "replace", across_devices)
    publish.move_into(files, out)
    assert [path.name for path in out.iterdir()] == ["video.mp4"]
    assert (out / "video.mp4").read_bytes() == b"video.mp4" * 100


def test_a_move_that_fails_leaves_none_of_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = finished(tmp_path / "temp", "video.mp4", "thumbnail.jpg")
    out = tmp_path / "results"
    out.mkdir()
    rename = os.replace

    def full_at_the_second(source: Path, target: Path) -> None:
        if Path(source).name == "thumbnail.jpg":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        rename(source, target)

    monkeypatch.setattr(publish.os, "replace", full_at_the_second)
    with pytest.raises(StorageError, match="No space left"):
        publish.move_into(files, out)
    assert list(out.iterdir()) == []
