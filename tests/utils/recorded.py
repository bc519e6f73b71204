"""A Prefect server made of records, for the fast tests of the job model and the poller."""

import asyncio
import copy
import json
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, TypeVar
from uuid import UUID

import httpx
from prefect.client.schemas.events import EventPage
from prefect.client.schemas.filters import (
    ArtifactFilter,
    DeploymentFilter,
    FlowRunFilter,
    LogFilter,
    Operator,
    TaskRunFilter,
)
from prefect.client.schemas.objects import Artifact, FlowRun, Log, State, StateType, TaskRun
from prefect.client.schemas.sorting import ArtifactSort, FlowRunSort, LogSort, TaskRunSort
from prefect.events.filters import EventFilter, EventOrder, EventRelatedFilter
from prefect.events.schemas.events import ReceivedEvent
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

from api.prefect_client import PAGE, PrefectUnreachable
from flows.contract.deployments import VIDEO_DEPLOYMENT, deployment_name
from tests.utils.records import FLOW_ID

T = TypeVar("T", FlowRun, TaskRun, Log, Artifact)
DEPLOYMENT_ID = uuid.uuid4()


class RecordedPrefect:
    """Answers the Prefect client calls the job model and the poller make, from records given to it.

    It stands in for the Prefect server, never for our own code. Each answer applies the
    filters, sort, limit and offset it is given as the server does, for the filter fields our
    code uses; a filter on any other field raises `NotImplementedError`, so that no test passes
    on a filter that was silently ignored. Every recorded flow run is a run of the video
    deployment; once `deployed` is set, that deployment exists and creates flow runs as Prefect
    does, an idempotency key it already holds giving back the run it names. Answers are copies:
    a test changes the records with `add_*` and `delete_flow_run`, never the objects the code
    was given. With `reachable` false, every call raises `PrefectUnreachable`, as the API's
    client does when nothing listens. `calls` names each call made, in order.
    """

    api_url = httpx.URL("http://prefect.test/api")

    def __init__(self) -> None:
        self.flow_runs: dict[UUID, FlowRun] = {}
        self.flow_run_states: dict[UUID, list[State]] = {}
        self.task_runs: dict[UUID, TaskRun] = {}
        self.task_run_states: dict[UUID, list[State]] = {}
        self.logs: list[Log] = []
        self.artifacts: dict[UUID, Artifact] = {}
        self.reachable = True
        self.deployed = False
        # The next this many bulk creates fail their last run, as Prefect does while SQLite is locked.
        self.locked_bulk_creates = 0
        # Each create takes this long, as Prefect's do while its SQLite database is busy.
        self.write_seconds = 0.0
        self.calls: list[str] = []
        self.received: dict[UUID, datetime] = {}  # when the server received each stage state's event
        self._event_pages: dict[str, tuple[list[ReceivedEvent], int]] = {}
        # What `api.prefect_client` sends over the client's own HTTP client.
        self._client = httpx.AsyncClient(base_url=str(self.api_url), transport=httpx.MockTransport(self._bulk))

    # Recording.

    def add_flow_run(self, run: FlowRun, states: list[State] | None = None) -> None:
        """Store a flow run (replacing one with its id) and its state history, oldest first."""
        self.flow_runs[run.id] = run
        self.flow_run_states[run.id] = list(states) if states is not None else ([run.state] if run.state else [])

    def add_task_run(self, run: TaskRun, states: list[State] | None = None, *, late: float = 0.0) -> None:
        """Store a stage run and its state history; the server received each state's event `late` seconds
        after the state's own time (states already stored keep theirs)."""
        self.task_runs[run.id] = run
        self.task_run_states[run.id] = list(states) if states is not None else ([run.state] if run.state else [])
        for state in self.task_run_states[run.id]:
            self.received.setdefault(state.id, state.timestamp + timedelta(seconds=late))

    def add_logs(self, *logs: Log) -> None:
        self.logs.extend(logs)

    def add_artifacts(self, *artifacts: Artifact) -> None:
        """Store artifacts; one with a stored artifact's id is that artifact updated."""
        for artifact in artifacts:
            self.artifacts[artifact.id] = artifact

    def delete_flow_run(self, run_id: UUID) -> None:
        """Delete a flow run with everything that belongs to it, as Prefect's delete does."""
        del self.flow_runs[run_id]
        self.flow_run_states.pop(run_id, None)
        for task_run in [run for run in self.task_runs.values() if run.flow_run_id == run_id]:
            del self.task_runs[task_run.id]
        self.logs = [log for log in self.logs if log.flow_run_id != run_id]
        self.artifacts = {key: a for key, a in self.artifacts.items() if a.flow_run_id != run_id}

    # The client's calls.

    async def read_flow_runs(
        self,
        *,
        flow_run_filter: FlowRunFilter | None = None,
        deployment_filter: DeploymentFilter | None = None,
        sort: FlowRunSort | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[FlowRun]:
        self._answer("read_flow_runs")
        found = self._matching_runs(flow_run_filter, deployment_filter)
        return _page(_sort_runs(found, sort or FlowRunSort.ID_DESC), limit, offset)

    async def count_flow_runs(
        self, *, flow_run_filter: FlowRunFilter | None = None, deployment_filter: DeploymentFilter | None = None
    ) -> int:
        self._answer("count_flow_runs")
        return len(self._matching_runs(flow_run_filter, deployment_filter))

    async def read_flow_run_states(self, flow_run_id: UUID) -> list[State]:
        self._answer("read_flow_run_states")
        return copy.deepcopy(self.flow_run_states.get(flow_run_id, []))

    async def read_task_runs(
        self,
        *,
        flow_run_filter: FlowRunFilter | None = None,
        task_run_filter: TaskRunFilter | None = None,
        sort: TaskRunSort | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[TaskRun]:
        self._answer("read_task_runs")
        runs = {run.id for run in self._matching_runs(flow_run_filter, None)}
        found = [
            run
            for run in self.task_runs.values()
            if run.flow_run_id in runs and _task_run_matches(run, task_run_filter)
        ]
        if sort not in (None, TaskRunSort.ID_DESC):
            raise NotImplementedError(f"task run sort {sort}")
        return _page(sorted(found, key=lambda run: str(run.id), reverse=True), limit, offset)

    async def read_task_run_states(self, task_run_id: UUID) -> list[State]:
        self._answer("read_task_run_states")
        return copy.deepcopy(self.task_run_states.get(task_run_id, []))

    async def read_events(self, filter: EventFilter | None = None, limit: int = 100) -> EventPage:
        """The stage-state events the flow processes sent, as Prefect stores them: one per task-run state,
        its id the state's."""
        self._answer("read_events")
        if limit > 50:
            raise _unprocessable("events/filter", "limit: Input should be less than or equal to 50")
        given = filter or EventFilter()
        _only(given, "occurred", "event", "related", "order")
        found = [event for event in self._stage_events() if _event_matches(event, given)]
        found.sort(key=lambda event: (event.occurred, str(event.id)), reverse=given.order == EventOrder.DESC)
        return self._event_page(found, limit, 0)

    async def read_events_page(self, next_page_url: str) -> EventPage:
        self._answer("read_events_page")
        query = httpx.URL(next_page_url).params
        found, limit = self._event_pages[query["page-token"]]
        return self._event_page(found, limit, int(query["offset"]))

    async def read_logs(
        self,
        log_filter: LogFilter | None = None,
        limit: int | None = None,
        offset: int | None = None,
        sort: LogSort | None = None,
    ) -> list[Log]:
        self._answer("read_logs")
        if sort not in (None, LogSort.TIMESTAMP_ASC):
            raise NotImplementedError(f"log sort {sort}")
        found = [log for log in self.logs if _log_matches(log, log_filter)]
        return _page(sorted(found, key=lambda log: log.timestamp), limit, offset or 0)

    async def read_artifacts(
        self,
        *,
        artifact_filter: ArtifactFilter | None = None,
        sort: ArtifactSort | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Artifact]:
        self._answer("read_artifacts")
        found = [artifact for artifact in self.artifacts.values() if _artifact_matches(artifact, artifact_filter)]
        keys: dict[ArtifactSort, Callable[[Artifact], Any]] = {
            ArtifactSort.ID_DESC: lambda artifact: str(artifact.id),
            ArtifactSort.CREATED_DESC: lambda artifact: _time(artifact.created),
            ArtifactSort.UPDATED_DESC: lambda artifact: _time(artifact.updated),
        }
        key = keys.get(sort or ArtifactSort.ID_DESC)
        if key is None:
            raise NotImplementedError(f"artifact sort {sort}")
        return _page(sorted(found, key=key, reverse=True), limit, offset)

    async def read_deployment_by_name(self, name: str) -> Any:
        """The video deployment once `deployed`; before, a 404, as before `aura serve` provisions one."""
        self._answer("read_deployment_by_name")
        if not self.deployed or name != VIDEO_DEPLOYMENT:
            raise _not_found(f"deployments/name/{name}")
        return SimpleNamespace(id=DEPLOYMENT_ID, name=VIDEO_DEPLOYMENT)

    async def create_flow_run_from_deployment(
        self,
        deployment_id: UUID,
        *,
        parameters: dict[str, Any],
        tags: list[str],
        work_queue_name: str,
        idempotency_key: str | None = None,
    ) -> FlowRun:
        self._answer("create_flow_run_from_deployment")
        await asyncio.sleep(self.write_seconds)
        return copy.deepcopy(self._create(deployment_id, parameters, tags, work_queue_name, idempotency_key))

    async def _bulk(self, request: httpx.Request) -> httpx.Response:
        """The HTTP routes the client does not wrap: `POST /deployments/{id}/create_flow_run/bulk`."""
        self._answer("create_flow_run_bulk")
        await asyncio.sleep(self.write_seconds)
        parts = request.url.path.removeprefix(self.api_url.path).strip("/").split("/")
        if request.method != "POST" or len(parts) != 4 or parts[0::2] != ["deployments", "create_flow_run"]:
            raise NotImplementedError(f"{request.method} {request.url.path}")
        asked = json.loads(request.content)
        locked = self.locked_bulk_creates > 0
        if locked:
            self.locked_bulk_creates -= 1
        made = [
            self._create(UUID(parts[1]), run["parameters"], run["tags"], run["work_queue_name"], run["idempotency_key"])
            for run in (asked[:-1] if locked else asked)
        ]
        results = [{"flow_run_id": str(run.id), "status": "CREATED"} for run in made]
        if locked:
            results.append({"status": "FAILED", "error": "(sqlite3.OperationalError) database is locked"})
        return httpx.Response(200, json={"results": results})

    def _create(
        self,
        deployment_id: UUID,
        parameters: dict[str, Any],
        tags: list[str],
        work_queue_name: str,
        idempotency_key: str | None,
    ) -> FlowRun:
        if not self.deployed or deployment_id != DEPLOYMENT_ID:
            raise _not_found(f"deployments/{deployment_id}/create_flow_run")
        held = [run for run in self.flow_runs.values() if idempotency_key and run.idempotency_key == idempotency_key]
        if held:
            return held[0]
        now = datetime.now(UTC)
        scheduled = State(type=StateType.SCHEDULED, name="Scheduled", timestamp=now)
        run = FlowRun(
            flow_id=FLOW_ID,
            deployment_id=deployment_id,
            name=f"recorded-{len(self.flow_runs)}",
            created=now,
            expected_start_time=now,
            parameters=parameters,
            tags=tags,
            work_queue_name=work_queue_name,
            idempotency_key=idempotency_key,
            state=scheduled,
            state_id=scheduled.id,
            state_type=scheduled.type,
            state_name=scheduled.name,
        )
        self.add_flow_run(run)
        return run

    # Answering.

    def _stage_events(self) -> list[ReceivedEvent]:
        return [
            ReceivedEvent.model_validate(
                {
                    "id": state.id,
                    "occurred": state.timestamp,
                    "received": self.received[state.id],
                    "event": f"prefect.task-run.{state.name}",
                    "resource": {
                        "prefect.resource.id": f"prefect.task-run.{run.id}",
                        "prefect.resource.name": run.name,
                        "prefect.state-name": state.name or "",
                    },
                    "related": [
                        {
                            "prefect.resource.id": f"prefect.flow-run.{run.flow_run_id}",
                            "prefect.resource.role": "flow-run",
                        }
                    ],
                }
            )
            for run in self.task_runs.values()
            for state in self.task_run_states.get(run.id, [])
        ]

    def _event_page(self, found: list[ReceivedEvent], limit: int, offset: int) -> EventPage:
        next_page = None
        if offset + limit < len(found):
            token = str(uuid.uuid4())
            self._event_pages[token] = (found, limit)
            next_page = f"{self.api_url}/events/filter/next?page-token={token}&offset={offset + limit}"
        return EventPage.model_validate(
            {"events": found[offset : offset + limit], "total": len(found), "next_page": next_page}
        )

    def _answer(self, call: str) -> None:
        self.calls.append(call)
        if not self.reachable:
            raise PrefectUnreachable("cannot connect to Prefect at prefect.test: refused")

    def _matching_runs(
        self, flow_run_filter: FlowRunFilter | None, deployment_filter: DeploymentFilter | None
    ) -> list[FlowRun]:
        if deployment_filter is not None:
            _only(deployment_filter, "name")
            name = deployment_filter.name
            if name and name.any_ is not None and deployment_name(VIDEO_DEPLOYMENT) not in name.any_:
                return []
            if name and name.like_ is not None and name.like_.lower() not in deployment_name(VIDEO_DEPLOYMENT):
                return []
        return [run for run in self.flow_runs.values() if _flow_run_matches(run, flow_run_filter)]


def _not_found(path: str) -> ObjectNotFound:
    request = httpx.Request("GET", f"{RecordedPrefect.api_url}/{path}")
    return ObjectNotFound(http_exc=httpx.HTTPStatusError("404", request=request, response=httpx.Response(404)))


def _unprocessable(path: str, detail: str) -> PrefectHTTPStatusError:
    request = httpx.Request("POST", f"{RecordedPrefect.api_url}/{path}")
    response = httpx.Response(422, json={"exception_detail": detail}, request=request)
    return PrefectHTTPStatusError.from_httpx_error(httpx.HTTPStatusError("422", request=request, response=response))


def _only(given: Any, *handled: str) -> None:
    """Refuse a filter that sets a field these records are not filtered on."""
    if getattr(given, "operator", Operator.and_) != Operator.and_:
        raise NotImplementedError(f"{type(given).__name__}: operator {given.operator}")
    unhandled = [
        name
        for name in sorted(given.model_fields_set)
        if name not in (*handled, "operator") and getattr(given, name) is not None
    ]
    if unhandled:
        raise NotImplementedError(f"{type(given).__name__}: no filtering on {', '.join(unhandled)}")


def _within(value: datetime | None, after: datetime | None, before: datetime | None) -> bool:
    """Prefect's `after_`/`before_`: inclusive, and never true of a missing time."""
    if after is None and before is None:
        return True
    return value is not None and (after is None or value >= after) and (before is None or value <= before)


def _flow_run_matches(run: FlowRun, given: FlowRunFilter | None) -> bool:
    if given is None:
        return True
    _only(given, "id", "name", "tags", "state", "expected_start_time", "end_time", "idempotency_key")
    checks: list[bool] = []
    if given.idempotency_key is not None:
        _only(given.idempotency_key, "any_")
        keys = given.idempotency_key.any_
        checks.append(keys is None or run.idempotency_key in keys)
    if given.id is not None:
        checks += [
            given.id.any_ is None or run.id in given.id.any_,
            given.id.not_any_ is None or run.id not in given.id.not_any_,
        ]
    if given.name is not None:
        _only(given.name, "any_")
        checks.append(given.name.any_ is None or run.name in given.name.any_)
    if given.tags is not None:
        _only(given.tags, "all_", "any_")
        checks += [
            given.tags.all_ is None or set(given.tags.all_) <= set(run.tags),
            given.tags.any_ is None or bool(set(given.tags.any_) & set(run.tags)),
        ]
    if given.state is not None:
        _only(given.state, "type")
        if given.state.type is not None:
            checks += [
                given.state.type.any_ is None or run.state_type in given.state.type.any_,
                given.state.type.not_any_ is None or run.state_type not in given.state.type.not_any_,
            ]
    if given.expected_start_time is not None:
        times = given.expected_start_time
        checks.append(_within(run.expected_start_time, times.after_, times.before_))
    if given.end_time is not None:
        _only(given.end_time, "after_", "before_")
        checks.append(_within(run.end_time, given.end_time.after_, given.end_time.before_))
    return all(checks)


def _task_run_matches(run: TaskRun, given: TaskRunFilter | None) -> bool:
    if given is None:
        return True
    _only(given, "state")
    if given.state is None:
        return True
    _only(given.state, "name")
    names = given.state.name.any_ if given.state.name else None
    return names is None or run.state_name in names


def _event_matches(event: ReceivedEvent, given: EventFilter) -> bool:
    names = given.event
    if names is not None:
        _only(names, "prefix")
        if names.prefix is not None and not any(event.event.startswith(prefix) for prefix in names.prefix):
            return False
    related = given.related
    if related is not None:
        if not isinstance(related, EventRelatedFilter):
            raise NotImplementedError("a list of related filters")
        _only(related, "id")
        if related.id is not None and not any(resource.id in related.id for resource in event.related):
            return False
    return given.occurred.since <= event.occurred <= given.occurred.until


def _log_matches(log: Log, given: LogFilter | None) -> bool:
    if given is None:
        return True
    _only(given, "flow_run_id", "timestamp")
    runs = given.flow_run_id.any_ if given.flow_run_id else None
    times = given.timestamp
    return (runs is None or log.flow_run_id in runs) and (
        times is None or _within(log.timestamp, times.after_, times.before_)
    )


def _artifact_matches(artifact: Artifact, given: ArtifactFilter | None) -> bool:
    if given is None:
        return True
    _only(given, "flow_run_id", "type", "key")
    runs = given.flow_run_id.any_ if given.flow_run_id else None
    types = given.type.any_ if given.type else None
    keys = given.key.any_ if given.key else None
    if given.key is not None:
        _only(given.key, "any_")
    return (
        (runs is None or artifact.flow_run_id in runs)
        and (types is None or artifact.type in types)
        and (keys is None or artifact.key in keys)
    )


def _sort_runs(runs: list[FlowRun], sort: FlowRunSort) -> list[FlowRun]:
    by_id = sorted(runs, key=lambda run: str(run.id), reverse=True)
    keys: dict[FlowRunSort, tuple[Callable[[FlowRun], Any], bool]] = {
        FlowRunSort.ID_DESC: (lambda run: str(run.id), True),
        FlowRunSort.EXPECTED_START_TIME_ASC: (lambda run: _time(run.expected_start_time), False),
        FlowRunSort.EXPECTED_START_TIME_DESC: (lambda run: _time(run.expected_start_time), True),
        FlowRunSort.END_TIME_DESC: (lambda run: _time(run.end_time), True),
    }
    if sort not in keys:
        raise NotImplementedError(f"flow run sort {sort}")
    key, reverse = keys[sort]
    return sorted(by_id, key=key, reverse=reverse)


def _time(value: datetime | None) -> float:
    return value.timestamp() if value is not None else float("-inf")


def _page(found: Iterable[T], limit: int | None, offset: int) -> list[T]:
    """A page as the server gives it (at most `PAGE` records, a larger limit refused), each a copy."""
    if limit is not None and limit > PAGE:
        raise ValueError(f"Invalid limit: must be less than or equal to {PAGE}.")
    # A deep copy, not `model_copy`: Prefect's `State.model_copy` resets the state's timestamp.
    return copy.deepcopy(list(found)[offset : offset + (limit if limit is not None else PAGE)])
