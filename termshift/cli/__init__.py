"""The admin command line: `python starter.py --help`."""

from termshift.cli.app import app, main

__all__ = ["app", "main"]
