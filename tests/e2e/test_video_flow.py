"""The whole pipeline as a Prefect flow run against the session's Prefect server."""

import json
import re
import shutil
from itertools import pairwise
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)

from api.jobs.progress import read_snapshot
from flows.contract.layout import job_folders
from flows.contract.stages import STAGES
from flows.media.ffmpeg import ffmpeg_exe
from flows.media.probe import max_volume_db, probe
from flows.video import generate_video
from tests.utils.factories import make_request, new_job_id, wait_for

pytestmark = pytest.mark.slow
SRT_TIME = re.compile(r"(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)")


def seconds(hours: str, minutes: str, secs: str, millis: str) -> float:
    return int(hours) * 3600 + int(minutes) * 60 + int(secs) + int(millis) / 1000


def run_job(request, artifacts_dir: Path | None = None, name: str = "") -> tuple[str, object]:  # noqa: ANN001
    job_id = new_job_id()
    state = generate_video(request, job_id=job_id, return_state=True)
    if artifacts_dir and name and state.is_completed():
        shutil.copy(job_folders(job_id).outputs / "video.mp4", artifacts_dir / f"{name}.mp4")
    return job_id, state


def narration_seconds(job_id: str) -> float:
    manifest = json.loads((job_folders(job_id).outputs / "manifest.json").read_text())
    return manifest["video"]["seconds"]


def frame_at(video: Path, at: float, out: Path) -> Image.Image:
    import subprocess

    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-ss", f"{at:.2f}", "-i", str(video), "-frames:v", "1", str(out)],
        check=True,
    )
    return Image.open(out).convert("RGB")


def subtitled_request(subtitles: str) -> object:
    return make_request(
        brief={"audience": "school children", "aspect": "16:9"},
        plan={"targetDurationSeconds": 20},
        render={"width": 640, "subtitles": subtitles},
    )


@pytest.fixture(scope="module")
def sidecar_job(artifacts_dir: Path) -> str:
    job_id, state = run_job(subtitled_request("sidecar"), artifacts_dir, "sidecar")
    assert state.is_completed(), state.message
    return job_id


def test_video_is_h264_and_aac_at_the_requested_size_and_as_long_as_the_narration(sidecar_job: str) -> None:
    video = job_folders(sidecar_job).outputs / "video.mp4"
    media = probe(video)
    picture, sound = media.first("video"), media.first("audio")
    assert (picture.codec, picture.width, picture.height, picture.pixel_format) == ("h264", 640, 360, "yuv420p")
    assert sound.codec == "aac"
    assert abs(picture.seconds - sound.seconds) <= 0.1
    assert abs(sound.seconds - narration_seconds(sidecar_job)) <= 0.1
    assert max_volume_db(video) > -20, "the narration is silent"
    # +faststart: the index (moov) comes before the media data (mdat).
    head = video.read_bytes()[:200_000]
    assert 0 <= head.find(b"moov") < head.find(b"mdat")


def test_subtitles_have_one_cue_per_sentence_in_order_inside_the_video(sidecar_job: str) -> None:
    outputs = job_folders(sidecar_job).outputs
    srt = (outputs / "video.srt").read_text()
    cues = [(seconds(*match[:4]), seconds(*match[4:])) for match in SRT_TIME.findall(srt)]
    length = narration_seconds(sidecar_job)
    manifest = json.loads((outputs / "manifest.json").read_text())
    assert len(cues) == srt.count("\n\n") + 1
    assert len(cues) >= len(manifest["stages"]) - 2
    assert all(start < end for start, end in cues)
    assert all(earlier[1] <= later[0] for earlier, later in pairwise(cues))
    assert cues[-1][1] <= length + 0.01


def test_outputs_and_manifest_are_published_with_sizes(sidecar_job: str) -> None:
    folders = job_folders(sidecar_job)
    manifest = json.loads((folders.outputs / "manifest.json").read_text())
    published = {entry["name"]: entry["sizeBytes"] for entry in manifest["outputs"]}
    assert set(published) == {"video.mp4", "video.srt", "thumbnail.jpg", "ffmpeg.log"}
    for name, size in published.items():
        assert (folders.outputs / name).stat().st_size == size
    assert sorted(stage["name"] for stage in manifest["stages"]) == sorted(STAGES[:-1])
    assert manifest["request"]["brief"]["audience"] == "school children"
    # Asked for 20 s: the narration's pauses land it within a tenth, and the manifest says both.
    assert manifest["video"]["targetSeconds"] == 20
    assert manifest["video"]["seconds"] == pytest.approx(20, rel=0.1)
    assert manifest["tools"]["ffmpeg"] and manifest["tools"]["espeakNg"]
    assert "libx264" in (folders.outputs / "ffmpeg.log").read_text()
    assert not list(folders.outputs.glob(".*.partial"))
    assert not folders.temp.exists() and not folders.results.exists()
    with Image.open(folders.outputs / "thumbnail.jpg") as thumbnail:
        assert thumbnail.width == 640


