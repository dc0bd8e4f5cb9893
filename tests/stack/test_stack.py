"""The embedded stack (`python -m termshift.stack`, what `scripts/up` runs) as a user runs it:
a subprocess on free ports with its own data directory, stopped with Ctrl-C (SIGINT)."""

from __future__ import annotations

import socket
import time
import urllib.request
import uuid
from contextlib import closing
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from termshift.stack import READY_MARKER
from termshift.temporal import SEARCH_ATTRIBUTES
from tests.support.databases import ExclusiveLock, sqlite_file
from tests.support.stack import Stack, free_ports, running_stack
from tests.support.temporal import binary

pytestmark = pytest.mark.devserver


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


async def test_a_server_file_from_before_gets_the_search_attributes_added_since(
    tmp_path: Path,
) -> None:
    """`--search-attribute` applies only when the dev server creates its file: a data directory
    from an earlier version, with fewer attributes, gets the missing ones registered on start."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    port, ui_port = free_ports()
    earlier = SEARCH_ATTRIBUTES[:8]  # what the first versions registered
    args = [a for key in earlier for a in ("--search-attribute", f"{key.name}=Keyword")]
    args[args.index("NextInvoiceAt=Keyword")] = "NextInvoiceAt=Datetime"
    args[args.index("CancellationAt=Keyword")] = "CancellationAt=Datetime"
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        port=port,
        dev_server_database_filename=str(data_dir / "temporal.db"),
        dev_server_extra_args=args,
    )
    before = await registered_search_attributes(env.client)
    await env.shutdown()
    assert not {key.name for key in SEARCH_ATTRIBUTES[8:]} & before.keys()

    with running_stack(data_dir, port, ui_port, "--no-worker") as stack:
        client = await Client.connect(f"127.0.0.1:{port}", namespace="default")
        attributes = await registered_search_attributes(client)
        for key in SEARCH_ATTRIBUTES:
            assert attributes.get(key.name) == key.indexed_value_type.value, key.name
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


def test_the_stack_waits_for_a_locked_billing_database(tmp_path: Path) -> None:
    """Another process holds the billing database: the stack says so, waits, and starts the
    worker as soon as the lock is released."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    database_path = sqlite_file(data_dir / "termshift.db", "delete")
    port, ui_port = free_ports()
    with ExclusiveLock(database_path) as lock:
        stack = Stack.start(data_dir, port, ui_port)
        try:
            stack.wait_for("Billing database", timeout=60)
            assert stack.process.poll() is None
            lock.release()
            stack.wait_for(READY_MARKER, timeout=30)
            assert stack.interrupt() == 0, stack.output
        finally:
            stack.kill()
    output = " ".join(stack.output.split())  # log lines may wrap
    assert "WARNING" in output
    assert "is not available (database is locked); retrying in 1 s" in output
    assert "The billing database is at the latest schema revision." in output
    assert "Stopping the worker" in output


def test_ctrl_c_while_the_stack_waits_for_its_billing_database(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    database_path = sqlite_file(data_dir / "termshift.db", "delete")
    port, ui_port = free_ports()
    with ExclusiveLock(database_path):
        stack = Stack.start(data_dir, port, ui_port)
        try:
            stack.wait_for("Billing database", timeout=60)
            assert stack.interrupt(timeout=15) == 0, stack.output
        finally:
            stack.kill()
    output = stack.output
    assert READY_MARKER not in output
    assert "Stopping the Temporal dev server" in output
    assert "Traceback" not in output
    assert database_path.stat().st_size == 0  # never migrated


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
