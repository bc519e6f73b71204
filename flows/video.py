"""The `generate-video` flow: one flow run per video attempt, one task per stage."""

from typing import Any

from prefect import State, flow
from prefect.futures import PrefectFuture, wait
from prefect.states import Cancelled

from flows.contract.errors import JobCancelled
from flows.contract.request import VideoRequest
from flows.models import Published
from flows.runtime.lifecycle import job_attempt
from flows.stages.brief import check_brief
from flows.stages.finalize import finalize
from flows.stages.render import render
from flows.stages.script import write_script
from flows.stages.visuals import draw_visuals
from flows.stages.voice import speak_narration


@flow(name="generate-video", flow_run_name="{job_id}", log_prints=False)
def generate_video(
    request: VideoRequest, job_id: str, attempt: int = 1, correlation_id: str | None = None
) -> Published | State:
    """Brief → script → voice and visuals side by side → render → finalize; a cancel ends the run Cancelled."""
    with job_attempt(job_id, request):
        try:
            choices = check_brief(request)
            script = write_script(request, choices)
            # Each needs only the script: two task runs at once, each with its own retries and cache. Both
            # end before either result is read, so a failure of one never leaves the other running.
            speaking = speak_narration.submit(request, choices, script)
            drawing = draw_visuals.submit(request, choices, script)
            both: list[PrefectFuture[Any]] = [speaking, drawing]
            wait(both)
            narration = speaking.result()
            rendered = render(request, narration, drawing.result())
            return finalize(request, script, narration, rendered, attempt)
        except JobCancelled as exc:
            return Cancelled(message=exc.message)
