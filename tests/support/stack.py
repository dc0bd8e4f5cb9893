"""The embedded stack (`python -m termshift.stack`, what `scripts/up` runs) as a user runs it:
a subprocess on free ports with its own data directory, stopped with Ctrl-C (SIGINT)."""

from __future__ import annotations

import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from termshift.stack import READY_MARKER

STARTUP_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0


def _ephemeral_ports() -> range:
    """The ports the kernel hands out to outgoing connections (Linux; else the IANA range)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(49152, 65536)


def free_port() -> int:
    """A port nothing listens on, below the ephemeral range: a port the kernel picked for a
    listener would be free now, but may be given to some outgoing connection (the dev server
    opens many) before the server under test binds it."""
    ephemeral = _ephemeral_ports()
    candidates = range(20000, ephemeral.start) if ephemeral.start > 21000 else range(10000, 20000)
    for _ in range(200):
        port = random.choice(candidates)
        with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found below the ephemeral range")


def free_ports() -> tuple[int, int]:
    port = free_port()
    ui_port = free_port()
    while ui_port == port:
        ui_port = free_port()
    return port, ui_port


@dataclass
class Stack:
    """A running `python -m termshift.stack`, its output collected line by line."""

    process: subprocess.Popen[str]
    port: int
    ui_port: int
    lines: list[str] = field(default_factory=list)
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)
    _pump_thread: threading.Thread | None = None

    @classmethod
    def start(
        cls,
        data_dir: Path,
        port: int,
        ui_port: int,
        *extra: str,
        command: Sequence[str] = (sys.executable, "-m", "termshift.stack"),
    ) -> Stack:
        """Start the stack; `command` is how (default: the module; `scripts/up` runs it too)."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
        for name in ("TERMSHIFT_DATA_DIR", "TERMSHIFT_DATABASE_URL"):
            env.pop(name, None)
        process = subprocess.Popen(
            [
                *command,
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
                "--ui-port",
                str(ui_port),
                *extra,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        stack = cls(process=process, port=port, ui_port=ui_port)
        stack._pump_thread = threading.Thread(target=stack._pump, daemon=True)
        stack._pump_thread.start()
        return stack

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    @property
    def output(self) -> str:
        if self.process.poll() is not None and self._pump_thread is not None:
            self._pump_thread.join(timeout=10)  # everything it printed, once it has exited
        self._drain()
        return "\n".join(self.lines)

    def _drain(self) -> None:
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return
            if line is not None:
                self.lines.append(line)

    def wait_for(self, text: str, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(
                    f"the stack exited ({self.process.wait()}) before printing {text!r}:\n"
                    + self.output
                )
            self.lines.append(line)
            if text in line:
                return
        pytest.fail(f"no {text!r} within {timeout} s:\n{self.output}")

    def interrupt(self, timeout: float = STOP_TIMEOUT) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the stack did not stop within {timeout} s of SIGINT:\n{self.output}")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@contextmanager
def running_stack(
    data_dir: Path,
    port: int,
    ui_port: int,
    *extra: str,
    command: Sequence[str] = (sys.executable, "-m", "termshift.stack"),
) -> Iterator[Stack]:
    stack = Stack.start(data_dir, port, ui_port, *extra, command=command)
    try:
        stack.wait_for(READY_MARKER)
        yield stack
    finally:
        stack.kill()
