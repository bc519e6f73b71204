"""`aura-launch`: the command a worker runs for each flow run (see `flows.launch.warm_parent`).

It asks the warm parent named by `AURA_WARM_PARENT_SOCKET` to fork the flow-run
process, forwards SIGTERM and SIGINT to it, and exits with its status. With no
warm parent to ask, it becomes `python -m prefect.engine` itself. Only the
standard library is imported here: this runs once per flow run.
"""

import json
import os
import signal
import socket
import struct
import sys
from typing import NoReturn


def _exec_engine() -> NoReturn:
    os.execv(sys.executable, [sys.executable, "-m", "prefect.engine", *sys.argv[1:]])


def _receive_int(connection: socket.socket) -> int | None:
    data = b""
    while len(data) < 4:
        chunk = connection.recv(4 - len(data))
        if not chunk:
            return None
        data += chunk
    value: int = struct.unpack("!i", data)[0]
    return value


def main() -> None:
    path = os.environ.get("AURA_WARM_PARENT_SOCKET")
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path or "")
    except OSError:
        _exec_engine()
    request = {"env": dict(os.environ), "cwd": os.getcwd(), "args": sys.argv[1:]}
    socket.send_fds(connection, [json.dumps(request).encode()], [0, 1, 2])
    child = _receive_int(connection)
    if child is None:
        _exec_engine()

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = _receive_int(connection)
    # A child killed by signal N reports -N; exit as a shell would, 128 + N.
    sys.exit(1 if code is None else (128 - code if code < 0 else code))


if __name__ == "__main__":
    main()
