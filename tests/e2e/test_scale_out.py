"""Scale-out: two Prefect replicas behind HAProxy on PostgreSQL and Redis, two workers, two API
processes, as docs/scale-out.md lays it out; how they provision Prefect, started together; and what
happens there when an API process, a Prefect replica, all of Prefect or a whole worker machine dies
(its job's webhook included), and when 200 jobs queue at once."""

import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import pytest

from api.readiness import AUTOMATIONS, WORKER_LOST_AUTOMATION
from api.supervisor.provisioning import DEFAULT_DOCUMENTS
from flows.contract.deployments import DEPLOYMENTS, VIDEO_DEPLOYMENT
from tests.utils.cluster import Cluster, cluster
from tests.utils.factories import wait_for
from tests.utils.receiver import receiver
from tests.utils.service import body, http, job, submit, wait_status
from tests.utils.sse import Received, durable, read_events

pytestmark = pytest.mark.slow
# Enough to fill both workers' two slots.
JOBS = 4
TINY = {"plan": {"targetDurationSeconds": 5}, "render": {"width": 320}}
# Long enough to be interrupted: some 10 s of work.
MEDIUM = {"plan": {"targetDurationSeconds": 60}, "render": {"width": 1280}}
RAN_ON = re.compile(r"attempt \d+ on worker (\S+),")


@pytest.fixture(scope="module")
def prefect_server() -> str:
    """Not the session's own Prefect (tests/e2e/conftest.py): this module brings its replicas, and an
    idle server would take a fifth of a core from the other test session for the module's minutes."""
    return ""


@dataclass(frozen=True)
class Unprovisioned:
    """What an API process alone answered before any worker had provisioned Prefect."""

    health: dict[str, Any]
    submit: httpx.Response


@pytest.fixture(scope="module")
def cluster_and_first_answers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Unprovisioned]]:
    with cluster(tmp_path_factory.mktemp("cluster"), workers=0, worker_limit=2, apis=1) as started:
        [alone] = started.apis
        seen = Unprovisioned(http.get(f"{alone.url}/health").json(), http.post(f"{alone.url}/api/jobs", json=body()))
        started.start_together(workers=2, limit=2, apis=1)
        yield started, seen


@pytest.fixture(scope="module")
def nodes(cluster_and_first_answers: tuple[Cluster, Unprovisioned]) -> Cluster:
    return cluster_and_first_answers[0]


def workers_that_ran(api: Any, job_id: str) -> list[str]:
    lines = http.get(f"{api.url}/api/jobs/{job_id}/logs").json()["logs"]
    return [match.group(1) for line in lines if (match := RAN_ON.search(line["message"]))]


def test_an_api_process_alone_named_what_was_missing_until_workers_provisioned_prefect(
    cluster_and_first_answers: tuple[Cluster, Unprovisioned],
) -> None:
    nodes, before = cluster_and_first_answers
    assert before.health["status"] == "degraded" and before.health["prefect"] is True
    assert f"deployment {VIDEO_DEPLOYMENT!r}" in before.health["missing"]
    assert "work pool 'video'" in before.health["missing"]
    assert f"automation {WORKER_LOST_AUTOMATION!r}" in before.health["missing"]
    assert before.submit.status_code == 503
    assert before.submit.headers["content-type"] == "application/problem+json"
    problem = before.submit.json()
    assert problem["code"] == "E503-NOT_DEPLOYED" and VIDEO_DEPLOYMENT in problem["detail"], problem
    assert "aura worker" in problem["detail"]
    for api in nodes.apis:
        wait_for(lambda api=api: http.get(f"{api.url}/health").json()["status"] == "ok", timeout=30, what="ok")
        assert http.get(f"{api.url}/health").json()["missing"] == []


def test_workers_and_api_processes_started_together_provisioned_prefect_once(nodes: Cluster) -> None:
    """The fixture starts both workers and the second API process at the same instant: all came up,
    and their racing provisioning left one of each thing, not two."""
    prefect = nodes.prefect_api_url
    automations = Counter(found["name"] for found in http.post(f"{prefect}/automations/filter", json={}).json())
    assert {name: automations[name] for name in AUTOMATIONS} == dict.fromkeys(AUTOMATIONS, 1)
    documents = http.post(f"{prefect}/block_documents/filter", json={}).json()
    assert Counter(found["name"] for found in documents) == dict.fromkeys(DEFAULT_DOCUMENTS, 1)
    deployments = http.post(f"{prefect}/deployments/filter", json={}).json()
    assert sorted(found["name"] for found in deployments) == sorted(name.split("/")[1] for name in DEPLOYMENTS)
    assert {found["name"]: len(found["schedules"]) for found in deployments if found["schedules"]} == {
        "cleanup-sweep": 1,
        "sweep-webhooks": 1,
    }
    queues = http.post(f"{prefect}/work_pools/video/queues/filter", json={}).json()
    assert sorted(queue["priority"] for queue in queues if queue["name"] != "default") == list(range(1, 11))


