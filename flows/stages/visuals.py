from flows.contract.request import VideoRequest
from flows.models import Script, Slides
from flows.providers.slides import draw_slides
from flows.runtime.reporting import stage_report
from flows.stages import stage_task
from flows.stages.brief import Choices


@stage_task("visuals", cache=True)
def draw_visuals(request: VideoRequest, choices: Choices, script: Script) -> Slides:
    """Draw one slide per scene at the output size."""
    with stage_report("visuals") as report:
        width, height = request.frame_size()
        slides, missing = draw_slides(
            script,
            width=width,
            height=height,
            style=choices.style,
            folder=report.folders.stage("visuals"),
            progress=report.progress,
        )
        if missing:
            report.log.warning(
                "visuals: the slide font has no glyph for %s; they show as boxes",
                " ".join(sorted(missing)),
            )
        return slides
