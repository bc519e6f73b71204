"""`aura jobs …` and `aura generate --api`: the job commands, against a running service."""

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from api.cli import exit_codes
from api.cli.client import ServiceClient, ServiceError, Unreachable
from api.cli.watch import EXIT_BY_STATUS, report, watch
from api.schemas.briefs_csv import batch_from_csv
from api.settings import settings
from flows.contract.request import VideoRequest

STATUSES = ("queued", "running", "cancelling", "completed", "failed", "cancelled")
CANCEL_WAIT_SECONDS = 60.0
BATCH_TRIES = 3

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)
API_OPTION = typer.Option(settings.api_url, "--api", help="The service's base URL (AURA_API_URL).")
STATUS_OPTION = typer.Option(None, "--status", "-s", help=f"Only these states: {', '.join(STATUSES)}.")

app = typer.Typer(
    help="Follow and steer jobs on a running service (`aura serve`).",
    no_args_is_help=True,
)


@contextmanager
def service(api_url: str) -> Iterator[ServiceClient]:
    """A client whose failures become a message on stderr and an exit code."""
    try:
        with ServiceClient(api_url) as client:
            yield client
    except Unreachable as exc:
        errors.print(
            f"[red]unreachable[/red] {escape(str(exc))}. Is the service running (`aura serve`)?", highlight=False
        )
        raise typer.Exit(exit_codes.UNREACHABLE) from exc
    except ServiceError as exc:
        problem = exc.problem
        errors.print(f"[red]{problem.get('code') or exc.status}[/red] {escape(str(exc))}", highlight=False)
        for action in problem.get("suggestedActions", []):
            errors.print(f"  - {escape(action)}", highlight=False)
        raise typer.Exit(_exit_code(exc.status)) from exc


def _exit_code(status: int) -> int:
    if status == 404:
        return exit_codes.NOT_FOUND
    if status == 409:
        return exit_codes.CONFLICT
    return exit_codes.UNREACHABLE if status >= 500 else exit_codes.USAGE


@app.command("list")
def list_jobs(
    status: list[str] = STATUS_OPTION,
    limit: int = typer.Option(20, min=1, max=200, help="How many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print the API's JSON answer, for scripts."),
    api_url: str = API_OPTION,
) -> None:
    """The newest jobs and the queue's counts."""
    with service(api_url) as client:
        page = client.list_jobs(status or [], limit)
    if as_json:
        console.print_json(data=page)
        return
    table = Table(box=None)
    for column in ("job id", "status", "percent"):
        table.add_column(column, no_wrap=True)
    table.add_column("topic", overflow="fold")
    for job in page["jobs"]:
        shown = f"{job['status']} ({job['stage']})" if job["status"] == "running" and job["stage"] else job["status"]
        table.add_row(job["jobId"], shown, f"{job['percent']:.0f} %", job["request"]["brief"]["topic"])
    console.print(table)
    stats = page["stats"]
    console.print(
        f"{len(page['jobs'])} of {page['total']} shown. Queue: "
        + ", ".join(f"{stats[name]} {name}" for name in ("queued", "running", "completed", "failed", "cancelled"))
    )


@app.command("watch")
def watch_job(
    job_id: str = typer.Argument(..., help="The job to follow."),
    logs: bool = typer.Option(False, "--logs", help="Print the job's log lines too."),
    api_url: str = API_OPTION,
) -> None:
    """Follow a job live to its end. Exits 0 if it completed, 1 if it failed, 130 if it was cancelled.

    Ctrl-C stops watching; the job goes on.
    """
    with service(api_url) as client:
        raise typer.Exit(_follow(client, job_id, logs=logs))


def _follow(client: ServiceClient, job_id: str, *, logs: bool = False) -> int:
    """Watch the job to its end; Ctrl-C stops watching and leaves it running (exit 130)."""
    try:
        return watch(client, job_id, console, logs=logs)
    except KeyboardInterrupt:
        console.print(f"Stopped watching; job {job_id} goes on.")
        return exit_codes.CANCELLED


@app.command("cancel")
def cancel_job(job_id: str = typer.Argument(..., help="The job to cancel."), api_url: str = API_OPTION) -> None:
    """Cancel a queued or running job; its stage and FFmpeg stop at once."""
    with service(api_url) as client:
        answer = client.cancel(job_id)
    console.print(f"Job {job_id} is {answer['status']}.")


@app.command("retry")
def retry_job(
    job_id: str = typer.Argument(..., help="A failed or cancelled job."),
    follow: bool = typer.Option(False, "--watch", help="Follow the new attempt to its end."),
    api_url: str = API_OPTION,
) -> None:
    """Start the next attempt of a failed or cancelled job; it resumes after the last completed stage.

    With --watch, Ctrl-C stops watching; the attempt goes on.
    """
    with service(api_url) as client:
        job = client.retry(job_id)
        console.print(
            f"Job {job_id}: attempt {job['attempt']} is {job['status']}"
            + (f", resuming after {job['lastCompletedStage']}." if job["lastCompletedStage"] else ".")
        )
        if follow:
            raise typer.Exit(_follow(client, job_id))


def submit_batch(api_url: str, path: Path) -> None:
    """`aura generate --from FILE.csv`: queue one job per row on the service, as one batch; a line per job.

    A dropped connection is tried again with the same `Idempotency-Key`, so no row is queued twice.
    """
    csv = path.read_bytes()
    key = f"aura-cli-{uuid.uuid4()}"
    with service(api_url) as client:
        for attempt in range(1, BATCH_TRIES + 1):
            try:
                created = client.create_batch(csv, key)
                break
            except Unreachable:
                if attempt == BATCH_TRIES:
                    raise
                time.sleep(attempt)
    topics = [job["brief"]["topic"] for job in batch_from_csv(csv)["jobs"]]
    for job, topic in zip(created["jobs"], topics, strict=True):
        console.print(f"{job['jobId']}  {job['status']}  {escape(topic)}", highlight=False)
    console.print(f"{len(created['jobs'])} jobs queued on {api_url}. Follow one with `aura jobs watch <job id>`.")


def run_remote(api_url: str, request: VideoRequest) -> int:
    """`aura generate --api URL`: submit to the service and watch; Ctrl-C cancels the job."""
    with service(api_url) as client:
        created = client.create_job(request.model_dump(mode="json", by_alias=True, exclude_none=True))
        job_id = created["jobId"]
        console.print(f"Job {job_id} queued on {api_url}. Prefect: {created['links']['prefect']}")
        try:
            return watch(client, job_id, console)
        except KeyboardInterrupt:
            console.print(f"Cancelling job {job_id}…")
            try:
                client.cancel(job_id)
            except ServiceError as exc:
                if exc.status != 409:  # 409: it ended by itself meanwhile
                    raise
            return report(client, _wait_until_ended(client, job_id), console)


def _wait_until_ended(client: ServiceClient, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + CANCEL_WAIT_SECONDS
    job = client.read_job(job_id)
    while job["status"] not in EXIT_BY_STATUS and time.monotonic() < deadline:
        time.sleep(0.5)
        job = client.read_job(job_id)
    return job
