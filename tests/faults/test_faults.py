"""Faults: nothing lost, nothing doubled, whatever fails.

Each test runs the production shape — `temporal server start-dev` persisting to a SQLite file, the
worker as its own process (`python worker.py`), the billing database on SQLite and on PostgreSQL —
breaks one part while contracts are invoicing, and then checks every contract against the pure
billing core: exactly the invoices its periods call for (none missing, none doubled), its stored row
and its workflow's state (rebuilt from history by whichever worker runs it) equal to what the rules
say after those dates.
"""

import asyncio
import sqlite3
import time as clock
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from billing import rules
from billing.contract import Command, Contract, Location, Plan, new_contract
from store import repository
from store.models import AuditRow
from termshift.services.contracts import create_contract, send_command
from tests.support.clock import dev_server_now
from tests.support.databases import POSTGRES_HOST, POSTGRES_PORT, POSTGRES_USER
from tests.support.faults import (
    ADMIN,
    DESK,
    OFFICE,
    Midnight,
    Rig,
    eventually,
    expected_invoices,
    midnight_ahead,
    noon_clock,
    rig,
)
from workflows import ContractWorkflow, workflow_id
from workflows.messages import (
    Cancel,
    CancelAtNextInvoice,
    ClearChange,
    CommandResult,
    ContractView,
    ScheduleChange,
    Switch,
    Uncancel,
)

pytestmark = pytest.mark.devserver


@pytest.fixture
async def faults(tmp_path: Path, database_url: str) -> AsyncIterator[Rig]:
    async with rig(tmp_path, database_url) as the_rig:
        yield the_rig


def contracts_for(r: Rig, location: Location, plan: Plan, start: date, n: int) -> list[Contract]:
    return [
        new_contract(
            id=f"{location.id}-c{index}",
            customer_id=r.customer(location, index),
            location=location,
            plan=plan,
            start=start,
        )
        for index in range(n)
    ]


async def create_all(r: Rig, contracts: list[Contract]) -> None:
    await asyncio.gather(
        *(create_contract(r.client, c, ADMIN, task_queue=r.queue, timeout=90) for c in contracts)
    )


async def sleeping_until_midnight(r: Rig, lead: timedelta) -> tuple[Midnight, list[Contract]]:
    """Twelve contracts starting at a local midnight `lead` from now, created on a new worker."""
    midnight = midnight_ahead(lead)
    location = r.location(midnight.timezone)
    contracts = contracts_for(r, location, r.plan(DESK, location), midnight.day, 12)
    r.start_worker()
    await create_all(r, contracts)
    return midnight, contracts


async def assert_billed_exactly_once(r: Rig, contracts: list[Contract], through: date) -> None:
    """The invariant every fault must keep, checked per contract against the pure core."""
    stored = Counter(r.invoices())
    doubled = [key for key, count in stored.items() if count > 1]
    assert not doubled, f"invoices issued twice: {doubled}"
    expected = {
        (contract.id, day, purpose)
        for contract in contracts
        for day, purpose in expected_invoices(contract, through)[1]
    }
    assert not expected - set(stored), f"invoices missing: {sorted(expected - set(stored))}"
    assert not set(stored) - expected, f"unexpected invoices: {sorted(set(stored) - expected)}"
    for contract in contracts:
        final, issued = expected_invoices(contract, through)
        view = await r.client.get_workflow_handle(workflow_id(contract.id)).query(
            ContractWorkflow.state
        )
        assert view.invoices_issued == len(issued), contract.id
        assert view.contract.model_dump(mode="json") == final.model_dump(mode="json")
        assert r.stored(contract.id).model_dump(mode="json") == final.model_dump(mode="json")


# -- 1. the worker is killed while many contracts are being invoiced --------------------------


