"""The service side: the FastAPI facade, the job model over Prefect, the event pipeline, the `aura`
command line and process supervision.
"""
