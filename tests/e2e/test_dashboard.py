"""The dashboard at `/` in headless Chromium, and `aura jobs watch` beside it, against the real service.

Each test watches the same job from the page and from the command line, so one
real job proves both. Screenshots of each state land in test-artifacts/screenshots/.
"""

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from playwright.sync_api import Page, expect

from blocks import ChatScriptWriter
from flows.contract.layout import job_folders
from flows.media.probe import probe
from tests.utils.browser import PHONE, screenshot
from tests.utils.chat import ChatStandIn
from tests.utils.keys import ALICE
from tests.utils.service import ffmpeg_of, http, pool_paused, submit, wait_status
from tests.utils.stack import AURA

pytestmark = pytest.mark.slow
# Long enough for the page to see stages and a running render.
SECONDS = 60_000
Watch = Callable[[str], subprocess.Popen[str]]


@pytest.fixture
def watch(service: Any) -> Iterator[Callable[[str], subprocess.Popen[str]]]:
    """Starts `aura jobs watch`, as a user would run it next to the page; stops it if the test ends first."""
    started: list[subprocess.Popen[str]] = []

    def start(job_id: str) -> subprocess.Popen[str]:
        watcher = subprocess.Popen(
            [AURA, "jobs", "watch", job_id, "--api", service.url],
            env=os.environ.copy(),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        started.append(watcher)
        return watcher

    yield start
    for watcher in started:
        watcher.kill()
        watcher.communicate()


def shown_job_id(page: Page) -> str:
    page.wait_for_url(re.compile(r"#job="))
    return unquote(page.url.split("#job=", 1)[1])


def start_from_form(page: Page, topic: str, seconds: int) -> str:
    """Fill the form with the keyboard alone and submit it with Enter."""
    page.get_by_label("Topic").focus()
    page.keyboard.type(topic)
    page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type(str(seconds))
    page.get_by_label("Subtitles").select_option("burned")
    page.get_by_label("Topic").press("Enter")
    return shown_job_id(page)


def test_a_job_from_the_form_runs_live_and_its_video_plays(
    service: Any, page: Page, watch: Watch, artifacts_dir: Path
) -> None:
    page.goto(service.url)
    expect(page.get_by_role("heading", name="New video")).to_be_visible()
    unlabelled = page.locator("input, select, textarea").evaluate_all(
        "(fields) => fields.filter((field) => field.labels.length === 0).map((field) => field.id)"
    )
    assert unlabelled == []
    assert page.evaluate("import('/web/format.js').then((format) => format.duration(8130))") == "2h 15m 30s"
    job_id = start_from_form(page, "Why honeybees matter", 8)
    watcher = watch(job_id)

    expect(page.locator("#job-stage")).to_have_text(re.compile("voice|visuals|render|finalize"), timeout=SECONDS)
    screenshot(page, artifacts_dir, "running")
    expect(page.locator("#job-status")).to_contain_text("completed", timeout=SECONDS)
    expect(page.locator("#job-percent")).to_have_text("100 %")
    expect(page.locator("#stages li")).to_have_count(6)
    expect(page.locator("#stages li", has_text="completed")).to_have_count(6)
    expect(page.locator("#job-log li").first).to_be_visible()
    assert page.locator("#job-log li").count() <= 50

    video = page.locator("#job-video")
    expect(video).to_be_visible()
    played = video.evaluate("""async (element) => {
        element.muted = true;
        await element.play();
        await new Promise((done) => element.addEventListener("timeupdate", done, { once: true }));
        return { duration: element.duration, playing: !element.paused && element.currentTime > 0 };
    }""")
    on_disk = probe(job_folders(job_id).outputs / "video.mp4").first("video").seconds
    assert played["playing"] and abs(played["duration"] - on_disk) < 0.2
    downloads = page.get_by_role("link", name=re.compile("^Download"))
    expect(downloads).to_have_count(5)
    subtitles = http.get(service.url + page.get_by_role("link", name="Download video.srt").get_attribute("href"))
    assert subtitles.status_code == 200 and "-->" in subtitles.text
    expect(page.get_by_role("link", name="Open the run in Prefect")).to_have_attribute(
        "href", re.compile(r"/runs/flow-run/[0-9a-f-]{36}$")
    )

    page.get_by_label("Show").select_option("completed")
    row = page.locator(f"#job-table tr[data-job-id='{job_id}']")
    expect(row).to_contain_text("completed", timeout=10_000)
    expect(page.locator("#queue-stats")).to_contain_text(re.compile(r"[1-9]\d* completed"))
    screenshot(page, artifacts_dir, "completed")

    output, _ = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, output
    assert "100%" in output and f"Completed job {job_id}" in output and "video.mp4" in output


def test_cancel_goes_through_a_confirmation_and_ends_the_job(
    service: Any, page: Page, watch: Watch, artifacts_dir: Path
) -> None:
    page.goto(service.url)
    job_id = start_from_form(page, "A long film about bees", 180)
    watcher = watch(job_id)
    expect(page.locator("#job-stage")).to_have_text("render", timeout=SECONDS)

    cancel = page.get_by_role("button", name="Cancel job")
    cancel.click()
    dialog = page.get_by_role("dialog", name="Cancel this job?")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator("#job-status")).to_contain_text("running")

    cancel.click()
    screenshot(page, artifacts_dir, "cancel-dialog")
    dialog.get_by_role("button", name="Cancel job").click()
    expect(page.locator("#job-status")).to_contain_text("cancelled", timeout=SECONDS)
    expect(page.get_by_role("button", name="Resume from render")).to_be_visible()
    assert ffmpeg_of(job_id) == []
    screenshot(page, artifacts_dir, "cancelled")

    output, _ = watcher.communicate(timeout=60)
    assert watcher.returncode == 130, output
    assert f"Cancelled job {job_id}" in output


