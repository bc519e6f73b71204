"""A webhook receiver on 127.0.0.1: records every delivery and answers the queued statuses, then 200
(a 3xx with a `Location` to follow, which nobody should), each with the body `reply`."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: str
    status: int
    arrived: float

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data

    def verified(self, secret: str) -> dict[str, Any]:
        """The payload, once the standardwebhooks library accepts its signature (it raises otherwise)."""
        data: dict[str, Any] = Webhook(secret).verify(self.body, self.headers)
        return data


class Receiver(ThreadingHTTPServer):
    def __init__(self, statuses: list[int]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.statuses = statuses
        self.deliveries: list[Delivery] = []
        self.lock = threading.Lock()
        self.reply = b"ok"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/aura"

    def answer_with(self, *statuses: int) -> None:
        with self.lock:
            self.statuses[:] = list(statuses)

    def delivered(self, event: str) -> list[Delivery]:
        """The deliveries of `event` it answered with a 2xx."""
        with self.lock:
            return [d for d in self.deliveries if d.status < 300 and d.payload["event"] == event]


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        with self.server.lock:
            status = self.server.statuses.pop(0) if self.server.statuses else 200
            headers = {name.lower(): value for name, value in self.headers.items()}
            self.server.deliveries.append(Delivery(headers, body, status, time.monotonic()))
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", self.server.url + "/moved")
        self.send_header("Content-Length", str(len(self.server.reply)))
        self.end_headers()
        self.wfile.write(self.server.reply)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def receiver(*statuses: int) -> Iterator[Receiver]:
    server = Receiver(list(statuses))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
