"""Contract terms through the real workflow on the time-skipping server: the notice period (R14)
and the minimum term with early termination (R15), with the worked examples of SPEC §4.

Each refusal leaves the contract rows, invoices, deposit movements and the workflow's state as
they were (`Scenario.refuse`); each override is audited with the term it passed.
"""

from decimal import Decimal

from temporalio.testing import WorkflowEnvironment

from billing.contract import Contract, ContractStatus, Plan, new_contract
from billing.terms import Terms
from store.db import Database
from termshift.services import catalog
from termshift.services.contracts import create_contract
from termshift.services.served_days import check_database
from tests.support.contracts import BERLIN, SETUP, WHO, Scenario, scenario
from workflows import ContractWorkflow
from workflows.messages import Cancel, CancelAtNextInvoice, ScheduleChange, Uncancel

D = Decimal

COMMITTED = Plan(
    code="COMMITTED",
    name="Committed Desk",
    location_id=BERLIN.id,
    price=D("900.00"),
    terms=Terms(minimum_term="12 months"),
)
NOTICE = Plan(
    code="NOTICE",
    name="Notice Desk",
    location_id=BERLIN.id,
    price=D("600.00"),
    terms=Terms(notice="30 days"),
)


async def create(s: Scenario, contract_id: str, plan: Plan, month: int, day: int) -> Contract:
    """The contract on `plan` (added to the catalog) from that day of the scenario year."""
    catalog.add_plan(s.database, plan, SETUP)
    s.add_customer(f"cu-{contract_id}")
    contract = new_contract(
        id=contract_id,
        customer_id=f"cu-{contract_id}",
        location=BERLIN,
        plan=plan,
        start=s.day(month, day),
    )
    await create_contract(s.client, contract, SETUP, task_queue=s.task_queue, timeout=20)
    return contract


# --- R14: notice period --------------------------------------------------------------------------


