"""Admin commands sent as signals: the same code path as updates, and no refusal goes unseen.

A signal cannot answer its sender, so the workflow keeps each refusal in its `state` (`refused`)
and in the audit log ("Refused: ..."). Each test runs the real workflow on the time-skipping server
against the billing database (SQLite and PostgreSQL).
"""

import asyncio
import dataclasses
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from billing.contract import Command
from store.db import Database
from tests.support.contracts import WHO, Scenario, lines, scenario
from workflows import ContractWorkflow
from workflows.messages import (
    Cancel,
    CancelAtNextInvoice,
    ClearChange,
    CommandResult,
    ContractView,
    NewTerm,
    ScheduleChange,
    Switch,
    Uncancel,
)

D = Decimal

Step = tuple[date, str, Command]
"""On `date`, send the command `str` (the update's and the signal's name)."""


def steps(s: Scenario) -> list[Step]:
    """A contract's whole repertoire, every command accepted, ending in a new term on OFFICE."""
    return [
        (s.day(3, 5), "schedule_change", ScheduleChange(next_plan="FIXED", **WHO)),
        (s.day(3, 8), "schedule_change", ScheduleChange(next_plan="FLEX", **WHO)),
        (s.day(3, 10), "clear_change", ClearChange(**WHO)),
        (s.day(3, 12), "cancel_at_next_invoice", CancelAtNextInvoice(**WHO)),
        (s.day(3, 14), "clear_change", ClearChange(**WHO)),
        (s.day(3, 16), "cancel", Cancel(date=s.day(4, 21), prorate=True, **WHO)),
        (s.day(3, 18), "uncancel", Uncancel(**WHO)),
        (s.day(3, 20), "cancel", Cancel(date=s.day(4, 11), prorate=True, **WHO)),
        (s.day(3, 22), "new_term", NewTerm(plan="OFFICE", prorate_first_invoice=True, **WHO)),
    ]


def same(text: str) -> str:
    """The text with both contracts' ids made equal, to compare the two runs."""
    return text.replace("via-update", "via-X").replace("via-signal", "via-X")


