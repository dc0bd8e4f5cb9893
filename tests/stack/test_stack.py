"""The embedded stack (`python -m termshift.stack`, what `scripts/up` runs) as a user runs it:
a subprocess on free ports with its own data directory, stopped with Ctrl-C (SIGINT)."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus

from termshift.stack import READY_MARKER
from termshift.temporal import SEARCH_ATTRIBUTES

pytestmark = pytest.mark.devserver

STARTUP_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
    def start(cls, data_dir: Path, port: int, ui_port: int, *extra: str) -> Stack:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
        for name in ("TERMSHIFT_DATA_DIR", "TERMSHIFT_DATABASE_URL"):
            env.pop(name, None)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "termshift.stack",
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
def running_stack(data_dir: Path, port: int, ui_port: int, *extra: str) -> Iterator[Stack]:
    stack = Stack.start(data_dir, port, ui_port, *extra)
    try:
        stack.wait_for(READY_MARKER)
        yield stack
    finally:
        stack.kill()


def web_ui_status(ui_port: int) -> int:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/", timeout=5) as response:
                status: int = response.status
                return status
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


async def registered_search_attributes(client: Client) -> dict[str, IndexedValueType.ValueType]:
    response = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    return dict(response.custom_attributes)


async def test_stack_starts_stops_on_ctrl_c_and_resumes(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port, ui_port = free_ports()
    workflow_id = f"stack-test-{uuid.uuid4()}"

    with running_stack(data_dir, port, ui_port, "--no-worker") as stack:
        assert f"127.0.0.1:{port}" in stack.output
        assert f"http://localhost:{ui_port}" in stack.output
        assert "starter.py --help" in stack.output

        client = await Client.connect(f"127.0.0.1:{port}", namespace="default")
        attributes = await registered_search_attributes(client)
        for key in SEARCH_ATTRIBUTES:
            assert key.name in attributes, f"{key.name} is not registered: {attributes}"
        assert attributes["ContractId"] == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        assert attributes["NextInvoiceAt"] == IndexedValueType.INDEXED_VALUE_TYPE_DATETIME

        assert web_ui_status(ui_port) == 200

        # No worker polls this queue: the workflow just waits, and must outlive the restart.
        await client.start_workflow(
            "NoSuchWorkflow", id=workflow_id, task_queue=f"stack-test-{uuid.uuid4()}"
        )
        assert stack.interrupt() == 0, stack.output

    assert (data_dir / "temporal.db").is_file()
    assert (data_dir / "temporal-server.log").is_file()

    # Same data directory: the search attributes are registered again without complaint, and
    # what the first run held is still there.
    with running_stack(data_dir, port, ui_port, "--no-worker") as stack:
        client = await Client.connect(f"127.0.0.1:{port}", namespace="default")
        attributes = await registered_search_attributes(client)
        assert {key.name for key in SEARCH_ATTRIBUTES} <= attributes.keys()
        handle = client.get_workflow_handle(workflow_id)
        description = await handle.describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
        await handle.terminate(reason="test over")
        assert stack.interrupt() == 0, stack.output


def test_default_stack_migrates_and_runs_the_worker(tmp_path: Path) -> None:
    """What `scripts/up` runs: the billing database is migrated and the worker polls."""
    data_dir = tmp_path / "data"
    port, ui_port = free_ports()
    with running_stack(data_dir, port, ui_port) as stack:
        assert "worker running in this process" in stack.output
        assert f"sqlite:///{data_dir / 'termshift.db'}" in stack.output
        assert (data_dir / "termshift.db").is_file()
        assert stack.interrupt() == 0, stack.output
    assert "Stopping the worker" in stack.output


@pytest.mark.parametrize("occupied", ["port", "ui-port"])
def test_occupied_port_fails_clearly(tmp_path: Path, occupied: str) -> None:
    port, ui_port = free_ports()
    taken = port if occupied == "port" else ui_port
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as listener:
        listener.bind(("127.0.0.1", taken))
        listener.listen()
        stack = Stack.start(tmp_path / "data", port, ui_port)
        try:
            code = stack.process.wait(timeout=60)
        finally:
            stack.kill()
    output = stack.output
    assert code == 1, output
    assert f"already listening on 127.0.0.1:{taken}" in output
    assert "--port" in output  # says how to pick other ports
    assert not (tmp_path / "data" / "temporal.db").exists()


def test_second_stack_on_the_same_port_fails_clearly(tmp_path: Path) -> None:
    port, ui_port = free_ports()
    with running_stack(tmp_path / "first", port, ui_port, "--no-worker") as first:
        second = Stack.start(tmp_path / "second", port, ui_port, "--no-worker")
        try:
            code = second.process.wait(timeout=60)
        finally:
            second.kill()
        assert code == 1, second.output
        assert f"already listening on 127.0.0.1:{port}" in second.output
        assert first.process.poll() is None, "the first stack must keep running"
        assert first.interrupt() == 0, first.output


def test_second_stack_on_the_same_data_dir_fails_clearly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port, ui_port = free_ports()
    with running_stack(data_dir, port, ui_port, "--no-worker") as first:
        other_port, other_ui_port = free_ports()
        second = Stack.start(data_dir, other_port, other_ui_port, "--no-worker")
        try:
            code = second.process.wait(timeout=60)
        finally:
            second.kill()
        assert code == 1, second.output
        assert "already using the data directory" in second.output
        assert first.interrupt() == 0, first.output
