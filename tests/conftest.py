"""Shared test setup: helper modules live beside this file (``pythonpath`` in pyproject)."""
