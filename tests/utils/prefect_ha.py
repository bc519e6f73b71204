"""Prefect without a single point of failure but its database and Redis, on loopback, as
docs/scale-out.md lays it out: two API replicas (`prefect server start --no-services`) on one
PostgreSQL database, one process of background services, `prefect-redis` for messaging, ordering,
leases and the services' task queue, and HAProxy in front. Everything else talks to HAProxy only.

With `replicas=1`, the single-process layout instead: one `prefect server start` on PostgreSQL with
its services inside and its event bus in memory (benches compare the two)."""

import os
import random
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import redis

from api.supervisor.prefect_server import wait_healthy
from api.supervisor.processes import stop_process_group
from tests.utils.factories import wait_for
from tests.utils.stack import free_port

HAPROXY = "/usr/sbin/haproxy"
REDIS = "redis://127.0.0.1:6379"

# The docs' own configuration; ports, paths and the stats socket are filled in.
HAPROXY_CONFIG = """\
global
    maxconn 4096
    stats socket {socket} mode 600 level admin

defaults
    mode http
    option forwardfor
    # A request whose connection a dead replica refused goes to the other.
    option redispatch 1
    retries 3
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout http-request 30s
    timeout http-keep-alive 10s
    # Websockets: Prefect's event streams and the workers' connection.
    timeout tunnel 1h
    timeout client-fin 5s
    timeout server-fin 5s

frontend prefect
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk
    http-check send meth GET uri /api/health
    http-check expect status 200
    default-server check inter 1s fastinter 500ms downinter 2s fall 2 rise 2 on-marked-down shutdown-sessions
{servers}
"""


def _prefect(*args: str) -> list[str]:
    return [sys.executable, "-m", "prefect", *args]


@dataclass
class PrefectReplicas:
    """Start with `start()`; `kill(n)` and `restart(n)` one replica; `stop()` everything."""

    folder: Path
    database_url: str
    replicas: int = 2
    port: int = field(default_factory=free_port)
    replica_ports: list[int] = field(default_factory=list)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    redis_databases: tuple[int, int] = (0, 0)

    @property
    def single(self) -> bool:
        return self.replicas == 1

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.replica_ports[0] if self.single else self.port}/api"

    def env(self, name: str) -> dict[str, str]:
        inherited = {key: value for key, value in os.environ.items() if not key.startswith(("PREFECT_", "AURA_"))}
        own = {
            "PREFECT_HOME": str(self.folder / name),
            "PREFECT_API_DATABASE_CONNECTION_URL": self.database_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
        if self.single:
            return inherited | own
        messaging, docket = (f"{REDIS}/{number}" for number in self.redis_databases)
        return (
            inherited
            | own
            | {
                # Migrated once before any replica starts: two replicas migrating one database race.
                "PREFECT_API_DATABASE_MIGRATE_ON_START": "false",
                "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
                "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
                "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
                "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
                "PREFECT_SERVER_WORKER_CHANNEL_CLEANUP_QUEUE_STORAGE": "prefect_redis.cleanup_queue",
                "PREFECT_REDIS_MESSAGING_URL": messaging,
                "PREFECT_REDIS_WORKER_CLEANUP_QUEUE_URL": messaging,
                "PREFECT_SERVER_DOCKET_URL": docket,
                # Each event on to Redis as it comes (prefect-redis batches 5, or waits 10 s): the task-run
                # recorder stores states and the API's event stream hears them within milliseconds, as with
                # one process, so a job's events keep the order they happened in.
                "PREFECT_REDIS_MESSAGING_PUBLISHER_BATCH_SIZE": "1",
                "PREFECT_SERVER_API_KEEPALIVE_TIMEOUT": "65",
                "PREFECT_SERVER_UI_API_URL": self.api_url,
            }
        )

    def __post_init__(self) -> None:
        self.replica_ports = [free_port() for _ in range(self.replicas)]

    def start(self) -> None:
        if self.single:
            self._launch("replica-0", self._replica_command(0))
            self._wait_replica(0)
            return
        # Two free database numbers of the machine's Redis: one for messages, one for the services' tasks.
        first = random.randrange(2, 16, 2)
        self.redis_databases = (first, first + 1)
        self._flush_redis()
        self._run("migrate", _prefect("server", "database", "upgrade", "-y"))
        for number in range(self.replicas):
            self.restart(number, wait=False)
        self._launch("services", _prefect("server", "services", "start"))
        config = self.folder / "haproxy.cfg"
        servers = "\n".join(f"    server replica-{n} 127.0.0.1:{port}" for n, port in enumerate(self.replica_ports))
        config.write_text(HAPROXY_CONFIG.format(port=self.port, socket=self.folder / "haproxy.sock", servers=servers))
        self._launch("haproxy", [HAPROXY, "-db", "-f", str(config)])
        for number in range(self.replicas):
            self._wait_replica(number)
        wait_healthy(self.api_url, self.processes["haproxy"], timeout=60)

    def kill(self, number: int) -> None:
        """SIGKILL the replica: a crash, no goodbye to its clients."""
        process = self.processes[f"replica-{number}"]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def restart(self, number: int, *, wait: bool = True) -> None:
        self._launch(f"replica-{number}", self._replica_command(number))
        if wait:
            self.restart_wait(number)

    def restart_wait(self, number: int) -> None:
        self._wait_replica(number)
        if self.single:
            return
        # Back in the balancer's rotation after two good checks, a second apart.
        wait_for(lambda: self.in_rotation(number), timeout=30, interval=0.2, what=f"replica-{number} UP")

    def in_rotation(self, number: int) -> bool:
        with socket.socket(socket.AF_UNIX) as admin:
            admin.connect(str(self.folder / "haproxy.sock"))
            admin.sendall(b"show servers state replicas\n")
            answer = b"".join(iter(lambda: admin.recv(65536), b"")).decode()
        # Columns: be_id be_name srv_id srv_name srv_addr srv_op_state (2 = running) …
        states = {line.split()[3]: line.split()[5] for line in answer.splitlines()[2:] if line.strip()}
        return states.get(f"replica-{number}") == "2"

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            stop_process_group(process, timeout=30)
        self._flush_redis()

    def _replica_command(self, number: int) -> list[str]:
        port = str(self.replica_ports[number])
        services = [] if self.single else ["--no-services"]
        return _prefect("server", "start", "--host", "127.0.0.1", "--port", port, "--analytics-off", *services)

    def _wait_replica(self, number: int) -> None:
        url = f"http://127.0.0.1:{self.replica_ports[number]}/api"
        wait_healthy(url, self.processes[f"replica-{number}"], timeout=180)

    def _launch(self, name: str, command: list[str]) -> None:
        env = self.env(name)
        if name.startswith("replica-") and name != "replica-0":
            # Each replica registers Prefect's block types as it starts, and two doing it at once on a new
            # database collide (one exits): one replica registers them, for all.
            env["PREFECT_API_BLOCKS_REGISTER_ON_START"] = "false"
        with (self.folder / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _run(self, name: str, command: list[str]) -> None:
        with (self.folder / f"{name}.log").open("ab") as log:
            subprocess.run(command, env=self.env(name), stdout=log, stderr=subprocess.STDOUT, check=True)

    def _flush_redis(self) -> None:
        for number in self.redis_databases:
            if number:
                redis.Redis.from_url(f"{REDIS}/{number}").flushdb()
