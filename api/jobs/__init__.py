"""The job model over Prefect: submit, read, list, cancel, retry, logs, each process's copy of the
jobs. Raises `api.jobs.errors`; no HTTP in here.
"""
