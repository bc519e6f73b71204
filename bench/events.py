"""Event stream benchmarks: latency, many clients on many jobs, and how good the ETA is.

Starts what it needs on loopback (see bench/stack.py) and prints figures; asserts nothing.

    python bench/events.py latency [--jobs 8] [--settle 0.4]
        Prefect state change (the state's own timestamp) → the event read by an SSE client,
        for job-status (flow-run states) and step-status (task-run states).
    python bench/events.py fanout [--jobs 50] [--clients 1000]
        That many clients spread over that many light jobs running at once (a chat endpoint that
        answers in 5-20 s, then a 10 s video at 320 px): whether every client got every event
        (compared with a replay after the end), the poll loop's Prefect requests per second, the
        API process's peak memory, and state change → client latency under that load.
    python bench/events.py eta [--jobs 10] [--rounds 2]
        After 3 finished jobs of history, jobs of varied length and size one after another:
        the ETA's error when the job passes 25 % and 50 %, against the time it really took.
        Then as many again submitted at once, on the one worker slot, `--rounds` times (2; each
        round learns from those before how jobs that waited ran): the ETA's error at submit (the wait in
        the queue included), at 25 % and at 50 %; the share of jobs whose real time fell inside
        the band (`etaLowSeconds` … `etaHighSeconds`); and how far `queuePosition` at submit was
        from the order the jobs really started in.
"""

import argparse
import asyncio
import json
import random
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import aconnect_sse

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import service_stack  # noqa: E402

from api.settings import settings  # noqa: E402

STATE_EVENTS = ("job-status", "step-status")


def job_body(seconds: int, width: int, topic: str = "Bench") -> dict[str, Any]:
    return {"brief": {"topic": topic}, "plan": {"targetDurationSeconds": seconds}, "render": {"width": width}}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def timestamp(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["data"]["timestamp"]).timestamp()


