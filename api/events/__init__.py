"""Prefect records -> facts -> a job's timeline -> the SSE contract's events; the poll loop and the
ETA. No HTTP in here.
"""
