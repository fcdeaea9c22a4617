"""The ``renkei`` command."""

from renkei.cli.main import app, main

__all__ = ["app", "main"]
