"""A queued job's place in line and its wait for a worker slot, from the jobs running and queued."""

from datetime import UTC, datetime, timedelta

from api.jobs.queue_plan import Place, Waiting, plan

EARLY = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def waiting(job_id: str, priority: int, queued_after: float, seconds: float = 10.0) -> Waiting:
    return Waiting(job_id, priority, EARLY + timedelta(seconds=queued_after), seconds)


def test_jobs_wait_in_priority_order_then_queue_order_whoever_owns_them() -> None:
    places = plan(
        [30.0],
        [waiting("late-5", 5, 2), waiting("urgent", 1, 3), waiting("early-5", 5, 1), waiting("lowest", 10, 0)],
    )
    assert {job_id: place.position for job_id, place in places.items()} == {
        "urgent": 1,
        "early-5": 2,
        "late-5": 3,
        "lowest": 4,
    }


def test_each_job_takes_the_slot_that_frees_first_and_holds_it_for_its_expected_time() -> None:
    # Two slots, free in 5 s and 20 s; jobs expected to take 10 s, 30 s, 10 s and 10 s.
    places = plan(
        [20.0, 5.0],
        [waiting("a", 5, 0, 10), waiting("b", 5, 1, 30), waiting("c", 5, 2, 10), waiting("d", 5, 3, 10)],
    )
    assert places == {
        "a": Place(1, 5.0),  # the slot free at 5 s, until 15 s
        "b": Place(2, 15.0),  # that slot again, until 45 s
        "c": Place(3, 20.0),  # the other slot, until 30 s
        "d": Place(4, 30.0),
    }


def test_with_nothing_running_the_first_job_waits_for_nothing_and_the_rest_queue_behind_it() -> None:
    places = plan([], [waiting("first", 5, 0, 8), waiting("second", 5, 1, 8)])
    assert places == {"first": Place(1, 0.0), "second": Place(2, 8.0)}


def test_a_running_job_past_its_estimate_frees_its_slot_now_not_in_the_past() -> None:
    assert plan([-4.0], [waiting("next", 5, 0)]) == {"next": Place(1, 0.0)}


def test_every_job_pays_the_start_up_of_a_new_run_before_its_own_time() -> None:
    places = plan([5.0], [waiting("a", 5, 0, 10), waiting("b", 5, 1, 10)], startup_seconds=1.5)
    assert places == {"a": Place(1, 6.5), "b": Place(2, 18.0)}
