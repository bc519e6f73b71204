"""Bad input at scale: schemathesis on every route of the service's own OpenAPI document, and fuzzed
`Last-Event-ID` values and artifact names. No answer may be a 5xx; every error is a valid problem;
and every answer is one the document declares: its status, its content type and its body's schema."""

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.utils.service import SHORT, http, pool_paused, submit, wait_status
from tests.utils.stack import ApiProcess

pytestmark = pytest.mark.slow
FUZZ_KEY = "fuzz-key-0123456789abcdef"
AS_FUZZ = {"Authorization": f"Bearer {FUZZ_KEY}"}
# Per operation and generation mode; operations without parameters stop after a few.
EXAMPLES = 30
# Each call makes a new Prefect block (0.3 s, a third of the whole fuzz at 30): a few show the route answers.
FEWER = {"POST /api/webhooks/secret": 5}
CASES_WANTED = 1100
PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance", "correlationId", "code"}
FAST = settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
# Schemathesis's checks on every generated request: no 5xx, and the answer is what the document says.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed(service: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    """An API process with keys (the fuzzer is a plain owner) and a small queue cap."""
    log = tmp_path_factory.mktemp("fuzz") / "api.log"
    with ApiProcess(log, AURA_API_KEYS=f"{FUZZ_KEY}:fuzz", AURA_MAX_QUEUED_PER_OWNER="20") as api:
        yield api


@pytest.fixture(scope="module")
def finished_job(fuzzed: ApiProcess) -> str:
    job_id = submit(fuzzed, "Fuzzed bees", shape=SHORT, **AS_FUZZ)
    wait_status(fuzzed, job_id, "completed", headers=AS_FUZZ)
    return job_id


@pytest.fixture
def paused_pool(fuzzed: ApiProcess) -> Iterator[None]:
    """No worker takes the jobs the fuzzer creates; they are cancelled afterwards."""
    with pool_paused():
        try:
            yield
        finally:
            queued = http.get(f"{fuzzed.url}/api/jobs", params={"status": "queued", "limit": 200}, headers=AS_FUZZ)
            for job in queued.json()["jobs"]:
                http.post(f"{fuzzed.url}/api/jobs/{job['jobId']}/cancel", headers=AS_FUZZ)


def check_answer(status: int, content_type: str, text: str, what: str) -> None:
    assert status < 500, f"{what}: {status} {text[:500]}"
    if status >= 400:
        assert content_type == "application/problem+json", f"{what}: {status} as {content_type}"
        problem = json.loads(text)
        assert PROBLEM_FIELDS <= problem.keys() and problem["status"] == status, f"{what}: {problem}"


def test_generated_requests_on_every_route_get_documented_answers_and_every_error_is_a_problem(
    fuzzed: ApiProcess, paused_pool: None
) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 17
    cases: Counter[str] = Counter()
    answers: Counter[int] = Counter()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(FAST, max_examples=FEWER.get(operation.label, EXAMPLES))
            @given(case=operation.as_strategy(mode))
            def call(case: Any, mode: GenerationMode, label: str) -> None:
                response = case.call(base_url=fuzzed.url, headers=AS_FUZZ, timeout=30)
                what = f"{case.method} {case.formatted_path} ({mode})"
                content_type = (response.headers.get("content-type") or [""])[0]  # schemathesis lists each header
                check_answer(response.status_code, content_type, response.text, what)
                case.validate_response(response, checks=CHECKS)
                cases[label] += 1
                answers[response.status_code] += 1

            try:
                call(mode=mode, label=operation.label)  # arguments, not closures over the loop variables (B023)
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE  # a route without inputs has no invalid ones
    print(f"{sum(cases.values())} generated requests over {len(cases)} operations, answered {sorted(answers.items())}")
    assert sum(cases.values()) >= CASES_WANTED, cases


# Printable ASCII without surrounding blanks: what an HTTP client can send as a header value at all.
HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=110).map(str.strip)


@FAST
@given(cursor=st.one_of(HEADER_TEXT, st.from_regex(r"\A-?[0-9]{1,22}-[0-9]{1,6}\Z")))
def test_any_last_event_id_gets_a_stream_a_204_or_a_problem(fuzzed: ApiProcess, finished_job: str, cursor: str) -> None:
    url = f"{fuzzed.url}/api/jobs/{finished_job}/events"
    # The job has ended, so a stream that opens runs to its terminal event and closes.
    answer = http.get(url, headers={**AS_FUZZ, "Last-Event-ID": cursor})
    check_answer(answer.status_code, answer.headers.get("content-type", ""), answer.text, repr(cursor))
    assert answer.status_code in (200, 204, 422), cursor
    if answer.status_code == 200:
        names = [line.removeprefix("event: ") for line in answer.text.splitlines() if line.startswith("event: ")]
        assert names[0] == "job-status" and names[-1] == "job-completed", (cursor, names)


@FAST
@given(name=st.text(min_size=1, max_size=80))
def test_any_artifact_name_gets_the_file_or_a_404(fuzzed: ApiProcess, finished_job: str, name: str) -> None:
    # A name ending in "/" is redirected to the one without, as every route is: follow it.
    answer = http.get(
        f"{fuzzed.url}/api/jobs/{finished_job}/artifacts/{quote(name, safe='')}", headers=AS_FUZZ, follow_redirects=True
    )
    check_answer(answer.status_code, answer.headers.get("content-type", ""), answer.text, repr(name))
    assert answer.status_code in (200, 404), name
    if answer.status_code == 200:
        assert name in {"video.mp4", "video.srt", "thumbnail.jpg", "manifest.json", "ffmpeg.log"}
