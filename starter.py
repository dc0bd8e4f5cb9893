"""Termshift's admin command line. `python starter.py --help` lists the commands."""

from termshift.cli import main

if __name__ == "__main__":
    main()
