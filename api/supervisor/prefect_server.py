"""The embedded Prefect server: SQLite under `AURA_HOME/prefect`, started once, reused after.

When `PREFECT_API_URL` is set, that server is used and nothing is started.
Otherwise the server recorded in `AURA_HOME/prefect/server.json` is reused if
it answers, or a new one is started in the background and recorded there; it
keeps running after the command that started it ends (`aura server stop` ends
it), so later jobs and the Prefect UI find their history.

Prefect is not imported here: this runs before the CLI decides which API URL
Prefect should be configured with.
"""

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from api.settings import settings
from api.supervisor.interpreter import python_module
from flows.settings import settings as pipeline

START_TIMEOUT_SECONDS = 90.0
CAP_WAIT_SECONDS = 3


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    pid: int | None
    started: bool

    @property
    def ui_url(self) -> str:
        return self.api_url.removesuffix("/api")


def _state_file() -> Path:
    return pipeline.home / "prefect" / "server.json"


def is_healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(f"{api_url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            bound: int = probe.getsockname()[1]
            return bound
    raise OSError("no free TCP port on 127.0.0.1")


def server_env(home: Path, api_url: str | None = None) -> dict[str, str]:
    """Environment for a Prefect server process keeping its SQLite database under `home`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env |= {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        # A job held back by its owner's cap (`api.jobs.owner_deployments`) is offered again this soon,
        # not after Prefect's 30 s: a slot that frees is taken within seconds.
        "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": str(CAP_WAIT_SECONDS),
    }
    if api_url:
        env["PREFECT_UI_API_URL"] = api_url
    return env


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    """Start `prefect server start` on 127.0.0.1:`port`, detached, logging to `home/server.log`."""
    home.mkdir(parents=True, exist_ok=True)
    with (home / "server.log").open("ab") as log:
        command = python_module(
            "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port), "--analytics-off"
        )
        return subprocess.Popen(
            command,
            env=server_env(home, f"http://127.0.0.1:{port}/api"),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_healthy(api_url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with code {process.returncode}")
        if is_healthy(api_url):
            return
        time.sleep(0.25)
    raise TimeoutError(f"the Prefect server at {api_url} did not answer within {timeout:.0f} s")


def ensure_server() -> PrefectServer:
    """The Prefect API to use: `PREFECT_API_URL`, the recorded embedded server, or a new one."""
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        return PrefectServer(api_url=configured.rstrip("/"), pid=None, started=False)
    state = _state_file()
    if state.exists():
        recorded = json.loads(state.read_text())
        if is_healthy(recorded["api_url"]):
            return PrefectServer(api_url=recorded["api_url"], pid=recorded["pid"], started=False)
    port = _free_port(settings.prefect_port)
    api_url = f"http://127.0.0.1:{port}/api"
    process = start_server(state.parent, port)
    try:
        wait_healthy(api_url, process, START_TIMEOUT_SECONDS)
    except BaseException:
        os.killpg(process.pid, signal.SIGTERM)
        raise
    state.write_text(json.dumps({"api_url": api_url, "pid": process.pid}))
    return PrefectServer(api_url=api_url, pid=process.pid, started=True)


def stop_server() -> bool:
    """Stop the recorded embedded server; False if none was running."""
    state = _state_file()
    if not state.exists():
        return False
    recorded = json.loads(state.read_text())
    state.unlink()
    try:
        os.killpg(recorded["pid"], signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True
