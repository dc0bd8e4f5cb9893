"""Contract terms over a contract's life, through the real workflow on the time-skipping server:
renewal (R16: renew, end, rolling), freezes (R17), scheduled prices (R18) and a change with a
price (R19), with the worked example of SPEC §4; each against SQLite and PostgreSQL.

The term dates wake the workflow as its invoice dates do: what they change is in the stored
contract row, the workflow's state and the audit log. Every refusal leaves the rows, invoices,
deposit movements and the workflow's state as they were (`Scenario.refuse`); bad input is
refused by the update's validator, before anything enters history. Each new command also works
as a signal of the same name, its refusals kept in the state and the audit log.
"""

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from billing.contract import Cancellation, Command, Contract, ContractStatus, Plan, new_contract
from billing.term_dates import END_OF_TERM
from billing.terms import Renewal, Terms
from store.db import Database
from termshift.services import catalog
from termshift.services.contracts import create_contract
from termshift.services.served_days import check_database
from tests.support.contracts import BERLIN, SETUP, WHO, Scenario, scenario
from workflows.messages import (
    Cancel,
    CancelAtNextInvoice,
    ClearChange,
    CommandResult,
    Freeze,
    ScheduleChange,
    SetPrice,
    Uncancel,
    Unfreeze,
)

D = Decimal
UPDATE_ACCEPTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED

RENEW = Plan(
    code="RENEW",
    name="Renewing Desk",
    location_id=BERLIN.id,
    price=D("400.00"),
    terms=Terms(minimum_term="3 months", renewal=Renewal.RENEW, notice="1 month"),
)
RENEW_NO_NOTICE = Plan(
    code="RENEW-QUIET",
    name="Renewing Desk, no notice",
    location_id=BERLIN.id,
    price=D("400.00"),
    terms=Terms(minimum_term="3 months", renewal=Renewal.RENEW),
)
ENDING = Plan(
    code="ENDING",
    name="Fixed-term Desk",
    location_id=BERLIN.id,
    price=D("300.00"),
    terms=Terms(minimum_term="3 months", renewal=Renewal.END),
)
ROLLING = Plan(
    code="ROLLING",
    name="Rolling Desk",
    location_id=BERLIN.id,
    price=D("500.00"),
    terms=Terms(minimum_term="2 months", notice="1 month"),
)
FREEZABLE = Plan(
    code="FREEZABLE",
    name="Freezable Desk",
    location_id=BERLIN.id,
    price=D("500.00"),
    deposit=D("200.00"),
    terms=Terms(minimum_term="9 months", max_freeze_cycles=2, max_freezes_per_year=1),
)
"""SPEC §4's freeze example: 500.00/month, committed to 10-01 of a contract starting 01-01."""


async def create(
    s: Scenario, contract_id: str, plan: Plan, start: date, *, anchor: date | None = None
) -> Contract:
    """The contract on `plan` (added to the catalog once), for the customer `cu-<id>`."""
    catalog.add_plan(s.database, plan, SETUP)
    s.add_customer(f"cu-{contract_id}")
    contract = new_contract(
        id=contract_id,
        customer_id=f"cu-{contract_id}",
        location=BERLIN,
        plan=plan,
        start=start,
        anchor=anchor,
    )
    await create_contract(s.client, contract, SETUP, task_queue=s.task_queue, timeout=20)
    return contract


async def commitment_end(s: Scenario, contract_id: str) -> tuple[date | None, date | None]:
    """The commitment end in the stored contract row and in the workflow's state."""
    state = await s.state(contract_id)
    return s.contract(contract_id).commitment_end, state.contract.commitment_end


def term_entries(s: Scenario, contract_id: str, words: str) -> list[tuple[str, str]]:
    """The scheduled audit entries (command, effect) whose effect mentions `words`."""
    return [
        (entry.command, entry.effect)
        for entry in s.audit(contract_id)
        if entry.actor == "termshift" and words in entry.effect
    ]


def issue_dates(s: Scenario, contract_id: str) -> list[date]:
    return [invoice.issue_date for invoice in s.invoices(contract_id=contract_id)]


# --- R16: renewal --------------------------------------------------------------------------------


