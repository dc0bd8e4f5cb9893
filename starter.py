"""Termshift's admin command line. `python starter.py --help` lists the commands."""

from termshift.cli import app

if __name__ == "__main__":
    app()
