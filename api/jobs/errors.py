"""What the job model raises. It knows nothing of HTTP: `api.problems` maps each class
to a status and answers it as an RFC 7807 problem.

    JobError
    ├── JobNotFound       no such job, or one the caller may not see (404)
    ├── OutputNotFound    no such output file of a job (404)
    ├── JobConflict       not possible in the job's state (409)
    │   ├── JobEnded          cancel a job that already ended
    │   ├── NotRetryable      retry a job that is not failed or cancelled
    │   ├── RetryLimit        the job was retried as often as allowed
    │   └── RetryBackoff      too soon after the last attempt (`retry_after`)
    ├── KeyReused         an `Idempotency-Key` sent again with another body (422)
    ├── QueueFull         the owner's or the service's queue is full (429, `retry_after`)
    └── NotDeployed       Prefect has no deployment to run jobs on (503)
"""


class JobError(Exception):
    """Base of the job model's errors: a code, a title, a message a user can act on."""

    code = "E500-INTERNAL"
    title = "Job error"
    suggested_actions: tuple[str, ...] = ()

    def __init__(
        self, message: str, *, retry_after: int | None = None, suggested_actions: tuple[str, ...] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        if suggested_actions is not None:
            self.suggested_actions = suggested_actions


class JobNotFound(JobError, LookupError):
    code = "E404-NOT_FOUND"
    title = "Not found"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job {job_id!r}")


class OutputNotFound(JobError, LookupError):
    code = "E404-NOT_FOUND"
    title = "Not found"

    def __init__(self, name: str) -> None:
        super().__init__(f"no artifact {name!r}")


class JobConflict(JobError):
    title = "Not possible in the job's state"


class JobEnded(JobConflict):
    code = "E409-JOB_ENDED"
    title = "Job already ended"
    suggested_actions = ("Retry the job instead, if it failed or was cancelled.",)


class NotRetryable(JobConflict):
    code = "E409-NOT_RETRYABLE"
    title = "Job cannot be retried"


class RetryLimit(JobConflict):
    code = "E409-RETRY_LIMIT"
    title = "Retry limit reached"
    suggested_actions = ("Submit a new job with the same request.",)


class RetryBackoff(JobConflict):
    code = "E409-RETRY_BACKOFF"
    title = "Retry too soon"


class KeyReused(JobError):
    code = "E422-IDEMPOTENCY_KEY_REUSED"
    title = "Idempotency key reused"
    suggested_actions = ("Send the same body as the first time to get that job back, or use a new key for a new job.",)


class QueueFull(JobError):
    code = "E429-QUEUE_FULL"
    title = "Too many queued jobs"
    suggested_actions = ("Wait for queued jobs to start, or cancel some, then submit again.",)


class NotDeployed(JobError):
    code = "E503-NOT_DEPLOYED"
    title = "Service not set up"
    suggested_actions = ("Start `aura worker` or `aura serve`: either provisions Prefect when it starts.",)
