"""A request's script spoken and paused to its target as the voice stage does it, with no Prefect: for tests
and benches."""

from pathlib import Path

from flows.contract.request import VideoRequest, VoiceEngine
from flows.models import Narration, Script
from flows.providers.narrator import narrate, speaker
from flows.providers.piper import Tuning


def narrated(request: VideoRequest, script: Script, out: Path, engine: VoiceEngine = "espeak") -> Narration:
    """`script` spoken in English at the request's rate and pacing, lasting about its target, into `out`."""
    voice = speaker(engine, tuning=Tuning(), voice="en", rate=request.voice.rate, pitch=1.0, threads=2, warn=print)
    return narrate(
        script,
        speaker=voice,
        pacing=request.plan.pacing,
        target_seconds=request.plan.target_duration_seconds,
        out=out,
        progress=lambda *_: None,
    )
