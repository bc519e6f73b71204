"""The scale-out layout on one machine: a Prefect server on PostgreSQL, `aura worker` processes and
`aura api` processes, each configured only by environment, as docs/scale-out.md describes."""

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from api.supervisor.prefect_server import wait_healthy
from api.supervisor.processes import child_pids, stop_process_group
from tests.utils.factories import wait_for
from tests.utils.stack import AURA, ApiProcess, free_port

POSTGRES = "postgres@127.0.0.1:5432"


@dataclass
class Cluster:
    prefect_api_url: str
    database: str
    server_env: dict[str, str]
    env: dict[str, str]
    folder: Path
    server: subprocess.Popen[bytes] | None = None
    apis: list[ApiProcess] = field(default_factory=list)
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start_prefect(self) -> None:
        port = self.prefect_api_url.split(":")[-1].split("/")[0]
        with (self.folder / "prefect.log").open("ab") as log:
            self.server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "prefect",
                    "server",
                    "start",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    port,
                    "--analytics-off",
                ],
                env=self.server_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_healthy(self.prefect_api_url, self.server, timeout=180)

    def database_commits(self) -> int:
        """Transactions Prefect's database has committed: its load, in the one unit every query shares."""
        answer = subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-tAc",
                f"select xact_commit from pg_stat_database where datname = '{self.database}'",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return int(answer.stdout.strip())

    def pause_pool(self, paused: bool) -> None:
        httpx.patch(
            f"{self.prefect_api_url}/work_pools/video", json={"is_paused": paused}, timeout=30
        ).raise_for_status()

    def stop_prefect(self) -> None:
        """The server gone, as a crash or a restart leaves it: SIGTERM, then SIGKILL after 30 s (a loaded
        machine once took over a minute to shut it down gracefully)."""
        if self.server:
            stop_process_group(self.server, timeout=30)

    def start_worker(self, name: str, limit: int) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}.log").open("ab") as log:
            worker = subprocess.Popen(
                [AURA, "worker", "--limit", str(limit), "--name", name],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.workers[name] = worker
        wait_for(lambda: name in self.online_workers(), timeout=120, interval=0.5, what=f"worker {name} online")
        return worker

    def online_workers(self) -> set[str]:
        answer = httpx.post(f"{self.prefect_api_url}/work_pools/video/workers/filter", json={}, timeout=10)
        return (
            {worker["name"] for worker in answer.json() if worker["status"] == "ONLINE"} if answer.is_success else set()
        )

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker and everything under it, as if its machine died."""
        doomed, unseen = [], [self.workers[name].pid]
        while unseen:
            pid = unseen.pop()
            doomed.append(pid)
            unseen += child_pids(pid)
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.workers[name].wait(timeout=10)

    def stop_worker(self, name: str) -> None:
        worker = self.workers.pop(name)
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)


def _database(name: str, action: str) -> None:
    subprocess.run([f"{action}db", "-h", "127.0.0.1", "-U", "postgres", name], check=True, capture_output=True)


@contextmanager
def cluster(folder: Path, *, workers: int, worker_limit: int, apis: int, **env: str) -> Iterator[Cluster]:
    database = f"aura_{uuid.uuid4().hex[:12]}"
    _database(database, "create")
    server_env = {key: value for key, value in os.environ.items() if not key.startswith(("PREFECT_", "AURA_"))}
    server_env |= {
        "PREFECT_API_DATABASE_CONNECTION_URL": f"postgresql+asyncpg://{POSTGRES}/{database}",
        "PREFECT_HOME": str(folder / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    api_url = f"http://127.0.0.1:{free_port()}/api"
    node_env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    node_env |= {
        "PREFECT_API_URL": api_url,
        "AURA_HOME": str(folder / "shared"),
        "PREFECT_LOCAL_STORAGE_PATH": str(folder / "shared" / "results"),
        # The shortest the automation allows: heartbeats come every 30 s.
        "AURA_WORKER_LOST_SECONDS": "45",
        # A run starts within seconds of going pending; a stopped worker's leftover is queued again sooner.
        "AURA_PENDING_LOST_SECONDS": "20",
        # Room for a load test's 200 queued jobs of one (anonymous) owner.
        "AURA_MAX_QUEUED_PER_OWNER": "500",
        **env,
    }
    found = Cluster(prefect_api_url=api_url, database=database, server_env=server_env, env=node_env, folder=folder)
    try:
        found.start_prefect()
        with ExitStack() as stack:
            for number in range(1, workers + 1):
                found.start_worker(f"node-{number}", worker_limit)
            for number in range(1, apis + 1):
                found.apis.append(stack.enter_context(ApiProcess(folder / f"api-{number}.log", **node_env)))
            yield found
    finally:
        for name in list(found.workers):
            found.stop_worker(name)
        found.stop_prefect()
        _database(database, "drop")