async def read_stream(client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    """Every event of one connection until the server ends it, with the time each was read."""
    events = []
    async with aconnect_sse(client, "GET", url) as source:
        async for sse in source.aiter_sse():
            if sse.data:
                events.append({"id": sse.id, "event": sse.event, "data": json.loads(sse.data), "at": time.time()})
    return events


def durable(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (event["id"], event["event"])
        for event in events
        if event["event"] != "step-progress" and event["id"] != events[0]["id"]
    ]


async def submit(client: httpx.AsyncClient, api: Any, body: dict[str, Any]) -> str:
    answer = await client.post(f"{api.url}/api/jobs", json=body)
    answer.raise_for_status()
    return answer.json()["jobId"]


async def received_times(into: dict[float, float]) -> None:
    """When Prefect received each state change, by the state's own time: splits a latency into
    Prefect's share (state → received) and the service's (received → client)."""
    from prefect.events.filters import EventFilter, EventNameFilter

    from api.events.stream import ReceivedEventSubscriber

    names = EventNameFilter(prefix=["prefect.flow-run.", "prefect.task-run."])
    async with ReceivedEventSubscriber(filter=EventFilter(event=names)) as events:
        async for event in events:
            into.setdefault(round(event.occurred.timestamp(), 6), event.received.timestamp())


def where_the_time_went(news: list[tuple[float, float]], received: dict[float, float]) -> None:
    """Each (state's own time, read by the client) split at the moment Prefect received the state."""
    prefect, service = [], []
    for state_at, read_at in news:
        if (at := received.get(round(state_at, 6))) is not None:
            prefect.append(at - state_at)
            service.append(read_at - at)
    print("where the time of state events went:")
    print(f"  {'Prefect: state → received':<28} {summary(prefect)}")
    print(f"  {'service: received → client':<28} {summary(service)}")


def summary(values: list[float]) -> str:
    return (
        f"p50 {1000 * statistics.median(values):6.0f} ms   p99 {1000 * percentile(values, 0.99):6.0f} ms"
        f"   max {1000 * max(values):6.0f} ms   (n={len(values)})"
    )


async def latency(api: Any, args: argparse.Namespace) -> None:
    found: dict[str, list[float]] = {name: [] for name in STATE_EVENTS}
    news: list[tuple[float, float]] = []
    received: dict[float, float] = {}
    listening = asyncio.create_task(received_times(received))
    async with httpx.AsyncClient(timeout=httpx.Timeout(300, read=60)) as client:
        for number in range(args.jobs):
            job_id = await submit(client, api, job_body(10 + 5 * number, 640))
            connected = time.time()
            for event in await read_stream(client, f"{api.url}/api/jobs/{job_id}/events"):
                if event["event"] in STATE_EVENTS and timestamp(event) > connected:
                    found[event["event"]].append(event["at"] - timestamp(event))
                    news.append((timestamp(event), event["at"]))
    listening.cancel()
    print(
        f"{args.jobs} jobs one after another; settle {args.settle or settings.events_settle_seconds} s, "
        f"poll every {args.poll or settings.events_poll_seconds} s"
    )
    for name, values in [*found.items(), ("all state events", found["job-status"] + found["step-status"])]:
        print(f"{name:<18} {summary(values)}")
    where_the_time_went(news, received)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def fanout(api: Any, args: argparse.Namespace) -> None:
    """Light jobs as the issue shapes them: a script from a chat endpoint that takes 5–20 s to answer, then a
    short 320 px render spoken by eSpeak NG, all running at once; the clients spread evenly over them."""
    limits = httpx.Limits(max_connections=args.clients + 50, max_keepalive_connections=args.clients + 50)
    body = {
        "brief": {"topic": "Fan-out"},
        "plan": {"targetDurationSeconds": 10},
        "render": {"width": 320},
        "voice": {"engine": "espeak"},
        "providers": {"script": "busy-llm"},
    }
    prefect_received: dict[float, float] = {}
    listening = asyncio.create_task(received_times(prefect_received))
    async with httpx.AsyncClient(timeout=httpx.Timeout(900, read=120), limits=limits) as client:
        # One batch: fifty single submits at once would meet the write deadline's 503 on this machine.
        batch = await client.post(f"{api.url}/api/jobs/batch", json={"jobs": [body] * args.jobs})
        batch.raise_for_status()
        jobs = batch.json()["jobIds"]
        connected = time.time()
        streams = [
            asyncio.create_task(read_stream(client, f"{api.url}/api/jobs/{jobs[n % args.jobs]}/events"))
            for n in range(args.clients)
        ]
        samples: list[tuple[float, int, int, float]] = []
        while not all(stream.done() for stream in streams):
            stats = (await client.get(f"{api.url}/api/events/stats")).json()
            listed = await client.get(f"{api.url}/api/jobs", params={"status": "running", "limit": 1})
            running = listed.json()["total"]
            samples.append((time.monotonic(), stats["prefectRequests"], running, rss_mb(api.process.pid)))
            await asyncio.sleep(1)
        received = [stream.result() for stream in streams]
        replays = {job_id: await read_stream(client, f"{api.url}/api/jobs/{job_id}/events") for job_id in jobs}
    complete = sum(durable(events) == durable(replays[jobs[n % args.jobs]]) for n, events in enumerate(received))
    busy = [sample for sample in samples if sample[2] >= args.jobs * 0.8]
    window = busy if len(busy) >= 2 else samples
    rate = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])
    whole = (samples[-1][1] - samples[0][1]) / (samples[-1][0] - samples[0][0])
    # News only: a state change after the client's stream opened (its first event came), not its replay.
    news = [
        (timestamp(event), event["at"])
        for events in received
        for event in events[1:]
        if event["event"] in STATE_EVENTS and timestamp(event) > events[0]["at"]
    ]
    delays = [read_at - state_at for state_at, read_at in news]
    listening.cancel()
    opened = [events[0]["at"] - connected for events in received]
    print(f"{args.clients} clients over {args.jobs} jobs (worker limit {args.jobs}; chat answers in 5-20 s, 320 px)")
    print(f"clients that got every state change and log line: {complete} / {args.clients}")
    print(f"events per client: median {statistics.median(len(events) for events in received):.0f}")
    print(
        f"poll loop's Prefect requests per second: {rate:.2f} while ≥ {args.jobs * 0.8:.0f} jobs ran "
        f"(over {window[-1][0] - window[0][0]:.0f} s; most at once: {max(s[2] for s in samples)}), "
        f"{whole:.2f} over the whole run ({samples[-1][0] - samples[0][0]:.0f} s)"
    )
    print(f"API memory: peak {max(s[3] for s in samples):.0f} MB")
    print(f"streams opened (request → first event): p50 {statistics.median(opened):.1f} s, max {max(opened):.1f} s")
    print(
        f"state change → client, after its stream opened: p50 {1000 * statistics.median(delays):.0f} ms, "
        f"p99 {1000 * percentile(delays, 0.99):.0f} ms, max {1000 * max(delays):.0f} ms (n={len(delays)})"
    )
    where_the_time_went(news, prefect_received)


