"""Admin commands sent as updates to the real contract workflow on the time-skipping server.

Each test creates contracts starting in March of the year after the server's clock, skips time to
12:00 local on the day a command is sent (after that day's 00:00 invoicing), and checks what a user
sees: invoices, dates and amounts in the billing database, the workflow's `state`, the command's
answer and the audit log. Every refusal is checked to leave the contract rows, invoices, deposit
movements and the workflow's state exactly as they were (`Scenario.refuse`).
"""

import asyncio
import contextlib
from decimal import Decimal

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from billing.contract import Command, ContractStatus
from billing.rules import CANCEL_AT_NEXT_INVOICE_WARNING
from store.db import Database
from termshift.services.served_days import check_database
from tests.support.contracts import WHO, Scenario, scenario
from workflows import ContractWorkflow
from workflows.messages import (
    Cancel,
    CancelAtNextInvoice,
    ClearChange,
    NewTerm,
    ScheduleChange,
    Switch,
    Uncancel,
)

D = Decimal


# --- R5: automated change ------------------------------------------------------------------------


async def test_scheduled_change_switches_to_a_new_contract_on_the_next_invoice_date(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        mar_1, apr_1, may_1 = s.day(3, 1), s.day(4, 1), s.day(5, 1)
        await s.create("r5", "HOT", mar_1)
        await s.at(s.day(3, 10))

        result = await s.update(
            "r5", ContractWorkflow.schedule_change, ScheduleChange(next_plan="FIXED", **WHO)
        )

        assert result.effect == (
            f"Contract r5 switches from plan HOT to plan FIXED on its next invoice date, {apr_1}: "
            "a new contract at 1,000.00 EUR starts that day and is invoiced for its full first "
            "period."
        )
        state = await s.state("r5")
        change = state.contract.scheduled_change
        assert change is not None
        assert change.next_plan is not None
        assert change.next_plan.code == "FIXED"
        assert state.next_event_date == apr_1
        assert state.next_event == f"Switches to FIXED on {apr_1}."
        assert s.contract("r5").scheduled_change == change  # the row follows the workflow

        await s.at(s.day(5, 2))

        old = s.contract("r5")
        assert (old.status, old.end, old.successor_id) == (ContractStatus.CANCELLED, apr_1, "r5-t2")
        # The old contract is billed for March only: nothing for the new period, no credit.
        assert s.lines("r5") == [
            (mar_1, "plan", mar_1, apr_1, D("300.00")),
            (mar_1, "deposit", mar_1, mar_1, D("200.00")),
        ]
        new = s.contract("r5-t2")
        assert (new.plan.code, new.price, new.start, new.anchor, new.replaces) == (
            "FIXED",
            D("1000.00"),
            apr_1,
            apr_1,
            "r5",
        )
        assert new.status is ContractStatus.ACTIVE
        # Full first period at the new plan's price; FIXED has no deposit, HOT's 200 stays held.
        assert s.lines("r5-t2") == [
            (apr_1, "plan", apr_1, may_1, D("1000.00")),
            (may_1, "plan", may_1, s.day(6, 1), D("1000.00")),
        ]
        assert s.holdings("cu-r5") == {"r5-t2": D("200.00")}
        assert [c.id for c in s.contracts("cu-r5")] == ["r5", "r5-t2"]
        assert await s.status("r5") is WorkflowExecutionStatus.COMPLETED
        assert await s.status("r5-t2") is WorkflowExecutionStatus.RUNNING
        successor = await s.state("r5-t2")
        assert successor.next_invoice_date == s.day(6, 1)
        assert (await s.state("r5")).contract.successor_id == "r5-t2"


async def test_a_scheduled_plan_can_be_replaced_before_the_date(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        apr_1 = s.day(4, 1)
        await s.create("swap", "HOT", s.day(3, 1))
        await s.at(s.day(3, 5))
        await s.update(
            "swap", ContractWorkflow.schedule_change, ScheduleChange(next_plan="FIXED", **WHO)
        )
        await s.at(s.day(3, 10))

        result = await s.update(
            "swap", ContractWorkflow.schedule_change, ScheduleChange(next_plan="FLEX", **WHO)
        )

        assert result.effect.endswith("This replaces the scheduled switch to plan FIXED.")
        await s.at(s.day(4, 2))
        new = s.contract("swap-t2")
        assert (new.plan.code, new.price, new.start) == ("FLEX", D("600.00"), apr_1)
        assert s.lines("swap-t2") == [(apr_1, "plan", apr_1, s.day(5, 1), D("600.00"))]
        assert [c.id for c in s.contracts("cu-swap")] == ["swap", "swap-t2"]


async def test_schedule_change_is_refused_for_a_custom_price_and_for_wrong_plans(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        await s.create("custom", "HOT", s.day(3, 1), price="250.00")
        await s.create("plain", "HOT", s.day(3, 1))
        await s.at(s.day(3, 10))

        custom = await s.refuse(
            "custom", ContractWorkflow.schedule_change, ScheduleChange(next_plan="FIXED", **WHO)
        )
        unknown = await s.refuse(
            "plain", ContractWorkflow.schedule_change, ScheduleChange(next_plan="NOPE", **WHO)
        )
        elsewhere = await s.refuse(
            "plain", ContractWorkflow.schedule_change, ScheduleChange(next_plan="LON-DESK", **WHO)
        )
        same = await s.refuse(
            "plain", ContractWorkflow.schedule_change, ScheduleChange(next_plan="HOT", **WHO)
        )
        await s.create("later", "HOT", s.day(4, 1))
        not_started = await s.refuse(
            "later", ContractWorkflow.schedule_change, ScheduleChange(next_plan="FIXED", **WHO)
        )

        assert custom.type == "custom_price"
        assert "250.00 EUR" in custom.message
        assert "300.00 EUR" in custom.message
        assert "manual change" in custom.message
        assert unknown.type == "unknown_plan"
        assert "NOPE" in unknown.message
        assert elsewhere.type == "other_location"
        assert "LON-DESK" in elsewhere.message
        assert "lon" in elsewhere.message
        assert same.type == "same_plan"
        assert "already on plan HOT" in same.message
        assert not_started.type == "inactive"
        assert f"has not started yet (it starts on {s.day(4, 1)})" in not_started.message
        # Refused, so both are invoiced on their own plan as before.
        await s.at(s.day(4, 2))
        for contract_id, price in (("custom", D("250.00")), ("plain", D("300.00"))):
            assert s.plan_lines(contract_id, since=s.day(4, 1)) == [
                (s.day(4, 1), "plan", s.day(4, 1), s.day(5, 1), price)
            ]
        assert s.contracts("cu-plain")[-1].id == "plain"


# --- R6: cancel at the next invoice date ---------------------------------------------------------


async def test_cancel_at_next_invoice_ends_the_contract_with_a_warning(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        mar_1, apr_1 = s.day(3, 1), s.day(4, 1)
        await s.create("r6", "HOT", mar_1)
        await s.at(s.day(3, 10))

        result = await s.update(
            "r6", ContractWorkflow.cancel_at_next_invoice, CancelAtNextInvoice(**WHO)
        )

        assert result.warnings == (CANCEL_AT_NEXT_INVOICE_WARNING,)
        assert "not the recommended way to cancel" in result.warnings[0]
        state = await s.state("r6")
        assert state.next_event == f"Ends on {apr_1} (cancel at next invoice date)."
        assert state.next_invoice_date is None

        await s.at(s.day(5, 2))
        contract = s.contract("r6")
        assert (contract.status, contract.end) == (ContractStatus.CANCELLED, apr_1)
        # No invoice for the following period; the deposit comes back on that date.
        assert s.lines("r6") == [
            (mar_1, "plan", mar_1, apr_1, D("300.00")),
            (mar_1, "deposit", mar_1, mar_1, D("200.00")),
            (apr_1, "deposit_refund", apr_1, apr_1, D("-200.00")),
        ]
        assert s.held("cu-r6") == 0
        assert await s.status("r6") is WorkflowExecutionStatus.COMPLETED


# --- clear_change --------------------------------------------------------------------------------


async def test_clear_change_undoes_a_scheduled_switch_and_a_scheduled_cancellation(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        apr_1 = s.day(4, 1)
        await s.create("undo", "FLEX", s.day(3, 1))
        await s.at(s.day(3, 5))
        await s.update(
            "undo", ContractWorkflow.schedule_change, ScheduleChange(next_plan="FIXED", **WHO)
        )
        await s.at(s.day(3, 8))
        cleared = await s.update("undo", ContractWorkflow.clear_change, ClearChange(**WHO))
        assert cleared.effect.startswith(
            f"Cleared the switch to plan FIXED scheduled for its next invoice date, {apr_1}"
        )
        assert cleared.view.contract.scheduled_change is None
        await s.at(s.day(3, 12))
        await s.update("undo", ContractWorkflow.cancel_at_next_invoice, CancelAtNextInvoice(**WHO))
        await s.at(s.day(3, 14))
        await s.update("undo", ContractWorkflow.clear_change, ClearChange(**WHO))

        state = await s.state("undo")
        assert state.contract.scheduled_change is None
        assert state.next_event == f"Next invoice on {apr_1}."
        await s.at(s.day(4, 2))
        # Nothing switched nor ended: invoiced as usual on its own plan.
        assert [c.id for c in s.contracts("cu-undo")] == ["undo"]
        contract = s.contract("undo")
        assert (contract.status, contract.end) == (ContractStatus.ACTIVE, None)
        assert s.plan_lines("undo", since=apr_1) == [
            (apr_1, "plan", apr_1, s.day(5, 1), D("600.00"))
        ]


async def test_clear_change_is_refused_when_nothing_is_scheduled(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        await s.create("idle", "FLEX", s.day(3, 1))
        await s.at(s.day(3, 10))
        refusal = await s.refuse("idle", ContractWorkflow.clear_change, ClearChange(**WHO))
        assert refusal.type == "nothing_scheduled"
        assert refusal.message == "Contract idle has no scheduled change to clear."


# --- R7: manual cancellation ---------------------------------------------------------------------


@pytest.mark.parametrize("prorate", [True, False], ids=["prorate", "no-prorate"])
async def test_cancel_before_the_next_invoice_date(
    time_env: WorkflowEnvironment, database: Database, prorate: bool
) -> None:
    async with scenario(time_env, database) as s:
        mar_1, mar_21, apr_1 = s.day(3, 1), s.day(3, 21), s.day(4, 1)
        await s.create("r7", "FIXED", mar_1)
        await s.at(s.day(3, 10))

        result = await s.update(
            "r7", ContractWorkflow.cancel, Cancel(date=mar_21, prorate=prorate, **WHO)
        )

        if prorate:
            assert "A proration credit of 354.84 EUR" in result.effect
        else:
            assert "nothing is credited" in result.effect
        assert (await s.state("r7")).next_event == f"Ends on {mar_21} (manual cancellation)."
        await s.at(s.day(4, 2))
        credit = [(mar_21, "proration_credit", mar_21, apr_1, D("-354.84"))] if prorate else []
        assert s.lines("r7") == [(mar_1, "plan", mar_1, apr_1, D("1000.00")), *credit]
        contract = s.contract("r7")
        assert (contract.status, contract.end) == (ContractStatus.CANCELLED, mar_21)
        assert await s.status("r7") is WorkflowExecutionStatus.COMPLETED


@pytest.mark.parametrize(
    ("prorate", "last_amount"), [(True, "193.55"), (False, "600.00")], ids=["prorate", "full"]
)
async def test_cancel_after_the_next_invoice_date(
    time_env: WorkflowEnvironment, database: Database, prorate: bool, last_amount: str
) -> None:
    async with scenario(time_env, database) as s:
        apr_1, may_1, may_11 = s.day(4, 1), s.day(5, 1), s.day(5, 11)
        await s.create("late", "FLEX", s.day(3, 1))
        await s.at(s.day(4, 10))

        result = await s.update(
            "late", ContractWorkflow.cancel, Cancel(date=may_11, prorate=prorate, **WHO)
        )

        covers = (
            f"covers {may_1} to {may_11}"
            if prorate
            else f"covers the whole period {may_1} to {s.day(6, 1)} (service ends on {may_11})"
        )
        assert f"the last invoice, on {may_1}, {covers}" in result.effect
        assert f"{last_amount} EUR" in result.effect
        await s.at(s.day(6, 2))
        # Not prorated, the last line charges and covers the whole period (R7).
        last_end = may_11 if prorate else s.day(6, 1)
        assert s.plan_lines("late", since=apr_1) == [
            (apr_1, "plan", apr_1, may_1, D("600.00")),
            (may_1, "plan", may_1, last_end, D(last_amount)),
        ]
        assert [i.issue_date for i in s.invoices(contract_id="late")][-1] == may_1
        contract = s.contract("late")
        assert (contract.status, contract.end) == (ContractStatus.CANCELLED, may_11)


async def test_a_retroactive_cancellation_in_the_billed_period_credits_from_its_date(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        mar_21, apr_1 = s.day(3, 21), s.day(4, 1)
        await s.create("retro", "FIXED", s.day(3, 1))
        await s.at(s.day(3, 25))

        result = await s.update(
            "retro", ContractWorkflow.cancel, Cancel(date=mar_21, prorate=True, **WHO)
        )

        assert result.warnings
        assert "retroactive" in result.warnings[0]
        view = await s.until("retro", lambda v: v.contract.status is ContractStatus.CANCELLED)
        assert view.contract.end == mar_21
        assert s.lines("retro")[1:] == [(mar_21, "proration_credit", mar_21, apr_1, D("-354.84"))]


async def test_cancel_is_refused_before_the_start_and_before_the_billed_period(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        await s.create("early", "FLEX", s.day(3, 1))
        await s.at(s.day(3, 10))
        before_start = await s.refuse(
            "early", ContractWorkflow.cancel, Cancel(date=s.day(2, 20), prorate=True, **WHO)
        )
        await s.at(s.day(4, 10))
        before_billed = await s.refuse(
            "early", ContractWorkflow.cancel, Cancel(date=s.day(3, 25), prorate=True, **WHO)
        )

        assert before_start.type == "date_before_start"
        assert f"before the contract starts, on {s.day(3, 1)}" in before_start.message
        assert before_billed.type == "date_before_billed_period"
        assert f"{s.day(4, 1)} to {s.day(5, 1)}" in before_billed.message


async def test_uncancel_while_the_date_is_ahead_restores_invoicing(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        apr_1 = s.day(4, 1)
        await s.create("back", "FLEX", s.day(3, 1))
        await s.at(s.day(3, 10))
        await s.update("back", ContractWorkflow.cancel, Cancel(date=s.day(3, 21), **WHO))
        await s.at(s.day(3, 15))

        result = await s.update("back", ContractWorkflow.uncancel, Uncancel(**WHO))

        assert result.effect.startswith(f"Undid the manual cancellation on {s.day(3, 21)}")
        assert result.view.contract.cancellation is None
        assert s.contract("back").cancellation is None
        await s.at(s.day(4, 2))
        contract = s.contract("back")
        assert (contract.status, contract.end) == (ContractStatus.ACTIVE, None)
        assert s.plan_lines("back", since=apr_1) == [
            (apr_1, "plan", apr_1, s.day(5, 1), D("600.00"))
        ]


async def test_uncancel_after_a_prorated_cut_invoices_the_days_cut_off(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    """R7's undo: 600.00/month, cancelled for May 11 with proration; the May invoice bills May 1
    to 11 (193.55). Undone on May 3, the days May 11 to June 1 are invoiced that day (406.45), and
    every served day is billed once (R20)."""
    async with scenario(time_env, database) as s:
        may_1, may_3, may_11, jun_1 = s.day(5, 1), s.day(5, 3), s.day(5, 11), s.day(6, 1)
        await s.create("cut", "FLEX", s.day(3, 1))
        await s.at(s.day(4, 10))
        await s.update("cut", ContractWorkflow.cancel, Cancel(date=may_11, prorate=True, **WHO))
        await s.at(may_3)
        assert s.plan_lines("cut", since=may_1) == [(may_1, "plan", may_1, may_11, D("193.55"))]

        result = await s.update("cut", ContractWorkflow.uncancel, Uncancel(**WHO))

        assert result.effect.startswith(f"Undid the manual cancellation on {may_11}")
        assert f"so {may_11} to {jun_1} is invoiced today" in result.effect
        assert "406.45 EUR" in result.effect
        assert s.plan_lines("cut", since=may_3) == [(may_3, "plan", may_11, jun_1, D("406.45"))]
        [undo] = [i for i in s.invoices(contract_id="cut") if i.issue_date == may_3]
        assert undo.purpose.value == "uncancel"
        row = s.contract("cut")
        assert (row.cancellation, row.billed_through, row.next_invoice_date) == (None, jun_1, jun_1)
        assert check_database(database) == []

        await s.at(s.day(6, 2))

        assert s.plan_lines("cut", since=jun_1) == [
            (jun_1, "plan", jun_1, s.day(7, 1), D("600.00"))
        ]
        assert check_database(database) == []


async def test_uncancel_is_refused_without_a_cancellation_and_once_the_date_passed(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        await s.create("gone", "FLEX", s.day(3, 1))
        await s.at(s.day(3, 10))
        nothing = await s.refuse("gone", ContractWorkflow.uncancel, Uncancel(**WHO))
        assert nothing.type == "nothing_to_undo"
        await s.update("gone", ContractWorkflow.cancel, Cancel(date=s.day(3, 21), **WHO))
        await s.at(s.day(3, 22))

        # The contract ended at 00:00 on its date and its workflow with it: nothing changes.
        await s.refuse_ended("gone", ContractWorkflow.uncancel, Uncancel(**WHO))

        await s.at(s.day(4, 2))
        contract = s.contract("gone")
        assert (contract.status, contract.end) == (ContractStatus.CANCELLED, s.day(3, 21))
        assert [i.issue_date for i in s.invoices(contract_id="gone")] == [s.day(3, 1)]


# --- R8: new terms -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prorate", "first"), [(True, "532.26"), (False, "1500.00")], ids=["prorated", "full-stub"]
)
async def test_new_term_after_a_cancellation_keeps_the_billing_day(
    time_env: WorkflowEnvironment, database: Database, prorate: bool, first: str
) -> None:
    async with scenario(time_env, database) as s:
        mar_1, mar_21, apr_1, may_1 = s.day(3, 1), s.day(3, 21), s.day(4, 1), s.day(5, 1)
        await s.create("term", "HOT", mar_1)
        await s.at(s.day(3, 10))
        await s.update("term", ContractWorkflow.cancel, Cancel(date=mar_21, prorate=True, **WHO))
        await s.at(s.day(3, 12))

        result = await s.update(
            "term",
            ContractWorkflow.new_term,
            NewTerm(plan="OFFICE", prorate_first_invoice=prorate, **WHO),
        )

        successor = result.successor
        assert successor is not None
        assert (successor.id, successor.status, successor.replaces) == (
            "term-t2",
            ContractStatus.INACTIVE,
            "term",
        )
        assert (successor.start, successor.anchor, successor.price) == (mar_21, mar_1, D("1500.00"))
        if prorate:
            assert "prorated (11 of 31 days): 532.26 EUR" in result.effect
        else:
            assert "at the full price, not prorated: 1,500.00 EUR" in result.effect
        assert result.view.contract.successor_id == "term-t2"
        assert (await s.state("term")).contract.successor_id == "term-t2"
        assert s.contract("term").successor_id == "term-t2"
        assert s.contract("term-t2") == successor
        new_state = await s.state("term-t2")
        assert new_state.next_event_date == mar_21
        assert await s.status("term-t2") is WorkflowExecutionStatus.RUNNING

        await s.at(s.day(4, 2))
        assert s.lines("term") == [
            (mar_1, "plan", mar_1, apr_1, D("300.00")),
            (mar_1, "deposit", mar_1, mar_1, D("200.00")),
            (mar_21, "proration_credit", mar_21, apr_1, D("-106.45")),
        ]
        # The new term inherits HOT's 200 deposit: only the 800 top-up is charged.
        assert s.lines("term-t2") == [
            (mar_21, "plan", mar_21, apr_1, D(first)),
            (mar_21, "deposit", mar_21, mar_21, D("800.00")),
            (apr_1, "plan", apr_1, may_1, D("1500.00")),
        ]
        assert s.holdings("cu-term") == {"term-t2": D("1000.00")}
        assert s.contract("term").end == mar_21
        assert s.contract("term-t2").status is ContractStatus.ACTIVE


async def test_new_term_is_refused_without_cancellation_overlapping_or_with_a_forbidden_flag(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        await s.create("nt", "HOT", s.day(3, 1))
        await s.at(s.day(3, 10))
        not_cancelled = await s.refuse(
            "nt", ContractWorkflow.new_term, NewTerm(plan="OFFICE", **WHO)
        )
        await s.update("nt", ContractWorkflow.cancel, Cancel(date=s.day(3, 21), **WHO))
        overlap = await s.refuse(
            "nt", ContractWorkflow.new_term, NewTerm(plan="OFFICE", start=s.day(3, 15), **WHO)
        )
        forbidden = await s.refuse(
            "nt",
            ContractWorkflow.new_term,
            NewTerm(plan="STUDIO", prorate_first_invoice=True, **WHO),
        )

        assert not_cancelled.type == "not_cancelled"
        assert "cancel it first" in not_cancelled.message.lower()
        assert overlap.type == "overlap"
        assert f"on {s.day(3, 21)} or later" in overlap.message
        assert forbidden.type == "prorate_not_allowed"
        assert "STUDIO" in forbidden.message
        assert [c.id for c in s.contracts("cu-nt")] == ["nt"]


async def test_switch_cancels_and_starts_the_new_term_in_one_step(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        mar_1, mar_21, apr_1, may_1 = s.day(3, 1), s.day(3, 21), s.day(4, 1), s.day(5, 1)
        await s.create("sw", "HOT", mar_1)
        await s.at(s.day(3, 10))

        result = await s.update(
            "sw",
            ContractWorkflow.switch,
            Switch(to_plan="OFFICE", on=mar_21, prorate=True, **WHO),
        )

        assert result.successor is not None
        assert result.successor.id == "sw-t2"
        cancellation = result.view.contract.cancellation
        assert cancellation is not None
        assert (cancellation.date, cancellation.prorate) == (
            mar_21,
            True,
        )
        assert (await s.state("sw")).contract.successor_id == "sw-t2"
        # A second switch or new term is refused: the new term exists exactly once.
        again = await s.refuse(
            "sw", ContractWorkflow.switch, Switch(to_plan="OFFICE", on=mar_21, **WHO)
        )
        assert again.type == "conflict"
        other = await s.refuse("sw", ContractWorkflow.new_term, NewTerm(plan="FIXED", **WHO))
        assert other.type == "conflict"
        assert "sw-t2" in other.message
        assert (
            await s.events("sw", EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED) == 1
        )

        await s.at(s.day(4, 2))
        assert [c.id for c in s.contracts("cu-sw")] == ["sw", "sw-t2"]
        assert await s.status("sw-t2") is WorkflowExecutionStatus.RUNNING
        assert s.lines("sw")[2:] == [(mar_21, "proration_credit", mar_21, apr_1, D("-106.45"))]
        assert s.lines("sw-t2") == [
            (mar_21, "plan", mar_21, apr_1, D("532.26")),
            (mar_21, "deposit", mar_21, mar_21, D("800.00")),
            (apr_1, "plan", apr_1, may_1, D("1500.00")),
        ]


# --- R9: deposits --------------------------------------------------------------------------------


async def test_deposit_top_up_on_a_switch_and_refund_when_the_last_contract_ends(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        apr_1, may_1 = s.day(4, 1), s.day(5, 1)
        await s.create("dep", "HOT", s.day(3, 1))
        await s.at(s.day(3, 10))
        await s.update(
            "dep", ContractWorkflow.schedule_change, ScheduleChange(next_plan="OFFICE", **WHO)
        )
        await s.at(s.day(4, 2))

        assert s.lines("dep-t2") == [
            (apr_1, "plan", apr_1, may_1, D("1500.00")),
            (apr_1, "deposit", apr_1, apr_1, D("800.00")),
        ]
        assert s.holdings("cu-dep") == {"dep-t2": D("1000.00")}
        assert not [line for line in s.lines("dep") if line[1] == "deposit_refund"]

        await s.at(s.day(4, 10))
        await s.update("dep-t2", ContractWorkflow.cancel, Cancel(date=may_1, **WHO))
        await s.ends("dep-t2", may_1)

        assert s.lines("dep-t2")[2:] == [(may_1, "deposit_refund", may_1, may_1, D("-1000.00"))]
        assert s.held("cu-dep") == 0
        assert s.contract("dep-t2").end == may_1


async def test_deposit_stays_held_while_the_customer_has_another_contract(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        apr_1, may_1 = s.day(4, 1), s.day(5, 1)
        await s.create("one", "HOT", s.day(3, 1), customer="cu-two")
        await s.create("two", "HOT", s.day(3, 1), customer="cu-two")
        await s.at(s.day(3, 10))
        await s.update("one", ContractWorkflow.cancel, Cancel(date=apr_1, **WHO))
        await s.at(s.day(4, 2))

        assert s.contract("one").end == apr_1
        assert [line for line in s.lines("one") if line[0] >= apr_1] == []
        assert s.holdings("cu-two") == {"one": D("200.00"), "two": D("200.00")}

        await s.at(s.day(4, 10))
        await s.update("two", ContractWorkflow.cancel, Cancel(date=may_1, **WHO))
        await s.at(s.day(5, 2))

        # The customer's last contract ended: everything the customer holds comes back.
        assert s.lines("two")[-1] == (may_1, "deposit_refund", may_1, may_1, D("-400.00"))
        assert s.held("cu-two") == 0


# --- R10: conflicts ------------------------------------------------------------------------------


async def assert_conflicts(
    s: Scenario, contract_id: str, pending: str, undo: str, sent: list[tuple[str, Command]]
) -> None:
    """Each command is refused as a conflict naming the pending operation and its undo."""
    for name, command in sent:
        refusal = await s.refuse(contract_id, name, command)
        assert refusal.type == "conflict", refusal.message
        assert pending in refusal.message, name
        assert undo in refusal.message, name


async def test_conflicting_commands_name_the_pending_operation_and_its_undo(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        apr_1, apr_15 = s.day(4, 1), s.day(4, 15)
        await s.create("cf", "FLEX", s.day(3, 1))
        await s.at(s.day(3, 10))

        await s.update("cf", ContractWorkflow.cancel, Cancel(date=apr_15, **WHO))
        await assert_conflicts(
            s,
            "cf",
            f"manual cancellation on {apr_15} (not prorated, requested by alice)",
            "`contracts uncancel cf`",
            [
                ("schedule_change", ScheduleChange(next_plan="FIXED", **WHO)),
                ("cancel", Cancel(date=s.day(4, 20), **WHO)),
                ("cancel_at_next_invoice", CancelAtNextInvoice(**WHO)),
            ],
        )
        await s.update("cf", ContractWorkflow.uncancel, Uncancel(**WHO))

        await s.update(
            "cf", ContractWorkflow.schedule_change, ScheduleChange(next_plan="FIXED", **WHO)
        )
        await assert_conflicts(
            s,
            "cf",
            f"switch to plan FIXED scheduled for its next invoice date, {apr_1}",
            "`contracts clear-change cf`",
            [
                ("cancel", Cancel(date=apr_15, **WHO)),
                ("cancel_at_next_invoice", CancelAtNextInvoice(**WHO)),
                ("switch", Switch(to_plan="OFFICE", on=apr_15, **WHO)),
                ("new_term", NewTerm(**WHO)),
            ],
        )
        await s.update("cf", ContractWorkflow.clear_change, ClearChange(**WHO))

        await s.update("cf", ContractWorkflow.cancel_at_next_invoice, CancelAtNextInvoice(**WHO))
        await assert_conflicts(
            s,
            "cf",
            f"cancellation scheduled for its next invoice date, {apr_1}",
            "`contracts clear-change cf`",
            [
                ("schedule_change", ScheduleChange(next_plan="FIXED", **WHO)),
                ("cancel", Cancel(date=apr_15, **WHO)),
            ],
        )
        # Nothing refused changed the plan: the scheduled cancellation still ends it on 04-01.
        await s.at(s.day(4, 2))
        assert s.contract("cf").end == apr_1


async def test_a_cancelled_contract_refuses_every_change(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        mar_21 = s.day(3, 21)
        await s.create("done", "FLEX", s.day(3, 1))
        await s.at(s.day(3, 10))
        await s.update("done", ContractWorkflow.cancel, Cancel(date=mar_21, **WHO))
        await s.at(s.day(3, 22))

        sent: list[tuple[str, Command]] = [
            ("schedule_change", ScheduleChange(next_plan="FIXED", **WHO)),
            ("cancel_at_next_invoice", CancelAtNextInvoice(**WHO)),
            ("clear_change", ClearChange(**WHO)),
            ("cancel", Cancel(date=s.day(3, 25), **WHO)),
            ("uncancel", Uncancel(**WHO)),
            ("switch", Switch(to_plan="FIXED", on=s.day(3, 25), **WHO)),
        ]
        for name, command in sent:
            await s.refuse_ended("done", name, command)
        contract = s.contract("done")
        assert (contract.status, contract.end) == (ContractStatus.CANCELLED, mar_21)


# --- R11: audit ----------------------------------------------------------------------------------


async def test_every_accepted_command_is_audited_with_actor_reason_and_effect(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        await s.create("au", "FLEX", s.day(3, 1))
        await s.create("au2", "FLEX", s.day(3, 1))
        await s.at(s.day(3, 10))
        sent = [
            ("au", "schedule_change", ScheduleChange(next_plan="FIXED", actor="bob", reason="up")),
            ("au", "clear_change", ClearChange(actor="carol", reason="changed mind")),
            ("au", "cancel_at_next_invoice", CancelAtNextInvoice(actor="dan", reason="leaving")),
            ("au", "clear_change", ClearChange(actor="erin", reason="staying")),
            ("au", "cancel", Cancel(date=s.day(4, 15), actor="frank", reason="moving")),
            ("au", "uncancel", Uncancel(actor="grace", reason="not moving")),
            ("au", "cancel", Cancel(date=s.day(4, 21), actor="heidi", reason="moving later")),
            ("au", "new_term", NewTerm(plan="FIXED", actor="ivan", reason="bigger desk")),
            ("au2", "switch", Switch(to_plan="FIXED", on=s.day(3, 21), actor="judy", reason="x")),
        ]
        effects = []
        for contract_id, name, command in sent:
            result = await s.update(contract_id, name, command)
            effects.append((contract_id, name, command.actor, command.reason, result.effect))

        audited = [
            (entry.contract_id, entry.command, entry.actor, entry.reason, entry.effect)
            for contract_id in ("au", "au2")
            for entry in s.audit(contract_id)
            if entry.actor not in ("setup", "termshift")
        ]
        assert sorted(audited) == sorted(effects)


# --- found by these tests and fixed ---------------------------------------------------------------


async def test_clear_change_is_refused_while_a_new_term_follows_the_cancellation(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        apr_1 = s.day(4, 1)
        await s.create("lined", "HOT", s.day(3, 1))
        await s.at(s.day(3, 10))
        await s.update("lined", ContractWorkflow.cancel_at_next_invoice, CancelAtNextInvoice(**WHO))
        result = await s.update("lined", ContractWorkflow.new_term, NewTerm(plan="OFFICE", **WHO))
        assert result.successor is not None
        assert result.successor.start == apr_1

        refusal = await s.refuse("lined", ContractWorkflow.clear_change, ClearChange(**WHO))

        assert refusal.type == "conflict"
        assert "lined-t2" in refusal.message
        await s.at(s.day(4, 2))
        assert s.contract("lined").end == apr_1
        assert s.plan_lines("lined", since=apr_1) == []


async def test_uncancel_is_refused_while_a_new_term_is_lined_up(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        mar_21 = s.day(3, 21)
        await s.create("keep", "HOT", s.day(3, 1))
        await s.at(s.day(3, 10))
        await s.update("keep", ContractWorkflow.cancel, Cancel(date=mar_21, **WHO))
        await s.update("keep", ContractWorkflow.new_term, NewTerm(plan="OFFICE", **WHO))

        refusal = await s.refuse("keep", ContractWorkflow.uncancel, Uncancel(**WHO))

        assert refusal.type == "conflict"
        assert "keep-t2 is lined up as the next term" in refusal.message
        assert "contracts switch keep-t2" in refusal.message


async def test_new_term_with_a_taken_id_is_refused_with_a_clear_message(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        await s.create("first", "FLEX", s.day(3, 1))
        await s.create("taken", "FLEX", s.day(3, 1))
        await s.at(s.day(3, 10))
        await s.update("first", ContractWorkflow.cancel, Cancel(date=s.day(3, 21), **WHO))

        refusal = await s.refuse("first", ContractWorkflow.new_term, NewTerm(id="taken", **WHO))

        assert "taken" in refusal.message


async def test_automated_switch_happens_even_if_the_default_successor_id_is_taken(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        apr_1 = s.day(4, 1)
        await s.create("busy", "HOT", s.day(3, 1))
        await s.create("busy-t2", "FLEX", s.day(3, 1))  # another customer's contract
        await s.at(s.day(3, 10))
        await s.update(
            "busy", ContractWorkflow.schedule_change, ScheduleChange(next_plan="FIXED", **WHO)
        )

        with contextlib.suppress(TimeoutError):  # the stuck workflow holds the server's clock
            await asyncio.wait_for(s.at(s.day(4, 2)), timeout=3)

        old = s.contract("busy")
        assert (old.status, old.end) == (ContractStatus.CANCELLED, apr_1)
        (successor,) = [c for c in s.contracts("cu-busy") if c.replaces == "busy"]
        assert s.lines(successor.id)[0] == (apr_1, "plan", apr_1, s.day(5, 1), D("1000.00"))
