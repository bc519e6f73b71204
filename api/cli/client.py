"""The running service's REST and SSE contract, from the client's side (for `aura jobs` and `aura generate --api`)."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import connect_sse

# The stream pings every 10 s; a read that waits much longer than that means a dead connection.
STREAM_TIMEOUT = httpx.Timeout(10.0, read=45.0)
REQUEST_TIMEOUT = httpx.Timeout(30.0)


class Unreachable(Exception):
    """The service did not answer (refused, timed out, or a gateway said so)."""


class ServiceError(Exception):
    """The service answered with an RFC 7807 problem."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail") or problem.get("title") or f"HTTP {status}")
        self.status = status
        self.problem = problem


@dataclass
class Event:
    name: str
    id: str
    data: dict[str, Any]


class ServiceClient:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=REQUEST_TIMEOUT)

    def __enter__(self) -> "ServiceClient":
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def create_job(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/api/jobs", json=request)

    def create_batch(self, csv: bytes, idempotency_key: str) -> dict[str, Any]:
        headers = {"Content-Type": "text/csv", "Idempotency-Key": idempotency_key}
        return self._call("POST", "/api/jobs/batch", content=csv, headers=headers)

    def list_jobs(self, statuses: list[str], limit: int) -> dict[str, Any]:
        return self._call("GET", "/api/jobs", params={"status": statuses, "limit": limit})

    def read_job(self, job_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/jobs/{job_id}")

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._call("POST", f"/api/jobs/{job_id}/cancel")

    def retry(self, job_id: str) -> dict[str, Any]:
        return self._call("POST", f"/api/jobs/{job_id}/retry")

    def events(self, job_id: str, last_event_id: str | None) -> Iterator[Event]:
        """One connection's events; ends when the server closes it. Nothing at all if the job had already ended."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        try:
            with connect_sse(
                self.http, "GET", f"/api/jobs/{job_id}/events", headers=headers, timeout=STREAM_TIMEOUT
            ) as source:
                if source.response.status_code != 200:
                    source.response.read()
                    self._check(source.response)
                    return
                for message in source.iter_sse():
                    # httpx-sse hands `: ping` comments over as nameless events without data.
                    if message.data:
                        yield Event(message.event, message.id, json.loads(message.data))
        except httpx.TransportError as exc:
            raise Unreachable(f"{self.base_url}: {exc}") from exc

    def _call(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        try:
            answer = self.http.request(method, path, **options)
        except httpx.TransportError as exc:
            raise Unreachable(f"{self.base_url}: {exc}") from exc
        self._check(answer)
        body: dict[str, Any] = answer.json()
        return body

    def _check(self, answer: httpx.Response) -> None:
        if not answer.is_error:
            return
        try:
            problem = answer.json()
        except ValueError:
            # A proxy's or a half-started server's page, not the service's own answer.
            if answer.status_code >= 500:
                raise Unreachable(f"{self.base_url}: HTTP {answer.status_code}") from None
            problem = {"title": answer.text[:200]}
        raise ServiceError(answer.status_code, problem)