async def eta(api: Any, args: argparse.Namespace) -> None:
    random.seed(4)
    shapes = [(random.choice([10, 20, 40, 60, 90, 120]), random.choice([640, 1280, 1920])) for _ in range(args.jobs)]
    errors: dict[int, list[float]] = {25: [], 50: []}
    async with httpx.AsyncClient(timeout=httpx.Timeout(600, read=120)) as client:
        for seconds, width in [(10, 640), (30, 1280), (60, 1920)]:
            warm_up = await submit(client, api, job_body(seconds, width))
            await read_stream(client, f"{api.url}/api/jobs/{warm_up}/events")
        await asyncio.sleep(2)
        print("video  width   25 %: eta / real     50 %: eta / real")
        for seconds, width in shapes:
            job_id = await submit(client, api, job_body(seconds, width))
            events = await read_stream(client, f"{api.url}/api/jobs/{job_id}/events")
            end = next(
                timestamp(event)
                for event in events
                if event["event"] == "job-status" and event["data"]["status"] == "completed"
            )
            row = f"{seconds:4d} s {width:6d}"
            for mark in errors:
                at = next(e for e in events if e["data"].get("percent", 0) >= mark and e["data"].get("etaSeconds"))
                real = end - timestamp(at)
                errors[mark].append(abs(at["data"]["etaSeconds"] - real) / real)
                row += f"   {at['data']['etaSeconds']:6.1f} / {real:6.1f} s"
            print(row)
    for mark, values in errors.items():
        print(f"mean absolute percentage error at {mark} %: {100 * statistics.mean(values):.0f} %")
    # The first round has no history of jobs that waited for a slot; the next ones learn from those before.
    learnt: dict[str, list[bool]] = {}
    for round_ in range(1, args.rounds + 1):
        print(f"queued round {round_}")
        inside = await queued_eta(api, shapes)
        for label, found in inside.items():
            learnt.setdefault(label, []).extend(found if round_ > 1 else [])
    if args.rounds > 2:
        print(f"rounds 2 to {args.rounds} together: real time inside the band", end="")
        print(", ".join(f" {label} {sum(found)} of {len(found)}" for label, found in learnt.items()))


