"""Pipeline benchmark: one 60 s 1920x1080 30 fps video, end to end, its voice, and its render against bare FFmpeg.

Run by hand (`make bench`) with a Prefect server already up (PREFECT_API_URL,
or the embedded one: `aura server start`). Prints figures; asserts nothing.

    end to end      flow start to published files with the defaults (Piper, motion, fades),
                    per-stage seconds (from the manifest) and the critical path
    peak memory     max RSS of this process, which ran the flow
    voice           the script's sentences spoken by Piper with 1 and 2 threads, by two processes
                    each speaking half, and by eSpeak NG: seconds and real-time factor
    render vs bare  our render stage against the same FFmpeg command run bare (no Python around it:
                    no progress reading, watchdog or caption drawing), alternated, median of
                    --repeats runs; and the plain stills command, for what motion and fades cost

    python bench/pipeline.py --cli [--repeats 3]
                    `aura generate --voice-engine espeak` for the same request, as a user runs it
                    (a new process each time, the embedded server warm), against the bare FFmpeg
                    command its render ran, alternated: the CLI's own start and orchestration,
                    not speech, is what the ratio measures
"""

import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.supervisor.prefect_server import ensure_server  # noqa: E402
from flows.contract.request import VideoRequest  # noqa: E402
from flows.contract.stages import critical_path  # noqa: E402
from flows.models import Slides  # noqa: E402

# The defaults a user gets: Piper for English, a pan on each slide, crossfades.
REQUEST = {
    "brief": {"topic": "Why honeybees matter", "audience": "curious adults", "aspect": "16:9"},
    "plan": {"targetDurationSeconds": 60},
    "render": {"width": 1920, "height": 1080, "fps": 30, "subtitles": "sidecar"},
}


def end_to_end() -> tuple[float, dict]:
    from flows.contract.layout import job_folders
    from flows.video import generate_video

    job_id = str(uuid.uuid4())
    started = time.perf_counter()
    state = generate_video(bench_request(), job_id=job_id, return_state=True)
    wall = time.perf_counter() - started
    if not state.is_completed():
        raise SystemExit(f"the job did not complete: {state.message}")
    return wall, json.loads((job_folders(job_id).outputs / "manifest.json").read_text())


def bench_request() -> VideoRequest:
    return VideoRequest.model_validate(REQUEST)


def _speak_half(sentences: list[str]) -> float:
    from flows.providers import piper

    return sum(
        s.seconds for s in piper.speak_each(sentences, tuning=piper.Tuning(), rate=1.0, threads=1, tick=lambda: None)
    )


def voice_figures() -> list[tuple[str, float, float]]:
    """(how, wall seconds, seconds of speech) for the bench script's sentences."""
    from flows.providers import espeak, piper
    from flows.providers.script_rules import write_script

    sentences = write_script(bench_request()).sentences()
    piper.preload()
    figures = []
    for threads in (1, 2):
        started = time.perf_counter()
        spoken = piper.speak_each(sentences, tuning=piper.Tuning(), rate=1.0, threads=threads, tick=lambda: None)
        seconds = sum(speech.seconds for speech in spoken)
        figures.append((f"Piper, {threads} thread{'s' if threads > 1 else ''}", time.perf_counter() - started, seconds))
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_speak_half, [["Warm up."]] * 2))  # each process loads its model first
        started = time.perf_counter()
        seconds = sum(pool.map(_speak_half, [sentences[0::2], sentences[1::2]]))
        figures.append(("Piper, 2 processes", time.perf_counter() - started, seconds))
    started = time.perf_counter()
    seconds = sum(espeak.speak(text, voice="en").seconds for text in sentences)
    figures.append(("eSpeak NG", time.perf_counter() - started, seconds))
    return figures


RenderOnce = Callable[[Slides, bool, Path], float]


def render_setup() -> tuple[Path, RenderOnce, Slides, Slides]:
    """The bench request's narration (eSpeak NG) and slides, flat and with pan room, and our render stage."""
    from flows.media.motion import pan_room
    from flows.media.render import render_video
    from flows.providers.script_rules import write_script
    from flows.providers.slides import draw_slides
    from tests.utils.narration import narrated

    request = bench_request()
    work = Path(tempfile.mkdtemp(prefix="aura-bench-"))
    script = write_script(request)
    narration = narrated(request, script, work / "n.wav")
    size = request.frame_size()
    flat, _ = draw_slides(script, width=size[0], height=size[1], style="modern", folder=work, progress=lambda *_: None)
    moving_folder = work / "moving"
    moving_folder.mkdir()
    moving, _ = draw_slides(
        script,
        width=size[0],
        height=size[1],
        spare=pan_room(*size),
        style="modern",
        folder=moving_folder,
        progress=lambda *_: None,
    )

    def ours(slides: Slides, fade: bool, folder: Path) -> float:
        folder.mkdir(exist_ok=True)
        out = folder / "out"
        out.mkdir(exist_ok=True)
        started = time.perf_counter()
        render_video(
            narration,
            slides,
            fps=30,
            subtitles="sidecar",
            fade=fade,
            preset="ultrafast",
            work=folder,
            out=out,
            stall_seconds=90,
            cancelled=lambda: False,
            progress=lambda *_: None,
        )
        return time.perf_counter() - started

    return work, ours, flat, moving


