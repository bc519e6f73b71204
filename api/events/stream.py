"""Prefect's event stream, each event with the time the server received it.

Prefect's own subscriber parses what the server sends as the client-side `Event`,
which has no `received`. That time is what places a stage's state in a job's
stream (`api.events.facts`): it is the server's, so a state its flow process
sent late (after a Prefect replica died mid-send) is placed where it arrived, in
every API process alike. This subscriber parses the same message as the server's
`ReceivedEvent`; reconnecting, backfill and de-duplication stay Prefect's.
"""

from typing import Any

import orjson
from prefect.events.clients import PrefectEventSubscriber
from prefect.events.schemas.events import ReceivedEvent


class _Remembering:
    """A websocket connection that keeps the last message it received."""

    def __init__(self, websocket: Any) -> None:
        self._websocket = websocket
        self.last: str | bytes = b"{}"

    async def recv(self) -> str | bytes:
        self.last = await self._websocket.recv()
        return self.last

    def __getattr__(self, name: str) -> Any:
        return getattr(self._websocket, name)


class ReceivedEventSubscriber(PrefectEventSubscriber):
    async def _reconnect(self) -> None:
        await super()._reconnect()
        self._websocket = _Remembering(self._websocket)  # type: ignore[assignment]

    async def __anext__(self) -> ReceivedEvent:
        await super().__anext__()
        # The event Prefect's subscriber returns is the one parsed from the last message read.
        last = self._websocket.last  # type: ignore[union-attr]
        return ReceivedEvent.model_validate(orjson.loads(last)["event"])