async def test_worker_killed_mid_invoicing_then_replaced(faults: Rig, tmp_path: Path) -> None:
    r = faults
    clock = noon_clock()
    location = r.location(clock.timezone)
    today = clock.today
    # Started two years ago: each contract catches up 25 invoices as soon as it is created.
    contracts = contracts_for(r, location, r.plan(DESK, location), clock.month(-24), 12)
    total = sum(len(expected_invoices(c, today)[1]) for c in contracts)
    # The first worker holds every date write after the first fifth, so the kill below lands
    # mid-invoicing on any machine: writes in flight, contracts still owed invoices.
    stalled = tmp_path / "stalled"
    r.start_worker(
        "tests/faults/stall_invoicing.py",
        {"TERMSHIFT_STALL_AFTER": str(total // 5), "TERMSHIFT_STALL_MARKER": str(stalled)},
    )

    creating = asyncio.ensure_future(create_all(r, contracts))
    await eventually(stalled.exists, timeout=90, what="invoicing to reach a fifth")
    r.kill_worker()
    at_kill = len(r.invoices())
    assert 0 < at_kill < total, f"the kill came at {at_kill} of {total} invoices"

    r.start_worker()
    await creating
    await eventually(lambda: len(r.invoices()) >= total, timeout=120, what="every invoice")
    await assert_billed_exactly_once(r, contracts, today)


# -- 2. the Temporal server stops and starts again on the same file while contracts sleep -------


async def test_server_restarted_on_its_file_while_contracts_sleep(faults: Rig) -> None:
    r = faults
    # Each starts at the coming local midnight: its first invoice is a timer set before the crash.
    midnight, contracts = await sleeping_until_midnight(r, timedelta(seconds=20))
    assert r.invoices() == []

    await r.kill_server()  # SIGKILL: no clean shutdown of the server either
    await asyncio.sleep(max(0.0, (midnight.instant - dev_server_now()).total_seconds()) + 2)
    assert r.invoices() == []  # the instant passed with the server down
    await r.start_server()

    await eventually(
        lambda: len(r.invoices()) >= len(contracts), timeout=120, what="the overdue timers"
    )
    await assert_billed_exactly_once(r, contracts, midnight.day)


# -- 3. the billing database refuses connections at invoice time -----------------------------


@contextmanager
def database_refusing(database_url: str) -> Iterator[None]:
    """PostgreSQL: the database stops accepting connections and its sessions are cut.
    SQLite: another process holds the write lock (longer than the busy timeout)."""
    if database_url.startswith("sqlite"):
        holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=60)
        holder.isolation_level = None
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    name = sql.Identifier(database_url.rsplit("/", 1)[1])
    with psycopg.connect(
        host=POSTGRES_HOST, port=POSTGRES_PORT, user=POSTGRES_USER, dbname="postgres",
        autocommit=True,
    ) as admin:  # fmt: skip
        admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(name))
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (database_url.rsplit("/", 1)[1],),
        )
        try:
            yield
        finally:
            admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(name))


async def test_billing_database_refusing_at_invoice_time(faults: Rig) -> None:
    r = faults
    midnight, contracts = await sleeping_until_midnight(r, timedelta(seconds=18))
    assert dev_server_now() < midnight.instant - timedelta(seconds=3), "set-up overran midnight"

    # SQLite's writers wait out a lock for 30 s: hold it past that so their writes fail.
    outage = 40.0 if r.database_url.startswith("sqlite") else 15.0
    await asyncio.sleep(max(0.0, (midnight.instant - dev_server_now()).total_seconds()) - 3)
    with database_refusing(r.database_url):
        await asyncio.sleep(outage)
        refused_since = clock.monotonic()
    assert clock.monotonic() - refused_since < 1
    # Nothing could be written during the outage; everything is written once after it.
    await eventually(
        lambda: len(r.invoices()) >= len(contracts), timeout=120, what="invoices after the outage"
    )
    await assert_billed_exactly_once(r, contracts, midnight.day)
    log = r.worker_logs()
    locked = (
        "database is locked" if r.database_url.startswith("sqlite") else "not currently accepting"
    )
    assert locked in log, log[-3000:]  # the writes failed, and were retried


# -- 4. fifty concurrent, conflicting commands on one contract --------------------------------

Sent = ScheduleChange | CancelAtNextInvoice | ClearChange | Cancel | Uncancel


def conflicting(today: date, plans: dict[str, Plan]) -> list[tuple[str, Sent]]:
    office, desk = plans[OFFICE].code, plans[DESK].code
    kinds: list[tuple[str, Any]] = [
        ("schedule_change", lambda who: ScheduleChange(next_plan=office, actor=who)),
        ("cancel", lambda who: Cancel(date=today + timedelta(days=3), prorate=True, actor=who)),
        ("clear_change", lambda who: ClearChange(actor=who)),
        ("cancel_at_next_invoice", lambda who: CancelAtNextInvoice(actor=who)),
        ("uncancel", lambda who: Uncancel(actor=who)),
        ("schedule_change", lambda who: ScheduleChange(next_plan=desk, actor=who)),
        ("cancel", lambda who: Cancel(date=today + timedelta(days=9), actor=who)),
    ]
    return [(kinds[i % len(kinds)][0], kinds[i % len(kinds)][1](f"op{i:02d}")) for i in range(50)]


def decide(
    command: Sent, contract: Contract, today: date, plans: dict[str, Plan]
) -> rules.Decision | rules.Rejection:
    """What the rules make of `command` on `contract`: the serial semantics."""
    who = Command(actor=command.actor, reason=command.reason)
    outcome: rules.Decision | rules.Rejection | None
    if isinstance(command, ScheduleChange):
        plan = next(p for p in plans.values() if p.code == command.next_plan)
        outcome = rules.schedule_change(contract, next_plan=plan, requested=who, today=today)
    elif isinstance(command, CancelAtNextInvoice):
        outcome = rules.cancel_at_next_invoice(contract, requested=who, today=today)
    elif isinstance(command, ClearChange):
        outcome = rules.clear_change(contract, requested=who, today=today)
    elif isinstance(command, Cancel):
        outcome = rules.cancel(
            contract, date=command.date, prorate=command.prorate, requested=who, today=today
        )
    else:
        outcome = rules.uncancel(contract, requested=who, today=today)
    assert outcome is not None
    return outcome


