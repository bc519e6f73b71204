"""A stand-in for an OpenAI-compatible chat server (a paid API cannot run here), for the chat script provider."""

import json
import random
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

GOOD_SCRIPT = {
    "title": "Bees",
    "scenes": [
        {
            "title": f"Scene {number}",
            "narration": [f"This is sentence {number} about bees."],
            "onScreen": [f"Point {number}"],
        }
        for number in range(1, 4)
    ],
}


class ChatStandIn(ThreadingHTTPServer):
    """Answers /chat/completions with the queued status codes, then with a valid script; each answer
    after a pause drawn from `answer_seconds` (none by default), as a busy model takes to reply."""

    daemon_threads = True

    def __init__(self, statuses: list[int], answer_seconds: tuple[float, float] = (0.0, 0.0)) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.statuses = statuses
        self.answer_seconds = answer_seconds
        self.arrivals: list[float] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: ChatStandIn

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.arrivals.append(time.monotonic())
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        time.sleep(random.uniform(*self.server.answer_seconds))
        body = {"choices": [{"message": {"content": json.dumps(GOOD_SCRIPT)}}]} if status == 200 else {"error": "x"}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def chat_server(request: pytest.FixtureRequest) -> Iterator[ChatStandIn]:
    server = ChatStandIn(list(request.param))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
