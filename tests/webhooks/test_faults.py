"""Webhook delivery when things break: nothing lost, each contract's events in sequence order.

Every test runs the real delivery workflow on a real dev server and a real receiver on 127.0.0.1
that verifies each signature with the `standardwebhooks` library; the billing database is SQLite
and PostgreSQL (the `catalog` fixture). Delivery is at least once: where a fault makes the
receiver handle an event twice, order is checked on each event's first arrival — a contract's
event is only sent once its previous one was acknowledged, so first arrivals are in sequence.

1. The receiver is down (connection refused) while events are written; it comes up on the same
   port and gets every one of them, once, in order.
2. The receiver answers 500 or answers too late, at random: everything arrives, in order.
3. The worker process is killed (SIGKILL) while a request is certainly in flight; a new worker
   delivers everything, the event in flight again.
4. With a small `deliveries_per_run` the workflow continues as new, again and again, and every
   event arrives once, in order.
5. A delivery still failing when a run reaches that bound is cancelled after `drain_timeout`, not
   given up: the run continues as new, other contracts go on, and it is tried again.
"""

import random
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from billing.contract import Command, Contract
from billing.events import Effect, events_of
from store import repository
from store.db import Database
from store.models import WebhookDeliveryRow
from termshift.settings import Settings
from termshift.worker import build_webhook_worker
from tests.store.conftest import GENEVA, contract, record
from tests.store.test_webhooks import SECRET
from tests.support.clock import Clock, dev_server_clock, server_clock
from tests.support.faults import eventually, rig
from tests.support.stack import free_port
from tests.support.temporal import new_task_queue, start_dev_server
from tests.webhooks.receiver import Answer, Receiver, receiving
from tests.webhooks.test_delivery import add_endpoint, counts
from workflows.webhook_requests import DELIVERIES_PER_RUN, DRAIN_TIMEOUT, EndpointDelivery
from workflows.webhooks import WebhookEndpointWorkflow, workflow_id

pytestmark = pytest.mark.devserver

ASKED = Command(actor="webhook-faults", reason="events for the receiver")
QUICK = EndpointDelivery(
    endpoint_id="crm",
    attempt_timeout=timedelta(seconds=2),
    max_retry_interval=timedelta(seconds=1),
)
"""Short attempts, retried every second or so; a retry window of days (nothing is given up)."""


class Events:
    """Contracts recorded in the billing database and events written for them, one per contract
    per round (`contract.created`, then `command.refused`), dated by the server's clock."""

    def __init__(self, database: Database, clock: Clock, contract_ids: list[str]) -> None:
        self._database = database
        self._day: date = clock.today
        self._at: datetime = clock.now
        self._contracts: list[Contract] = [
            contract(contract_id, start=clock.month(-1)) for contract_id in contract_ids
        ]
        record(database, *self._contracts)
        self.ids: dict[str, list[str]] = {contract_id: [] for contract_id in contract_ids}
        """Each contract's event ids, in sequence order."""
        self._rounds = 0

    def write(self, rounds: int = 1) -> None:
        for _ in range(rounds):
            for value in self._contracts:
                effect = (
                    Effect(self._day, None, value, command="contracts create", requested=ASKED)
                    if self._rounds == 0
                    else Effect(
                        self._day,
                        value,
                        value,
                        command="contracts uncancel",
                        requested=ASKED,
                        refusal=f"Nothing to undo ({self._rounds}).",
                    )
                )
                key = f"webhook-faults/{value.id}/{self._rounds}"
                with self._database.session() as session:
                    written = repository.record_events(
                        session, {key: events_of(effect)}, at=self._at
                    )
                self.ids[value.id] += written
            self._rounds += 1

    @property
    def all_ids(self) -> set[str]:
        return {event for ids in self.ids.values() for event in ids}


def assert_in_order(receiver: Receiver, events: Events, *, once: bool) -> None:
    """Every event handled, each contract's first arrivals in sequence order; with `once`, none
    handled twice. Nothing was refused: every signature verified."""
    assert receiver.rejected == []
    first = receiver.first_arrivals()
    for contract_id, ids in events.ids.items():
        mine = [
            message["data"] for message in first if message["data"]["contract_id"] == contract_id
        ]
        assert [data["id"] for data in mine] == ids, contract_id
        assert [data["sequence"] for data in mine] == list(range(1, len(ids) + 1)), contract_id
    assert {message["data"]["id"] for message in first} == events.all_ids
    if once:
        assert len(receiver.accepted) == len(first), "an event arrived twice"


async def all_delivered(database: Database, total: int) -> None:
    """The database says so too (an acknowledgement is written just after the receiver handled
    the event, so it may trail the receiver by a moment)."""
    await eventually(
        lambda: counts(database) == (total, 0, 0),
        timeout=30,
        what=f"{total} deliveries recorded as delivered",
    )


