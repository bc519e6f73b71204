"""The video pipeline: the `generate_video` flow, its stages, providers and media tools.

Importing this package must stay cheap: the CLI reads settings from here before
it decides which Prefect server to talk to, and Prefect is imported later.
"""
