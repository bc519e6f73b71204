"""The error tree of a job, with one table of codes.

The seed system numbered its codes inconsistently; this is the one table:

| code                      | class               | retried |
|---------------------------|---------------------|---------|
| E400-VALIDATION           | InvalidRequest      | no      |
| E403-PROVIDER_REJECTED    | ProviderRejected    | no      |
| E404-PROVIDER_NOT_FOUND   | ProviderNotFound    | no      |
| E503-PROVIDER_UNAVAILABLE | ProviderUnavailable | yes     |
| E302-FFMPEG_NOT_FOUND     | FfmpegNotFound      | no      |
| E304-FFMPEG_RUNTIME       | FfmpegFailed        | no      |
| E305-JOB_STALLED          | RenderStalled       | yes     |
| E307-STORAGE              | StorageError        | no      |
| E310-VOICE_FAILED         | VoiceFailed         | no      |
| E499-CANCELLED            | JobCancelled        | no      |

Whether an error is worth retrying is decided where it is raised, by its
class (`TransientError`), never by reading its message later.
"""

import errno
import os
from pathlib import Path


class AuraError(Exception):
    """Base of every error a job reports to its user."""

    code = "E500-INTERNAL"
    suggested_actions: tuple[str, ...] = ()

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.log_tail = log_tail

    def __reduce__(self) -> tuple[object, ...]:
        # Prefect pickles failed task results; keyword-only fields must survive.
        return (_rebuild, (type(self), self.message, self.log_tail))


def _rebuild(cls: type[AuraError], message: str, log_tail: str) -> AuraError:
    return cls(message, log_tail=log_tail)


class TransientError(AuraError):
    """An error that may heal by itself: the stage is retried."""


class InvalidRequest(AuraError, ValueError):
    code = "E400-VALIDATION"
    suggested_actions = ("Correct the field named in the message and submit again.",)


class ProviderNotFound(AuraError, LookupError):
    code = "E404-PROVIDER_NOT_FOUND"
    suggested_actions = (
        "Register the block types with `prefect block register -m blocks`.",
        "Check the provider name, or leave it out to use the offline default.",
    )


class ProviderRejected(AuraError):
    code = "E403-PROVIDER_REJECTED"
    suggested_actions = ("Check the provider's API key and model name in its block.",)


class ProviderUnavailable(TransientError):
    code = "E503-PROVIDER_UNAVAILABLE"
    suggested_actions = ("Retry later, or use the offline default provider.",)


class FfmpegNotFound(AuraError):
    code = "E302-FFMPEG_NOT_FOUND"
    suggested_actions = ("Reinstall the project: FFmpeg comes from the imageio-ffmpeg wheel.",)


class FfmpegFailed(AuraError):
    code = "E304-FFMPEG_RUNTIME"
    suggested_actions = (
        "Read ffmpeg.log in results/<jobId>/render/ under the storage root for the encoder's own message.",
    )


class RenderStalled(TransientError):
    code = "E305-JOB_STALLED"
    suggested_actions = (
        "Retry the job: rendering resumes after the last completed stage.",
        "If it stalls again, check free disk space and CPU load on the worker.",
    )


class StorageError(AuraError, OSError):
    code = "E307-STORAGE"
    suggested_actions = ("Check that the storage root is writable and has free space.",)


# Errors no retry can fix until someone frees space or remounts: the job fails at once, saying so.
FULL_OR_READ_ONLY = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})
# Below this, a write that failed is taken to have failed for want of space.
LOW_SPACE_BYTES = 1 << 20


def storage_error_of(error: BaseException) -> StorageError | None:
    """The storage problem behind an OS error, if it is one."""
    if isinstance(error, OSError) and not isinstance(error, StorageError) and error.errno in FULL_OR_READ_ONLY:
        return StorageError(f"{error.strerror}: {error.filename}" if error.filename else str(error.strerror))
    return None


def storage_trouble(folder: Path) -> str | None:
    """Why nothing more can be written under `folder`: read-only, or (nearly) full; None if neither."""
    try:
        stats = os.statvfs(folder)
    except OSError:
        return None
    if stats.f_flag & os.ST_RDONLY:
        return f"{folder} is on a read-only file system"
    free = stats.f_bavail * stats.f_frsize
    if free < LOW_SPACE_BYTES:
        return f"no space left under {folder} ({free // 1024} KiB free)"
    return None


class VoiceFailed(AuraError):
    code = "E310-VOICE_FAILED"
    suggested_actions = ("Choose another voice, or check the narration text.",)


class JobCancelled(AuraError):
    code = "E499-CANCELLED"
    suggested_actions = ("Retry the job to resume it from the last completed stage.",)