async def test_renew_records_renewal_upcoming_then_moves_the_commitment_by_one_term(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    """`renew`: "renewal upcoming" on commitment end − notice (a month; 30 days without one),
    then at the commitment end a new commitment of the same length; billing goes on."""
    async with scenario(time_env, database) as s:
        # Billing day the 1st, so that neither term date falls on an invoice date.
        await create(s, "r1", RENEW, s.day(1, 10), anchor=s.day(1, 1))
        await create(s, "r2", RENEW_NO_NOTICE, s.day(1, 1))
        await create(s, "r3", RENEW_NO_NOTICE, s.day(1, 10), anchor=s.day(1, 1))
        assert await commitment_end(s, "r1") == (s.day(4, 10), s.day(4, 10))
        assert await commitment_end(s, "r2") == (s.day(4, 1), s.day(4, 1))

        await s.at(s.day(3, 1))
        assert term_entries(s, "r1", "Renewal upcoming") == []
        assert term_entries(s, "r2", "Renewal upcoming") == []
        state = await s.state("r2")
        assert state.next_event_date == s.day(3, 2)
        assert state.next_event == (
            f"Renewal upcoming recorded on {s.day(3, 2)} (commitment end {s.day(4, 1)})."
        )

        await s.at(s.day(3, 2))  # 30 days before 04-01
        assert term_entries(s, "r2", "Renewal upcoming") == [
            (
                f"contract date {s.day(3, 2)}",
                f"Renewal upcoming: the commitment ends on {s.day(4, 1)} and renews until "
                f"{s.day(7, 1)}.",
            )
        ]
        assert (await s.state("r2")).contract.renewal_noticed == s.day(4, 1)
        await s.at(s.day(3, 9))
        assert term_entries(s, "r1", "Renewal upcoming") == []

        await s.at(s.day(3, 10))  # a month before 04-10
        assert term_entries(s, "r1", "Renewal upcoming") == [
            (
                f"contract date {s.day(3, 10)}",
                f"Renewal upcoming: the commitment ends on {s.day(4, 10)} and renews until "
                f"{s.day(7, 10)}.",
            )
        ]
        assert s.contract("r1").renewal_noticed == s.day(4, 10)

        await s.at(s.day(4, 1))
        assert await commitment_end(s, "r2") == (s.day(7, 1), s.day(7, 1))
        assert term_entries(s, "r2", "Renewed") == [
            (
                f"contract date {s.day(4, 1)}",
                f"Renewed: committed until {s.day(7, 1)}. Invoiced 400.00 EUR for "
                f"{s.day(4, 1)} to {s.day(5, 1)}.",
            )
        ]
        assert await commitment_end(s, "r1") == (s.day(4, 10), s.day(4, 10))
        state = await s.state("r1")
        assert (state.next_event_date, state.next_event) == (
            s.day(4, 10),
            f"Renews its commitment on {s.day(4, 10)}.",
        )

        # A change or a cancellation before the renewal date describes what happens on its own
        # date, past the renewal.
        await s.at(s.day(4, 5))
        switching = await s.update("r3", "schedule_change", ScheduleChange(next_plan="FLEX", **WHO))
        assert switching.effect.startswith(
            f"Contract r3 switches from plan RENEW-QUIET to plan FLEX on its next invoice date, "
            f"{s.day(5, 1)}: a new contract at 600.00 EUR starts that day"
        )
        await s.update("r3", "clear_change", ClearChange(**WHO))
        cancelled = await s.update("r3", "cancel", Cancel(date=s.day(4, 20), prorate=True, **WHO))
        assert cancelled.effect.endswith(
            f"A proration credit of 146.67 EUR for {s.day(4, 20)} to {s.day(5, 1)} (11 of 30 "
            f"days) will be issued on {s.day(4, 20)}."
        )

        await s.at(s.day(4, 10))
        assert await commitment_end(s, "r1") == (s.day(7, 10), s.day(7, 10))
        assert term_entries(s, "r1", "Renewed") == [
            (f"contract date {s.day(4, 10)}", f"Renewed: committed until {s.day(7, 10)}.")
        ]
        # The renewed commitment binds as the first did (R15).
        refusal = await s.refuse("r1", "cancel", Cancel(date=s.day(5, 10), **WHO))
        assert refusal.type == "minimum_term"
        assert f"committed until {s.day(7, 10)}" in refusal.message

        await s.ends("r3", s.day(4, 20))
        assert s.lines("r3")[-1] == (
            s.day(4, 20),
            "proration_credit",
            s.day(4, 20),
            s.day(5, 1),
            D("-146.67"),
        )

        await s.at(s.day(5, 2))
        for contract_id in ("r1", "r2"):
            assert s.plan_lines(contract_id, since=s.day(4, 1)) == [
                (s.day(4, 1), "plan", s.day(4, 1), s.day(5, 1), D("400.00")),
                (s.day(5, 1), "plan", s.day(5, 1), s.day(6, 1), D("400.00")),
            ]
            assert s.contract(contract_id).status is ContractStatus.ACTIVE
        assert check_database(s.database) == []


async def test_end_sets_an_end_of_term_cancellation_on_the_notice_date(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    """`end`: on the notice date an end-of-term cancellation (R7 on the commitment end, not
    prorated) is set; the contract ends then, with no further invoice. `uncancel` before the end
    keeps the member, with no commitment any more."""
    async with scenario(time_env, database) as s:
        for contract_id in ("e1", "e2"):
            await create(s, contract_id, ENDING, s.day(1, 10), anchor=s.day(1, 1))
            assert await commitment_end(s, contract_id) == (s.day(4, 10), s.day(4, 10))

        await s.at(s.day(3, 10))
        assert (await s.state("e1")).contract.cancellation is None
        assert s.contract("e1").cancellation is None

        await s.at(s.day(3, 11))  # 30 days before 04-10
        end_of_term = Cancellation(date=s.day(4, 10), prorate=False, requested=END_OF_TERM)
        for contract_id in ("e1", "e2"):
            assert (await s.state(contract_id)).contract.cancellation == end_of_term
            assert s.contract(contract_id).cancellation == end_of_term
            assert term_entries(s, contract_id, "Renewal upcoming") == [
                (
                    f"contract date {s.day(3, 11)}",
                    f"Renewal upcoming: the contract ends on {s.day(4, 10)}, the end of its "
                    "term (renewal: end).",
                )
            ]
        # Pending like any cancellation: other changes wait for it (R10).
        refusal = await s.refuse("e1", "schedule_change", ScheduleChange(next_plan="FLEX", **WHO))
        assert refusal.type == "conflict"
        assert "`contracts uncancel e1`" in refusal.message

        await s.at(s.day(3, 20))
        undone = await s.update("e2", "uncancel", Uncancel(**WHO))
        assert undone.view.contract.cancellation is None
        assert s.contract("e2").cancellation is None

        await s.at(s.day(4, 2))
        # R7 without proration: the last invoice charges its whole period.
        for contract_id in ("e1", "e2"):
            assert s.plan_lines(contract_id, since=s.day(4, 1)) == [
                (s.day(4, 1), "plan", s.day(4, 1), s.day(5, 1), D("300.00"))
            ]

        state = await s.state("e1")
        assert (state.next_event_date, state.next_event) == (
            s.day(4, 10),
            f"Ends on {s.day(4, 10)} (end of term).",
        )
        assert state.next_invoice_date is None
        await s.ends("e1", s.day(4, 10))
        ended = s.contract("e1")
        assert (ended.status, ended.end) == (ContractStatus.CANCELLED, s.day(4, 10))
        assert max(issue_dates(s, "e1")) == s.day(4, 1)

        await s.at(s.day(5, 2))
        assert max(issue_dates(s, "e1")) == s.day(4, 1)
        kept = await s.state("e2")
        assert kept.contract.status is ContractStatus.ACTIVE
        assert kept.contract.cancellation is None
        assert s.plan_lines("e2", since=s.day(5, 1)) == [
            (s.day(5, 1), "plan", s.day(5, 1), s.day(6, 1), D("300.00"))
        ]
        # Past its commitment the kept member may cancel at the next invoice date.
        await s.update("e2", "cancel_at_next_invoice", CancelAtNextInvoice(**WHO))
        assert check_database(s.database) == []


async def test_rolling_continues_without_commitment_and_then_only_notice_applies(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        await create(s, "roll", ROLLING, s.day(1, 1))
        await s.at(s.day(1, 10))
        refusal = await s.refuse("roll", "cancel", Cancel(date=s.day(2, 15), **WHO))
        assert refusal.type == "minimum_term"

        await s.at(s.day(3, 5))
        assert await commitment_end(s, "roll") == (s.day(3, 1), s.day(3, 1))
        assert term_entries(s, "roll", "Renewal") == []
        assert (await s.state("roll")).next_event_date == s.day(4, 1)

        refusal = await s.refuse("roll", "cancel", Cancel(date=s.day(3, 20), **WHO))
        assert refusal.type == "notice"
        assert f"Cancel on {s.day(4, 5)} or later" in refusal.message
        refusal = await s.refuse("roll", "cancel_at_next_invoice", CancelAtNextInvoice(**WHO))
        assert refusal.type == "notice"
        assert f"The first invoice date allowed is {s.day(5, 1)}" in refusal.message

        result = await s.update("roll", "cancel", Cancel(date=s.day(4, 5), prorate=True, **WHO))
        assert "Terms overridden" not in result.effect
        await s.ends("roll", s.day(4, 5))
        # R7 after the next invoice date: the last invoice, on 04-01, is cut at 04-05 (4/30).
        assert s.lines("roll")[-1] == (s.day(4, 1), "plan", s.day(4, 1), s.day(4, 5), D("66.67"))
        assert check_database(s.database) == []


# --- R17: freezes --------------------------------------------------------------------------------


async def test_freeze_worked_example_and_unfreeze_of_a_longer_freeze(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    """SPEC §4: 500.00/month committed to 10-01, freeze 1 cycle requested 05-20: no plan line on
    06-01, 07-01 bills 500.00, commitment end 11-01, deposit held. A freeze of 2 cycles that is
    unfrozen in its first period ends at the next invoice date and keeps one cycle; a freeze
    unfrozen before it begins is dropped."""
    async with scenario(time_env, database) as s:
        for contract_id in ("f1", "f2", "f3"):
            await create(s, contract_id, FREEZABLE, s.day(1, 1))
            assert await commitment_end(s, contract_id) == (s.day(10, 1), s.day(10, 1))
        await s.at(s.day(5, 20))

        frozen = await s.update("f1", "freeze", Freeze(cycles=1, **WHO))
        assert frozen.effect == (
            f"Contract f1 is frozen for 1 cycle, {s.day(6, 1)} to {s.day(7, 1)}: no plan line is "
            "invoiced for those periods, its invoice dates do not move, and its deposit stays "
            f"held. Invoicing resumes on {s.day(7, 1)}. The commitment end moves from "
            f"{s.day(10, 1)} to {s.day(11, 1)}."
        )
        assert frozen.view.next_invoice_date == s.day(7, 1)
        assert frozen.view.next_event == f"Frozen: nothing invoiced on {s.day(6, 1)}."
        assert await commitment_end(s, "f1") == (s.day(11, 1), s.day(11, 1))
        entry = s.audit("f1")[-1]
        assert (entry.command, entry.actor, entry.reason, entry.effect) == (
            "freeze",
            WHO["actor"],
            WHO["reason"],
            frozen.effect,
        )

        two = await s.update("f2", "freeze", Freeze(cycles=2, **WHO))
        assert two.view.next_invoice_date == s.day(8, 1)
        assert await commitment_end(s, "f2") == (s.day(12, 1), s.day(12, 1))
        await s.update("f3", "freeze", Freeze(cycles=1, **WHO))
        await s.at(s.day(5, 25))
        dropped = await s.update("f3", "unfreeze", Unfreeze(**WHO))
        assert dropped.effect.startswith(
            f"The freeze of contract f3 from {s.day(6, 1)} is cancelled before it began"
        )
        assert dropped.view.contract.freezes == ()
        assert await commitment_end(s, "f3") == (s.day(10, 1), s.day(10, 1))

        await s.at(s.day(6, 2))
        for contract_id in ("f1", "f2"):
            assert s.day(6, 1) not in issue_dates(s, contract_id)
            assert s.held(f"cu-{contract_id}") == D("200.00")
            assert term_entries(s, contract_id, "Frozen") == [
                (
                    f"contract date {s.day(6, 1)}",
                    f"Frozen: nothing invoiced for {s.day(6, 1)} to {s.day(7, 1)}.",
                )
            ]
        assert s.plan_lines("f3", since=s.day(6, 1)) == [
            (s.day(6, 1), "plan", s.day(6, 1), s.day(7, 1), D("500.00"))
        ]
        assert check_database(s.database) == []

        await s.at(s.day(6, 5))
        unfrozen = await s.update("f2", "unfreeze", Unfreeze(**WHO))
        assert unfrozen.effect == (
            f"The freeze of contract f2 ends on {s.day(7, 1)} instead of {s.day(8, 1)}: it is "
            f"invoiced again from {s.day(7, 1)}. The commitment end moves back to "
            f"{s.day(11, 1)}."
        )
        assert unfrozen.view.next_invoice_date == s.day(7, 1)
        assert await commitment_end(s, "f2") == (s.day(11, 1), s.day(11, 1))

        await s.at(s.day(7, 2))
        for contract_id in ("f1", "f2"):
            assert s.plan_lines(contract_id, since=s.day(6, 1)) == [
                (s.day(7, 1), "plan", s.day(7, 1), s.day(8, 1), D("500.00"))
            ]
            assert s.held(f"cu-{contract_id}") == D("200.00")
        assert check_database(s.database) == []


async def test_freeze_limits_are_refused_unless_overridden_with_a_reason(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    """Beyond `max_freeze_cycles` and `max_freezes_per_year` a freeze is refused, nothing
    changed; an override with a reason passes and its audit entry names the term. A freeze
    waits for a pending change or cancellation, and for the freeze scheduled or running."""
    async with scenario(time_env, database) as s:
        await create(s, "lim", FREEZABLE, s.day(1, 1))
        await create(s, "busy", FREEZABLE, s.day(1, 1))
        await s.at(s.day(5, 20))

        refusal = await s.refuse("lim", "freeze", Freeze(cycles=3, **WHO))
        assert refusal.type == "freeze_limit"
        assert refusal.message == (
            "Cannot freeze the contract for 3 cycles: plan FREEZABLE allows at most 2 "
            "(max_freeze_cycles). Freeze for 2 or fewer with `contracts freeze lim --cycles 2`; "
            "`--override-terms` with a reason passes it."
        )
        refusal = await s.refuse(
            "lim", "freeze", Freeze(cycles=3, override_terms=True, actor="alice", reason=" ")
        )
        assert refusal.type == "override_without_reason"

        long = await s.update(
            "lim", "freeze", Freeze(cycles=3, override_terms=True, actor="bob", reason="surgery")
        )
        assert long.effect.endswith(
            "Terms overridden: at most 2 cycles per freeze (max_freeze_cycles)."
        )
        entry = s.audit("lim")[-1]
        assert (entry.command, entry.actor, entry.reason, entry.effect) == (
            "freeze",
            "bob",
            "surgery",
            long.effect,
        )
        assert await commitment_end(s, "lim") == (s.day(1, 1, years=1), s.day(1, 1, years=1))

        # Scheduled, then running: a second freeze waits for it.
        for day in (s.day(5, 20), s.day(7, 5)):
            await s.at(day)
            refusal = await s.refuse("lim", "freeze", Freeze(cycles=1, **WHO))
            assert refusal.type == "conflict"
            assert refusal.message == (
                f"Cannot freeze the contract: contract lim is already frozen from {s.day(6, 1)} "
                f"to {s.day(9, 1)}. End that freeze first with `contracts unfreeze lim`."
            )

        # Pending changes: a freeze waits until they are cleared or undone.
        await s.update("busy", "schedule_change", ScheduleChange(next_plan="FLEX", **WHO))
        refusal = await s.refuse("busy", "freeze", Freeze(cycles=1, **WHO))
        assert refusal.type == "conflict"
        assert "switch to plan FLEX" in refusal.message
        assert "`contracts clear-change busy`" in refusal.message
        await s.update("busy", "clear_change", ClearChange(**WHO))
        await s.update("busy", "cancel", Cancel(date=s.day(10, 1), **WHO))
        refusal = await s.refuse("busy", "freeze", Freeze(cycles=1, **WHO))
        assert refusal.type == "conflict"
        assert "`contracts uncancel busy`" in refusal.message
        await s.update("busy", "uncancel", Uncancel(**WHO))
        await s.update("busy", "freeze", Freeze(cycles=1, **WHO))

        # One freeze a year: the next one, from 10-01, counts the one from 06-01.
        await s.at(s.day(9, 2))
        assert s.plan_lines("lim", since=s.day(6, 1)) == [
            (s.day(9, 1), "plan", s.day(9, 1), s.day(10, 1), D("500.00"))
        ]
        refusal = await s.refuse("lim", "freeze", Freeze(cycles=1, **WHO))
        assert refusal.type == "freeze_limit"
        assert refusal.message == (
            f"Cannot freeze the contract from {s.day(10, 1)}: contract lim already has 1 freeze "
            "starting in the 365 days up to it, and at most 1 a year are allowed "
            "(max_freezes_per_year). The first invoice date a new freeze may start is "
            f"{s.day(6, 1, years=1)}; `--override-terms` with a reason passes it."
        )
        again = await s.update(
            "lim", "freeze", Freeze(cycles=1, override_terms=True, actor="bob", reason="travel")
        )
        assert again.effect.endswith(
            "Terms overridden: at most 1 freeze a year (max_freezes_per_year)."
        )
        assert s.audit("lim")[-1].effect == again.effect
        assert await commitment_end(s, "lim") == (s.day(2, 1, years=1), s.day(2, 1, years=1))
        assert check_database(s.database) == []


# --- R18: scheduled prices; R19: a change with a price -------------------------------------------


async def test_a_scheduled_price_applies_on_an_invoice_date_and_blocks_changes_until_cleared(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        await s.create("p1", "FLEX", s.day(3, 1))
        await s.create("p2", "FLEX", s.day(3, 1))
        await s.at(s.day(3, 10))

        # From 04-15: the first invoice date on or after it is 05-01; nothing is prorated.
        result = await s.update(
            "p1", "set_price", SetPrice(price=D("650"), from_=s.day(4, 15), **WHO)
        )
        assert result.effect == (
            "Contract p1 is invoiced at 650.00 EUR (a custom price) from its invoice date "
            f"{s.day(5, 1)} on, instead of 600.00 EUR; nothing is prorated."
        )
        scheduled = result.view.contract.scheduled_price
        assert scheduled is not None
        assert (scheduled.price, scheduled.effective) == (D("650.00"), s.day(5, 1))
        assert s.contract("p1").scheduled_price == scheduled

        pending = (
            "Cannot {doing}: contract p1 already has a price change to 650.00 EUR from "
            f"{s.day(5, 1)}. Undo it first with `contracts clear-change p1`, or give the next "
            "term's price with the change: `contracts change p1 --next-plan PLAN --price PRICE`."
        )
        refusal = await s.refuse("p1", "schedule_change", ScheduleChange(next_plan="FIXED", **WHO))
        assert refusal.type == "conflict"
        assert refusal.message == pending.format(doing="schedule a switch to plan FIXED")
        refusal = await s.refuse("p1", "cancel_at_next_invoice", CancelAtNextInvoice(**WHO))
        assert refusal.type == "conflict"
        assert refusal.message.endswith(pending.split(": ", 1)[1])

        # p2: a price from the next invoice date, undone by clear_change, which frees the change.
        await s.update("p2", "set_price", SetPrice(price=D("700"), **WHO))
        cleared = await s.update("p2", "clear_change", ClearChange(**WHO))
        assert cleared.effect == (
            f"Cleared the price change to 700.00 EUR from {s.day(4, 1)} on contract p2: it stays "
            "at 600.00 EUR."
        )
        assert cleared.view.contract.scheduled_price is None
        assert s.contract("p2").scheduled_price is None
        await s.update("p2", "schedule_change", ScheduleChange(next_plan="FIXED", **WHO))
        await s.update("p2", "clear_change", ClearChange(**WHO))

        await s.at(s.day(5, 2))
        assert s.plan_lines("p1", since=s.day(4, 1)) == [
            (s.day(4, 1), "plan", s.day(4, 1), s.day(5, 1), D("600.00")),
            (s.day(5, 1), "plan", s.day(5, 1), s.day(6, 1), D("650.00")),
        ]
        repriced = await s.state("p1")
        assert (repriced.contract.price, repriced.contract.scheduled_price) == (D("650.00"), None)
        assert repriced.contract.custom_price
        assert s.contract("p1").price == D("650.00")
        assert [line[-1] for line in s.plan_lines("p2", since=s.day(4, 1))] == [
            D("600.00"),
            D("600.00"),
        ]
        # Once applied, nothing is pending: the custom price now blocks a change without price.
        refusal = await s.refuse("p1", "schedule_change", ScheduleChange(next_plan="FIXED", **WHO))
        assert refusal.type == "custom_price"
        assert check_database(s.database) == []


async def test_a_change_with_a_price_lifts_the_custom_price_block(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    """R19: a custom-priced contract is refused an automated change without a price (the message
    names `--price`); with one, the next term starts at it."""
    async with scenario(time_env, database) as s:
        await s.create("c19", "FLEX", s.day(3, 1), price="550.00")
        await s.at(s.day(3, 10))

        refusal = await s.refuse("c19", "schedule_change", ScheduleChange(next_plan="FIXED", **WHO))
        assert refusal.type == "custom_price"
        assert "`contracts change c19 --next-plan FIXED --price PRICE`" in refusal.message

        result = await s.update(
            "c19", "schedule_change", ScheduleChange(next_plan="FIXED", price=D("900"), **WHO)
        )
        change = result.view.contract.scheduled_change
        assert change is not None
        assert change.price == D("900.00")
        assert "900.00 EUR" in result.effect

        await s.at(s.day(4, 2))
        successor = s.contract("c19-t2")
        assert (successor.plan.code, successor.price, successor.replaces) == (
            "FIXED",
            D("900.00"),
            "c19",
        )
        assert successor.custom_price
        assert s.lines("c19-t2") == [(s.day(4, 1), "plan", s.day(4, 1), s.day(5, 1), D("900.00"))]
        assert s.contract("c19").end == s.day(4, 1)
        assert check_database(s.database) == []


# --- bad input: refused by the validators, before history -----------------------------------------


async def accepted_updates(s: Scenario, contract_id: str) -> list[str]:
    """The names of the updates the workflow's history holds as accepted."""
    history = await s.handle(contract_id).fetch_history()
    return [
        event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for event in history.events
        if event.event_type == UPDATE_ACCEPTED
    ]


def bad_input(s: Scenario) -> list[tuple[str, dict[str, Any], str, str]]:
    """(update, raw input, refusal type, words of its message) — each refused by the validator."""
    ana = {"actor": "ana", "reason": "test"}
    return [
        ("freeze", {"cycles": 0, **ana}, "invalid_input", "cycles:"),
        ("freeze", {"cycles": -2, **ana}, "invalid_input", "cycles:"),
        ("freeze", {"cycles": "two", **ana}, "invalid_input", "cycles:"),
        (
            "freeze",
            {"cycles": 3, "override_terms": True, "actor": "ana", "reason": ""},
            "override_without_reason",
            "reason",
        ),
        (
            "freeze",
            {"cycles": 1, "contract": "bad", **ana},
            "invalid_input",
            "contract: not a field of this command",
        ),
        ("freeze", {"cycles": 1}, "invalid_input", "actor: Field required"),
        (
            "unfreeze",
            {"cycles": 1, **ana},
            "invalid_input",
            "cycles: not a field of this command",
        ),
        ("set_price", {"price": "-5.00", **ana}, "invalid_price", "negative"),
        ("set_price", {"price": "0", **ana}, "invalid_price", "zero"),
        ("set_price", {"price": "650.001", **ana}, "invalid_price", "decimals"),
        ("set_price", {"price": "free", **ana}, "invalid_input", "price:"),
        (
            "set_price",
            {"price": "650.00", "from": str(s.day(3, 1)), **ana},
            "date_in_past",
            "that date is past",
        ),
        (
            "set_price",
            {"price": "650.00", "effective": str(s.day(4, 1)), **ana},
            "invalid_input",
            "effective: not a field of this command",
        ),
        (
            "schedule_change",
            {"next_plan": "FIXED", "price": "-1", **ana},
            "invalid_price",
            "negative",
        ),
        (
            "cancel",
            {"date": str(s.day(10, 1)), "charge_remaining_term": "yes please", **ana},
            "invalid_input",
            "charge_remaining_term:",
        ),
    ]


async def test_bad_input_to_the_new_updates_is_refused_before_history(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        await create(s, "bad", FREEZABLE, s.day(3, 1))
        await s.at(s.day(3, 10))
        before = await s.snapshot("bad")
        audited = len(s.audit("bad"))
        handle = s.handle("bad")

        for name, payload, code, words in bad_input(s):
            with pytest.raises(WorkflowUpdateFailedError) as failed:
                await handle.execute_update(name, payload, result_type=CommandResult)
            refusal = failed.value.cause
            assert isinstance(refusal, ApplicationError), (name, payload)
            assert (refusal.type, refusal.non_retryable) == (code, True), (name, payload)
            assert words in refusal.message, (name, payload, refusal.message)

        # Only the update `contracts create` waits on entered history.
        assert await accepted_updates(s, "bad") == ["registered"]
        assert await s.snapshot("bad") == before
        assert len(s.audit("bad")) == audited


# --- the new commands as signals -----------------------------------------------------------------


def same(text: str) -> str:
    return text.replace("via-update", "via-X").replace("via-signal", "via-X")


async def test_freeze_unfreeze_and_set_price_work_as_signals(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    """Each new command as a signal of the same name does what the update does; a refused one is
    kept in the state and audited, with the update's message."""
    async with scenario(time_env, database) as s:
        for contract_id in ("via-update", "via-signal"):
            await create(s, contract_id, FREEZABLE, s.day(3, 1))
        sent: list[tuple[date, str, Command]] = [
            (s.day(3, 10), "set_price", SetPrice(price=D("550"), **WHO)),
            (s.day(3, 12), "clear_change", ClearChange(**WHO)),
            (s.day(3, 14), "set_price", SetPrice(price=D("520"), from_=s.day(4, 15), **WHO)),
            (s.day(3, 16), "freeze", Freeze(cycles=2, **WHO)),
            (s.day(4, 5), "unfreeze", Unfreeze(**WHO)),
        ]
        for day, name, command in sent:
            await s.at(day)
            result = await s.update("via-update", name, command)
            view = await s.signal("via-signal", name, command)
            assert same(view.contract.model_dump_json()) == same(
                result.view.contract.model_dump_json()
            ), name
            assert view.refused == ()
        assert [(entry.command, same(entry.effect)) for entry in s.audit("via-signal")] == [
            (entry.command, same(entry.effect)) for entry in s.audit("via-update")
        ]

        # Refused: a second freeze within the year, and a freeze of no cycles.
        refusal = await s.refuse("via-update", "freeze", Freeze(cycles=1, **WHO))
        assert refusal.type == "freeze_limit"
        view = await s.signal("via-signal", "freeze", Freeze(cycles=1, **WHO))
        (refused,) = view.refused
        assert (refused.command, refused.actor) == ("freeze", WHO["actor"])
        assert same(refused.message) == same(refusal.message)
        entry = s.audit("via-signal")[-1]
        assert (entry.command, entry.actor, entry.reason) == ("freeze", WHO["actor"], WHO["reason"])
        assert entry.effect == f"Refused: {refused.message}"

        audited = len(s.audit("via-signal"))
        await s.handle("via-signal").signal("freeze", {"cycles": 0, "actor": "ana"})
        view = await s.until("via-signal", lambda v: len(v.refused) == 2)
        await s.audited("via-signal", audited + 1)
        assert view.refused[-1].command == "freeze"
        assert "cycles:" in view.refused[-1].message
        assert s.audit("via-signal")[-1].effect == f"Refused: {view.refused[-1].message}"
        view = await s.signal("via-signal", "unfreeze", Unfreeze(**WHO))
        assert view.refused[-1].message.startswith("Cannot unfreeze the contract")
        # A misspelt command is refused with the list of commands, the new ones included.
        await s.handle("via-signal").signal("freeze_now", {"cycles": 1, "actor": "ana"})
        view = await s.until("via-signal", lambda v: len(v.refused) == 4)
        assert view.refused[-1].message == (
            "Unknown command 'freeze_now'; the commands are schedule_change, "
            "cancel_at_next_invoice, clear_change, cancel, uncancel, new_term, switch, freeze, "
            "unfreeze, set_price, plan_price."
        )

        await s.at(s.day(5, 2))
        assert s.plan_lines("via-signal", since=s.day(4, 1)) == [
            (s.day(5, 1), "plan", s.day(5, 1), s.day(6, 1), D("520.00"))
        ]
        assert s.plan_lines("via-update", since=s.day(4, 1)) == s.plan_lines(
            "via-signal", since=s.day(4, 1)
        )
        assert check_database(s.database) == []