def prefect(nodes: Cluster, method: str, path: str, **kwargs: object) -> httpx.Response:
    answer = httpx.request(method, f"{nodes.prefect_api_url}{path}", timeout=30, **kwargs)  # type: ignore[arg-type]
    answer.raise_for_status()
    return answer


def automations(nodes: Cluster) -> list[dict]:
    return list(prefect(nodes, "POST", "/automations/filter", json={}).json())


def test_a_newer_worker_puts_back_what_its_version_declares_and_changes_nothing_else(nodes: Cluster) -> None:
    """An older version's deployment and automation (here: edited in Prefect) are updated in place,
    not duplicated; a document an operator edited is left alone."""
    [lost] = [found for found in automations(nodes) if found["name"] == WORKER_LOST_AUTOMATION]
    changed_trigger = lost["trigger"] | {"within": 999.0}
    prefect(
        nodes,
        "PUT",
        f"/automations/{lost['id']}",
        json={k: lost[k] for k in ("name", "description", "enabled", "actions")} | {"trigger": changed_trigger},
    )
    assert prefect(nodes, "GET", f"/automations/{lost['id']}").json()["trigger"]["within"] == 999.0
    video = prefect(nodes, "GET", f"/deployments/name/{VIDEO_DEPLOYMENT}").json()
    prefect(nodes, "PATCH", f"/deployments/{video['id']}", json={"description": "an older version", "tags": ["old"]})
    voice = prefect(nodes, "GET", "/block_types/slug/aura-espeak-voice/block_documents/name/default").json()
    prefect(
        nodes,
        "PATCH",
        f"/block_documents/{voice['id']}",
        json={"data": voice["data"] | {"voice": "en-gb"}, "merge_existing_data": True},
    )

    nodes.start_worker("node-newer", 1)
    nodes.stop_worker("node-newer")

    names = Counter(found["name"] for found in automations(nodes))
    assert {name: names[name] for name in AUTOMATIONS} == dict.fromkeys(AUTOMATIONS, 1)
    [restored] = [found for found in automations(nodes) if found["name"] == WORKER_LOST_AUTOMATION]
    assert restored["id"] == lost["id"] and restored["trigger"]["within"] == lost["trigger"]["within"]
    redeployed = prefect(nodes, "GET", f"/deployments/name/{VIDEO_DEPLOYMENT}").json()
    assert redeployed["id"] == video["id"]
    assert redeployed["description"] == video["description"] and redeployed["tags"] == video["tags"]
    kept = prefect(nodes, "GET", "/block_types/slug/aura-espeak-voice/block_documents/name/default").json()
    assert kept["data"]["voice"] == "en-gb"
    deployed = prefect(nodes, "POST", "/deployments/filter", json={}).json()
    assert sorted(found["name"] for found in deployed) == sorted(name.split("/")[1] for name in DEPLOYMENTS)


def test_jobs_through_either_api_complete_once_each_on_either_worker(nodes: Cluster) -> None:
    one, two = nodes.apis
    job_ids = [submit((one, two)[number % 2], f"Scaled bees {number}", shape=TINY) for number in range(JOBS)]
    for job_id in job_ids:
        done = wait_status(one, job_id, "completed", "failed", "cancelled", timeout=300)
        assert done["status"] == "completed" and done["attempt"] == 1, done
        assert wait_status(two, job_id, "completed") == done

    # Log lines reach Prefect in batches, possibly after the job ended. (Both workers may log
    # "submitting" for one run: Prefect lets one have it and aborts the other.)
    ran_on = {
        job_id: wait_for(partial(workers_that_ran, one, job_id), timeout=15, what="the placement log line")
        for job_id in job_ids
    }
    assert {job_id: workers for job_id, workers in ran_on.items() if len(workers) != 1} == {}
    per_worker = Counter(workers[0] for workers in ran_on.values())
    assert set(per_worker) == {"node-1", "node-2"}, per_worker
    listed = http.get(f"{two.url}/api/jobs", params={"limit": 200}).json()
    assert listed["total"] == JOBS and listed["stats"]["completed"] == JOBS


