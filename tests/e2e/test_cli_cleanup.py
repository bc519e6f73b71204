"""`aura worker` with nothing configured starts the embedded Prefect server, and stops it again however it ends.

A set-up that fails (here: a work pool name Prefect refuses) and a closed terminal (SIGHUP) each leave
no process behind; the failed one leaves nothing a later command trips over.
(`test_install` stops `aura serve` with SIGTERM mid-render; `test_cli_local` cancels `aura generate` with Ctrl-C.)
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.utils.factories import alive, descendants, processes_mentioning, wait_for
from tests.utils.stack import free_port

AURA = Path(sys.executable).parent / "aura"


def own_prefect(home: Path) -> tuple[dict[str, str], str]:
    """An environment with no Prefect configured, an `AURA_HOME` of its own and a free port for the server."""
    port = str(free_port())
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    return env | {"AURA_HOME": str(home), "AURA_PREFECT_PORT": port}, port


def answers(port: str) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_worker_stops_the_server_it_started_when_its_set_up_fails_and_when_its_terminal_closes(
    tmp_path: Path,
) -> None:
    env, port = own_prefect(tmp_path)
    failed = subprocess.run(
        [AURA, "worker"], env=env | {"AURA_WORK_POOL": "no/such pool"}, capture_output=True, timeout=180
    )
    said = failed.stdout.decode() + failed.stderr.decode()
    assert failed.returncode != 0, said
    assert "Started the embedded Prefect server" in said and "Stopped the embedded Prefect server" in said
    assert "Setting up Prefect at" in said and "no/such pool" in said and "Traceback" not in said, said
    assert not processes_mentioning(f"--port {port}"), "the Prefect server outlived the failed set-up"
    assert not answers(port)

    # The next command starts afresh where the failed one stood.
    log = tmp_path / "worker.log"
    with log.open("wb") as output:
        worker = subprocess.Popen([AURA, "worker"], env=env, stdout=output, stderr=subprocess.STDOUT)
    started: set[int] = set()
    try:

        def up() -> set[int] | None:
            # The Prefect server, the video and webhook workers, and their flow-run parent.
            found = descendants(worker.pid)
            return found if len(found) >= 4 and answers(port) else None

        started = wait_for(up, timeout=180, what="the server, the workers and their flow-run parent")
        worker.send_signal(signal.SIGHUP)
        assert worker.wait(timeout=60) == 0
        assert "Stopped the embedded Prefect server" in log.read_text()
        wait_for(lambda: not [pid for pid in started if alive(pid)], timeout=30, what="every started process to end")
    finally:
        if worker.poll() is None:
            worker.kill()
        for pid in started | set(processes_mentioning(f"--port {port}")):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
