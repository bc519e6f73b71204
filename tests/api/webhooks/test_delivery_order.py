"""Which of a job's delivery runs delivers while others wait: the one that started first."""

from datetime import UTC, datetime, timedelta

from prefect.client.schemas.objects import StateType

from api.webhooks.delivery import started_before
from tests.utils.records import job_run, state

NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_run_made_first_but_started_second_waits_for_the_one_already_at_work() -> None:
    # The job's own run is made as its attempt starts; the end automation's run is made later but a
    # faster worker slot starts it first.
    own = job_run("own", [state(StateType.SCHEDULED, NOON), state(StateType.RUNNING, NOON + timedelta(seconds=9))])
    at_end = job_run(
        "end",
        [
            state(StateType.SCHEDULED, NOON + timedelta(seconds=6)),
            state(StateType.RUNNING, NOON + timedelta(seconds=8)),
        ],
    )
    assert own.created < at_end.created
    assert started_before(at_end, own) and not started_before(own, at_end), "exactly one of them delivers"
