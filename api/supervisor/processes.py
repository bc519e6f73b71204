"""The processes of the service: Prefect server, worker, API; started in order, stopped in reverse.

`aura serve` runs all three on one machine; `aura worker` and `aura api` run one
part each for a scale-out layout. A worker's flow runs are processes of their
own (each a launcher started by the worker, and the flow process its warm
parent forked), so stopping a worker also terminates the flow runs it
started: they end Crashed, their FFmpeg dies with them, and the jobs can be
resumed.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from api.settings import settings
from api.supervisor.interpreter import python_module
from flows.settings import settings as pipeline

STOP_TIMEOUT_SECONDS = 10.0
WARM_PARENT_START_SECONDS = 60.0
PREFETCH_SECONDS = 1
WEBHOOK_QUERY_SECONDS = 2


def worker_env(api_url: str, warm_parent_socket: Path, name: str) -> dict[str, str]:
    return {
        **os.environ,
        # `aura-launch`, the deployments' command, lives beside this interpreter.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AURA_WARM_PARENT_SOCKET": str(warm_parent_socket),
        # Flow runs log it, so each attempt's log says which worker ran it.
        "AURA_WORKER_NAME": name,
        **pipeline.prefect_env(),
        "PREFECT_API_URL": api_url,
        # Flow runs start in the project folder: the storage root must not depend on the working directory.
        "AURA_HOME": str(pipeline.home),
        "PREFECT_WORKER_QUERY_SECONDS": str(settings.worker_query_seconds),
        # Runs start in a warm process, so no run need be fetched ahead of its time: a run an owner's cap
        # sent back a few seconds (`api.jobs.owner_deployments`) is not offered again until then.
        "PREFECT_WORKER_PREFETCH_SECONDS": str(PREFETCH_SECONDS),
    }


def stop_process_group(process: subprocess.Popen[bytes], *, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM the process's group, then SIGKILL whatever is left after `timeout`."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def child_pids(parent: int) -> list[int]:
    """Live child processes of `parent`, read from /proc."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            children.append(int(entry))
    return children


def terminate_flow_runs(worker: subprocess.Popen[bytes], warm_parent: subprocess.Popen[bytes]) -> None:
    """SIGTERM each flow-run process (each leads a process group of its own): the launchers
    the worker started and the processes the warm parent forked for them."""
    for pid in child_pids(worker.pid) + child_pids(warm_parent.pid):
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass


@contextmanager
def running_warm_parent(api_url: str, socket_path: Path, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """The warm parent of this worker's flow runs (`flows.launch.warm_parent`), ready when the block starts."""
    process = subprocess.Popen(
        python_module("flows.launch.warm_parent", str(socket_path)),
        env=worker_env(api_url, socket_path, name),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + WARM_PARENT_START_SECONDS
        while not socket_path.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the flow-run parent did not start (exit code {process.poll()})")
            time.sleep(0.05)
        yield process
    finally:
        stop_process_group(process)


@contextmanager
def running_worker(api_url: str, *, limit: int, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """A Prefect process worker on the video pool, with its warm parent, for the duration of the block;
    beside it, unless `AURA_WEBHOOK_WORKER_LIMIT=0`, a worker on the webhook pool sharing the warm parent."""
    socket_path = Path(tempfile.gettempdir()) / f"aura-warm-parent-{os.getpid()}-{name}.sock"
    with ExitStack() as stack:
        warm_parent = stack.enter_context(running_warm_parent(api_url, socket_path, name))
        env = worker_env(api_url, socket_path, name)
        if settings.webhook_worker_limit:
            pool, webhook_limit = settings.webhook_pool, settings.webhook_worker_limit
            # Deliveries follow automations that take seconds anyway: a slower poll spares Prefect.
            webhook_env = {**env, "PREFECT_WORKER_QUERY_SECONDS": str(WEBHOOK_QUERY_SECONDS)}
            stack.enter_context(_prefect_worker(pool, webhook_limit, f"{name}-webhooks", webhook_env, warm_parent))
        yield stack.enter_context(_prefect_worker(settings.work_pool, limit, name, env, warm_parent))


@contextmanager
def _prefect_worker(
    pool: str, limit: int, name: str, env: dict[str, str], warm_parent: subprocess.Popen[bytes]
) -> Iterator[subprocess.Popen[bytes]]:
    # fmt: off
    command = python_module("prefect", "worker", "start", "--pool", pool, "--type", "process",
                            "--limit", str(limit), "--name", name)
    # fmt: on
    process = subprocess.Popen(command, env=env, start_new_session=True)
    try:
        yield process
    finally:
        # Flow runs first, while the worker is alive to record them Crashed; then the worker.
        terminate_flow_runs(process, warm_parent)
        stop_process_group(process)


def run_api(host: str, port: int) -> None:
    """Serve the API until stopped."""
    import uvicorn

    uvicorn.run("api.main:app", host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)


def unwind_on_signals() -> None:
    """Make SIGTERM (systemd, `docker stop`, `kill`) and SIGHUP (its terminal closed) unwind like
    Ctrl-C, so what this process started stops too.

    Without it the default action ends the process at once, past every `finally`; uvicorn
    re-raises the SIGTERM it caught once it has shut down, which lands here.
    """

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    for stop in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, interrupt)


def worker_name() -> str:
    return f"aura-{socket.gethostname()}-{os.getpid()}"


def wait_forever(process: subprocess.Popen[bytes]) -> int:
    while process.poll() is None:
        time.sleep(0.5)
    return process.returncode
