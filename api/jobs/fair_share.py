"""Owners take turns within a priority: where a new job goes in its priority's queue.

Workers take a priority's queued jobs in the order of their scheduled start times (Prefect's
work queues), so that time is the whole order, and it lives in Prefect: every API process and
worker sees the same line, across restarts. A new job is placed by its round: an owner's jobs
running now count as its first rounds, its queued jobs as the next ones, in order. The new job
takes the round after its owner's last and goes ahead of every queued job of a later round,
never ahead of its own owner's jobs. When owner A has 50 jobs queued and one running, owner B's
first job takes round 1 and goes ahead of all of A's queued jobs; B's second job goes after A's
first queued one, and so on. A job that goes last is scheduled at the time it was submitted.

A place ahead of others gets a scheduled time between its two neighbours', in the past, so
workers take it as soon as its turn comes.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# Jobs queued together are this far apart, so that another owner's job fits between any two of them.
SPACING = timedelta(milliseconds=1)


@dataclass(frozen=True)
class InLine:
    """A queued job of the priority: whose it is, and the scheduled time workers take it by."""

    owner: str
    at: datetime


def place(line: list[InLine], running: Counter[str], owner: str, now: datetime) -> datetime | None:
    """The scheduled time for the owner's new job, or None when it goes last (at its submit time)."""
    line = sorted(line, key=lambda job: job.at)
    taken = Counter(running)
    rounds = []
    for job in line:
        taken[job.owner] += 1
        rounds.append(taken[job.owner])
    own = taken[owner] + 1
    after_own = max((index + 1 for index, job in enumerate(line) if job.owner == owner), default=0)
    ahead_of = next((index for index in range(after_own, len(line)) if rounds[index] > own), None)
    if ahead_of is None:
        return None
    later = line[ahead_of].at
    earlier = line[ahead_of - 1].at if ahead_of else later - 2 * SPACING
    return min(earlier + (later - earlier) / 2, now)


@dataclass
class Queues:
    """Each priority's queued jobs, and each owner's running jobs, as the jobs copy holds them."""

    lines: dict[int, list[InLine]] = field(default_factory=dict)
    running: Counter[str] = field(default_factory=Counter)

    def place_all(self, owner: str, priorities: list[int], now: datetime) -> list[datetime]:
        """Scheduled times for new jobs of one owner at these priorities, in order; a job going last
        is scheduled at `now` plus its index in `SPACING`s."""
        places = []
        for index, priority in enumerate(priorities):
            line = self.lines.setdefault(priority, [])
            at = place(line, self.running, owner, now) or now + index * SPACING
            places.append(at)
            line.append(InLine(owner, at))
        return places
