"""The dashboard: static files served by the API at `/` (package data, so an installed copy has them)."""

from pathlib import Path

DIRECTORY = Path(__file__).resolve().parent
