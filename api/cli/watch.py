"""A job's event stream drawn in the terminal: a progress bar, stage lines, warnings, and the outcome.

The stream is followed to its terminal event. A dropped connection (an API
restart, a load balancer) is picked up again with `Last-Event-ID`, so nothing
is missed or drawn twice; the watcher gives up only after the service has not
answered for `GIVE_UP_SECONDS`.
"""

import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn
from rich.table import Column

from api.cli import exit_codes
from api.cli.client import Event, ServiceClient, Unreachable

GIVE_UP_SECONDS = 300.0
MAX_BACKOFF_SECONDS = 30.0
EXIT_BY_STATUS = {"completed": exit_codes.OK, "failed": exit_codes.FAILED, "cancelled": exit_codes.CANCELLED}
STEP_LINES = {
    "completed": "[green]✓[/green] {step} completed{took}",
    "cached": "[green]✓[/green] {step} reused from an earlier attempt",
    "retrying": "[yellow]↻[/yellow] {step} failed, retrying",
    "failed": "[red]✕[/red] {step} failed",
    "cancelled": "[yellow]■[/yellow] {step} cancelled",
}


def duration(seconds: float | None) -> str:
    """`2h 15m 30s`, as the dashboard writes it."""
    if seconds is None:
        return "–"
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


class _Drawing:
    def __init__(self, console: Console, job_id: str, logs: bool) -> None:
        columns = (
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[stage]:<9}"),
            BarColumn(bar_width=20),
            TaskProgressColumn(),
            TextColumn("ETA {task.fields[eta]:<7} elapsed {task.fields[elapsed]:<7}"),
            TextColumn("{task.fields[message]}", table_column=Column(no_wrap=True, overflow="ellipsis", max_width=22)),
        )
        self.bar = Progress(*columns, console=console)
        self.task = self.bar.add_task(job_id, total=100, stage="…", eta="–", elapsed="–", message=job_id)
        self.logs = logs

    def draw(self, event: Event) -> None:
        data = event.data
        print_line = self.bar.console.print
        if event.name == "job-status":
            stage = data["stage"] if data["status"] == "running" and data["stage"] else data["status"]
            self.bar.update(self.task, completed=data["percent"], stage=stage, eta=duration(data["etaSeconds"]))
        elif event.name == "step-progress":
            self.bar.update(
                self.task,
                completed=data["percent"],
                stage=data["step"],
                message=data["message"],
                eta=duration(data["etaSeconds"]),
                elapsed=duration(data["elapsedSeconds"]),
            )
        elif event.name == "step-status" and data["status"] in STEP_LINES:
            took = f" in {data['durationSeconds']:.1f} s" if data.get("durationSeconds") is not None else ""
            print_line(STEP_LINES[data["status"]].format(step=data["step"], took=took))
        elif event.name == "warning":
            where = data["step"] or "job"
            print_line(f"[yellow]warning[/yellow] ({data['kind']}) {where}: {escape(data['message'])}", highlight=False)
        elif event.name == "job-log" and self.logs:
            print_line(f"{data['level']:<8} {data['step'] or '':<8} {data['message']}", markup=False, highlight=False)


def watch(client: ServiceClient, job_id: str, console: Console, logs: bool = False) -> int:
    """Follow the job's newest attempt to its end, then print how it ended; return the exit code."""
    client.read_job(job_id)  # a job that does not exist fails here, before a bar is drawn
    drawing = _Drawing(console, job_id, logs)
    last_id: str | None = None
    failures = 0
    down_since: float | None = None
    with drawing.bar:
        ended = None
        while ended is None:
            try:
                heard = False
                for event in client.events(job_id, last_id):
                    heard, failures, down_since = True, 0, None
                    last_id = event.id
                    drawing.draw(event)
                    if event.name in ("job-completed", "job-failed", "job-cancelled") and _ends_job(client, event):
                        ended = event.data
                        break
                if ended is None and not heard:
                    # 204: this client already had the end (or the job ended before the first connection).
                    job = client.read_job(job_id)
                    ended = job if job["status"] in EXIT_BY_STATUS else None
            except Unreachable as exc:
                down_since = down_since or time.monotonic()
                if time.monotonic() - down_since > GIVE_UP_SECONDS:
                    raise
                failures += 1
                notice = f"[yellow]reconnecting (attempt {failures})…[/yellow] {escape(str(exc))}"
                drawing.bar.update(drawing.task, message=notice)
            if ended is None:
                time.sleep(min(MAX_BACKOFF_SECONDS, 2.0 ** max(failures - 1, 0)))
        drawing.bar.update(drawing.task, stage=ended["status"], eta="–")
    return report(client, ended, console)


def _ends_job(client: ServiceClient, event: Event) -> bool:
    """Whether a terminal event is the job's end: the stream replays earlier attempts' ends too, and the
    end of one may come after the next attempt's first events (it waits for the run's last log lines)."""
    return bool(client.read_job(event.data["jobId"])["status"] == event.data["status"])


def report(client: ServiceClient, ended: dict[str, Any], console: Console) -> int:
    """How the job ended, from its terminal event or its body (both carry status, artifacts or error)."""
    status = ended["status"]
    job_id = ended["jobId"]
    if status == "completed":
        took = f" in {duration(ended['durationSeconds'])}" if ended.get("durationSeconds") is not None else ""
        console.print(f"[green]Completed[/green] job {job_id}{took}")
        for artifact in ended.get("artifacts", []):
            console.print(f"  {artifact['name']:<14} {client.base_url}{artifact['url']}")
    elif status == "failed":
        error = ended.get("error") or {}
        console.print(
            f"[red]Failed[/red] job {job_id}: {error.get('code')} at {error.get('stage')}: "
            f"{escape(error.get('message') or '')}",
            highlight=False,
        )
        for action in error.get("suggestedActions", []):
            console.print(f"  - {escape(action)}", highlight=False)
        console.print(f"  retry with: aura jobs retry {job_id}")
    else:
        console.print(f"[yellow]{status.capitalize()}[/yellow] job {job_id}")
    return EXIT_BY_STATUS.get(status, exit_codes.CANCELLED)
