"""A warm parent for flow-run processes: imports once, forks per flow run.

Each flow run on a process worker is a new Python process, and importing what
it needs (Prefect's engine and this project's flows) took 2.5 s of the 4.7 s
from submit to Running measured on this machine. This process imports all of
that once, before any thread exists, then listens on a Unix socket; for each
flow run, `aura-launch` (the deployment's command, `flows.launch.launcher`) sends its
environment, working directory and standard streams, and a forked child runs
`prefect.engine` as `python -m prefect.engine` would. The launcher stays as the
worker's view of the process: it forwards signals to the child and exits with
the child's status, which this process reports when it reaps the child. If the
launcher dies, the child sees its connection close and kills itself.
"""

import contextlib
import json
import os
import runpy
import select
import signal
import socket
import struct
import sys
import threading
from pathlib import Path
from typing import Any

MAX_MESSAGE = 1 << 20
POLL_SECONDS = 0.05
# Long enough for a slow Prefect server to take the last batch; a dead one costs a run this much at exit.
DRAIN_SECONDS = 10


def _preload() -> None:
    import prefect.deployments.steps.core  # noqa: F401
    import prefect.flow_engine  # noqa: F401
    import prefect.task_engine  # noqa: F401

    import flows.cleanup  # noqa: F401
    import flows.video  # noqa: F401
    from flows.contract.errors import VoiceFailed
    from flows.providers import piper
    from flows.settings import settings

    if settings.voice_engine == "piper":
        # Forked children share the loaded model: no job pays its load time, and its memory is not copied.
        with contextlib.suppress(VoiceFailed):
            piper.preload()


def _run_child(connection: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
    """In the forked child: become the flow-run process and never return."""
    os.setsid()
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)
    for fd in fds:
        os.close(fd)
    os.chdir(str(request["cwd"]))
    os.environ.clear()
    os.environ.update(request["env"])
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def die_with_launcher() -> None:
        while connection.recv(64):
            pass
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=die_with_launcher, name="launcher-watch", daemon=True).start()
    code = 0
    try:
        sys.argv = ["prefect.engine", *request.get("args", [])]
        # Run as `python -m prefect.engine` would: its `__main__` block on a fresh module object.
        sys.modules.pop("prefect.engine", None)
        runpy.run_module("prefect.engine", run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:  # noqa: BLE001 - reported as the process status, as an uncaught error would be
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        _send_pending_logs_and_events()
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _send_pending_logs_and_events() -> None:
    """What `atexit` would do, which `os._exit` skips: a failed run's last log lines are still queued here."""
    from prefect._internal.concurrency.services import QueueService

    QueueService.drain_all(timeout=DRAIN_SECONDS)


def _receive(connection: socket.socket) -> tuple[dict[str, Any], list[int]]:
    data, fds, _flags, _address = socket.recv_fds(connection, MAX_MESSAGE, 3)
    return json.loads(data), fds


def serve(path: Path) -> None:
    _preload()
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(64)
    children: dict[int, socket.socket] = {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            ready, _, _ = select.select([listener], [], [], POLL_SECONDS)
            if ready:
                connection, _ = listener.accept()
                request, fds = _receive(connection)
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    for other in children.values():
                        other.close()
                    _run_child(connection, request, fds)
                for fd in fds:
                    os.close(fd)
                connection.sendall(struct.pack("!i", pid))
                children[pid] = connection
            _reap(children)
    finally:
        listener.close()
        path.unlink(missing_ok=True)


def _reap(children: dict[int, socket.socket]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        connection = children.pop(pid, None)
        if connection is not None:
            code = os.waitstatus_to_exitcode(status)
            try:
                connection.sendall(struct.pack("!i", code))
            except OSError:
                pass
            connection.close()


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
