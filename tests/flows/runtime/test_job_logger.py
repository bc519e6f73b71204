"""Every line a job logs names the job and a correlation id, however the run was started."""

import logging
import uuid
from types import SimpleNamespace

import pytest

from flows.runtime import reporting


@pytest.mark.parametrize(
    ("given", "expected"),
    [("req-7", "req-7"), (None, "run-{flow_run_id}")],
    ids=["from the API or the CLI", "a run started by hand in the Prefect UI"],
)
def test_a_job_log_line_names_the_job_and_a_correlation_id(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, given: str | None, expected: str
) -> None:
    flow_run_id = uuid.uuid4()
    parameters = {"job_id": "job-1", "correlation_id": given}
    monkeypatch.setattr(
        reporting, "runtime", SimpleNamespace(flow_run=SimpleNamespace(parameters=parameters, id=flow_run_id))
    )
    monkeypatch.setattr(reporting, "get_run_logger", lambda: logging.getLogger("aura.test.job"))
    with caplog.at_level(logging.INFO, logger="aura.test.job"):
        reporting.job_logger().info("brief started")
    assert caplog.messages == [f"job=job-1 correlation={expected.format(flow_run_id=flow_run_id)} | brief started"]
