"""Script writers, voices and slides: plain functions of plain data, no Prefect in here."""
