"""`aura serve` as a user runs it: embedded Prefect, worker, API; Ctrl-C leaves nothing behind."""

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.utils.factories import alive, descendants, wait_for
from tests.utils.stack import AURA, free_port

pytestmark = pytest.mark.slow


# Ctrl-C in a terminal, while FFmpeg renders. SIGTERM (systemd, `docker stop`, `kill`) unwinds the same way;
# test_install stops its installed `aura serve` with it.
def test_serve_runs_a_job_and_ctrl_c_mid_render_stops_every_process_it_started(tmp_path: Path) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PREFECT_", "AURA_HOME"))}
    env |= {"AURA_HOME": str(tmp_path / "home"), "AURA_PREFECT_PORT": str(free_port()), "AURA_WORKER_LIMIT": "1"}
    serve = subprocess.Popen(
        [AURA, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    api = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{api}/health", timeout=1).json()["prefect"]
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, timeout=180, interval=0.5, what="aura serve to answer")
        job_id = httpx.post(
            f"{api}/api/jobs",
            json={"brief": {"topic": "Serve"}, "plan": {"targetDurationSeconds": 180}, "render": {"width": 1920}},
        ).json()["jobId"]
        wait_for(
            lambda: httpx.get(f"{api}/api/jobs/{job_id}").json()["stage"] == "render",
            timeout=120,
            interval=0.3,
            what="the job to reach render",
        )
        started = descendants(serve.pid)
        assert len(started) >= 4, "expected the Prefect server, the worker, a flow run and FFmpeg"
        serve.send_signal(signal.SIGINT)
        output, _ = serve.communicate(timeout=60)
    finally:
        if serve.poll() is None:
            # Its children first: killed, `aura serve` could not stop them, and they would slow every later test.
            for pid in descendants(serve.pid):
                os.kill(pid, signal.SIGKILL)
            serve.kill()
            serve.communicate()
    assert b"Stopped the embedded Prefect server" in output
    wait_for(lambda: not [pid for pid in started if alive(pid)], timeout=15, what="every started process to end")
