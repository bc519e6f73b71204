"""The service's processes: `aura serve`/`worker`/`api`, the embedded Prefect server, and provisioning
Prefect for jobs.
"""
