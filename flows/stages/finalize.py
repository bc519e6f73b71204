import json
import shutil

from flows.contract.request import VideoRequest
from flows.models import Narration, Published, Rendered, Script
from flows.runtime.reporting import recorded_durations, stage_report
from flows.stages import stage_task
from flows.storage.manifest import build_manifest
from flows.storage.publish import publish


@stage_task("finalize")
def finalize(
    request: VideoRequest, script: Script, narration: Narration, rendered: Rendered, attempt: int
) -> Published:
    """Publish the outputs and the manifest into jobs/<jobId>/, then drop the stage results."""
    # Not recorded: the results folder that holds the timings is removed below.
    with stage_report("finalize", record=False) as report:
        folders = report.folders
        files = {"video.mp4": rendered.video, "thumbnail.jpg": rendered.thumbnail, "ffmpeg.log": rendered.log}
        if rendered.subtitles:
            files["video.srt"] = rendered.subtitles
        report.progress(0, 2, "publishing outputs")
        sizes = publish(files, folders.outputs)
        durations = recorded_durations(folders)
        manifest = build_manifest(
            job_id=folders.job_id,
            attempt=attempt,
            request=request,
            script=script,
            narration=narration,
            rendered=rendered,
            durations=durations,
            outputs=sizes,
        )
        written = folders.scratch("finalize") / "manifest.json"
        written.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        # The manifest goes last: its presence means every other output is complete.
        sizes |= publish({"manifest.json": written}, folders.outputs)
        shutil.rmtree(folders.results, ignore_errors=True)
        report.progress(2, 2, f"published to {folders.outputs}")
        return Published(folder=folders.outputs, files=sizes)