@pytest.mark.parametrize("chat_server", [[401]], indirect=True)
@pytest.mark.parametrize("page", [PHONE], indirect=True)
def test_a_failed_job_shows_why_and_resumes_with_the_retry_button(
    service: Any, chat_server: ChatStandIn, page: Page, watch: Watch, artifacts_dir: Path
) -> None:
    writer = ChatScriptWriter(base_url=chat_server.base_url, model="stand-in", timeout_seconds=5)
    # Playwright's sync API runs an event loop in this thread; without `_sync` Prefect would hand back a coroutine.
    writer.save("refusing", overwrite=True, _sync=True)
    job_id = submit(
        service,
        "Refused",
        shape={"plan": {"targetDurationSeconds": 6}, "render": {"width": 320}, "providers": {"script": "refusing"}},
    )
    watcher = watch(job_id)
    page.goto(f"{service.url}/#job={job_id}")

    expect(page.locator("#job-status")).to_contain_text("failed", timeout=SECONDS)
    error = page.locator("#job-error")
    expect(error).to_contain_text("at script")
    expect(page.locator("#job-error-actions li").first).to_be_visible()
    expect(page.locator("#stages li", has_text="script")).to_contain_text("failed")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"
    screenshot(page, artifacts_dir, "failed-phone")
    output, _ = watcher.communicate(timeout=60)
    assert watcher.returncode == 1, output
    assert f"aura jobs retry {job_id}" in output

    page.get_by_role("button", name=re.compile("^(Retry|Resume from script)$")).click()
    expect(page.locator("#job-attempt")).to_have_text("2")
    expect(page.locator("#job-status")).to_contain_text("completed", timeout=SECONDS)
    expect(error).to_be_hidden()
    expect(page.locator("#stages li", has_text="completed")).to_have_count(6)
    assert wait_status(service, job_id, "completed")["attempt"] == 2


