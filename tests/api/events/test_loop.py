"""The one loop every periodic reader runs on: passes, the error policy, a pass brought forward."""

import asyncio
import time

import httpx
import pytest

from api.events.loop import PeriodicReader

pytestmark = pytest.mark.anyio


class Counting(PeriodicReader):
    name = "counting reader"

    def __init__(self, seconds: float, failures: list[Exception] | None = None) -> None:
        super().__init__()
        self.seconds = seconds
        self.failures = failures or []
        self.passes: list[float] = []
        self.failed: list[Exception] = []

    @property
    def loop_seconds(self) -> float:
        return self.seconds

    async def run_once(self) -> None:
        self.passes.append(time.monotonic())
        if self.failures:
            raise self.failures.pop(0)

    def pass_failed(self, error: Exception) -> None:
        self.failed.append(error)


async def test_loops_runs_that_many_passes_and_does_not_wait_after_the_last() -> None:
    reader = Counting(seconds=60)
    async with asyncio.timeout(2):
        await reader.loop(loops=1)
    assert len(reader.passes) == 1


async def test_a_failed_pass_is_reported_to_the_reader_and_the_next_pass_runs(caplog: pytest.LogCaptureFixture) -> None:
    away = httpx.ConnectError("refused")
    bug = KeyError("bad record")
    reader = Counting(seconds=0, failures=[away, bug])
    await reader.loop(loops=3)
    assert len(reader.passes) == 3 and reader.failed == [away, bug]
    warning, error = (record for record in caplog.records if record.name == "aura.loops")
    assert warning.levelname == "WARNING" and "Prefect did not answer" in warning.getMessage()
    assert error.levelname == "ERROR" and error.exc_info is not None, "an unexpected error keeps its traceback"


async def test_run_sooner_brings_the_next_pass_forward_but_never_puts_it_off() -> None:
    reader = Counting(seconds=60)
    running = asyncio.create_task(reader.loop(loops=2))
    await asyncio.sleep(0)
    reader.run_sooner(time.monotonic() + 3600)
    reader.run_sooner(time.monotonic())
    async with asyncio.timeout(2):
        await running
    assert len(reader.passes) == 2


async def test_a_pass_asked_for_a_moment_after_the_next_one_starts_still_runs() -> None:
    """A state heard just before a pass starts asks for a pass a little later: the pass that starts
    first read too early to commit it, so the one asked for must still come, not a period later."""

    class Asking(Counting):
        async def run_once(self) -> None:
            await super().run_once()
            if len(self.passes) == 1:
                self.run_sooner(time.monotonic() + 0.35)  # just after the next regular pass

    reader = Asking(seconds=0.3)
    async with asyncio.timeout(2):
        await reader.loop(loops=3)
    assert reader.passes[2] - reader.passes[0] < 0.5, "the pass asked for ran, not the regular one after it"


async def test_a_pass_asked_for_just_after_another_that_has_not_started_serves_both() -> None:
    """Two asks 20 ms apart: with `gather`, one pass at the second; never later than `gather` past the first."""
    reader = Counting(seconds=60)
    running = asyncio.create_task(reader.loop(loops=3))
    await asyncio.sleep(0)
    first = time.monotonic() + 0.1
    reader.run_sooner(first, gather=0.03)
    reader.run_sooner(first + 0.02, gather=0.03)
    reader.run_sooner(first + 0.2, gather=0.03)  # too far: a pass of its own
    async with asyncio.timeout(2):
        await running
    assert first + 0.02 <= reader.passes[1] < first + 0.1, "one pass, at the second ask"
    assert reader.passes[2] >= first + 0.2
