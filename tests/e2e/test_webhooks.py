"""Webhooks end to end: signed deliveries to a receiver on 127.0.0.1, the same events as the SSE stream,
in order, retried until the receiver takes them, and every try listed by the API."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.states import Crashed, Scheduled
from prometheus_client.parser import text_string_to_metric_families
from standardwebhooks import WebhookVerificationError

from api.readiness import WEBHOOK_END_AUTOMATION
from tests.utils.factories import wait_for
from tests.utils.keys import ALICE, BOB, as_
from tests.utils.receiver import receiver
from tests.utils.service import SHORT, http, pool_paused, wait_status
from tests.utils.sse import ETA, read_events

pytestmark = pytest.mark.slow
LIVE = ["job-status", "step-status", "job-completed", "job-failed", "job-cancelled"]


def new_secret(api: Any) -> str:
    answer = http.post(f"{api.url}/api/webhooks/secret")
    assert answer.status_code == 201, answer.text
    return str(answer.json()["secret"])


def submit_with_webhook(api: Any, url: str, events: list[str] | None = None, shape: dict | None = None) -> str:
    webhook: dict[str, Any] = {"url": url} | ({"events": events} if events else {})
    answer = http.post(f"{api.url}/api/jobs", json={"brief": {"topic": "Bees"}, **(shape or SHORT), "webhook": webhook})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["jobId"])


def attempts(api: Any, job_id: str) -> list[dict[str, Any]]:
    answer = http.get(f"{api.url}/api/jobs/{job_id}/webhooks")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["attempts"])


def without_eta(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key not in ETA}


def test_a_job_delivers_its_step_and_status_events_signed_in_order_as_the_stream_has_them(service: Any) -> None:
    """…and a delivery run that dies is started again, and finds nothing left to send."""
    secret = new_secret(service)
    with receiver() as hooks:
        job_id = submit_with_webhook(service, hooks.url, events=LIVE)
        wait_status(service, job_id, "completed", "failed")
        wait_for(lambda: hooks.delivered("job-completed"), timeout=60, what="the job-completed delivery")
        received = [delivery.verified(secret) for delivery in hooks.deliveries]

    stream = [event for event in read_events(f"{service.url}/api/jobs/{job_id}/events") if event.id != "0-0"]
    wanted = [event for event in stream if event.event in LIVE]
    assert [payload["eventId"] for payload in received] == [event.id for event in wanted]
    for payload, event in zip(received, wanted, strict=True):
        assert payload["event"] == event.event and payload["attempt"] == 1 and payload["jobId"] == job_id
        sent = {key: value for key, value in payload.items() if key not in ("event", "eventId")}
        assert without_eta(sent) == without_eta({"attempt": 1, **event.data})
    assert {payload["step"] for payload in received if payload["event"] == "step-status"} >= {"script", "render"}
    assert received[-1]["event"] == "job-completed" and received[-1]["artifacts"]

    tries = attempts(service, job_id)
    assert [attempt["eventId"] for attempt in tries] == [event.id for event in wanted]
    assert all(attempt["outcome"] == "delivered" and attempt["statusCode"] == 200 for attempt in tries)
    assert all(attempt["latencyMs"] > 0 and attempt["responseBody"] == "ok" for attempt in tries)

    restarted = restart_after_a_crash(job_id)
    assert restarted.state_name == "Completed" and restarted.parameters["restarts"] == 1
    assert len(attempts(service, job_id)) == len(tries), "nothing was left to send"


def restart_after_a_crash(job_id: str) -> FlowRun:
    """A delivery run of the job that crashes: the automation starts another, with `restarts` one higher."""
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("deliver-webhooks/deliver-webhooks")
        later = Scheduled(scheduled_time=datetime.now(UTC) + timedelta(hours=1))
        doomed = client.create_flow_run_from_deployment(
            deployment.id, parameters={"job_id": job_id, "restarts": 0}, state=later
        )
        client.set_flow_run_state(doomed.id, Crashed(message="killed in a test"), force=True)

        def restarted() -> FlowRun | None:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED]))
                ),
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                limit=200,
            )
            return next((run for run in runs if run.parameters == {"job_id": job_id, "restarts": 1}), None)

        return wait_for(restarted, timeout=60, what="the restarted delivery run")


def test_an_end_no_automation_heard_is_swept_up_and_a_failing_receiver_gets_it_on_the_fourth_try(
    service: Any,
) -> None:
    secret = new_secret(service)
    before = tally(service)
    with receiver(500, 503, 500) as hooks, automation_disabled(WEBHOOK_END_AUTOMATION):
        job_id = submit_with_webhook(service, hooks.url)
        wait_status(service, job_id, "completed", "failed")
        with get_client(sync_client=True) as client:
            sweep = client.read_deployment_by_name("sweep-webhooks/sweep-webhooks")
            client.create_flow_run_from_deployment(sweep.id)
        [delivered] = wait_for(lambda: hooks.delivered("job-completed"), timeout=60, what="the fourth try")
        arrivals = [delivery.arrived for delivery in hooks.deliveries]
    assert not any(
        run.created_by and run.created_by.display_value == WEBHOOK_END_AUTOMATION for run in delivery_runs(job_id)
    )

    assert len(arrivals) == 4
    assert len({delivery.headers["webhook-id"] for delivery in hooks.deliveries}) == 1
    assert delivered.verified(secret)["status"] == "completed"
    waits = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    # 0.5 s, 1 s, 2 s (AURA_WEBHOOK_RETRY_BASE_SECONDS=0.5, cap 2), each plus a worker's pick-up.
    assert waits[0] >= 0.5 and waits[1] >= 1 and waits[2] >= 2, waits

    tries = attempts(service, job_id)
    assert [(t["tryNumber"], t["outcome"], t["statusCode"]) for t in tries] == [
        (1, "failed", 500),
        (2, "failed", 503),
        (3, "failed", 500),
        (4, "delivered", 200),
    ]
    for failed, following in zip(tries, tries[1:], strict=False):
        assert datetime.fromisoformat(failed["nextTryAt"]) <= datetime.fromisoformat(following["at"])
    assert tries[-1]["nextTryAt"] is None
    # Other tests' deliveries may add tries too: at least this job's show in the metric.
    wait_for(
        lambda: (
            (now := tally(service))["failed"] >= before["failed"] + 3 and now["delivered"] >= before["delivered"] + 1
        ),
        timeout=30,
        what="the tries in GET /metrics",
    )


def tally(api: Any) -> dict[str, float]:
    """`aura_webhook_tries` of `GET /metrics`, by outcome."""
    families = text_string_to_metric_families(http.get(f"{api.url}/metrics").text)
    found = {
        sample.labels["outcome"]: sample.value
        for family in families
        for sample in family.samples
        if sample.name == "aura_webhook_tries"
    }
    return {"failed": 0.0, "delivered": 0.0} | found


def delivery_runs(job_id: str) -> list[FlowRun]:
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("deliver-webhooks/deliver-webhooks")
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])), limit=200
        )
    return [run for run in runs if run.parameters.get("job_id") == job_id]


@contextmanager
def automation_disabled(name: str) -> Iterator[None]:
    with get_client(sync_client=True) as client:
        [automation] = client.read_automations_by_name(name)
        client.pause_automation(automation.id)
        try:
            yield
        finally:
            client.resume_automation(automation.id)


def test_each_owner_signs_with_a_secret_of_their_own_which_a_new_one_replaces(secured: Any) -> None:
    """…and a job cancelled while queued delivers job-cancelled, and nothing it did not ask for."""
    bob = as_(BOB)
    with receiver() as hooks:
        job = {"brief": {"topic": "Bees"}, **SHORT, "webhook": {"url": hooks.url, "events": ["job-cancelled"]}}
        refused = http.post(f"{secured.url}/api/jobs", json=job, headers=bob)
        assert refused.status_code == 422 and refused.json()["code"] == "E422-NO_WEBHOOK_SECRET"
        assert "POST /api/webhooks/secret" in refused.json()["suggestedActions"][0]

        first = http.post(f"{secured.url}/api/webhooks/secret", headers=bob).json()
        second = http.post(f"{secured.url}/api/webhooks/secret", headers=bob).json()
        assert first["owner"] == second["owner"] == "bob" and first["secret"] != second["secret"]
        assert second["secret"].startswith("whsec_")
        assert http.post(f"{secured.url}/api/jobs", json=job, headers=as_(ALICE)).status_code == 422
        with pool_paused():
            accepted = http.post(f"{secured.url}/api/jobs", json=job, headers=bob)
            assert accepted.status_code == 202, accepted.text
            assert (
                http.post(f"{secured.url}/api/jobs/{accepted.json()['jobId']}/cancel", headers=bob).status_code == 202
            )
        [delivery] = wait_for(lambda: hooks.delivered("job-cancelled"), timeout=60, what="the job-cancelled delivery")
    assert delivery.verified(second["secret"])["status"] == "cancelled"
    with pytest.raises(WebhookVerificationError):
        delivery.verified(first["secret"])
    assert [d.payload["event"] for d in hooks.deliveries] == ["job-cancelled"]