async def queued_eta(api: Any, shapes: list[tuple[int, int]]) -> dict[str, list[bool]]:
    """The shapes submitted at once: each job's ETA from its body at submit, then from its stream (as a client
    watching it sees it) when it passes 25 % and 50 %; each against the time the job really took to end."""
    submitted: dict[str, tuple[float, dict[str, Any]]] = {}
    async with httpx.AsyncClient(timeout=httpx.Timeout(600, read=120)) as client:
        for seconds, width in shapes:
            job_id = await submit(client, api, job_body(seconds, width, "Queued bench"))
            submitted[job_id] = (time.time(), (await client.get(f"{api.url}/api/jobs/{job_id}")).json())
        streams = await asyncio.gather(
            *(read_stream(client, f"{api.url}/api/jobs/{job_id}/events") for job_id in submitted)
        )
        ended = {job_id: (await client.get(f"{api.url}/api/jobs/{job_id}")).json() for job_id in submitted}
    errors: dict[str, list[float]] = {"at submit": [], "at 25 %": [], "at 50 %": []}
    inside: dict[str, list[bool]] = {label: [] for label in errors}
    print("place  " + "".join(f"{label:>28}" for label in errors) + "   (eta [band] / real, in seconds)")
    for (job_id, (at, body)), events in zip(submitted.items(), streams, strict=True):
        end = datetime.fromisoformat(ended[job_id]["completedAt"]).timestamp()
        readings = [("at submit", at, body)]
        for mark in (25, 50):
            event = next(e for e in events if e["data"].get("percent", 0) >= mark and e["data"].get("etaSeconds"))
            readings.append((f"at {mark} %", timestamp(event), event["data"]))
        row = f"{body['queuePosition'] or 0:5d}  "
        for label, moment, data in readings:
            real = end - moment
            errors[label].append(abs(data["etaSeconds"] - real) / real)
            inside[label].append(data["etaLowSeconds"] <= real <= data["etaHighSeconds"])
            band = f"[{data['etaLowSeconds']:5.1f} {data['etaHighSeconds']:5.1f}]"
            row += f"{data['etaSeconds']:6.1f} {band} / {real:5.1f}"
        print(row)
    print(f"{len(shapes)} jobs queued at once on one worker slot")
    for label, values in errors.items():
        print(
            f"{label}: mean absolute percentage error {100 * statistics.mean(values):.0f} %,"
            f" real time inside the band for {sum(inside[label])} of {len(values)}"
        )
    # A job's place is right if exactly the jobs it named ahead of it started between its submit and its start.
    starts = {job_id: datetime.fromisoformat(body["startedAt"]).timestamp() for job_id, body in ended.items()}
    misplaced = []
    for job_id, (at, body) in submitted.items():
        if body["queuePosition"] is not None:
            ahead = sum(at < starts[other] < starts[job_id] for other in starts if other != job_id)
            misplaced.append(abs(body["queuePosition"] - (ahead + 1)))
    print(
        f"queuePosition at submit against the real start order: mean error {statistics.mean(misplaced):.2f} places"
        f" ({len(misplaced)} jobs queued when read)"
    )
    return inside


@contextmanager
def busy_chat_endpoint() -> Iterator[None]:
    """The `busy-llm` script block: a stand-in chat server that answers in 5 to 20 s, as a busy model does."""
    from blocks.script import ChatScriptWriter
    from tests.utils.chat import ChatStandIn

    server = ChatStandIn([], answer_seconds=(5.0, 20.0))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ChatScriptWriter(base_url=server.base_url, model="stand-in", timeout_seconds=60).save("busy-llm", overwrite=True)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["latency", "fanout", "eta"])
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2, help="eta: rounds of queued jobs")
    parser.add_argument("--settle", type=float, help="AURA_EVENTS_SETTLE_SECONDS for the API (default: its own)")
    parser.add_argument("--poll", type=float, help="AURA_EVENTS_POLL_SECONDS for the API (default: its own)")
    args = parser.parse_args()
    run = {"latency": latency, "fanout": fanout, "eta": eta}[args.what]
    args.jobs = args.jobs or {"latency": 8, "fanout": 50, "eta": 10}[args.what]
    limit = args.jobs if args.what == "fanout" else 1
    env = {"AURA_ETA_REFRESH_SECONDS": "1"}
    for name, value in (("AURA_EVENTS_SETTLE_SECONDS", args.settle), ("AURA_EVENTS_POLL_SECONDS", args.poll)):
        if value is not None:
            env[name] = str(value)
    chat = busy_chat_endpoint() if args.what == "fanout" else nullcontext()
    with service_stack(worker_limit=limit, **env) as api, chat:
        asyncio.run(run(api, args))


if __name__ == "__main__":
    main()
