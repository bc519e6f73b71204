"""Stage retries, driven through the chat script provider against a local stand-in.

The stand-in plays an OpenAI-compatible server (a paid API cannot run here);
the provider, the task, its retry policy and Prefect are the real ones.
"""

from itertools import pairwise

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId

from blocks import ChatScriptWriter
from flows.video import generate_video
from tests.utils.chat import ChatStandIn
from tests.utils.factories import make_request, new_job_id, wait_for

pytestmark = pytest.mark.slow


def run_with_writer(base_url: str, name: str) -> object:
    ChatScriptWriter(base_url=base_url, model="stand-in", timeout_seconds=5).save(name, overwrite=True)
    return generate_video(
        make_request(providers={"script": name}, plan={"targetDurationSeconds": 8}),
        job_id=new_job_id(),
        return_state=True,
    )


def script_task_run(state: object) -> object:
    with get_client(sync_client=True) as client:

        def find() -> object:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
            )
            done = [run for run in runs if run.name == "script" and run.state.is_final()]
            return done[0] if done else None

        return wait_for(find, timeout=20, what="the script task run")


@pytest.mark.parametrize("chat_server", [[503, 503]], indirect=True)
def test_transient_errors_are_retried_with_growing_delays_then_the_job_completes(chat_server: ChatStandIn) -> None:
    state = run_with_writer(chat_server.base_url, "flaky-writer")
    assert state.is_completed(), state.message
    assert len(chat_server.arrivals) == 3
    gaps = [later - earlier for earlier, later in pairwise(chat_server.arrivals)]
    # Configured in conftest: base 0.3 s doubling, jitter 10 %.
    assert 0.25 <= gaps[0] and 0.5 <= gaps[1]
    run = script_task_run(state)
    assert run.run_count == 3
    assert run.state.is_completed()


@pytest.mark.parametrize("chat_server", [[401]], indirect=True)
def test_a_rejected_key_fails_after_one_attempt_with_its_code(chat_server: ChatStandIn) -> None:
    state = run_with_writer(chat_server.base_url, "rejected-writer")
    assert state.is_failed()
    assert "ProviderRejected" in state.message and "refused the request (401)" in state.message
    assert len(chat_server.arrivals) == 1
    assert script_task_run(state).run_count == 1


def test_an_unreachable_chat_endpoint_falls_back_to_the_offline_writer_with_a_warning() -> None:
    state = run_with_writer("http://127.0.0.1:9/v1", "offline-writer")
    assert state.is_completed(), state.message
    with get_client(sync_client=True) as client:

        def warning() -> list:
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id]))
            )
            return [log for log in logs if "using the offline writer" in log.message]

        found = wait_for(warning, timeout=10, what="the fallback warning in the run's logs")
    assert found[0].level == 30
