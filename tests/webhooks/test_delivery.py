"""Webhook delivery through the real workflow on the dev server, to a real receiver on 127.0.0.1.

Every request's signature is verified with the `standardwebhooks` library. Events of two contracts
arrive, each contract's in sequence order, even when the receiver answers 500 at first.
"""

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from store.db import Database
from store.repository import webhooks
from termshift.settings import Settings
from termshift.worker import build_webhook_worker
from tests.store.test_webhooks import SECRET, two_contracts
from tests.support.temporal import new_task_queue, start_dev_server
from tests.webhooks.receiver import Receiver, receiving
from workflows.webhook_requests import EndpointDelivery
from workflows.webhooks import WebhookEndpointWorkflow, workflow_id

pytestmark = pytest.mark.devserver


@asynccontextmanager
async def delivering(
    database: Database, config: EndpointDelivery | None = None
) -> AsyncIterator[WorkflowEnvironment]:
    """The dev server, the webhook worker and endpoint `crm`'s delivery workflow, running."""
    env = await start_dev_server()
    try:
        settings = Settings(webhook_task_queue=new_task_queue())
        async with build_webhook_worker(
            env.client, database, settings=settings, strict_sandbox=True
        ):
            await env.client.start_workflow(
                WebhookEndpointWorkflow.run,
                config or EndpointDelivery(endpoint_id="crm", attempt_timeout=timedelta(seconds=5)),
                id=workflow_id("crm"),
                task_queue=settings.webhook_task_queue,
            )
            yield env
    finally:
        await env.shutdown()


async def deliver_all(database: Database, receiver: Receiver, expected: int) -> None:
    async with delivering(database):
        await receiver.wait_for(expected, timeout=60)


def counts(database: Database) -> tuple[int, int, int]:
    """(delivered, pending, failed) deliveries of `crm`."""
    with database.session() as session:
        found = webhooks.delivery_counts(session, "crm")
    return found.delivered, found.pending, found.failed


def assert_in_order(receiver: Receiver) -> None:
    """Each contract's three events arrived once each, in sequence order."""
    for contract in ("c1", "c2"):
        got = [
            body["data"]["sequence"]
            for body in receiver.accepted
            if body["data"]["contract_id"] == contract
        ]
        assert got == [1, 2, 3], contract


def assert_nowhere(secret: str, found: object) -> None:
    """`secret` is in no string of the JSON `found`, nor in any decoded from base64."""
    if isinstance(found, dict):
        for value in found.values():
            assert_nowhere(secret, value)
    elif isinstance(found, list):
        for value in found:
            assert_nowhere(secret, value)
    elif isinstance(found, str):
        assert secret not in found
        with contextlib.suppress(ValueError):
            assert secret.encode() not in base64.b64decode(found, validate=True)


def add_endpoint(database: Database, url: str) -> None:
    with database.session() as session:
        webhooks.add_endpoint(
            session, endpoint_id="crm", url=url, event_types=(), secret=SECRET, after_position=0
        )


async def test_every_event_arrives_signed_and_in_order_per_contract(catalog: Database) -> None:
    positions = two_contracts(catalog)
    with receiving(SECRET) as receiver:
        add_endpoint(catalog, receiver.url)
        async with delivering(catalog) as env:
            await receiver.wait_for(6, timeout=60)
            history = await env.client.get_workflow_handle(workflow_id("crm")).fetch_history()
    assert receiver.rejected == []
    assert_in_order(receiver)
    # The secret is read by the activity: no event of the workflow's history holds it, not even
    # in a payload (which the history's JSON holds in base64).
    assert_nowhere(SECRET.removeprefix("whsec_"), history.to_json_dict())
    with catalog.session() as session:
        counts = webhooks.delivery_counts(session, "crm")
    assert (counts.delivered, counts.pending, counts.failed) == (6, 0, 0)
    assert sorted(b["data"]["position"] for b in receiver.accepted) == sorted(
        positions["c1"] + positions["c2"]
    )


async def test_a_receiver_that_fails_at_first_gets_everything_in_order(catalog: Database) -> None:
    two_contracts(catalog)
    with receiving(SECRET, fail_first=2) as receiver:
        add_endpoint(catalog, receiver.url)
        await deliver_all(catalog, receiver, expected=6)
    assert_in_order(receiver)
    assert receiver.failed_answers == 2


async def test_a_wrong_secret_fails_visibly_and_redelivery_sends_everything(
    catalog: Database,
) -> None:
    """The receiver refuses every signature: nothing is marked delivered, each contract's first
    event is kept as failed once the retry window ends, holding back the contract's others. With
    the right secret, `redeliver` sends all of them, each contract's in order."""
    two_contracts(catalog)
    config = EndpointDelivery(
        endpoint_id="crm",
        retry_window=timedelta(seconds=4),
        attempt_timeout=timedelta(seconds=2),
        max_retry_interval=timedelta(seconds=1),
    )
    with receiving("whsec_" + "QUJD" * 8) as receiver:
        add_endpoint(catalog, receiver.url)
        async with delivering(catalog, config):
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while counts(catalog) != (0, 4, 2):
                assert loop.time() < deadline, counts(catalog)
                await asyncio.sleep(0.2)
            assert receiver.accepted == []
            assert len(receiver.rejected) >= 2
            with catalog.session() as session:
                error = webhooks.delivery_counts(session, "crm").last_error
            assert error is not None
            assert "answered HTTP 401" in error
            assert SECRET not in error
            receiver.secret = SECRET
            with catalog.session() as session:
                assert webhooks.redeliver(session, "crm") == 2
            await receiver.wait_for(6, timeout=60)
    assert counts(catalog) == (6, 0, 0)
    assert_in_order(receiver)