def test_streams_from_either_api_process_agree_event_for_event(nodes: Cluster) -> None:
    one, two = nodes.apis
    job_id = submit(one, "Streamed twice", shape=TINY)
    live = read_events(f"{one.url}/api/jobs/{job_id}/events")
    replayed_one = read_events(f"{one.url}/api/jobs/{job_id}/events")
    replayed_two = read_events(f"{two.url}/api/jobs/{job_id}/events")
    assert live[-1].event == "job-completed"
    assert durable(replayed_two) == durable(replayed_one) == durable(live)
    # Progress ticks are not kept: a process that watched the job live sent updates that a process replaying
    # it later never saw (Prefect keeps a stage's latest progress). What the later one sends, it sent too.
    assert set(ticks(replayed_two)) <= set(ticks(replayed_one)) and ticks(replayed_two)


def test_a_client_whose_api_process_is_killed_resumes_on_the_other_and_misses_nothing(nodes: Cluster) -> None:
    one, two = nodes.apis
    job_id = submit(one, "Killed mid-stream", shape=MEDIUM)
    before = read_events(f"{one.url}/api/jobs/{job_id}/events", until="step-progress")
    assert one.process is not None
    one.process.kill()
    one.process.wait()
    try:
        after = read_events(f"{two.url}/api/jobs/{job_id}/events", last_event_id=before[-1].id)
    finally:
        one.start()
    assert after[0].event == "job-status" and after[-1].event == "job-completed"
    whole = read_events(f"{two.url}/api/jobs/{job_id}/events")
    assert durable(before + after[1:]) == durable(whole)


def test_while_prefect_restarts_the_api_answers_503_then_recovers_and_the_job_ends_truthfully(nodes: Cluster) -> None:
    one, two = nodes.apis
    job_id = submit(one, "Through a Prefect restart", shape=MEDIUM)
    wait_status(one, job_id, "running")
    nodes.stop_prefect()
    try:

        def prefect_gone() -> bool:
            # Reads come from the API process's copy of the jobs until it is too old to trust (3 s).
            status = http.get(f"{two.url}/api/jobs/{job_id}").status_code
            assert status in (200, 503), status
            return status == 503

        wait_for(prefect_gone, timeout=10, interval=0.2, what="reads to find Prefect gone")
        for method, path in (
            ("GET", f"/api/jobs/{job_id}"),
            ("GET", "/api/jobs"),
            ("POST", "/api/jobs"),
            ("GET", f"/api/jobs/{job_id}/events"),
            ("GET", "/api/queue"),
        ):
            answer = http.request(method, two.url + path, json=body("Nobody home") if method == "POST" else None)
            assert answer.status_code == 503, (method, path, answer.status_code, answer.text)
            assert answer.json()["code"] == "E503-PREFECT_UNAVAILABLE"
            assert answer.headers["content-type"] == "application/problem+json"
        health = http.get(f"{one.url}/health").json()
        assert health["status"] == "degraded" and health["prefect"] is False
    finally:
        nodes.start_prefect()
    ended = wait_status(one, job_id, "completed", "failed", timeout=240)
    if ended["status"] == "failed":
        assert ended["error"]["code"] != "E500-INTERNAL" and ended["canResume"], ended
        assert http.post(f"{one.url}/api/jobs/{job_id}/retry").status_code == 202
        ended = wait_status(one, job_id, "completed", "failed", timeout=240)
    assert ended["status"] == "completed", ended
    assert http.get(f"{two.url}/health").json()["prefect"] is True
    assert read_events(f"{two.url}/api/jobs/{job_id}/events")[-1].event == "job-completed"


