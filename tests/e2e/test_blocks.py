import json
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client

from blocks import EspeakVoice
from flows.contract.layout import job_folders
from flows.video import generate_video
from tests.utils.factories import make_request, new_job_id

PREFECT = str(Path(sys.executable).with_name("prefect"))


def test_block_types_register_with_the_prefect_cli() -> None:
    subprocess.run([PREFECT, "block", "register", "-m", "blocks"], check=True, capture_output=True, timeout=120)
    with get_client(sync_client=True) as client:
        slugs = {block_type.slug for block_type in client.read_block_types()}
    assert {"aura-rule-script-writer", "aura-chat-script-writer", "aura-espeak-voice", "aura-slide-visuals"} <= slugs


@pytest.mark.slow
def test_a_voice_block_named_in_the_request_sets_the_voice() -> None:
    EspeakVoice(voice="en-gb").save("british", overwrite=True)
    job_id = new_job_id()
    state = generate_video(
        make_request(providers={"voice": "aura-espeak-voice/british"}, plan={"targetDurationSeconds": 6}),
        job_id=job_id,
        return_state=True,
    )
    assert state.is_completed(), state.message
    manifest = json.loads((job_folders(job_id).outputs / "manifest.json").read_text())
    assert manifest["narration"]["voice"] == "en-gb"


@pytest.mark.slow
def test_the_service_saves_default_documents_that_jobs_can_name(service: object) -> None:
    from blocks import RuleScriptWriter, SlideVisuals

    assert RuleScriptWriter.load("offline") and SlideVisuals.load("slides")
    assert EspeakVoice.load("default").voice == "en"
