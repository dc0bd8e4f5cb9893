"""Contracts in the Temporal web UI: found by visibility queries over HTTP, described in words."""

import asyncio
import base64
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from billing.contract import Command, Customer, Location, Plan, new_contract
from store.db import Database
from termshift.services import catalog
from termshift.services.contracts import create_contract
from termshift.temporal import data_converter, dev_server_search_attribute_args
from tests.support.clock import server_clock
from tests.support.databases import sqlite_url
from tests.support.stack import free_port
from tests.support.temporal import binary, new_task_queue, running_worker
from workflows import workflow_id

pytestmark = pytest.mark.devserver
ADMIN = Command(actor="test", reason="visibility test")


@pytest.fixture(scope="module")
async def ui_server() -> AsyncIterator[tuple[WorkflowEnvironment, int]]:
    ui_port = free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=data_converter(),
        dev_server_extra_args=dev_server_search_attribute_args(),
        ui=True,
        ui_port=ui_port,
    )
    yield env, ui_port
    await env.shutdown()


async def get_json(url: str) -> Any:
    """GET from the UI server on loopback, waiting for it to come up."""
    for _ in range(100):
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.loads(response.read())
        except (urllib.error.HTTPError, urllib.error.URLError):
            await asyncio.sleep(0.2)
    raise AssertionError(f"the web UI did not answer {url}")


def decoded(payload: dict[str, Any]) -> Any:
    return json.loads(base64.b64decode(payload["data"]))


async def test_a_contract_is_found_in_the_web_ui_by_its_search_attributes(
    ui_server: tuple[WorkflowEnvironment, int], tmp_path: Path
) -> None:
    env, ui_port = ui_server
    database = Database(sqlite_url(tmp_path))
    database.migrate()
    tag = uuid.uuid4().hex[:6]
    location = Location(id=f"ber-{tag}", name="Berlin", timezone="Europe/Berlin", currency="EUR")
    desk = Plan(code=f"desk-{tag}", name="Hot desk", location_id=location.id, price=Decimal(300))
    office = Plan(code=f"office-{tag}", name="Office", location_id=location.id, price=Decimal(900))
    customer = Customer(
        id=f"ada-{tag}", name="Ada Lovelace", email="ada@example.com", location_id=location.id
    )
    catalog.add_location(database, location, ADMIN)
    catalog.add_plan(database, desk, ADMIN)
    catalog.add_plan(database, office, ADMIN)
    catalog.add_customer(database, customer, ADMIN)
    start = (await server_clock(env, location.timezone)).in_next_year(1, 1)
    contract = new_contract(
        id=f"ui-{tag}",
        customer_id=customer.id,
        location=location,
        plan=desk,
        start=start,
    )
    task_queue = new_task_queue()
    async with running_worker(env.client, database, task_queue):
        await create_contract(env.client, contract, ADMIN, task_queue=task_queue)
        handle = env.client.get_workflow_handle(workflow_id(contract.id))

        query = f"CustomerId = '{customer.id}' AND PlanCode = '{desk.code}'"
        url = (
            f"http://127.0.0.1:{ui_port}/api/v1/namespaces/default/workflows?"
            + urllib.parse.urlencode({"query": query})
        )
        found: list[Any] = []
        for _ in range(50):  # visibility is eventually consistent
            found = (await get_json(url)).get("executions", [])
            if found:
                break
            await asyncio.sleep(0.2)
        assert [item["execution"]["workflowId"] for item in found] == [workflow_id(contract.id)]

        described = await get_json(
            f"http://127.0.0.1:{ui_port}/api/v1/namespaces/default/workflows/"
            f"{workflow_id(contract.id)}"
        )
        metadata = described["executionConfig"]["userMetadata"]
        summary = decoded(metadata["summary"])
        assert customer.id in summary
        assert "Hot desk" in summary
        assert "300.00 EUR" in summary
        # Static details are set once, at the start: only what stays true for the whole life.
        static = decoded(metadata["details"])
        assert f"**Start:** {start}" in static
        assert "Status" not in static
        assert "Starts on" not in static

        current = await handle.query("__temporal_workflow_metadata")
        assert f"Starts on {start} with its first invoice." in current.current_details

        # The timer says what it waits for.
        history = await handle.fetch_history()
        timers = [
            event.user_metadata.summary
            for event in history.events
            if event.HasField("timer_started_event_attributes")
        ]
        assert timers
        assert f"Starts on {start}" in json.loads(timers[-1].data)
        assert "00:00 Europe/Berlin" in json.loads(timers[-1].data)
    database.dispose()