def test_the_page_reconnects_by_itself_after_an_api_restart(service: Any, page: Page, artifacts_dir: Path) -> None:
    job_id = submit(service, "Restarted", shape={"plan": {"targetDurationSeconds": 40}, "render": {"width": 640}})
    page.goto(f"{service.url}/#job={job_id}")
    expect(page.locator("#job-status")).to_contain_text("running", timeout=SECONDS)

    service.stop()
    banner = page.get_by_role("status").filter(has_text="Reconnecting")
    expect(banner).to_be_visible(timeout=10_000)
    screenshot(page, artifacts_dir, "reconnecting")
    service.start()
    expect(page.get_by_role("status").filter(has_text="Reconnected")).to_be_visible(timeout=SECONDS)
    expect(page.locator("#job-status")).to_contain_text("completed", timeout=SECONDS)
    expect(page.locator("#job-percent")).to_have_text("100 %")
    expect(page.locator(f"#job-table tr[data-job-id='{job_id}']")).to_contain_text("completed", timeout=10_000)


def test_with_keys_on_the_page_signs_in_and_streams_without_the_key_in_any_url(
    secured: Any, page: Page, artifacts_dir: Path
) -> None:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.goto(secured.url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#sign-in-reason")).to_contain_text("needs an API key")
    screenshot(page, artifacts_dir, "sign-in")
    page.get_by_label("API key").fill(ALICE)
    page.get_by_label("API key").press("Enter")
    expect(page.get_by_role("heading", name="Sign in")).to_be_hidden()

    start_from_form(page, "Keyed bees", 6)
    expect(page.locator("#job-status")).to_contain_text("completed", timeout=SECONDS)
    duration = page.locator("#job-video").evaluate(
        "(video) => video.readyState >= 1 ? video.duration : new Promise((done) => "
        "video.addEventListener('loadedmetadata', () => done(video.duration), { once: true }))"
    )
    assert duration > 1
    assert any("/events?" in url and "access_token=" in url for url in urls)
    assert not [url for url in urls if ALICE in url]


def test_a_csv_queues_a_job_per_row_and_a_bad_row_queues_none(
    service: Any, page: Page, artifacts_dir: Path, tmp_path: Path
) -> None:
    page.goto(service.url)
    page.get_by_text("Many videos from a CSV").click()
    pasted, queue_all = page.get_by_label("or paste it here"), page.get_by_role("button", name="Queue all")
    with pool_paused():
        pasted.fill("topic,aspect\nSquare bees,4:3\n")
        queue_all.click()
        expect(page.locator("#batch-error")).to_contain_text("jobs.0.brief.aspect")

        briefs = tmp_path / "briefs.csv"
        briefs.write_text("topic,duration,priority\nCSV bees,6,9\nCSV wasps,6,9\n")
        page.get_by_label("CSV file").set_input_files(str(briefs))
        expect(pasted).to_have_value(briefs.read_text())
        queue_all.click()
        expect(page.locator("#batch-done")).to_have_text(re.compile(r"^2 jobs queued"))
        expect(page.locator("#batch-error")).to_be_hidden()
        expect(page.locator("#jobs")).to_contain_text("CSV wasps")
        screenshot(page, artifacts_dir, "batch-queued")
        queued = http.get(f"{service.url}/api/jobs", params={"status": "queued"}).json()["jobs"]
        mine = [job for job in queued if job["request"]["brief"]["topic"] in ("CSV bees", "CSV wasps")]
        assert sorted(job["request"]["brief"]["topic"] for job in mine) == ["CSV bees", "CSV wasps"]
        assert not [job for job in queued if job["request"]["brief"]["topic"] == "Square bees"]
        wasps = next(job for job in mine if job["request"]["brief"]["topic"] == "CSV wasps")
        page.locator(f"#job-table tr[data-job-id='{wasps['jobId']}'] a").click()
        expect(page.locator("#job-eta")).to_have_text(
            re.compile(rf"^#{wasps['queuePosition']} in line, about .+ \(.+ to .+\)$")
        )
        for job in mine:
            assert http.post(f"{service.url}/api/jobs/{job['jobId']}/cancel").status_code == 202
