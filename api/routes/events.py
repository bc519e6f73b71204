"""`GET /api/jobs/{id}/events`: a job's story as Server-Sent Events, resumable with `Last-Event-ID`."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.dependencies import Admin, Service, Who
from api.events.poller import Feed, Poller
from api.events.timeline import ORIGIN, Emitted, EventId
from api.schemas.events import EVENT_NAMES, EventsStats, WarningEvent
from api.schemas.problem import COMPONENTS, problem_responses
from api.settings import settings

router = APIRouter(tags=["events"])
# A client that stops reading is dropped once one write has waited this long.
SEND_TIMEOUT_SECONDS = 30
STREAM_DOC = """\
`text/event-stream`. Every event has `event:`, `id:` and JSON `data:`; the first carries `retry:`.
Events: `job-status` (first of every connection: the job as of `Last-Event-ID`, then on every status
change), `step-status`, `step-progress`, `job-log`, `warning` (`stall` when a stage stops moving),
and a terminal `job-completed`, `job-failed` or `job-cancelled`, after which the stream ends.
`: ping` comments keep an idle stream open. Reconnect with `Last-Event-ID` (header) or `lastEventId`
(query) to get exactly what was missed, from any API process. A client that already had the job's
terminal event is answered 204, which tells a browser's EventSource to stop reconnecting."""
# The models of the events' `data`; `api.main` puts them into the document's components.
STREAM_MODELS = tuple(EVENT_NAMES)


def _event_item(model: type, name: str) -> dict[str, object]:
    return {
        "type": "object",
        "title": name,
        "required": ["event", "id", "data"],
        "properties": {
            "event": {"const": name},
            "id": {
                "type": "string",
                "description": "Increases strictly within a job; send it back as `Last-Event-ID`.",
            },
            "retry": {
                "type": "integer",
                "minimum": 0,
                "description": "On the first event: the reconnection delay, ms.",
            },
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": {"$ref": COMPONENTS + model.__name__},
            },
        },
    }


# One event of the stream (OpenAPI 3.2's `itemSchema`, as FastAPI writes it for its own streams).
STREAM_CONTENT = {
    "text/event-stream": {"itemSchema": {"oneOf": [_event_item(model, name) for model, name in EVENT_NAMES.items()]}}
}


@router.get(
    "/api/jobs/{job_id}/events",
    response_class=EventSourceResponse,
    description=STREAM_DOC,
    responses={
        200: {
            "content": STREAM_CONTENT,
            "description": "The event stream; each event's `data` is the JSON of the model its `event` names.",
        },
        204: {"description": "The client already had the terminal event."},
        **problem_responses(401, 404, 422, 503),
    },
)
async def job_events(
    job_id: str,
    service: Service,
    who: Who,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID", max_length=100)] = None,
    last_event_id_query: Annotated[str | None, Query(alias="lastEventId", max_length=100)] = None,
) -> Response:
    """The job's events from `Last-Event-ID` on (from the beginning without one), then live ones."""
    feed = await service.feed(job_id, who)
    given = last_event_id_header or last_event_id_query
    cursor = EventId.parse(given) if given else ORIGIN
    warning = None
    if cursor is None or not feed.timeline.valid_cursor(cursor, datetime.now(UTC)):
        warning = f"Last-Event-ID {given!r} is not an event of this job; starting from the beginning"
        cursor = ORIGIN
    elif given and feed.timeline.ended_by(cursor):
        return Response(status_code=204)
    return EventSourceResponse(
        _stream(service.poller, feed, cursor, warning),
        ping=0,
        send_timeout=SEND_TIMEOUT_SECONDS,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(poller: Poller, feed: Feed, cursor: EventId, warning: str | None) -> AsyncIterator[ServerSentEvent]:
    timeline = feed.timeline
    subscriber = poller.subscribe(feed)
    try:
        first = timeline.status_at(cursor)
        yield ServerSentEvent(
            data=first.model_dump_json(), event="job-status", id=str(cursor), retry=settings.events_retry_ms
        )
        if warning:
            notice = WarningEvent(
                job_id=timeline.job_id, step=None, kind="replay", message=warning, timestamp=datetime.now(UTC)
            )
            yield ServerSentEvent(data=notice.model_dump_json(), event=EVENT_NAMES[WarningEvent], id=str(cursor))
        last = cursor
        for event in timeline.after(cursor):
            poller.events_sent += 1
            yield _sse(event)
            last = event.id
            if timeline.is_last_word(event):
                return
        while True:
            try:
                queued = await asyncio.wait_for(subscriber.queue.get(), timeout=settings.events_ping_seconds)
            except TimeoutError:
                yield ServerSentEvent(comment="ping")
                continue
            if queued is None:
                return
            if queued.id <= last:
                continue
            poller.events_sent += 1
            yield _sse(queued)
            last = queued.id
            if timeline.is_last_word(queued):
                return
    finally:
        poller.unsubscribe(feed, subscriber)


def _sse(event: Emitted) -> ServerSentEvent:
    return ServerSentEvent(data=event.data_json, event=event.name, id=str(event.id))


@router.get("/api/events/stats", response_model=EventsStats, responses=problem_responses(401, 403))
async def events_stats(service: Service, _: Admin) -> EventsStats:
    """This API process's event poller and copy of the jobs: what they ask of Prefect (admins only)."""
    return service.stats()
