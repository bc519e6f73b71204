"""`aura`: make narrated videos from a brief, offline, as Prefect flow runs."""

import gc
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from api.cli import exit_codes
from api.cli import jobs as jobs_cli
from api.settings import settings
from api.supervisor import prefect_server
from flows.contract.request import VideoRequest
from flows.settings import settings as pipeline

SAMPLE_TOPIC = "Why honeybees matter"
FROM_CSV_OPTION = typer.Option(
    None,
    "--from",
    help="A CSV of briefs, a header row and one video per row (topic, duration, aspect, …; see the README): "
    "queued on the service (--api, else AURA_API_URL) as one batch.",
    exists=True,
    dir_okay=False,
    show_default=False,
)

app = typer.Typer(
    help="Make narrated videos from a brief: each video is a Prefect flow run, one task per stage.\n\n"
    + exit_codes.HELP,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
server_app = typer.Typer(help="The embedded Prefect server (SQLite under AURA_HOME).", no_args_is_help=True)
app.add_typer(server_app, name="server")
app.add_typer(jobs_cli.app, name="jobs")
# Soft wrap: paths and URLs stay on one line, whole, when output is not a terminal.
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def _request(**fields: Any) -> VideoRequest:
    try:
        return VideoRequest.model_validate(fields)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "request"
            errors.print(f"[red]invalid[/red] {where}: {error['msg']}")
        raise typer.Exit(exit_codes.USAGE) from exc


def _use_prefect(verbose: bool) -> prefect_server.PrefectServer:
    with console.status("Connecting to Prefect…"):
        server = prefect_server.ensure_server()
    if server.started:
        console.print(f"Started the embedded Prefect server: UI at {server.ui_url}")
    # Set before Prefect is imported: its settings are read at import time.
    os.environ["PREFECT_API_URL"] = server.api_url
    os.environ.update(pipeline.prefect_env())
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    return server


@app.command()
def generate(
    topic: str = typer.Argument(None, help="What the video is about.", show_default=False),
    sample: bool = typer.Option(False, "--sample", help=f"Use the built-in sample brief ({SAMPLE_TOPIC!r})."),
    duration: float = typer.Option(60.0, help="Target length in seconds (up to 1800)."),
    aspect: str = typer.Option("16:9", help="16:9, 9:16 or 1:1."),
    subtitles: str = typer.Option("sidecar", help="sidecar, burned or none."),
    audience: str = typer.Option(None, help="Who will watch it."),
    goal: str = typer.Option(None, help="What viewers should take away."),
    tone: str = typer.Option(None, help="For example friendly or formal."),
    language: str = typer.Option("en", help="Language tag; also the default voice."),
    voice_engine: str = typer.Option(
        None, help="piper (neural, English) or espeak (any language, fast drafts); default: Piper for English."
    ),
    voice: str = typer.Option(None, help="eSpeak NG voice, e.g. en-us (see `aura voices`); chooses eSpeak NG."),
    rate: float = typer.Option(1.0, help="Speech speed, 0.5-2.0."),
    pitch: float = typer.Option(1.0, help="Voice pitch, 0.5-2.0."),
    width: int = typer.Option(None, help="Frame width in pixels (even)."),
    height: int = typer.Option(None, help="Frame height in pixels (even)."),
    fps: int = typer.Option(30, help="Frames per second."),
    motion: str = typer.Option("subtle", help="subtle (a slow pan on each slide) or none (stills)."),
    transition: str = typer.Option("fade", help="fade (half-second crossfades) or cut, between scenes."),
    density: str = typer.Option("balanced", help="sparse, balanced or dense scenes."),
    pacing: str = typer.Option("normal", help="slow, normal or fast pauses."),
    style: str = typer.Option("modern", help="modern, minimal or bold slides."),
    script_provider: str = typer.Option(None, help="Script block document name."),
    voice_provider: str = typer.Option(None, help="Voice block document name."),
    visuals_provider: str = typer.Option(None, help="Visuals block document name."),
    priority: int = typer.Option(5, help="1 runs first, 10 last (matters when the service is busy)."),
    job_id: str = typer.Option(None, help="Job id to use (3-64 lowercase letters, digits, dashes); new if not given."),
    api_url: str = typer.Option(None, "--api", help="Submit to a running service at this URL instead of running here."),
    from_csv: Path = FROM_CSV_OPTION,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print every log line of the run."),
) -> None:
    """Make one video and print where it is. Ctrl-C cancels the job.

    Runs here, with an embedded Prefect server, unless --api names a running service.
    With --from, queues every row of a CSV on the service and prints a line per job.
    """
    if from_csv:
        if topic or sample or job_id:
            errors.print("[red]invalid[/red] --from: the CSV holds the briefs; give no topic, --sample or --job-id")
            raise typer.Exit(exit_codes.USAGE)
        jobs_cli.submit_batch(api_url or settings.api_url, from_csv)
        return
    if sample:
        topic = topic or SAMPLE_TOPIC
        audience = audience or "curious people of any age"
        goal = goal or "see why pollinators deserve protection"
    if topic is None:
        errors.print("[red]invalid[/red] brief.topic: give a topic, or --sample")
        raise typer.Exit(exit_codes.USAGE)
    request = _request(
        brief={
            "topic": topic,
            "audience": audience,
            "goal": goal,
            "tone": tone,
            "language": language,
            "aspect": aspect,
        },
        plan={"targetDurationSeconds": duration, "pacing": pacing, "density": density, "style": style},
        voice={"engine": voice_engine, "name": voice, "rate": rate, "pitch": pitch},
        render={
            "width": width,
            "height": height,
            "fps": fps,
            "subtitles": subtitles,
            "motion": motion,
            "transition": transition,
        },
        providers={"script": script_provider, "voice": voice_provider, "visuals": visuals_provider},
        priority=priority,
    )
    if api_url:
        if job_id:
            errors.print("[red]invalid[/red] --job-id: the service names its jobs; leave it out with --api")
            raise typer.Exit(exit_codes.USAGE)
        raise typer.Exit(jobs_cli.run_remote(api_url, request))
    from flows.contract.errors import InvalidRequest
    from flows.contract.layout import JOB_ID_PATTERN
    from flows.providers import espeak

    job_id = job_id or str(uuid.uuid4())
    if not JOB_ID_PATTERN.match(job_id):
        errors.print(f"[red]invalid[/red] --job-id: {job_id!r} is not 3-64 lowercase letters, digits and dashes")
        raise typer.Exit(exit_codes.USAGE)
    try:
        espeak.check_voice(request.voice_name())
    except InvalidRequest as exc:
        errors.print(f"[red]invalid[/red] {exc}")
        raise typer.Exit(exit_codes.USAGE) from exc

    from api.supervisor.processes import unwind_on_signals

    # SIGTERM and SIGHUP cancel the job as Ctrl-C does, instead of leaving its flow run to be found lost.
    unwind_on_signals()
    server = _use_prefect(verbose)
    # A server this command started keeps running once the job has ended, whichever way (the run's
    # page in its UI is printed); it is stopped if the command fails before or around the job.
    with _stopped_if_it_fails(server):
        from api.cli.local_run import run_job

        # What Prefect and the flow's modules made while importing lives as long as the process: out of the
        # collector's way now, and again before exit, the interpreter's last collections have nearly nothing
        # to walk (0.6 s less at exit, measured).
        gc.freeze()
        code = run_job(request, job_id=job_id, ui_url=server.ui_url, console=console)
        gc.freeze()
    raise typer.Exit(code)


@app.command()
def voices() -> None:
    """List the narrators: Piper's bundled voice, and every eSpeak NG voice a request may name."""
    from flows.providers import espeak, piper

    console.print(f"[bold]piper[/bold] (neural; English requests that name no voice): {piper.Tuning().name()}")
    console.print(f"[bold]espeak[/bold] (any language; --voice NAME): {' '.join(espeak.voices())}")


@server_app.command("start")
def server_start() -> None:
    """Start the embedded Prefect server (or find the running one) and print its URLs."""
    server = prefect_server.ensure_server()
    console.print(f"Prefect API: {server.api_url}\nPrefect UI:  {server.ui_url}")


@server_app.command("stop")
def server_stop() -> None:
    """Stop the embedded Prefect server started by an earlier command."""
    stopped = prefect_server.stop_server()
    console.print("Stopped the embedded Prefect server." if stopped else "No embedded Prefect server was running.")


def _connect(verbose: bool = True) -> prefect_server.PrefectServer:
    """Prefect found or started, and provisioned; a server started here is stopped again if provisioning fails."""
    server = _use_prefect(verbose)
    from api.supervisor.provisioning import prepare_prefect

    with _stopped_if_it_fails(server):
        try:
            with console.status("Registering blocks, work pool and deployments…"):
                prepare_prefect()
        except Exception as exc:
            # What went wrong and where, not a page of Prefect's frames: a setting or the server is at fault.
            failure = escape(f"{type(exc).__name__}: {exc}")
            errors.print(f"[red]Setting up Prefect at {server.api_url} failed[/red]: {failure}")
            raise typer.Exit(exit_codes.FAILED) from exc
    return server


def _stop_if_started(server: prefect_server.PrefectServer) -> None:
    if server.started:
        prefect_server.stop_server()
        console.print("Stopped the embedded Prefect server.")


@contextmanager
def _stopped_if_it_fails(server: prefect_server.PrefectServer) -> Iterator[None]:
    """The embedded server this command started is stopped if the block raises (Ctrl-C and the signals
    `unwind_on_signals` turns into it included)."""
    try:
        yield
    except BaseException:
        _stop_if_started(server)
        raise


@app.command()
def serve(
    host: str = typer.Option(settings.api_host, help="Address the API listens on."),
    port: int = typer.Option(settings.api_port, help="Port the API listens on."),
    limit: int = typer.Option(settings.worker_limit, help="Jobs the worker runs at once."),
) -> None:
    """Run the whole service on this machine: Prefect (embedded unless PREFECT_API_URL), a worker, the API.

    Ctrl-C or SIGTERM stops what this command started, in reverse order.
    """
    from api.supervisor.processes import run_api, running_worker, unwind_on_signals, worker_name

    unwind_on_signals()
    server = _connect()
    try:
        with running_worker(server.api_url, limit=limit, name=worker_name()):
            console.print(f"Prefect UI: {server.ui_url}\nDashboard:  http://{host}:{port}/  (OpenAPI at /docs)")
            run_api(host, port)
    finally:
        _stop_if_started(server)


@app.command()
def worker(
    limit: int = typer.Option(settings.worker_limit, help="Jobs this worker runs at once."),
    name: str = typer.Option(None, help="Worker name shown in Prefect; host and PID if not given."),
) -> None:
    """Run one worker on the video work pool (scale-out: one or more per machine)."""
    from api.supervisor.processes import running_worker, unwind_on_signals, wait_forever, worker_name

    unwind_on_signals()
    server = _connect()
    try:
        with running_worker(server.api_url, limit=limit, name=name or worker_name()) as process:
            console.print(f"Worker {name or worker_name()} on pool {settings.work_pool}, up to {limit} jobs at once.")
            try:
                raise typer.Exit(wait_forever(process))
            except KeyboardInterrupt:
                console.print("Stopping the worker…")
    finally:
        _stop_if_started(server)


@app.command()
def api(
    host: str = typer.Option(settings.api_host, help="Address to listen on."),
    port: int = typer.Option(settings.api_port, help="Port to listen on."),
) -> None:
    """Run one API process (stateless; run several behind a load balancer)."""
    _use_prefect(verbose=True)
    from api.supervisor.processes import run_api

    run_api(host, port)
