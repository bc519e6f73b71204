"""Pipeline benchmark: one 60 s 1920x1080 30 fps video, end to end, and the render against bare FFmpeg.

Run by hand (`make bench`) with a Prefect server already up (PREFECT_API_URL,
or the embedded one: `aura server start`). Prints figures; asserts nothing.

    end to end      flow start to published files, per-stage seconds (from the manifest)
    peak memory     max RSS of this process, which ran the flow
    render vs bare  our render stage against the plainest FFmpeg command for the
                    same stills and audio, alternated, median of --repeats runs
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.supervisor.prefect_server import ensure_server  # noqa: E402

REQUEST = {
    "brief": {"topic": "Why honeybees matter", "audience": "curious adults", "aspect": "16:9"},
    "plan": {"targetDurationSeconds": 60},
    "render": {"width": 1920, "height": 1080, "fps": 30, "subtitles": "sidecar"},
}


def end_to_end() -> tuple[float, dict]:
    from flows.contract.layout import job_folders
    from flows.contract.request import VideoRequest
    from flows.video import generate_video

    job_id = str(uuid.uuid4())
    started = time.perf_counter()
    state = generate_video(VideoRequest.model_validate(REQUEST), job_id=job_id, return_state=True)
    wall = time.perf_counter() - started
    if not state.is_completed():
        raise SystemExit(f"the job did not complete: {state.message}")
    return wall, json.loads((job_folders(job_id).outputs / "manifest.json").read_text())


def render_against_bare(repeats: int) -> tuple[list[float], list[float], float]:
    from flows.contract.request import VideoRequest
    from flows.media.ffmpeg import ffmpeg_exe
    from flows.media.render import _ffconcat, _timeline, render_video
    from flows.providers.narrator import narrate
    from flows.providers.script_rules import write_script
    from flows.providers.slides import draw_slides

    request = VideoRequest.model_validate(REQUEST)
    work = Path(tempfile.mkdtemp(prefix="aura-bench-"))
    script = write_script(request)
    narration = narrate(
        script, voice="en", rate=1, pitch=1, pacing="normal", out=work / "n.wav", progress=lambda *_: None
    )
    slides, _ = draw_slides(script, width=1920, height=1080, style="modern", folder=work, progress=lambda *_: None)
    playlist = work / "bare.ffconcat"
    playlist.write_text(_ffconcat(_timeline(narration, slides, burned=False, work=work)))
    # fmt: off
    bare = [
        ffmpeg_exe(), "-v", "error", "-y",
        "-f", "concat", "-safe", "0", "-i", str(playlist),
        "-i", str(narration.audio),
        "-vf", "format=yuv420p,fps=30",
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "stillimage",
        "-c:a", "aac", "-t", f"{narration.seconds:.3f}",
        "-movflags", "+faststart",
        str(work / "bare.mp4"),
    ]
    # fmt: on
    ours, baseline = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        render_video(
            narration,
            slides,
            fps=30,
            subtitles="sidecar",
            preset="ultrafast",
            work=work,
            out=work,
            stall_seconds=90,
            cancelled=lambda: False,
            progress=lambda *_: None,
        )
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        subprocess.run(bare, check=True)
        baseline.append(time.perf_counter() - started)
    return ours, baseline, narration.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="render comparisons to run (default 3)")
    args = parser.parse_args()
    from flows.settings import settings

    os.environ["PREFECT_API_URL"] = ensure_server().api_url
    os.environ.update(settings.prefect_env())
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")

    wall, manifest = end_to_end()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"video: {manifest['video']['seconds']:.1f} s at {manifest['video']['width']}x"
        f"{manifest['video']['height']} {manifest['video']['fps']} fps"
    )
    print(f"end to end (flow call to published files): {wall:.2f} s")
    for stage in manifest["stages"]:
        print(f"  {stage['name']:<9} {stage['seconds']:6.2f} s")
    print(f"peak memory of the flow process: {peak_mb:.0f} MB")

    ours, baseline, _ = render_against_bare(args.repeats)
    ours_median, bare_median = statistics.median(ours), statistics.median(baseline)
    print(
        f"render stage, median of {args.repeats}: {ours_median:.2f} s  (runs: "
        + ", ".join(f"{value:.2f}" for value in ours)
        + ")"
    )
    print(
        f"bare FFmpeg,  median of {args.repeats}: {bare_median:.2f} s  (runs: "
        + ", ".join(f"{value:.2f}" for value in baseline)
        + ")"
    )
    print(f"render / bare: {ours_median / bare_median:.2f}x")


if __name__ == "__main__":
    main()
