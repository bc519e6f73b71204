"""The service's own processes, started for tests: API processes and a worker on loopback."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.utils.patience import PATIENCE

AURA = str(Path(sys.executable).with_name("aura"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ApiProcess:
    """`aura api` on a free port; `restart()` keeps the port; as a context manager, stopped however the block ends."""

    def __init__(self, log: Path, **env: str) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env}
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ApiProcess":
        return self.launch().ready()

    def launch(self) -> "ApiProcess":
        """Started, not waited for: replicas start together."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [AURA, "api", "--port", str(self.port)], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def ready(self) -> "ApiProcess":
        deadline = time.monotonic() + 60 * PATIENCE
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise TimeoutError(f"the API on port {self.port} did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> "ApiProcess":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