def test_prefect_shows_one_task_run_per_stage_and_their_progress(sidecar_job: str) -> None:
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_runs(flow_run_filter=FlowRunFilter(name={"any_": [sidecar_job]}), limit=1)[0]
        assert flow_run.state.is_completed()

        def task_runs() -> list:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id])))
            return runs if len(runs) == len(STAGES) and all(run.state.is_completed() for run in runs) else []

        runs = wait_for(task_runs, timeout=20, what="six completed task runs")
        assert sorted(run.name for run in runs) == sorted(STAGES)
        snapshot = read_snapshot(client, flow_run.id)
        assert (snapshot.stage, snapshot.percent, snapshot.stage_percent) == ("finalize", 100.0, 100.0)


def test_burned_subtitles_draw_text_where_the_plain_video_has_none(
    sidecar_job: str, artifacts_dir: Path, tmp_path: Path
) -> None:
    burned_job, state = run_job(subtitled_request("burned"), artifacts_dir, "burned")
    assert state.is_completed(), state.message
    srt = (job_folders(sidecar_job).outputs / "video.srt").read_text()
    start, end = [seconds(*part) for part in (SRT_TIME.search(srt).groups()[:4], SRT_TIME.search(srt).groups()[4:])]
    middle = (start + end) / 2
    plain = frame_at(job_folders(sidecar_job).outputs / "video.mp4", middle, tmp_path / "plain.png")
    burned = frame_at(job_folders(burned_job).outputs / "video.mp4", middle, tmp_path / "burned.png")
    box = ImageChops.difference(plain, burned).point(lambda value: 255 if value > 40 else 0).getbbox()
    assert box is not None, "the burned frame looks like the plain one"
    assert box[1] > plain.height / 2, "the caption is not in the lower half of the frame"


@pytest.mark.parametrize("aspect", ["9:16", "1:1"])
def test_other_aspects_render_at_their_size(aspect: str) -> None:
    request = make_request(
        brief={"aspect": aspect}, plan={"targetDurationSeconds": 8}, render={"width": None, "height": 320}
    )
    job_id, state = run_job(request)
    assert state.is_completed(), state.message
    picture = probe(job_folders(job_id).outputs / "video.mp4").first("video")
    assert picture.height == 320
    assert picture.width == {"9:16": 180, "1:1": 320}[aspect]


def test_unicode_topic_makes_a_video_and_warns_about_glyphs_it_cannot_draw() -> None:
    job_id, state = run_job(make_request("Les abeilles — 蜜蜂为什么重要 🐝", plan={"targetDurationSeconds": 8}))
    assert state.is_completed(), state.message
    assert probe(job_folders(job_id).outputs / "video.mp4").first("video").codec == "h264"


def test_unknown_voice_fails_in_the_brief_stage_before_any_work() -> None:
    job_id, state = run_job(make_request(voice={"name": "klingon"}))
    assert state.is_failed()
    assert "voice.name: eSpeak NG has no voice 'klingon'" in state.message
    assert not job_folders(job_id).results.exists()


def test_missing_provider_fails_at_once_with_its_code() -> None:
    job_id, state = run_job(make_request(providers={"script": "no-such-writer"}))
    assert state.is_failed()
    assert "providers.script: no block document 'no-such-writer'" in state.message


def task_states(flow_run_id: object) -> dict[str, str]:
    with get_client(sync_client=True) as client:

        def read() -> dict[str, str]:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            final = {run.name: run.state.name for run in runs if run.state and run.state.is_final()}
            return final if len(final) == len(STAGES) else {}

        return wait_for(read, timeout=20, what="every stage's final state")


def test_a_failed_job_resumes_from_its_last_completed_stage_and_records_why_it_failed() -> None:
    request = make_request(plan={"targetDurationSeconds": 8})
    job_id = new_job_id()
    folders = job_folders(job_id)
    folders.results.mkdir(parents=True)
    (folders.results / "render").write_text("a file where the render folder should be")

    first = generate_video(request, job_id=job_id, return_state=True)
    assert first.is_failed()
    assert "StorageError" in first.message
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["job-error"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[first.state_details.flow_run_id]),
            )
        )
    error = json.loads(artifacts[0].description)
    assert (error["code"], error["stage"]) == ("E307-STORAGE", "render")
    assert error["suggestedActions"]

    (folders.results / "render").unlink()
    second = generate_video(request, job_id=job_id, attempt=2, return_state=True)
    assert second.is_completed(), second.message
    states = task_states(second.state_details.flow_run_id)
    assert {stage: states[stage] for stage in ("script", "voice", "visuals")} == {
        "script": "Cached",
        "voice": "Cached",
        "visuals": "Cached",
    }
    assert (states["brief"], states["render"], states["finalize"]) == ("Completed", "Completed", "Completed")
    manifest = json.loads((folders.outputs / "manifest.json").read_text())
    assert manifest["attempt"] == 2
    assert not folders.results.exists()


