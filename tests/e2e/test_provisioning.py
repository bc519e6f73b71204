"""Provisioning as an operator meets it: `aura api` on a Prefect nobody has provisioned says what is
missing, a worker provisions it, and a newer version of the project puts back what it declares
differently. (Replicas starting together are the scale-out cluster's own start: test_scale_out.)"""

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.readiness import AUTOMATIONS, WORKER_LOST_AUTOMATION
from flows.contract.deployments import DEPLOYMENTS, VIDEO_DEPLOYMENT
from tests.utils.cluster import Cluster, cluster
from tests.utils.factories import wait_for
from tests.utils.service import body, http

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One Prefect on a new PostgreSQL database, one `aura api`, no worker yet."""
    with cluster(tmp_path_factory.mktemp("bare"), workers=0, worker_limit=1, apis=1, prefect_replicas=1) as started:
        yield started


def prefect(nodes: Cluster, method: str, path: str, **kwargs: object) -> httpx.Response:
    answer = httpx.request(method, f"{nodes.prefect_api_url}{path}", timeout=30, **kwargs)  # type: ignore[arg-type]
    answer.raise_for_status()
    return answer


def automations(nodes: Cluster) -> list[dict]:
    return list(prefect(nodes, "POST", "/automations/filter", json={}).json())


def test_an_api_alone_names_what_is_missing_until_a_worker_provisions_prefect(bare: Cluster, tmp_path: Path) -> None:
    [api] = bare.apis
    health = http.get(f"{api.url}/health").json()
    assert health["status"] == "degraded" and health["prefect"] is True
    assert f"deployment {VIDEO_DEPLOYMENT!r}" in health["missing"]
    assert "work pool 'video'" in health["missing"]
    assert f"automation {WORKER_LOST_AUTOMATION!r}" in health["missing"]

    refused = http.post(f"{api.url}/api/jobs", json=body("Too early"))
    assert refused.status_code == 503 and refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["code"] == "E503-NOT_DEPLOYED" and VIDEO_DEPLOYMENT in problem["detail"], problem
    assert "aura worker" in problem["detail"]

    bare.start_worker("node-1", 1)
    wait_for(lambda: http.get(f"{api.url}/health").json()["missing"] == [], timeout=30, what="nothing missing")
    assert http.get(f"{api.url}/health").json()["status"] == "ok"
    accepted = http.post(f"{api.url}/api/jobs", json=body("Just in time"))
    assert accepted.status_code == 202, accepted.text


def test_a_newer_worker_puts_back_what_its_version_declares_and_changes_nothing_else(bare: Cluster) -> None:
    """An older version's deployment and automation (here: edited in Prefect) are updated in place,
    not duplicated; a document an operator edited is left alone."""
    [lost] = [found for found in automations(bare) if found["name"] == WORKER_LOST_AUTOMATION]
    changed_trigger = lost["trigger"] | {"within": 999.0}
    prefect(
        bare,
        "PUT",
        f"/automations/{lost['id']}",
        json={k: lost[k] for k in ("name", "description", "enabled", "actions")} | {"trigger": changed_trigger},
    )
    assert prefect(bare, "GET", f"/automations/{lost['id']}").json()["trigger"]["within"] == 999.0
    video = prefect(bare, "GET", f"/deployments/name/{VIDEO_DEPLOYMENT}").json()
    prefect(bare, "PATCH", f"/deployments/{video['id']}", json={"description": "an older version", "tags": ["old"]})
    voice = prefect(bare, "GET", "/block_types/slug/aura-espeak-voice/block_documents/name/default").json()
    prefect(
        bare,
        "PATCH",
        f"/block_documents/{voice['id']}",
        json={"data": voice["data"] | {"voice": "en-gb"}, "merge_existing_data": True},
    )

    bare.start_worker("node-2", 1)

    names = Counter(found["name"] for found in automations(bare))
    assert {name: names[name] for name in AUTOMATIONS} == dict.fromkeys(AUTOMATIONS, 1)
    [restored] = [found for found in automations(bare) if found["name"] == WORKER_LOST_AUTOMATION]
    assert restored["id"] == lost["id"] and restored["trigger"]["within"] == lost["trigger"]["within"]
    redeployed = prefect(bare, "GET", f"/deployments/name/{VIDEO_DEPLOYMENT}").json()
    assert redeployed["id"] == video["id"]
    assert redeployed["description"] == video["description"] and redeployed["tags"] == video["tags"]
    kept = prefect(bare, "GET", "/block_types/slug/aura-espeak-voice/block_documents/name/default").json()
    assert kept["data"]["voice"] == "en-gb"
    deployed = prefect(bare, "POST", "/deployments/filter", json={}).json()
    assert sorted(found["name"] for found in deployed) == sorted(name.split("/")[1] for name in DEPLOYMENTS)
