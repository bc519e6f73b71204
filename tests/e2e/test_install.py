"""`pip install .` (not editable), then plain `aura serve` from an unrelated folder, nothing configured;
stopped with SIGTERM while FFmpeg renders, it leaves no process behind.

The dashboard and the deployments travel as package data, so the installed copy serves
the page, applies the deployments and runs a job with no checkout anywhere in reach.

Installing every dependency into a fresh virtual environment takes minutes, so the new
environment gets the project from its wheel (built as `pip install .` builds it, with
build isolation) and the dependencies through a `.pth` file naming this environment's
site-packages: a plain `sys.path` entry, after the new site-packages, whose own `.pth`
files (among them the editable install's finder) are not processed. The checkout is
then not importable from the new environment at all, and the folder `aura serve` starts
in holds decoy `flows` and `api` packages that fail on import: every process that ran
the job (the worker's flow-run parent, the flow-run processes started in site-packages)
ran the installed package.
"""

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.utils.factories import alive, descendants, wait_for
from tests.utils.service import ffmpeg_of
from tests.utils.stack import free_port

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "flows", "blocks", "web")
# What a source tree holds that is not source: left out of the copy the wheel is built from.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", ".aura", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", ".*_cache", ".hypothesis",
    "test-artifacts", "bench",
)  # fmt: skip
JOB = {"brief": {"topic": "Bees"}, "plan": {"targetDurationSeconds": 6}, "render": {"width": 320}}
# Some 20 s of FFmpeg at 1080p: still rendering when the service is stopped. eSpeak NG speaks it, so the
# render starts without Piper's seconds of speech first (the first job has Piper, the default).
LONG_JOB = {
    "brief": {"topic": "Bees"},
    "plan": {"targetDurationSeconds": 180},
    "render": {"width": 1920},
    "voice": {"engine": "espeak"},
}
DEPLOYMENTS = {
    "generate-video/generate-video": "flows/video.py:generate_video",
    "cleanup-sweep/cleanup-sweep": "flows/cleanup.py:cleanup_sweep",
}
DECOY = 'raise ImportError("the working directory shadowed the installed package")\n'


@dataclass(frozen=True)
class Installed:
    venv: Path
    site: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def aura(self) -> Path:
        return self.venv / "bin" / "aura"


