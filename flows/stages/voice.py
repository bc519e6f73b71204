from flows.contract.request import VideoRequest
from flows.models import Narration, Script
from flows.providers.narrator import narrate, speaker
from flows.runtime.reporting import stage_report
from flows.settings import settings
from flows.stages import stage_task
from flows.stages.brief import Choices
from flows.storage.publish import move_into


@stage_task("voice", cache=True)
def speak_narration(request: VideoRequest, choices: Choices, script: Script) -> Narration:
    """Speak every sentence with the chosen narrator (Piper or eSpeak NG) into one WAV file."""
    with stage_report("voice") as report:
        narrator = speaker(
            choices.engine,
            tuning=choices.piper,
            voice=choices.voice,
            rate=request.voice.rate,
            pitch=request.voice.pitch,
            threads=settings.voice_threads,
            warn=report.log.warning,
        )
        narration = narrate(
            script,
            speaker=narrator,
            pacing=request.plan.pacing,
            target_seconds=request.plan.target_duration_seconds,
            out=report.folders.scratch("voice") / "narration.wav",
            progress=report.progress,
        )
        report.log.info(
            "narration: %.2f s (%g s asked), %s voice %s",
            narration.seconds,
            request.plan.target_duration_seconds,
            narration.engine,
            narration.voice,
        )
        # Made in scratch, kept in results once whole: a cancel leaves no partial WAV to resume from.
        [audio] = move_into([narration.audio], report.folders.stage("voice"))
        return narration.model_copy(update={"audio": audio})