def deliveries(database: Database) -> list[tuple[str, int, str, int, str | None]]:
    """(contract, position, status, attempts, last error) of every delivery of `crm`."""
    d = WebhookDeliveryRow
    with database.session() as session:
        rows = session.execute(
            select(d.contract_id, d.event_position, d.status, d.attempts, d.last_error)
            .where(d.endpoint_id == "crm")
            .order_by(d.event_position)
        ).all()
    return [(c, p, s, a, e) for c, p, s, a, e in rows]


@asynccontextmanager
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_server()
    try:
        yield env
    finally:
        await env.shutdown()


@asynccontextmanager
async def delivering(
    client: Client, database: Database, config: EndpointDelivery
) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    """The webhook worker (in this process) and endpoint `crm`'s delivery workflow, running."""
    settings = Settings(webhook_task_queue=new_task_queue())
    async with build_webhook_worker(client, database, settings=settings, strict_sandbox=True):
        handle = await client.start_workflow(
            WebhookEndpointWorkflow.run,
            config,
            id=workflow_id(config.endpoint_id),
            task_queue=settings.webhook_task_queue,
        )
        yield handle


# -- 1. the receiver is down ------------------------------------------------------------------


async def test_events_written_while_the_receiver_is_down_arrive_once_it_is_up(
    catalog: Database,
) -> None:
    port = free_port()
    async with dev_server() as env:
        events = Events(catalog, await server_clock(env, GENEVA.timezone), ["c1", "c2", "c3"])
        events.write(2)
        add_endpoint(catalog, f"http://127.0.0.1:{port}/hooks")
        async with delivering(env.client, catalog, QUICK):

            def each_first_event_refused_twice() -> bool:
                firsts = {row[0]: row for row in reversed(deliveries(catalog))}
                return len(firsts) == 3 and all(
                    attempts >= 2 and error is not None and "could not be reached" in error
                    for _, _, _, attempts, error in firsts.values()
                )

            await eventually(
                each_first_event_refused_twice,
                timeout=30,
                what="each contract's first event to be refused twice",
            )
            events.write(2)  # written while nobody listens
            rows = deliveries(catalog)
            assert {status for _, _, status, _, _ in rows} == {"pending"}
            # Each contract's later events wait behind its first: none was tried.
            tried = {(contract_id, position) for contract_id, position, _, n, _ in rows if n}
            assert tried == {(c, ids[0]) for c, ids in positions(catalog, events).items()}

            with receiving(SECRET, port=port) as receiver:
                await receiver.wait_for_ids(events.all_ids, timeout=60)
                await all_delivered(catalog, len(events.all_ids))
    assert_in_order(receiver, events, once=True)


def positions(database: Database, events: Events) -> dict[str, list[int]]:
    """Each contract's event positions, in sequence order."""
    with database.session() as session:
        listed = repository.list_events(session, limit=10_000)
    by_id = {event.id: event.position for event in listed}
    return {contract_id: [by_id[i] for i in ids] for contract_id, ids in events.ids.items()}


# -- 2. the receiver answers 500 or too late, at random ---------------------------------------

SEED = 7331
"""Fixes each attempt's fate: the same answers on every run."""


def at_random(message: dict[str, Any], earlier: int) -> Answer:
    """About 30 % answered 500, 30 % answered too late, the rest acknowledged; decided by the
    event and its attempt, so the order requests from different contracts arrive in changes
    nothing."""
    draw = random.Random(f"{SEED}/{message['data']['id']}/{earlier}").random()
    return "fail" if draw < 0.3 else "late" if draw < 0.6 else "ok"


async def test_a_receiver_failing_and_hanging_at_random_gets_everything_in_order(
    catalog: Database,
) -> None:
    config = QUICK.model_copy(update={"attempt_timeout": timedelta(seconds=1)})
    async with dev_server() as env:
        events = Events(catalog, await server_clock(env, GENEVA.timezone), ["c1", "c2", "c3"])
        events.write(4)
        with receiving(SECRET, decide=at_random, late_by=2.0) as receiver:
            add_endpoint(catalog, receiver.url)
            async with delivering(env.client, catalog, config):
                await receiver.wait_for_ids(events.all_ids, timeout=120)
                await all_delivered(catalog, len(events.all_ids))
    # Both faults happened; each answer too late made the event arrive again.
    assert receiver.answers.get("fail", 0) >= 3
    assert receiver.answers.get("late", 0) >= 3
    assert len(receiver.accepted) >= len(events.all_ids) + receiver.answers["late"]
    assert_in_order(receiver, events, once=False)


# -- 3. the worker process is killed mid-delivery ---------------------------------------------


