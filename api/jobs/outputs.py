"""A completed job's files in `jobs/<jobId>/` under the storage root, which API processes share."""

from pathlib import Path

from api.jobs.errors import OutputNotFound
from api.schemas.jobs import ArtifactPublic
from flows.contract.layout import OUTPUT_TYPES, job_folders


def list_outputs(job_id: str) -> list[ArtifactPublic]:
    folder = job_folders(job_id).outputs
    return [
        ArtifactPublic(
            name=name,
            type=media_type,
            size_bytes=(folder / name).stat().st_size,
            url=f"/api/jobs/{job_id}/artifacts/{name}",
        )
        for name, media_type in OUTPUT_TYPES.items()
        if (folder / name).is_file()
    ]


def output_file(job_id: str, name: str) -> tuple[Path, str]:
    """The path and media type of one output; `OutputNotFound` for any other name, or a path leaving the folder."""
    media_type = OUTPUT_TYPES.get(name)
    if media_type is None:
        raise OutputNotFound(name)
    folder = job_folders(job_id).outputs.resolve()
    path = (folder / name).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        raise OutputNotFound(name)
    return path, media_type
