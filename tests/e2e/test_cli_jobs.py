"""`aura jobs …` and `aura generate --api` against the running service, with the exit codes scripts rely on."""

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.utils.factories import wait_for
from tests.utils.service import http, job, pool_paused, submit, wait_status
from tests.utils.stack import AURA, free_port

pytestmark = pytest.mark.slow


def aura(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AURA, *args], env=os.environ.copy(), text=True, capture_output=True, timeout=timeout)


def test_generate_on_the_service_then_list_cancel_retry_and_their_exit_codes(service: Any) -> None:
    made = aura("generate", "Scripted bees", "--duration", "6", "--width", "320", "--api", service.url)
    assert made.returncode == 0, made.stdout + made.stderr
    job_id = made.stdout.split()[1]
    assert f"Completed job {job_id}" in made.stdout
    assert f"{service.url}/api/jobs/{job_id}/artifacts/video.mp4" in made.stdout

    listed = aura("jobs", "list", "--status", "completed", "--json", "--api", service.url)
    assert listed.returncode == 0
    assert job_id in [job["jobId"] for job in json.loads(listed.stdout)["jobs"]]
    table = aura("jobs", "list", "--api", service.url)
    assert job_id in table.stdout and "Queue:" in table.stdout

    ended = aura("jobs", "cancel", job_id, "--api", service.url)
    assert ended.returncode == 4 and "E409-JOB_ENDED" in ended.stderr
    assert aura("jobs", "retry", job_id, "--api", service.url).returncode == 4
    assert aura("jobs", "watch", "no-such-job", "--api", service.url).returncode == 3
    refused = aura("jobs", "list", "--api", f"http://127.0.0.1:{free_port()}")
    assert refused.returncode == 5 and "unreachable" in refused.stderr
    assert aura("generate", "Bees", "--duration", "0", "--api", service.url).returncode == 2


def test_ctrl_c_on_generate_with_api_cancels_the_job_on_the_service(service: Any) -> None:
    generate = subprocess.Popen(
        [AURA, "generate", "Interrupted bees", "--duration", "180", "--width", "1920", "--api", service.url],
        env=os.environ.copy(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        job_id = generate.stdout.readline().split()[1]
        wait_status(service, job_id, "running")
        generate.send_signal(signal.SIGINT)
        output, _ = generate.communicate(timeout=60)
    finally:
        generate.kill()
    assert generate.returncode == 130, output
    assert f"Cancelled job {job_id}" in output
    assert wait_status(service, job_id, "cancelled", "completed")["status"] == "cancelled"


def cancel_then_retry_with_watch(service: Any, topic: str, printed: Path) -> tuple[str, subprocess.Popen[str]]:
    """A job cancelled while queued and retried at once with `aura jobs retry --watch`, once it says so.

    Retried at once: the cancel's end event (sent 3 s after it, for late log lines) comes after the
    retry's start, so the watch sees the earlier attempt end while it follows the new one.
    """
    job_id = submit(service, topic)
    assert http.post(f"{service.url}/api/jobs/{job_id}/cancel").status_code == 202
    with printed.open("w") as output:
        retry = subprocess.Popen(
            [AURA, "jobs", "retry", job_id, "--watch", "--api", service.url],
            env=os.environ.copy(),
            text=True,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: "attempt 2 is queued" in printed.read_text(), timeout=60, what="the retry")
    except BaseException:
        retry.kill()
        raise
    return job_id, retry


def test_retry_with_watch_follows_the_new_attempt_past_the_earlier_attempts_end(service: Any, tmp_path: Path) -> None:
    printed = tmp_path / "retry.txt"
    with pool_paused():
        job_id, retry = cancel_then_retry_with_watch(service, "Retried at once, then watched", printed)
    # The pool is open again: attempt 2 runs while attempt 1's end reaches the watch.
    try:
        retry.wait(timeout=120)
    finally:
        retry.kill()
    assert retry.returncode == 0, printed.read_text()
    assert f"Completed job {job_id}" in printed.read_text()


def test_ctrl_c_on_retry_with_watch_stops_watching_and_the_attempt_goes_on(service: Any, tmp_path: Path) -> None:
    printed = tmp_path / "retry.txt"
    with pool_paused():
        job_id, retry = cancel_then_retry_with_watch(service, "Retried, then left alone", printed)
        try:
            retry.send_signal(signal.SIGINT)
            retry.wait(timeout=60)
        finally:
            retry.kill()
        assert retry.returncode == 130, printed.read_text()
        assert f"Stopped watching; job {job_id} goes on." in printed.read_text()
        left = job(service, job_id)
        assert (left["status"], left["attempt"]) == ("queued", 2)
        http.post(f"{service.url}/api/jobs/{job_id}/cancel")