async def test_a_worker_killed_mid_delivery_loses_nothing(
    catalog: Database, database_url: str, tmp_path: Path
) -> None:
    """`python worker.py` as its own process; the receiver holds one request, so a delivery is
    certainly in flight, and the worker gets SIGKILL. A new worker delivers everything: the held
    event again (its acknowledgement never reached the killed worker), the rest in order."""
    queue = f"webhooks-{uuid.uuid4().hex[:8]}"
    worker_env = {"TERMSHIFT_WEBHOOK_TASK_QUEUE": queue}
    config = QUICK.model_copy(update={"attempt_timeout": timedelta(seconds=3)})
    async with rig(tmp_path, database_url) as r:
        events = Events(catalog, dev_server_clock(GENEVA.timezone), ["c1", "c2", "c3"])
        events.write(3)
        held = events.ids["c2"][1]

        def hold_c2s_second(message: dict[str, Any], earlier: int) -> Answer:
            return "stall" if message["data"]["id"] == held and earlier == 0 else "ok"

        with receiving(SECRET, decide=hold_c2s_second) as receiver:
            add_endpoint(catalog, receiver.url)
            r.start_worker(extra_env=worker_env)
            handle = await r.client.start_workflow(
                WebhookEndpointWorkflow.run, config, id=workflow_id("crm"), task_queue=queue
            )
            await eventually(receiver.stalled.is_set, timeout=60, what="the held request")
            r.kill_worker()
            receiver.release.set()  # answered now, to a sender that is gone
            assert (held_row := delivery_of(catalog, held)) is not None
            assert held_row[2] == "pending", held_row
            events.write(2)  # written with no worker running
            r.start_worker(extra_env=worker_env)
            await receiver.wait_for_ids(events.all_ids, timeout=90)
            await all_delivered(catalog, len(events.all_ids))
        description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    assert receiver.arrivals[held] >= 2, "the event in flight at the kill was not sent again"
    assert_in_order(receiver, events, once=False)


def delivery_of(database: Database, event: str) -> tuple[str, int, str, int, str | None] | None:
    with database.session() as session:
        position = next(e.position for e in repository.list_events(session) if e.id == event)
    return next((row for row in deliveries(database) if row[1] == position), None)


# -- 4. continue-as-new -----------------------------------------------------------------------


def test_runs_started_before_the_bounds_were_configurable_keep_theirs() -> None:
    """An input recorded without `deliveries_per_run` and `drain_timeout` (every run started
    before they existed) gets the values the workflow always had."""
    old_input = {"endpoint_id": "crm", "concurrency": 8, "retry_window": "P3D"}
    config = EndpointDelivery.model_validate(old_input)
    assert config.deliveries_per_run == DELIVERIES_PER_RUN == 500
    assert config.drain_timeout == DRAIN_TIMEOUT == timedelta(minutes=1)


async def test_the_workflow_continues_as_new_and_every_event_arrives_once(
    catalog: Database,
) -> None:
    config = QUICK.model_copy(update={"deliveries_per_run": 3})
    async with dev_server() as env:
        events = Events(catalog, await server_clock(env, GENEVA.timezone), ["c1", "c2", "c3"])
        events.write(3)
        with receiving(SECRET) as receiver:
            add_endpoint(catalog, receiver.url)
            async with delivering(env.client, catalog, config) as handle:
                await receiver.wait_for_ids(events.all_ids, timeout=60)
                for _ in range(2):  # and a few more, each time into a later run
                    events.write(1)
                    await receiver.wait_for_ids(events.all_ids, timeout=60)
                await all_delivered(catalog, len(events.all_ids))
                runs = await settled_runs(env.client, handle, config)
    # 15 events in three waves; a run ends once it has delivered 3, after the bursts in flight
    # (a contract's pending events, one activity each): a run per wave at least.
    assert len(runs) >= 3, [run.run_id for run in runs]
    assert_in_order(receiver, events, once=True)


async def run_chain(
    client: Client, handle: WorkflowHandle[Any, Any], config: EndpointDelivery
) -> list[WorkflowHistory]:
    """The histories of the workflow's runs from its first: each but the last ended continued as
    new, with the same configuration."""
    run_id = handle.first_execution_run_id
    assert run_id is not None
    runs: list[WorkflowHistory] = []
    while True:
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        runs.append(history)
        last = history.events[-1]
        if last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            return runs
        attributes = last.workflow_execution_continued_as_new_event_attributes
        [payload] = attributes.input.payloads
        assert EndpointDelivery.model_validate_json(payload.data) == config
        run_id = attributes.new_execution_run_id