def run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def workspace() -> Iterator[Path]:
    """A temporary folder for the source copy, the wheel, the venv and the service's home; removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix="aura-install-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def installed(workspace: Path) -> Installed:
    # Built from a copy: an in-tree build would leave build/ and egg-info in the checkout.
    source = workspace / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    run(*pip, "wheel", "--no-deps", "--wheel-dir", workspace / "dist", source, cwd=workspace)
    (wheel,) = (workspace / "dist").glob("aura_video-*.whl")
    venv = workspace / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=workspace)
    run(*pip, "--python", venv / "bin" / "python", "install", "--no-deps", wheel, cwd=workspace)
    site = Path(
        run(
            venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=workspace
        ).strip()
    )
    (site / "_aura_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return Installed(venv=venv, site=site)


def test_the_installed_packages_and_their_data_come_from_the_new_environment(installed: Installed) -> None:
    where = run(
        installed.python,
        "-c",
        "import sys, api, flows, web, blocks; print(api.__file__, flows.__file__, web.__file__, blocks.__file__);"
        "print(*sys.path)",
        cwd=installed.venv,
    ).splitlines()
    for module in where[0].split():
        assert Path(module).is_relative_to(installed.site), module
    assert str(REPO) not in where[1].split(), "the checkout is on the new environment's sys.path"
    for data in ("web/index.html", "web/app.js", "web/style.css", "flows/prefect.yaml"):
        assert (installed.site / data).is_file(), f"{data} is not in the wheel"


def processes_of(venv: Path) -> set[int]:
    """Live processes whose command line names the new environment (every process `aura serve` starts does)."""
    found = set()
    for entry in os.listdir("/proc"):
        try:
            if (
                entry.isdigit()
                and str(venv).encode() in Path(f"/proc/{entry}/cmdline").read_bytes()
                and alive(int(entry))
            ):
                found.add(int(entry))
        except OSError:
            continue
    return found


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def test_aura_serve_from_an_unrelated_folder_serves_the_dashboard_and_runs_a_job(
    installed: Installed, workspace: Path
) -> None:
    folder = workspace / "elsewhere"
    for decoy in ("flows", "api"):
        (folder / decoy).mkdir(parents=True)
        (folder / decoy / "__init__.py").write_text(DECOY)
    # Nothing configured: no Prefect URL (`aura serve` starts its embedded server), no AURA_HOME
    # (the default, `.aura` in the working folder). Only the ports are chosen, so a busy 4200/8000 does not matter.
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PREFECT_", "AURA_", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join(
        part for part in env.get("PATH", "").split(os.pathsep) if not part.startswith(str(REPO))
    )
    env["AURA_PREFECT_PORT"] = str(free_port())
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    log = workspace / "serve.log"
    with log.open("wb") as output:
        serve = subprocess.Popen(
            [installed.aura, "serve", "--port", str(port)], cwd=folder, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    started: set[int] = set()

    def up() -> bool:
        if serve.poll() is not None:
            raise AssertionError(f"aura serve exited with {serve.returncode}:\n{log.read_text()}")
        try:
            return bool(httpx.get(f"{api}/health", timeout=1).json()["prefect"])
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, timeout=180, interval=0.5, what="aura serve to answer")
        with httpx.Client(base_url=api, timeout=10) as http:
            page = http.get("/")
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert page.text == (installed.site / "web" / "index.html").read_text()
            script = http.get("/web/app.js")
            assert script.status_code == 200 and "javascript" in script.headers["content-type"]
            assert script.text == (installed.site / "web" / "app.js").read_text()

            prefect = http.get("/health").json()["prefectApiUrl"].rstrip("/")
            for name, entrypoint in DEPLOYMENTS.items():
                deployment = httpx.get(f"{prefect}/deployments/name/{name}", timeout=10)
                assert deployment.status_code == 200, f"no deployment {name}"
                assert deployment.json()["entrypoint"] == entrypoint
                # Flow runs start in the folder that holds the installed `flows` package.
                (step,) = deployment.json()["pull_steps"]
                assert step["prefect.deployments.steps.set_working_directory"]["directory"] == str(installed.site)

            job_id = http.post("/api/jobs", json=JOB).json()["jobId"]

            def ended() -> dict[str, object] | None:
                job = http.get(f"/api/jobs/{job_id}").json()
                return job if job["status"] in ("completed", "failed", "cancelled") else None

            job = wait_for(ended, timeout=120, interval=0.5, what="the job to end")
            assert job["status"] == "completed", f"{job}\n{log.read_text()}"
            video = http.get(f"/api/jobs/{job_id}/artifacts/video.mp4")
            assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
            assert video.content[4:8] == b"ftyp" and len(video.content) > 10_000
            # The storage root is the folder `aura serve` started in, not the flow runs' working directory.
            assert (folder / ".aura" / "jobs" / job_id / "video.mp4").read_bytes() == video.content
            assert not (installed.site / ".aura").exists()

            rendering = http.post("/api/jobs", json=LONG_JOB).json()["jobId"]
            wait_for(lambda: ffmpeg_of(rendering), timeout=120, interval=0.3, what="FFmpeg rendering the second job")
        started = descendants(serve.pid) | processes_of(installed.venv)
        started.discard(serve.pid)
        assert len(started) >= 4, "expected the Prefect server, the worker, a flow run and FFmpeg"
        # SIGTERM, as systemd, `docker stop` and `kill` send it, mid-render; Ctrl-C unwinds the same way.
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
        assert b"Stopped the embedded Prefect server" in log.read_bytes()
        wait_for(lambda: not [pid for pid in started if alive(pid)], timeout=15, what="every started process to end")
        assert not processes_of(installed.venv), "a process of the installed service outlived aura serve"
    finally:
        if serve.poll() is None:
            serve.terminate()
            try:
                serve.wait(timeout=30)
            except subprocess.TimeoutExpired:
                serve.kill()
                serve.wait()
        # Whatever the test's outcome, nothing it started outlives it (each child leads its own group).
        for pid in (started | processes_of(installed.venv)) - {os.getpid()}:
            kill(pid)
