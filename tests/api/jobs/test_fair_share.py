from collections import Counter
from datetime import UTC, datetime, timedelta

from api.jobs.fair_share import SPACING, InLine, Queues, place

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def queued(owner: str, count: int, *, since: datetime = NOW - timedelta(minutes=5)) -> list[InLine]:
    return [InLine(owner, since + index * SPACING) for index in range(count)]


def order(queues: Queues, priority: int = 5) -> list[str]:
    return [job.owner for job in sorted(queues.lines[priority], key=lambda job: job.at)]


def test_one_job_of_another_owner_goes_ahead_of_the_fifty_queued_behind_a_running_one() -> None:
    queues = Queues({5: queued("a", 50)}, Counter(a=1))
    [at] = queues.place_all("b", [5], NOW)
    assert at < queues.lines[5][0].at
    assert order(queues)[:2] == ["b", "a"]


def test_owners_take_turns_in_the_order_they_came_and_keep_their_own_order() -> None:
    queues = Queues({5: queued("a", 3)})
    queues.place_all("b", [5, 5], NOW)
    queues.place_all("c", [5, 5], NOW + timedelta(seconds=1))
    assert order(queues) == ["a", "b", "c", "a", "b", "c", "a"]
    own = sorted((job for job in queues.lines[5] if job.owner == "b"), key=lambda job: job.at)
    assert [job.at for job in own] == sorted(job.at for job in own)


def test_a_job_goes_last_at_its_submit_time_when_no_later_round_is_queued() -> None:
    line = queued("a", 2) + queued("b", 2, since=NOW - timedelta(minutes=4))
    assert place(line, Counter(), "a", NOW) is None
    assert Queues({5: line}).place_all("a", [5, 5], NOW) == [NOW, NOW + SPACING]


def test_an_owner_with_jobs_running_waits_its_turn_behind_owners_with_none() -> None:
    queues = Queues({5: queued("b", 1)}, Counter(a=2))
    [at] = queues.place_all("a", [5], NOW)
    assert at == NOW and order(queues) == ["b", "a"]


def test_each_priority_is_a_line_of_its_own() -> None:
    queues = Queues({1: queued("a", 2), 5: queued("a", 2)})
    queues.place_all("b", [5, 1], NOW)
    assert order(queues, 1) == order(queues, 5) == ["a", "b", "a"]


def test_a_turn_is_never_later_than_now_even_between_jobs_a_cap_holds_back() -> None:
    held_back = [InLine("a", NOW + timedelta(seconds=3)), InLine("a", NOW + timedelta(seconds=4))]
    assert place(held_back, Counter(a=1), "b", NOW) == NOW