async def test_signals_give_the_same_results_as_updates(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        for how in ("via-update", "via-signal"):
            await s.create(how, "HOT", s.day(3, 1))
            await s.create(f"sw-{how}", "FLEX", s.day(3, 1))
        sent = [(day, "", name, command) for day, name, command in steps(s)]
        sent.append(
            (
                s.day(3, 22),
                "sw-",
                "switch",
                Switch(to_plan="FIXED", on=s.day(4, 11), prorate=True, **WHO),
            )
        )
        for day, prefix, name, command in sent:
            await s.at(day)
            result = await s.update(f"{prefix}via-update", name, command)
            view = await s.signal(f"{prefix}via-signal", name, command)
            assert same(view.contract.model_dump_json()) == same(
                result.view.contract.model_dump_json()
            ), name
            assert view.refused == ()
        for contract_id in ("via-signal", "sw-via-signal"):
            await s.until(contract_id, lambda v: v.contract.successor_id is not None)
            await s.until(f"{contract_id}-t2", lambda v: v.registered)
        await s.at(s.day(5, 2))

        assert await run_of(s, "via-signal") == await run_of(s, "via-update")
        assert await run_of(s, "sw-via-signal") == await run_of(s, "sw-via-update")
        # And the sequence did what it says: the last invoice of the old term covers 04-01 to
        # 04-11 prorated; the new term starts 04-11 with a prorated stub and the deposit top-up.
        april_1, april_11, may_1 = s.day(4, 1), s.day(4, 11), s.day(5, 1)
        assert s.lines("via-signal")[-1] == (april_1, "plan", april_1, april_11, D("100.00"))
        assert s.lines("via-signal-t2") == [
            (april_11, "plan", april_11, may_1, D("1000.00")),
            (april_11, "deposit", april_11, april_11, D("800.00")),
            (may_1, "plan", may_1, s.day(6, 1), D("1500.00")),
        ]
        assert s.lines("sw-via-signal")[-1] == (april_1, "plan", april_1, april_11, D("200.00"))
        assert s.lines("sw-via-signal-t2")[0] == (april_11, "plan", april_11, may_1, D("666.67"))


async def run_of(s: Scenario, contract_id: str) -> dict[str, list[object]]:
    """What a contract and its new term did, with the ids made equal across the two runs."""
    terms = (contract_id, f"{contract_id}-t2")
    return {
        "invoices": [
            (line, invoice.total)
            for term in terms
            for invoice in s.invoices(contract_id=term)
            for line in lines([invoice])
        ],
        "contracts": [
            same(contract.model_dump_json()) for contract in s.contracts(f"cu-{contract_id}")
        ],
        "states": [same((await s.state(term)).model_dump_json()) for term in terms],
        "audit": [
            (entry.command, entry.actor, entry.reason, same(entry.effect))
            for entry in s.audit(contract_id)
        ],
    }


# --- refused signals -----------------------------------------------------------------------------

Refusal = tuple[str, Command, str]
"""A command refused on a contract that is cancelling on 03-21: its name, itself, its code."""


def refused_command(case: str, s: Scenario) -> Refusal:
    return {
        "conflict": ("cancel", Cancel(date=s.day(3, 25), **WHO), "conflict"),
        "nothing-scheduled": ("clear_change", ClearChange(**WHO), "nothing_scheduled"),
        "cancelling": ("cancel_at_next_invoice", CancelAtNextInvoice(**WHO), "conflict"),
        "overlap": ("new_term", NewTerm(start=s.day(3, 15), **WHO), "overlap"),
        "prorate-not-allowed": (
            "new_term",
            NewTerm(plan="STUDIO", prorate_first_invoice=True, **WHO),
            "prorate_not_allowed",
        ),
        "unknown-plan": ("new_term", NewTerm(plan="NOPE", **WHO), "unknown_plan"),
    }[case]


REFUSALS = [
    "conflict",
    "nothing-scheduled",
    "cancelling",
    "overlap",
    "prorate-not-allowed",
    "unknown-plan",
]


@pytest.mark.parametrize("case", REFUSALS)
async def test_a_refused_signal_is_recorded_in_the_state_and_the_audit_log(
    time_env: WorkflowEnvironment, database: Database, case: str
) -> None:
    async with scenario(time_env, database) as s:
        name, command, code = refused_command(case, s)
        for contract_id in ("via-update", "via-signal"):
            await s.create(contract_id, "FLEX", s.day(3, 1))
        await s.at(s.day(3, 10))
        for contract_id in ("via-update", "via-signal"):
            await s.update(contract_id, "cancel", Cancel(date=s.day(3, 21), **WHO))

        # The same command as an update: refused, and its message is what the signal records.
        refusal = await s.refuse("via-update", name, command)
        assert refusal.type == code
        before = await s.snapshot("via-signal")
        audited = len(s.audit("via-signal"))

        view = await s.signal("via-signal", name, command)

        (refused,) = view.refused
        assert (refused.command, refused.actor) == (name, WHO["actor"])
        assert same(refused.message) == same(refusal.message)
        assert refused.at.date() == s.day(3, 10)
        # One audit entry says who was refused and why; nothing else changed.
        (entry,) = s.audit("via-signal")[audited:]
        assert (entry.command, entry.actor, entry.reason) == (name, WHO["actor"], WHO["reason"])
        assert entry.effect == f"Refused: {refused.message}"
        after = await s.snapshot("via-signal")
        assert after.state.refused == (refused,)
        assert after == dataclasses.replace(before, state=after.state)
        assert after.state.model_copy(update={"refused": ()}) == before.state
        # The cancellation still happens on its date.
        await s.at(s.day(3, 22))
        assert s.contract("via-signal").end == s.day(3, 21)


async def test_an_unknown_plan_signal_is_recorded(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        april_1 = s.day(4, 1)
        await s.create("lost", "FLEX", s.day(3, 1))
        await s.at(s.day(3, 10))

        view = await s.signal(
            "lost", ContractWorkflow.schedule_change_signal, ScheduleChange(next_plan="NOPE", **WHO)
        )

        (refused,) = view.refused
        assert refused.command == "schedule_change"
        assert "NOPE" in refused.message
        assert view.contract.scheduled_change is None
        assert s.audit("lost")[-1].effect == f"Refused: {refused.message}"
        await s.at(s.day(4, 2))
        assert s.plan_lines("lost", since=april_1) == [
            (april_1, "plan", april_1, s.day(5, 1), D("600.00"))
        ]
        assert [c.id for c in s.contracts("cu-lost")] == ["lost"]


async def test_signals_refused_one_after_another_are_all_recorded(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        await s.create("many", "FLEX", s.day(3, 1))
        await s.at(s.day(3, 10))
        handle = s.handle("many")
        # Sent together: the second and third are refused once the first has been applied.
        await handle.signal(
            ContractWorkflow.cancel_signal, Cancel(date=s.day(3, 21), actor="a", reason="1")
        )
        await handle.signal(
            ContractWorkflow.cancel_signal, Cancel(date=s.day(3, 25), actor="b", reason="2")
        )
        await handle.signal(
            ContractWorkflow.schedule_change_signal,
            ScheduleChange(next_plan="FIXED", actor="c", reason="3"),
        )

        view = await s.until("many", lambda v: len(v.refused) == 2)
        await s.audited("many", 5)  # created, first invoice, and the three commands

        cancellation = view.contract.cancellation
        assert cancellation is not None
        assert cancellation.date == s.day(3, 21)
        assert [(r.command, r.actor) for r in view.refused] == [
            ("cancel", "b"),
            ("schedule_change", "c"),
        ]
        assert all("`contracts uncancel many`" in r.message for r in view.refused)
        audit = [(e.actor, e.effect.startswith("Refused: ")) for e in s.audit("many")[-3:]]
        assert audit == [("a", False), ("b", True), ("c", True)]


async def test_a_new_term_signal_with_a_taken_id_is_recorded_and_the_contract_lives_on(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        await s.create("old", "FLEX", s.day(3, 1))
        await s.create("taken", "FLEX", s.day(3, 1))
        await s.at(s.day(3, 10))
        await s.update("old", "cancel", Cancel(date=s.day(3, 21), **WHO))

        await s.handle("old").signal(ContractWorkflow.new_term_signal, NewTerm(id="taken", **WHO))

        async with asyncio.timeout(10):
            while True:
                view: ContractView = await s.state("old")
                status = await s.status("old")
                if view.refused or status is not WorkflowExecutionStatus.RUNNING:
                    break
                await asyncio.sleep(0.05)
        assert status is WorkflowExecutionStatus.RUNNING
        (refused,) = view.refused
        assert "taken" in refused.message
        assert s.audit("old")[-1].effect == f"Refused: {refused.message}"
        await s.at(s.day(3, 22))
        assert s.contract("old").end == s.day(3, 21)


def malformed(s: Scenario) -> list[tuple[str, list[Any], str]]:
    """Signals with bad input (name, arguments, what the refusal says); real dates are `s`'s."""
    mar_21, mar_22 = str(s.day(3, 21)), str(s.day(3, 22))
    return [
        ("cancel", [], "got 0 inputs"),
        ("cancel", [{"date": mar_21, "actor": "ana"}, {"date": mar_22}], "got 2 inputs"),
        ("cancel", [{"date": "2026-02-30", "actor": "ana"}], "date:"),
        ("cancel", [{"actor": "ana"}], "date: Field required"),
        ("cancel", [{"date": mar_21, "actor": "ana", "prorate": "maybe"}], "prorate:"),
        ("schedule_change", [{"next_plan": 42, "actor": "ana"}], "next_plan:"),
        ("switch", [["FIXED"]], "expected one JSON object as input, got a list"),
        ("new_term", [{"price": "free", "actor": "ana"}], "price:"),
        ("uncancel", ["ana"], "expected one JSON object as input, got a string"),
        ("cancel_everything", [{"actor": "ana"}], "Unknown command 'cancel_everything'"),
    ]


async def test_malformed_signals_are_refused_where_an_admin_sees_them(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    """Wrong types, missing fields, no input, two inputs, an unknown name: each is
    kept in `refused` and audited, nothing else changes, and the contract lives on."""
    async with scenario(time_env, database) as s:
        await s.create("raw", "FLEX", s.day(3, 1))
        await s.at(s.day(3, 10))
        before = await s.snapshot("raw")
        handle = s.handle("raw")
        sent = malformed(s)

        for name, args, _ in sent:
            await handle.signal(name, args=args)

        view = await s.until("raw", lambda v: len(v.refused) == len(sent))
        await s.audited("raw", 2 + len(sent))  # created, first invoice, each refusal
        assert await s.status("raw") is WorkflowExecutionStatus.RUNNING
        for refused, (name, args, expected) in zip(view.refused, sent, strict=True):
            assert refused.command == name
            assert expected in refused.message, refused.message
            claimed = args[0].get("actor") if len(args) == 1 and isinstance(args[0], dict) else None
            assert refused.actor == (claimed or "unknown")
        audit = s.audit("raw")[-len(sent) :]
        # Concurrent signals' audit rows are written in whichever order their activities finish.
        assert sorted(entry.effect for entry in audit) == sorted(
            f"Refused: {r.message}" for r in view.refused
        )
        after = await s.snapshot("raw")
        assert after.state.model_copy(update={"refused": ()}) == before.state
        assert (after.contracts, after.invoices, after.deposits) == (
            before.contracts,
            before.invoices,
            before.deposits,
        )
        # Invoicing goes on as before.
        await s.at(s.day(4, 2))
        assert s.plan_lines("raw", since=s.day(4, 1)) == [
            (s.day(4, 1), "plan", s.day(4, 1), s.day(5, 1), D("600.00"))
        ]


async def test_a_signal_field_this_version_does_not_know_is_ignored(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    """A newer version may send a field this one does not know: the signal is applied without it
    (what is in history must replay on any version), while the update refuses it before it
    enters history, so that a misspelt field never goes unnoticed when someone can be told."""
    async with scenario(time_env, database) as s:
        await s.create("newer", "FLEX", s.day(3, 1))
        await s.at(s.day(3, 10))
        handle = s.handle("newer")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                "schedule_change",
                {"next_plan": "FIXED", "actor": "ana", "effective": "now"},
                result_type=CommandResult,
            )
        assert "effective: not a field of this command" in str(refused.value.cause)
        assert (await s.snapshot("newer")).state.contract.scheduled_change is None

        await handle.signal(
            "schedule_change", {"next_plan": "FIXED", "actor": "ana", "effective": "now"}
        )
        view = await s.until("newer", lambda v: v.contract.scheduled_change is not None)
        assert view.refused == ()
        change = view.contract.scheduled_change
        assert change is not None
        assert change.next_plan is not None
        assert change.next_plan.code == "FIXED"
