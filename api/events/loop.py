"""One base for every periodic reader of an API process: the jobs copy, the event poll, the ETA's history.

As in Prefect's own server services, a subclass says what one pass does (`run_once`) and how
often (`loop_seconds`), and the base runs the passes for the life of the process with one
error policy: a Prefect that does not answer is a warning, any other error is logged with its
traceback, and either way the next pass tries again, so one bad record never stops every
stream of the process. `pass_failed` lets a reader drop what a failed pass leaves stale;
`run_sooner` brings the next pass forward; `loop(loops=n)` runs n passes, for tests.
"""

import asyncio
import logging
import time
from abc import ABC, abstractmethod

import httpx

log = logging.getLogger("aura.loops")


class PeriodicReader(ABC):
    name = "periodic reader"

    def __init__(self) -> None:
        self._due = 0.0
        self._asked: list[float] = []  # the moments passes were asked for that no pass has started after yet
        self._sooner = asyncio.Event()

    @property
    @abstractmethod
    def loop_seconds(self) -> float:
        """Seconds from the start of one pass to the start of the next."""

    @abstractmethod
    async def run_once(self) -> None:
        """One pass."""

    def pass_failed(self, error: Exception) -> None:  # noqa: B027 - a hook; most readers leave nothing stale
        """Drop what a pass that raised `error` leaves stale; nothing by default."""

    def run_sooner(self, at: float, *, gather: float = 0.0) -> None:
        """Start a pass at the `time.monotonic()` moment `at` or soon after (at once if `at` has passed).
        A pass asked for while another runs, for a moment after that one started, still runs.

        With `gather`, a pass asked for no more than `gather` seconds before `at` (and not started yet)
        waits for `at`, so that one pass serves both asks.
        """
        self._asked.append(at)
        if at < self._due:
            self._due = at
            self._sooner.set()
        elif self._due in self._asked and self._due > time.monotonic() and at <= min(self._asked) + gather:
            self._due = at
            self._sooner.set()

    async def loop(self, *, loops: int | None = None) -> None:
        """Run a pass every `loop_seconds`: for ever, or `loops` times."""
        done = 0
        while loops is None or done < loops:
            started = time.monotonic()
            self._asked = [at for at in self._asked if at > started]
            self._due = min([started + self.loop_seconds, *self._asked])
            try:
                await self.run_once()
            except (httpx.HTTPError, OSError) as exc:
                self.pass_failed(exc)
                log.warning("%s: Prefect did not answer; trying again: %s", self.name, exc)
            except Exception as exc:
                self.pass_failed(exc)
                log.exception("%s failed; trying again", self.name)
            done += 1
            if loops is None or done < loops:
                await self._wait()

    async def _wait(self) -> None:
        while True:
            self._sooner.clear()
            left = self._due - time.monotonic()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(self._sooner.wait(), timeout=left)
            except TimeoutError:
                pass
