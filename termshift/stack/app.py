"""The embedded stack as a command: its banner, running it until Ctrl-C, its arguments."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shlex
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from billing.commands import Cli, command_line
from termshift.settings import PROJECT_ROOT, Settings, describe_invalid
from termshift.stack.server import (
    DEFAULT_PORT,
    DEFAULT_UI_PORT,
    LOCAL_HOST,
    NAMESPACE,
    READY_MARKER,
    WORKER_STOP_TIMEOUT,
    DataDirLock,
    DevServer,
    Options,
    StackError,
    check_ports,
    console,
    temporal_executable,
)

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
        f"{prefix}{python} {starter} {command_line(Cli.LIST)}",
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
