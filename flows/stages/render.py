from flows.contract.request import VideoRequest
from flows.media.render import render_video
from flows.models import Narration, Rendered, Slides
from flows.runtime.reporting import stage_report
from flows.settings import settings
from flows.stages import stage_task


@stage_task("render", cache=True)
def render(request: VideoRequest, narration: Narration, slides: Slides) -> Rendered:
    """Encode the video with FFmpeg (panned slides, crossfades); write subtitles and the thumbnail."""
    with stage_report("render") as report:
        return render_video(
            narration,
            slides,
            fps=request.render.fps,
            subtitles=request.render.subtitles,
            fade=request.render.transition == "fade",
            preset=settings.render_preset,
            work=report.folders.scratch("render"),
            out=report.folders.stage("render"),
            stall_seconds=settings.render_stall_seconds,
            cancelled=report.cancelled,
            progress=report.progress,
        )
