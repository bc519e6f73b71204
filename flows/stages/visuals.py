from flows.contract.request import VideoRequest
from flows.media.motion import pan_room
from flows.models import Script, Slides
from flows.providers.slides import draw_slides
from flows.runtime.reporting import stage_report
from flows.stages import stage_task
from flows.stages.brief import Choices
from flows.storage.publish import move_into


@stage_task("visuals", cache=True)
def draw_visuals(request: VideoRequest, choices: Choices, script: Script) -> Slides:
    """Draw one slide per scene at the output size."""
    with stage_report("visuals") as report:
        width, height = request.frame_size()
        slides, missing = draw_slides(
            script,
            width=width,
            height=height,
            spare=pan_room(width, height) if request.render.motion == "subtle" else (0, 0),
            style=choices.style,
            folder=report.folders.scratch("visuals"),
            progress=report.progress,
        )
        if missing:
            report.log.warning(
                "visuals: the slide font has no glyph for %s; they show as boxes",
                " ".join(sorted(missing)),
            )
        # Drawn in scratch, kept in results once all are drawn.
        images = move_into(slides.images, report.folders.stage("visuals"))
        return slides.model_copy(update={"images": images})