def test_jobs_and_streams_outlive_a_prefect_replica_killed_mid_render_then_the_other(nodes: Cluster) -> None:
    """kill -9 of either Prefect replica while jobs render and clients watch: each job completes once,
    each live stream equals its replay, and the API answers nothing worse than a 503 problem."""
    one, two = nodes.apis
    answers: list[tuple[str, int, str]] = []
    watching = threading.Event()

    def keep_reading(job_ids: list[str]) -> None:
        while not watching.is_set():
            for api in (one, two):
                for path in ("/api/jobs", *(f"/api/jobs/{job_id}" for job_id in job_ids)):
                    answer = http.get(api.url + path)
                    answers.append((path, answer.status_code, answer.headers.get("content-type", "")))
            time.sleep(0.2)

    streams: dict[str, list[Received]] = {}
    with ThreadPoolExecutor(8) as pool:
        job_ids: list[str] = []
        for replica in (0, 1):
            # Submitted through one API process, watched through the other.
            job_id = submit((one, two)[replica], f"Through replica {replica}", shape=MEDIUM)
            job_ids.append(job_id)
            streams[job_id] = []
            pool.submit(read_events, f"{(two, one)[replica].url}/api/jobs/{job_id}/events", received=streams[job_id])
            if replica == 0:
                pool.submit(keep_reading, job_ids)
            wait_status(one, job_id, "running", timeout=120)
            nodes.prefect.kill(replica)
            time.sleep(3)
            nodes.prefect.restart(replica)
        for job_id in job_ids:
            done = wait_status(two, job_id, "completed", "failed", "cancelled", timeout=300)
            assert done["status"] == "completed" and done["attempt"] == 1, done
        watching.set()

    for job_id in job_ids:
        workers = wait_for(partial(workers_that_ran, one, job_id), timeout=15, what="the placement log line")
        assert len(workers) == 1, (job_id, workers)
        live = streams[job_id]
        assert live and live[-1].event == "job-completed", (job_id, [event.event for event in live][-5:])
        assert durable(live) == durable(read_events(f"{two.url}/api/jobs/{job_id}/events")), job_id
    worse = [(path, status, kind) for path, status, kind in answers if status >= 500]
    assert all(status == 503 and kind == "application/problem+json" for _, status, kind in worse), worse
    assert len(answers) > 50 and Counter(status for _, status, _ in answers)[200] > 0


def test_a_worker_killed_mid_render_fails_its_job_as_lost_and_it_resumes_on_the_other(nodes: Cluster) -> None:
    """The job's webhook hears of both ends: job-failed, though the receiver is down until an API
    process has been restarted and the worker making the tries stopped, between two tries; then
    job-completed."""
    one, two = nodes.apis
    secret = http.post(f"{one.url}/api/webhooks/secret").json()["secret"]
    with receiver(*[500] * 1000) as hooks:
        webhook = {"url": hooks.url}
        answer = http.post(
            f"{one.url}/api/jobs", json=body("Lost with its machine", shape=MEDIUM) | {"webhook": webhook}
        )
        job_id = answer.json()["jobId"]
        wait_for(
            lambda: http.get(f"{one.url}/api/jobs/{job_id}").json()["stage"] == "render",
            timeout=120,
            interval=0.2,
            what="the render",
        )
        lost = wait_for(lambda: workers_that_ran(one, job_id), timeout=15, what="the placement log line")[0]
        nodes.kill_worker(lost)
        # A Prefect replica dies in the same window: the automation still fires, once.
        nodes.prefect.kill(1)
        survivor = next(name for name in nodes.workers if name != lost)
        # The lost machine's replacement, started while Prefect notices the loss.
        nodes.start_worker("node-3", 2)
        nodes.prefect.restart(1)

        failed = wait_status(one, job_id, "failed", "completed", timeout=150)
        assert failed["status"] == "failed" and failed["error"]["code"] == "E309-WORKER_LOST", failed
        assert failed["canResume"] and failed["lastCompletedStage"] == "visuals"
        assert lost_states(nodes, job_id) == 1
        wait_for(lambda: len(webhook_tries(two, job_id)) >= 2, timeout=60, what="two failed tries of job-failed")
        two.stop()
        nodes.stop_worker(survivor)
        hooks.answer_with()
        two.start()
        # A run the stopped worker left pending is queued again after AURA_PENDING_LOST_SECONDS (20 s here).
        [delivered] = wait_for(lambda: hooks.delivered("job-failed"), timeout=90, what="job-failed, delivered")
        assert delivered.verified(secret)["error"]["code"] == "E309-WORKER_LOST"
        tries = webhook_tries(two, job_id)
        assert [t["outcome"] for t in tries][-1] == "delivered" and {t["eventId"] for t in tries} == {
            delivered.payload["eventId"]
        }

        assert http.post(f"{one.url}/api/jobs/{job_id}/retry").status_code == 202
        events = read_events(f"{one.url}/api/jobs/{job_id}/events")
        assert events[-1].event == "job-completed"
        [completed] = wait_for(lambda: hooks.delivered("job-completed"), timeout=60, what="job-completed, delivered")
        assert completed.verified(secret)["attempt"] == 2
    reused = {
        event.data["step"]
        for event in events
        if event.event == "step-status" and event.data["status"] == "cached" and event.data["attempt"] == 2
    }
    assert reused == {"script", "voice", "visuals"}
    placements = wait_for(
        lambda: len(ran := workers_that_ran(one, job_id)) == 2 and ran,
        timeout=15,
        what="the second attempt's placement",
    )
    assert placements[0] == lost and placements[1] == "node-3"


