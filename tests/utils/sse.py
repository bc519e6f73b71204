"""Reading a job's event stream over HTTP with an SSE client (httpx-sse), as the app frontend would."""

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import connect_sse

from tests.utils.patience import PATIENCE

# A forecast, made with the history each API process had learned then: not part of what every reading agrees on.
ETA = {"etaSeconds", "etaLowSeconds", "etaHighSeconds"}


@dataclass
class Received:
    id: str
    event: str
    data: dict[str, Any]
    at: float  # time.time() when it arrived

    @property
    def key(self) -> tuple[int, int]:
        micros, n = self.id.split("-")
        return int(micros), int(n)


def read_events(
    url: str,
    *,
    last_event_id: str | None = None,
    stop_after: int | None = None,
    until: str | None = None,
    timeout: float = 120,
    params: dict[str, str] | None = None,
    received: list[Received] | None = None,
) -> list[Received]:
    """Events of one connection, until the server ends it, `stop_after` events, or an event named `until`;
    each is appended to `received` (when given) as it arrives."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    received = [] if received is None else received
    timeout *= PATIENCE
    deadline = time.monotonic() + timeout
    with (
        httpx.Client(timeout=httpx.Timeout(timeout, read=30 * PATIENCE)) as client,
        connect_sse(client, "GET", url, headers=headers, params=params) as source,
    ):
        source.response.raise_for_status()
        for sse in source.iter_sse():
            # A ping (no data) is checked against the deadline too: a stream that only pings ends the read.
            if sse.data:
                received.append(Received(sse.id, sse.event, json.loads(sse.data), time.time()))
                if (stop_after and len(received) >= stop_after) or sse.event == until:
                    break
            if time.monotonic() > deadline:
                break
    return received


def durable(events: list[Received]) -> list[tuple[str, str, dict[str, Any]]]:
    """What every reading of the stream must agree on: all but the opening snapshot and progress ticks."""
    return [
        (event.id, event.event, {key: value for key, value in event.data.items() if key not in ETA})
        for event in events
        if event.event != "step-progress" and event.id != "0-0"
    ]


def raw_stream(url: str, *, seconds: float) -> list[str]:
    """The stream's lines as sent, comments included, for `seconds`."""
    lines: list[str] = []
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=httpx.Timeout(seconds + 10)) as client, client.stream("GET", url) as response:
        for line in response.iter_lines():
            if line:
                lines.append(line)
            if time.monotonic() > deadline:
                break
    return lines
