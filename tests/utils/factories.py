"""Requests and small helpers the tests share."""

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from api.supervisor.processes import child_pids
from flows.contract.request import VideoRequest
from tests.utils.patience import PATIENCE

T = TypeVar("T")


def make_request(topic: str = "Why honeybees matter", **sections: dict[str, Any]) -> VideoRequest:
    """A small, quick request (short, 320 px wide) unless the test says otherwise."""
    body: dict[str, Any] = {
        "brief": {"topic": topic},
        "plan": {"targetDurationSeconds": 12},
        "render": {"width": 320},
    }
    for name, values in sections.items():
        body[name] = {**body.get(name, {}), **values}
    return VideoRequest.model_validate(body)


def new_job_id() -> str:
    return str(uuid.uuid4())


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, children of children included."""
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        children = child_pids(frontier.pop())
        found.update(children)
        frontier.extend(children)
    return found


def alive(pid: int) -> bool:
    """Whether `pid` is a process that has not ended (a zombie has)."""
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def processes_mentioning(text: str) -> list[int]:
    """PIDs of live processes whose command line contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if text in cmdline and "State:\tZ" not in status:
            found.append(int(entry.name))
    return found


def wait_for(check: Callable[[], T], *, timeout: float, interval: float = 0.1, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy; fail after `timeout` × `PATIENCE` seconds."""
    timeout *= PATIENCE
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


HOUR = 3600


def aged(folder: Path, hours: float, size: int = 1000) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.bin").write_bytes(b"x" * size)
    moment = time.time() - hours * HOUR
    os.utime(folder / "data.bin", (moment, moment))
    os.utime(folder, (moment, moment))
    return folder
