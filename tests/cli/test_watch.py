"""The terminal watcher's formatting, which matches the dashboard's."""

from api.cli.watch import duration


def test_durations_read_like_the_seeds_drawer() -> None:
    assert duration(8130) == "2h 15m 30s"
    assert duration(61.4) == "1m 1s"
    assert duration(0.4) == "0s"
    assert duration(None) == "–"