def validator_refusal(command: Sent, contract: Contract, today: date) -> rules.Rejection | None:
    """What the update's validator (state only, no database) refuses."""
    if isinstance(command, ScheduleChange):
        return rules.precheck_schedule_change(
            contract, next_plan_code=command.next_plan, today=today
        )
    return None


async def test_fifty_concurrent_conflicting_commands_serialize(faults: Rig) -> None:
    r = faults
    clock = noon_clock()
    location = r.location(clock.timezone)
    today = clock.today
    plans = {code: r.plan(code, location) for code in (DESK, OFFICE)}
    (contract,) = contracts_for(r, location, plans[DESK], clock.month(-1), 1)
    r.start_worker()
    await create_all(r, [contract])
    handle = r.client.get_workflow_handle(workflow_id(contract.id))
    initial = (await handle.query(ContractWorkflow.state)).contract
    sent = conflicting(today, plans)

    answers = await asyncio.gather(
        *(send_command(r.client, contract.id, name, command) for name, command in sent),
        return_exceptions=True,
    )

    # Every command is answered: applied, or refused with the rule's message.
    refused: dict[str, str] = {}
    for (_, command), answer in zip(sent, answers, strict=True):
        if isinstance(answer, WorkflowUpdateFailedError):
            assert isinstance(answer.cause, ApplicationError), answer
            refused[command.actor] = answer.cause.message
        else:
            assert isinstance(answer, CommandResult), answer
    by_actor = {command.actor: command for _, command in sent}

    # The audit log holds the order the workflow applied them in; replaying that order through the
    # rules must give each recorded effect and the final state.
    with r.database.session() as session:
        audited = list(
            session.execute(
                select(AuditRow.actor, AuditRow.effect)
                .where(AuditRow.contract_id == contract.id, AuditRow.actor.like("op%"))
                .order_by(AuditRow.id)
            )
        )
    states = [initial]
    for actor, effect in audited:
        outcome = decide(by_actor[actor], states[-1], today, plans)
        if effect.startswith("Refused: "):
            assert isinstance(outcome, rules.Rejection), (actor, effect)
            assert effect == f"Refused: {outcome.message}"
            assert refused[actor] == outcome.message
        else:
            assert isinstance(outcome, rules.Decision), (actor, effect, outcome)
            assert effect == outcome.effect
            assert actor not in refused
            states.append(outcome.contract)
    # Refused by a validator, before history: refused in one of the states of that order.
    for actor in set(refused) - {actor for actor, _ in audited}:
        command = by_actor[actor]
        assert any(
            (
                rejection := validator_refusal(command, state, today)
                or decide(command, state, today, plans)
            )
            and isinstance(rejection, rules.Rejection)
            and rejection.message == refused[actor]
            for state in states
        ), (actor, refused[actor])
    assert len(audited) + len(set(refused) - {a for a, _ in audited}) == len(sent)

    final = states[-1].model_dump(mode="json")
    view: ContractView = await handle.query(ContractWorkflow.state)
    assert view.contract.model_dump(mode="json") == final
    assert r.stored(contract.id).model_dump(mode="json") == final


# -- 5. a crash between ending the old contract and starting its new term ---------------------


async def test_crash_between_switch_and_new_term_start(faults: Rig, tmp_path: Path) -> None:
    r = faults
    clock = noon_clock()
    location = r.location(clock.timezone)
    today = clock.today
    (contract,) = contracts_for(r, location, r.plan(DESK, location), clock.month(-1), 1)
    marker = tmp_path / "crashed"
    crashing = r.start_worker(
        "tests/faults/crash_before_successor.py", {"TERMSHIFT_CRASH_MARKER": str(marker)}
    )
    await create_all(r, [contract])
    handle = r.client.get_workflow_handle(workflow_id(contract.id))
    switch = Switch(
        to_plan=r.plan(OFFICE, location).code,
        on=today + timedelta(days=5),
        prorate=True,
        actor="maria",
    )

    answering = asyncio.ensure_future(
        handle.execute_update("switch", switch, result_type=CommandResult)
    )
    await eventually(lambda: crashing.poll() is not None, timeout=60, what="the crash")
    assert crashing.returncode == -9
    successor_id = marker.read_text()
    assert successor_id == workflow_id(f"{contract.id}-t2")
    # The transaction that ended the old contract and created the new one had committed.
    assert r.stored(contract.id).successor_id == f"{contract.id}-t2"

    r.start_worker()
    result = await asyncio.wait_for(answering, timeout=90)

    assert result.successor is not None
    assert result.successor.id == f"{contract.id}-t2"
    with r.database.session() as session:
        rows = repository.list_contracts(session, customer_id=contract.customer_id)
    assert sorted(row.contract.id for row in rows) == [contract.id, f"{contract.id}-t2"]
    successor = r.client.get_workflow_handle(successor_id)
    assert (await successor.describe()).status is WorkflowExecutionStatus.RUNNING
    view = await successor.query(ContractWorkflow.state)
    stored = r.stored(f"{contract.id}-t2")
    assert view.contract.model_dump(mode="json") == stored.model_dump(mode="json")
    history = await handle.fetch_history()
    starts = [
        event
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]
    assert len(starts) == 1
