"""What `aura` exits with, for scripts. The same codes for embedded and service-backed runs."""

OK = 0
FAILED = 1  # the job failed
USAGE = 2  # bad arguments or a request the service rejected (422)
NOT_FOUND = 3  # no such job
CONFLICT = 4  # the job cannot do that now (cancel an ended job, retry a running one, retry too soon)
UNREACHABLE = 5  # the service or Prefect did not answer
CANCELLED = 130  # the job was cancelled, or Ctrl-C stopped the command

HELP = (
    "Exit codes: 0 completed or done, 1 job failed, 2 bad input, 3 no such job, "
    "4 not possible in the job's state, 5 service unreachable, 130 cancelled or interrupted."
)