def ticks(events: list[Received]) -> list[tuple[str, str, str]]:
    return [(event.id, event.data["step"], event.data["message"]) for event in events if event.event == "step-progress"]


def lost_states(nodes: Cluster, job_id: str) -> int:
    """How often the worker-lost automation set a state on the job's first attempt."""
    prefect = nodes.prefect_api_url
    filters = {"flow_runs": {"tags": {"all_": [f"aura-job:{job_id}"]}}, "sort": "EXPECTED_START_TIME_ASC"}
    first = http.post(f"{prefect}/flow_runs/filter", json=filters).json()[0]
    states = http.get(f"{prefect}/flow_run_states/", params={"flow_run_id": first["id"]}).json()
    return sum("worker lost" in (state["message"] or "") for state in states)


def webhook_tries(api: Any, job_id: str) -> list[dict[str, Any]]:
    return list(http.get(f"{api.url}/api/jobs/{job_id}/webhooks").json()["attempts"])


def test_a_change_made_through_one_api_process_shows_on_the_other_within_its_refresh(nodes: Cluster) -> None:
    one, two = nodes.apis
    nodes.pause_pool(True)
    try:
        job_id = submit(one, "Changed elsewhere", shape=TINY)
        assert job(two, job_id)["status"] == "queued"
        assert http.post(f"{one.url}/api/jobs/{job_id}/cancel").json()["status"] == "cancelled"
        assert job(one, job_id)["status"] == "cancelled" and listed(one)[job_id] == "cancelled"
        wait_for(
            lambda: job(two, job_id)["status"] == listed(two)[job_id] == "cancelled",
            timeout=10,
            interval=0.2,
            what="the other API process to read the cancel",
        )
        assert http.get(f"{one.url}/api/jobs").json()["stats"] == http.get(f"{two.url}/api/jobs").json()["stats"]
    finally:
        nodes.pause_pool(False)


def listed(api: Any) -> dict[str, str]:
    """Status by job id of the newest 200 jobs the process lists."""
    return {
        found["jobId"]: found["status"]
        for found in http.get(f"{api.url}/api/jobs", params={"limit": 200}).json()["jobs"]
    }


def test_two_hundred_queued_jobs_are_all_kept_and_start_in_priority_order(nodes: Cluster) -> None:
    one, two = nodes.apis
    jobs = [body(f"Queued {number}", priority=1 + (number * 7) % 10, shape=TINY) for number in range(200)]
    nodes.pause_pool(True)
    try:
        # A batch of 100 through each API process, at the same time.
        with ThreadPoolExecutor(2) as clients:
            answers = list(
                clients.map(
                    lambda half: http.post(f"{(one, two)[half].url}/api/jobs/batch", json={"jobs": jobs[half::2]}),
                    (0, 1),
                )
            )
        ids = [job_id for answer in answers for job_id in answer.json()["jobIds"]]
    finally:
        nodes.pause_pool(False)
    # Half went in through the other process: each lists them all after its next refresh.
    for api in (one, two):
        wait_for(lambda api=api: len(jobs_of(api, ids)) == 200, timeout=10, interval=0.5, what="all 200 jobs listed")
    slots = 2 * sum(worker.poll() is None for worker in nodes.workers.values())  # each worker runs two at once
    first = wait_for(
        lambda: len(started := [job for job in jobs_of(one, ids) if job["startedAt"]]) >= slots and started,
        timeout=120,
        interval=0.5,
        what="the first jobs to start",
    )
    # The rest need not run: this is the module's last test, and the cluster goes with it.
    nodes.pause_pool(True)
    assert {job["priority"] for job in first} == {1}, sorted(job["priority"] for job in first)
    for started_job in first:
        placements = wait_for(partial(workers_that_ran, one, started_job["jobId"]), timeout=15, what="the placement")
        assert len(placements) == 1, placements


def jobs_of(api: Any, ids: list[str]) -> list[dict[str, Any]]:
    wanted = set(ids)
    found: list[dict[str, Any]] = []
    for offset in range(0, 400, 200):
        page = http.get(f"{api.url}/api/jobs", params={"limit": 200, "offset": offset}).json()["jobs"]
        found += [job for job in page if job["jobId"] in wanted]
    return found