async def test_a_cancellation_inside_the_notice_period_is_refused_with_the_earliest_dates(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    """SPEC §4: notice 30 days, next invoice 04-01, request on 03-10: the earliest date is 04-09;
    cancelling at the next invoice date is refused naming 05-01; a cancellation on 04-09 is
    accepted."""
    async with scenario(time_env, database) as s:
        await create(s, "n1", NOTICE, 3, 1)
        await s.at(s.day(3, 10))

        refusal = await s.refuse(
            "n1", ContractWorkflow.cancel_at_next_invoice, CancelAtNextInvoice(**WHO)
        )
        assert refusal.type == "notice"
        assert refusal.message == (
            "Cannot cancel at the next invoice date: contract n1 has a notice period of 30 days, "
            f"so a cancellation requested on {s.day(3, 10)} takes effect on {s.day(4, 9)} at the "
            f"earliest. The first invoice date allowed is {s.day(5, 1)}: cancel then with "
            f"`contracts cancel n1 --date {s.day(5, 1)}`, or on {s.day(4, 9)} with "
            f"`contracts cancel n1 --date {s.day(4, 9)}`; `--override-terms` with a reason "
            "passes it."
        )
        refusal = await s.refuse(
            "n1", ContractWorkflow.cancel, Cancel(date=s.day(4, 8), prorate=True, **WHO)
        )
        assert refusal.type == "notice"
        assert f"Cancel on {s.day(4, 9)} or later" in refusal.message

        result = await s.update(
            "n1", ContractWorkflow.cancel, Cancel(date=s.day(4, 9), prorate=True, **WHO)
        )
        assert result.effect.startswith(f"Contract n1 ends at 00:00 on {s.day(4, 9)}")
        assert "Terms overridden" not in result.effect

        # A plan change is not a cancellation: no notice applies (R14).
        await s.update("n1", ContractWorkflow.uncancel, Uncancel(**WHO))
        changed = await s.update(
            "n1", ContractWorkflow.schedule_change, ScheduleChange(next_plan="FLEX", **WHO)
        )
        assert f"on its next invoice date, {s.day(4, 1)}" in changed.effect


async def test_an_override_passes_the_notice_period_with_a_reason_and_says_so(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        await create(s, "n2", NOTICE, 3, 1)
        await s.at(s.day(3, 10))

        refusal = await s.refuse(
            "n2",
            ContractWorkflow.cancel_at_next_invoice,
            CancelAtNextInvoice(actor="alice", reason="", override_terms=True),
        )
        assert refusal.type == "override_without_reason"

        result = await s.update(
            "n2",
            ContractWorkflow.cancel_at_next_invoice,
            CancelAtNextInvoice(actor="alice", reason="member relocates", override_terms=True),
        )
        passed = f"Terms overridden: notice period 30 days (earliest date {s.day(4, 9)})."
        assert result.effect.endswith(passed)
        audit = s.audit("n2")[-1]
        assert (audit.actor, audit.reason, audit.command) == (
            "alice",
            "member relocates",
            "cancel_at_next_invoice",
        )
        assert audit.effect.endswith(passed)

        await s.at(s.day(4, 2))
        assert s.contract("n2").status is ContractStatus.CANCELLED
        assert s.contract("n2").end == s.day(4, 1)


# --- R15: minimum term and early termination -----------------------------------------------------


async def test_early_termination_charges_the_committed_days_on_the_cancellation_date(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    """SPEC §4: 900.00/month from 01-01, minimum term 12 months; on 06-10 cancel with D = 06-20,
    prorate, charging the remaining term: credit −330.00 for [06-20, 07-01) and an
    early_termination line of 5,730.00 for [06-20, next 01-01)."""
    async with scenario(time_env, database) as s:
        await create(s, "m1", COMMITTED, 1, 1)
        next_year = s.day(1, 1, years=1)
        state = await s.state("m1")
        assert state.contract.commitment_end == next_year
        await s.at(s.day(6, 10))

        refusal = await s.refuse(
            "m1", ContractWorkflow.cancel, Cancel(date=s.day(6, 20), prorate=True, **WHO)
        )
        assert refusal.type == "minimum_term"
        assert refusal.message == (
            f"Cannot cancel on {s.day(6, 20)}: contract m1 is committed until {next_year} "
            f"(minimum term 12 months). Cancel on {next_year} or later with `contracts cancel m1 "
            f"--date {next_year}`, or on {s.day(6, 20)} charging the committed days after it "
            f"with `contracts cancel m1 --date {s.day(6, 20)} --charge-remaining-term`; "
            "`--override-terms` with a reason passes it."
        )

        result = await s.update(
            "m1",
            ContractWorkflow.cancel,
            Cancel(date=s.day(6, 20), prorate=True, charge_remaining_term=True, **WHO),
        )
        assert result.effect.endswith(
            f"The committed days {s.day(6, 20)} to {next_year} are charged on {s.day(6, 20)} as "
            "early termination: 5,730.00 EUR."
        )

        await s.ends("m1", s.day(6, 20))
        closing = [line for line in s.lines("m1") if line[0] == s.day(6, 20)]
        assert closing == [
            (s.day(6, 20), "proration_credit", s.day(6, 20), s.day(7, 1), D("-330.00")),
            (s.day(6, 20), "early_termination", s.day(6, 20), next_year, D("5730.00")),
        ]
        assert check_database(s.database) == []


async def test_an_override_ends_inside_the_commitment_without_charging_it(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        await create(s, "m2", COMMITTED, 1, 1)
        await s.at(s.day(6, 10))

        refusal = await s.refuse(
            "m2", ContractWorkflow.cancel_at_next_invoice, CancelAtNextInvoice(**WHO)
        )
        assert refusal.type == "minimum_term"
        assert f"Cancel on {s.day(1, 1, years=1)} or later" in refusal.message

        result = await s.update(
            "m2",
            ContractWorkflow.cancel,
            Cancel(date=s.day(7, 1), override_terms=True, actor="bob", reason="hardship"),
        )
        assert result.effect.endswith(
            f"Terms overridden: minimum term to {s.day(1, 1, years=1)}, nothing charged for it."
        )
        await s.ends("m2", s.day(7, 1))
        assert not [line for line in s.lines("m2") if line[1] == "early_termination"]
