"""The retry schedule of a webhook event: 5 s doubling to an hour, for 24 hours."""

from datetime import UTC, datetime, timedelta

import pytest

from api.settings import settings
from api.webhooks.attempts import EventRecord, next_try, retry_delay


@pytest.fixture(autouse=True)
def production_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "webhook_retry_base_seconds", 5.0)
    monkeypatch.setattr(settings, "webhook_retry_cap_seconds", 3600.0)
    monkeypatch.setattr(settings, "webhook_give_up_seconds", 86400.0)


def test_waits_double_from_five_seconds_and_stop_growing_at_an_hour() -> None:
    waits = [retry_delay(tries).total_seconds() for tries in range(1, 13)]
    assert waits == [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]


def test_an_event_is_tried_again_until_a_day_after_its_first_try_then_given_up() -> None:
    first = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert next_try(EventRecord(tries=1, first_at=first), first) == first + timedelta(seconds=5)
    late = first + timedelta(hours=23, minutes=30)
    assert next_try(EventRecord(tries=30, first_at=first), late) is None
    earlier = first + timedelta(hours=22)
    assert next_try(EventRecord(tries=30, first_at=first), earlier) == earlier + timedelta(hours=1)