def of_run(flow_run_id: object) -> LogFilter:
    return LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))


def speech_spectrum(video: Path) -> tuple[float, float]:
    """The soundtrack's speech, at 22050 Hz: the median spectral centroid of its loud 46 ms frames, and
    the share of their energy at 7 kHz and above, in dB.

    eSpeak NG's formant voice puts its energy higher than Piper's neural one, and Piper's rolls off
    steeply above 7 kHz: for the same 17 sentences, centroids of 507-731 Hz (Piper) against 770-919 Hz,
    and -42 to -30 dB against -28 to -22 dB above 7 kHz, measured on this machine.
    """
    import subprocess

    import numpy as np

    decode = [ffmpeg_exe(), "-v", "error", "-i", str(video), "-map", "0:a:0", "-ac", "1", "-ar", "22050"]
    pcm = subprocess.run([*decode, "-f", "s16le", "-"], check=True, capture_output=True).stdout
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
    size = 1024
    frames = np.array([samples[i : i + size] * np.hanning(size) for i in range(0, len(samples) - size, size // 2)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    loud = power[power.sum(axis=1) > np.median(power.sum(axis=1))]
    frequencies = np.fft.rfftfreq(size, 1 / 22050)
    centroid = float(np.median((loud * frequencies).sum(axis=1) / loud.sum(axis=1)))
    high = float(10 * np.log10(loud[:, frequencies >= 7000].sum() / loud.sum()))
    return centroid, high


def test_piper_narrates_beside_the_visuals_and_sounds_unlike_espeak(sidecar_job: str) -> None:
    request = make_request(plan={"targetDurationSeconds": 20}, render={"width": 640}, voice={"engine": "piper"})
    job_id, state = run_job(request)
    assert state.is_completed(), state.message
    outputs = job_folders(job_id).outputs
    manifest = json.loads((outputs / "manifest.json").read_text())
    assert manifest["narration"]["engine"] == "piper" and manifest["narration"]["voice"] == "en_US-joe-medium"
    assert manifest["tools"]["piper"] == "1.8.0"
    (piper, piper_high), (espeak, espeak_high) = (
        speech_spectrum(outputs / "video.mp4"),
        speech_spectrum(job_folders(sidecar_job).outputs / "video.mp4"),
    )
    said = f"centroid {piper:.0f} Hz / {espeak:.0f} Hz, above 7 kHz {piper_high:.1f} dB / {espeak_high:.1f} dB"
    assert piper < 0.85 * espeak and piper_high < espeak_high - 4, f"Piper / eSpeak NG: {said}"
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_runs(flow_run_filter=FlowRunFilter(name={"any_": [job_id]}), limit=1)[0]
        runs = {
            run.name: run
            for run in client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id])))
        }
        voice, visuals = runs["voice"], runs["visuals"]
        assert voice.start_time < visuals.end_time and visuals.start_time < voice.end_time, "they overlap"
        assert runs["render"].start_time >= max(voice.end_time, visuals.end_time)
        logs = wait_for(
            lambda: [
                log.message for log in client.read_logs(log_filter=of_run(flow_run.id)) if "piper voice" in log.message
            ],
            timeout=20,
            what="the voice stage's log line",
        )
    assert "piper voice en_US-joe-medium" in logs[0]


def test_piper_failing_to_load_falls_back_to_espeak_with_a_warning_in_the_log(tmp_path: Path) -> None:
    from blocks import PiperVoice

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    PiperVoice(model_path=str(broken), config_path=str(broken)).save("broken", overwrite=True)
    request = make_request(plan={"targetDurationSeconds": 6}, providers={"voice": "aura-piper-voice/broken"})
    job_id, state = run_job(request)
    assert state.is_completed(), state.message
    manifest = json.loads((job_folders(job_id).outputs / "manifest.json").read_text())
    assert manifest["narration"]["engine"] == "espeak" and manifest["narration"]["voice"] == "en"
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_runs(flow_run_filter=FlowRunFilter(name={"any_": [job_id]}), limit=1)[0]
        warnings = wait_for(
            lambda: [log for log in client.read_logs(log_filter=of_run(flow_run.id)) if log.level >= 30],
            timeout=20,
            what="the fallback's warning",
        )
    assert (
        "Piper could not load broken.onnx" in warnings[0].message and "eSpeak NG speaks this job" in warnings[0].message
    )