def bare_command(work: Path, ours: RenderOnce, moving: Slides) -> list[str]:
    """The command our render ran (its first line in ffmpeg.log), with nothing around it."""
    ours(moving, True, work / "moving-render")
    logged = (work / "moving-render" / "out" / "ffmpeg.log").read_text().splitlines()[0].removeprefix("$ ")
    command = shlex.split(logged)
    at = command.index("-progress")
    bare = [*command[:at], *command[at + 2 :]]
    bare[-1] = str(work / "bare.mp4")
    print("bare command:", shlex.join(bare))
    return bare


def run_bare(bare: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(bare, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def render_against_bare(repeats: int) -> dict[str, list[float]]:
    work, ours, flat, moving = render_setup()
    bare = bare_command(work, ours, moving)
    runs: dict[str, list[float]] = {"ours": [], "bare": [], "stills": []}
    for _ in range(repeats):
        runs["ours"].append(ours(moving, True, work / "moving-render"))
        runs["bare"].append(run_bare(bare))
        runs["stills"].append(ours(flat, False, work / "stills-render"))
    return runs


def cli_against_bare(repeats: int) -> dict[str, list[float]]:
    """`aura generate` end to end, and the bare FFmpeg command of the same video's render, alternated."""
    aura = str(Path(sys.executable).with_name("aura"))
    options = ["--duration", "60", "--width", "1920", "--height", "1080", "--voice-engine", "espeak"]
    work, ours, _, moving = render_setup()
    bare = bare_command(work, ours, moving)
    runs: dict[str, list[float]] = {"cli": [], "bare": []}
    for _ in range(repeats):
        command = [aura, "generate", REQUEST["brief"]["topic"], "--job-id", f"bench-{uuid.uuid4().hex[:12]}", *options]
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        runs["cli"].append(time.perf_counter() - started)
        runs["bare"].append(run_bare(bare))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="render comparisons to run (default 3)")
    parser.add_argument("--cli", action="store_true", help="aura generate against bare FFmpeg, nothing else")
    args = parser.parse_args()
    from flows.settings import settings

    os.environ["PREFECT_API_URL"] = ensure_server().api_url
    os.environ.update(settings.prefect_env())
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    if args.cli:
        runs = cli_against_bare(args.repeats)
        medians = {name: statistics.median(values) for name, values in runs.items()}
        for name, label in (("cli", "aura generate, end to end"), ("bare", "bare FFmpeg, its render's command")):
            each = ", ".join(f"{v:.2f}" for v in runs[name])
            print(f"{label:<34} median of {args.repeats}: {medians[name]:.2f} s  (runs: {each})")
        print(f"aura generate / bare FFmpeg: {medians['cli'] / medians['bare']:.2f}x")
        return

    wall, manifest = end_to_end()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"video: {manifest['video']['seconds']:.1f} s at {manifest['video']['width']}x"
        f"{manifest['video']['height']} {manifest['video']['fps']} fps, narrated by "
        f"{manifest['narration']['engine']} ({manifest['narration']['voice']})"
    )
    print(f"end to end (flow call to published files): {wall:.2f} s")
    stages = {stage["name"]: stage["seconds"] for stage in manifest["stages"]}
    for name, seconds in stages.items():
        print(f"  {name:<9} {seconds:6.2f} s")
    print(f"  critical path (voice beside visuals): {critical_path(stages):.2f} s of stages")
    print(f"peak memory of the flow process: {peak_mb:.0f} MB")

    print("voice, the same script's sentences:")
    for how, seconds, speech in voice_figures():
        print(f"  {how:<20} {seconds:6.2f} s for {speech:.1f} s of speech: real-time factor {seconds / speech:.3f}")

    runs = render_against_bare(args.repeats)
    medians = {name: statistics.median(values) for name, values in runs.items()}
    for name, label in (
        ("ours", "render stage (motion, fades)"),
        ("bare", "bare FFmpeg, same command"),
        ("stills", "render stage (stills, cuts)"),
    ):
        print(
            f"{label:<30} median of {args.repeats}: {medians[name]:.2f} s  (runs: "
            + ", ".join(f"{v:.2f}" for v in runs[name])
            + ")"
        )
    print(f"render / bare: {medians['ours'] / medians['bare']:.2f}x")
    print(f"render with motion and fades / with stills and cuts: {medians['ours'] / medians['stills']:.2f}x")


if __name__ == "__main__":
    main()
