"""The scale-out layout on one machine: Prefect's replicas behind HAProxy on PostgreSQL and Redis
(`tests.utils.prefect_ha`), `aura worker` processes and `aura api` processes, each configured only by
environment, as docs/scale-out.md describes."""

import contextlib
import os
import signal
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from api.supervisor.processes import child_pids
from tests.utils.factories import wait_for
from tests.utils.prefect_ha import PrefectReplicas
from tests.utils.stack import AURA, ApiProcess

POSTGRES = "postgres@127.0.0.1:5432"


@dataclass
class Cluster:
    prefect: PrefectReplicas
    database: str
    env: dict[str, str]
    folder: Path
    apis: list[ApiProcess] = field(default_factory=list)
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def prefect_api_url(self) -> str:
        """The load balancer's address: the only one workers and API processes know."""
        return self.prefect.api_url

    def stop_prefect(self) -> None:
        """Every replica gone at once, as a crash of the whole layer leaves it."""
        for number in range(self.prefect.replicas):
            self.prefect.kill(number)

    def start_prefect(self) -> None:
        for number in range(self.prefect.replicas):
            self.prefect.restart(number, wait=False)
        for number in range(self.prefect.replicas):
            self.prefect.restart_wait(number)

    def database_commits(self) -> int:
        """Transactions Prefect's database has committed: its load, in the one unit every query shares."""
        return int(self._query(f"select xact_commit from pg_stat_database where datname = '{self.database}'"))

    def database_writes(self) -> Counter[str]:
        """Rows Prefect's database has inserted, updated or deleted, by table: where its writes go."""
        rows = self._query("select relname, n_tup_ins + n_tup_upd + n_tup_del from pg_stat_user_tables")
        return Counter({table: int(count) for table, count in (line.split("|") for line in rows.splitlines())})

    def _query(self, sql: str) -> str:
        command = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", self.database, "-tAc", sql]
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()

    def start_together(self, workers: int, limit: int, apis: int) -> None:
        """More workers (named on from the last) and API processes, all launched at once as a process
        manager starts replicas (their provisioning races), then waited for."""
        first = len(self.workers) + 1
        names = [f"node-{number}" for number in range(first, first + workers)]
        for name in names:
            self.launch_worker(name, limit)
        new = [ApiProcess(self.folder / f"api-{len(self.apis) + n}.log", **self.env) for n in range(1, apis + 1)]
        for api in new:
            self.apis.append(api.launch())
        for name in names:
            self.wait_online(name)
        for api in new:
            api.ready()

    def pause_pool(self, paused: bool) -> None:
        httpx.patch(
            f"{self.prefect_api_url}/work_pools/video", json={"is_paused": paused}, timeout=30
        ).raise_for_status()

    def start_worker(self, name: str, limit: int) -> subprocess.Popen[bytes]:
        worker = self.launch_worker(name, limit)
        self.wait_online(name)
        return worker

    def launch_worker(self, name: str, limit: int) -> subprocess.Popen[bytes]:
        """Started, not waited for: replicas start together."""
        with (self.folder / f"{name}.log").open("ab") as log:
            worker = subprocess.Popen(
                [AURA, "worker", "--limit", str(limit), "--name", name],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.workers[name] = worker
        return worker

    def wait_online(self, name: str) -> None:
        def online() -> bool:
            if self.workers[name].poll() is not None:
                raise AssertionError(f"worker {name} exited with {self.workers[name].returncode}: see {name}.log")
            return name in self.online_workers()

        wait_for(online, timeout=120, interval=0.5, what=f"worker {name} online")

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
def cluster(
    folder: Path, *, workers: int, worker_limit: int, apis: int, prefect_replicas: int = 2, **env: str
) -> Iterator[Cluster]:
    database = f"aura_{uuid.uuid4().hex[:12]}"
    _database(database, "create")
    prefect = PrefectReplicas(folder / "prefect", f"postgresql+asyncpg://{POSTGRES}/{database}", prefect_replicas)
    node_env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    node_env |= {
        "PREFECT_API_URL": prefect.api_url,
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
    found = Cluster(prefect=prefect, database=database, env=node_env, folder=folder)
    try:
        (folder / "prefect").mkdir(parents=True, exist_ok=True)
        prefect.start()
        found.start_together(workers, worker_limit, apis)
        yield found
    finally:
        for api in found.apis:
            api.stop()
        for name in list(found.workers):
            found.stop_worker(name)
        prefect.stop()
        _database(database, "drop")
