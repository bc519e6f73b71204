"""Where each queued job stands: its place in line, and how long until a worker slot frees up for it.

Workers take queued jobs by priority, then by scheduled start time (Prefect's priority work queues),
which is the order of the owners' turns (`api.jobs.fair_share`). While jobs wait, every slot of the
workers is busy, so the jobs running now count the slots (one at least: a queue no worker takes from
still has a next job). Each waiting job in turn takes the slot that frees first, after the start-up
every job pays (a worker noticing the free slot, a flow-run process starting), and holds it for the
time its request is expected to take.
"""

import heapq
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Waiting:
    job_id: str
    priority: int
    turn: datetime  # the scheduled time workers take it by (`api.jobs.fair_share`)
    expected_seconds: float


@dataclass(frozen=True)
class Place:
    position: int  # 1: the next job a free slot takes
    wait_seconds: float  # until that slot is free


def plan(running_left: list[float], waiting: list[Waiting], startup_seconds: float = 0.0) -> dict[str, Place]:
    """The place of each waiting job, given the seconds left of each running one."""
    slots = [max(0.0, left) for left in running_left] or [0.0]
    heapq.heapify(slots)
    places = {}
    in_line = sorted(waiting, key=lambda job: (job.priority, job.turn, job.job_id))
    for position, job in enumerate(in_line, start=1):
        starts_in = heapq.heappop(slots) + startup_seconds
        places[job.job_id] = Place(position=position, wait_seconds=starts_in)
        heapq.heappush(slots, starts_in + job.expected_seconds)
    return places
