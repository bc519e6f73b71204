"""A batch as CSV, one video per row: the create bodies of `POST /api/jobs/batch` with `Content-Type: text/csv`.

The header names the columns, in any order and case (`Script_Provider` and `script provider` are the
same column); an empty cell keeps the field's default. Each row becomes a create body, so a bad cell
is reported as the JSON field it fills: `jobs.3.brief.topic` is the fourth row's topic.

Nothing here imports Prefect: `aura generate --from` reads the CSV before it knows which Prefect
server to talk to, and Prefect reads its settings when first imported.
"""

import csv
import io
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

# A column's name, and the create-body field it fills, as (section, field) or a top-level field.
COLUMNS: dict[str, tuple[str, ...]] = {
    "topic": ("brief", "topic"),
    "audience": ("brief", "audience"),
    "goal": ("brief", "goal"),
    "tone": ("brief", "tone"),
    "language": ("brief", "language"),
    "aspect": ("brief", "aspect"),
    "duration": ("plan", "targetDurationSeconds"),
    "pacing": ("plan", "pacing"),
    "density": ("plan", "density"),
    "style": ("plan", "style"),
    "voice": ("voice", "name"),
    "rate": ("voice", "rate"),
    "pitch": ("voice", "pitch"),
    "width": ("render", "width"),
    "height": ("render", "height"),
    "fps": ("render", "fps"),
    "subtitles": ("render", "subtitles"),
    "script-provider": ("providers", "script"),
    "voice-provider": ("providers", "voice"),
    "visuals-provider": ("providers", "visuals"),
    "priority": ("priority",),
}


def _invalid(*errors: InitErrorDetails) -> ValidationError:
    return ValidationError.from_exception_data("BatchRequest", list(errors))


def _error(loc: tuple[str | int, ...], message: str) -> InitErrorDetails:
    return {"type": PydanticCustomError("csv", message), "loc": loc, "input": None}


def column_key(name: str) -> str:
    return "-".join(name.strip().lower().replace("_", " ").replace("-", " ").split())


def batch_from_csv(data: bytes) -> dict[str, Any]:
    """The batch body `{"jobs": [...]}` the CSV describes; a `ValidationError` naming what cannot be read."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _invalid(_error(("body",), f"the CSV is not UTF-8: {exc.reason} at byte {exc.start}")) from exc
    rows = list(csv.reader(io.StringIO(text, newline="")))
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise _invalid(_error(("body",), "the CSV is empty; give a header row and one row per video"))
    header = [column_key(name) for name in rows[0]]
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        known = ", ".join(COLUMNS)
        raise _invalid(*(_error(("csv", name), f"unknown column; the columns are: {known}") for name in unknown))
    if twice := sorted({name for name in header if header.count(name) > 1}):
        raise _invalid(*(_error(("csv", name), "the column appears more than once") for name in twice))
    jobs = []
    for index, row in enumerate(rows[1:]):
        if len(row) > len(header):
            raise _invalid(_error(("jobs", index), f"the row has {len(row)} cells, the header {len(header)}"))
        jobs.append(_job(dict(zip(header, row, strict=False))))
    return {"jobs": jobs}


def _job(cells: dict[str, str]) -> dict[str, Any]:
    job: dict[str, Any] = {}
    for name, value in cells.items():
        if not value.strip():
            continue
        *section, field = COLUMNS[name]
        (job.setdefault(section[0], {}) if section else job)[field] = value
    return job
