"""The manual retry policy: which jobs may be retried, how often, and how long after the last attempt."""

from datetime import UTC, datetime, timedelta

import pytest
from prefect.client.schemas.objects import FlowRun, StateType

from api.jobs.commands import check_retry, retry_wait_seconds
from api.jobs.errors import NotRetryable, RetryBackoff, RetryLimit
from api.settings import settings
from tests.utils.factories import new_job_id
from tests.utils.records import job_run, state

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The defaults (`AURA_MANUAL_RETRY_*`), whatever the environment says."""
    monkeypatch.setattr(settings, "manual_retry_base_seconds", 5.0)
    monkeypatch.setattr(settings, "manual_retry_cap_seconds", 300.0)
    monkeypatch.setattr(settings, "manual_retry_max", 3)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def attempt(kind: StateType, *, number: int = 1, ended_ago: float = 60.0) -> FlowRun:
    history = [state(StateType.RUNNING, ago(ended_ago + 30)), state(kind, ago(ended_ago))]
    return job_run(new_job_id(), history, attempt=number)


def test_the_first_retry_is_immediate_and_later_ones_wait_twice_as_long_up_to_the_cap() -> None:
    assert retry_wait_seconds(0, NOW, now=NOW) == 0.0
    waits = [retry_wait_seconds(retries, NOW, now=NOW) for retries in range(1, 9)]
    assert waits == [10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0, 300.0]


def test_the_wait_counts_from_the_end_of_the_last_attempt() -> None:
    assert retry_wait_seconds(1, ago(4), now=NOW) == 6.0
    assert retry_wait_seconds(2, ago(19.5), now=NOW) == 0.5
    assert retry_wait_seconds(2, ago(25), now=NOW) == 0.0
    assert retry_wait_seconds(2, None, now=NOW) == 0.0, "an attempt with no end time holds nothing up"


@pytest.mark.parametrize("kind", [StateType.FAILED, StateType.CRASHED, StateType.CANCELLED])
def test_a_failed_or_cancelled_job_may_be_retried_at_once_the_first_time(kind: StateType) -> None:
    check_retry(attempt(kind, ended_ago=0.0), "job-1", now=NOW)


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (StateType.SCHEDULED, "queued"),
        (StateType.RUNNING, "running"),
        (StateType.CANCELLING, "cancelling"),
        (StateType.COMPLETED, "completed"),
    ],
)
def test_a_job_that_did_not_fail_or_get_cancelled_is_not_retryable(kind: StateType, status: str) -> None:
    with pytest.raises(NotRetryable, match=f"job job-1 is {status}; only failed or cancelled jobs can be retried"):
        check_retry(attempt(kind), "job-1", now=NOW)


def test_a_retry_inside_the_backoff_says_how_long_to_wait() -> None:
    with pytest.raises(RetryBackoff, match="retry 2 of job job-1 may start in 7 s") as refused:
        check_retry(attempt(StateType.FAILED, number=2, ended_ago=3.2), "job-1", now=NOW)
    assert refused.value.retry_after == 7, "rounded up: a client waiting that long is let in"
    assert refused.value.suggested_actions == ("Retry again after 7 seconds.",)
    check_retry(attempt(StateType.FAILED, number=2, ended_ago=10.0), "job-1", now=NOW)


def test_the_third_retry_waits_twenty_seconds() -> None:
    with pytest.raises(RetryBackoff) as refused:
        check_retry(attempt(StateType.CANCELLED, number=3, ended_ago=1.0), "job-1", now=NOW)
    assert refused.value.retry_after == 19


def test_a_job_retried_as_often_as_allowed_is_refused_whatever_the_wait() -> None:
    with pytest.raises(RetryLimit, match="job job-1 was retried 3 times; at most 3"):
        check_retry(attempt(StateType.FAILED, number=4, ended_ago=3600.0), "job-1", now=NOW)


def test_a_cancelled_attempt_without_an_end_time_counts_from_its_state() -> None:
    run = attempt(StateType.CANCELLED, number=2, ended_ago=4.0).model_copy(update={"end_time": None})
    with pytest.raises(RetryBackoff) as refused:
        check_retry(run, "job-1", now=NOW)
    assert refused.value.retry_after == 6