async def settled_runs(
    client: Client, handle: WorkflowHandle[Any, Any], config: EndpointDelivery
) -> list[WorkflowHistory]:
    """`run_chain`, once it ends at the run that is running (a run that has just reached its
    bound may be continuing as new)."""
    runs: list[WorkflowHistory] = []

    async def settled() -> bool:
        nonlocal runs
        runs = await run_chain(client, handle, config)
        latest = await client.get_workflow_handle(handle.id).describe()
        return latest.run_id == runs[-1].run_id and (
            latest.status == WorkflowExecutionStatus.RUNNING
        )

    await eventually(settled, timeout=30, what="the latest run to be running")
    return runs


def event_types(history: WorkflowHistory) -> list[int]:
    return [event.event_type for event in history.events]


# -- 5. a delivery still failing when a run reaches its bound ---------------------------------


async def test_a_delivery_failing_at_the_bound_is_cancelled_and_due_again_in_the_next_run(
    catalog: Database,
) -> None:
    """A run that reached its bound waits `drain_timeout` for the deliveries in flight, then
    cancels them and continues as new. The cancelled one is not given up: due again in the next
    run, while the other contracts go on.

    **Found:** the run cancelled its deliveries and continued as new in one workflow task; the
    cancellations resolved at once, each cancelled delivery scheduled its `give_up` after the
    continue-as-new, and the server refused the task (`ContinueAsNewWorkflowExecution must be
    the last command`), again and again: the endpoint delivered nothing to any contract until
    the failing delivery ended on its own — up to the retry window, three days. Had the task
    gone through, the cancelled event would have been kept as failed."""
    config = QUICK.model_copy(
        update={"deliveries_per_run": 2, "drain_timeout": timedelta(seconds=2)}
    )
    healed = threading.Event()
    async with dev_server() as env:
        events = Events(catalog, await server_clock(env, GENEVA.timezone), ["c1", "c2", "c3"])
        events.write(3)
        broken = events.ids["c1"][0]

        def refuse_c1s_first(message: dict[str, Any], _earlier: int) -> Answer:
            return "fail" if message["data"]["id"] == broken and not healed.is_set() else "ok"

        with receiving(SECRET, decide=refuse_c1s_first) as receiver:
            add_endpoint(catalog, receiver.url)
            async with delivering(env.client, catalog, config) as handle:
                others = set(events.ids["c2"] + events.ids["c3"])
                await receiver.wait_for_ids(others, timeout=60)
                await eventually(
                    lambda: counts(catalog) == (6, 3, 0),
                    timeout=30,
                    what="c2 and c3 delivered, c1 pending (none failed)",
                )
                # While c1's first event failed, a run reached its bound, cancelled it and
                # continued as new.

                async def cancelled_at_the_bound() -> bool:
                    return any(
                        EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED in event_types(run)
                        for run in (await settled_runs(env.client, handle, config))[:-1]
                    )

                await eventually(
                    cancelled_at_the_bound, timeout=30, what="a run to cancel c1's at its bound"
                )
                healed.set()
                await receiver.wait_for_ids(events.all_ids, timeout=60)
                await all_delivered(catalog, len(events.all_ids))
                runs = await settled_runs(env.client, handle, config)
    for run in runs:
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in event_types(run), run.run_id
    assert receiver.answers["fail"] >= 2
    assert_in_order(receiver, events, once=False)


# -- 6. many contracts at once --------------------------------------------------------------------


async def test_many_contracts_at_once_are_claimed_in_batches(catalog: Database) -> None:
    """Twelve contracts and eight deliveries at a time. The receiver holds seven contracts'
    first events and takes the eighth's: with one slot free and seven deliveries in flight the
    workflow waits for a second free slot before it claims again (the patch
    `webhook-claims-in-batches`), rather than claim for one contract. Every event arrives once,
    in order."""
    config = QUICK.model_copy(update={"concurrency": 8, "attempt_timeout": timedelta(seconds=30)})
    contracts = [f"c{index}" for index in range(12)]
    held = set(contracts[:7])

    def hold_seven(message: dict[str, Any], _earlier: int) -> Answer:
        return "stall" if message["data"]["contract_id"] in held else "ok"

    async with dev_server() as env:
        events = Events(catalog, await server_clock(env, GENEVA.timezone), contracts)
        events.write(2)
        with receiving(SECRET, decide=hold_seven) as receiver:
            add_endpoint(catalog, receiver.url)
            async with delivering(env.client, catalog, config) as handle:

                async def waiting_for_room() -> bool:
                    history = await handle.fetch_history()
                    return any(
                        "webhook-claims-in-batches" in str(event.marker_recorded_event_attributes)
                        for event in history.events
                        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
                    )

                await eventually(waiting_for_room, timeout=30, what="the batch patch's marker")
                held.clear()
                receiver.release.set()
                await receiver.wait_for_ids(events.all_ids, timeout=60)
                await all_delivered(catalog, len(events.all_ids))
    assert_in_order(receiver, events, once=True)
