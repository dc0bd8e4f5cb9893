"""The admin command line: `python starter.py --help`."""

from termshift.cli.app import app

__all__ = ["app"]
