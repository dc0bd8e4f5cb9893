"""A contract's events (SPEC §7) through the real workflow on the time-skipping server.

The contract starts, is invoiced, has a plan change scheduled and cleared, a command refused by
the rules (in its handler, and as a signal), a cancellation, and ends. Its events are read back
from the billing database in position order: numbered 1, 2, 3 … without gaps, of the types the
effects call for, each on the business date it belongs to.
"""

from datetime import date
from decimal import Decimal

from temporalio.testing import WorkflowEnvironment

from billing.events import EventType
from store import repository
from store.db import Database
from store.records import StoredEvent
from tests.support.contracts import WHO, Scenario, scenario
from workflows import ContractWorkflow
from workflows.messages import Cancel, ClearChange, ScheduleChange, Uncancel

E = EventType


def events(s: Scenario, contract_id: str) -> list[StoredEvent]:
    with s.database.session() as session:
        return repository.list_events(session, contract_id=contract_id)


def story(s: Scenario, contract_id: str) -> list[tuple[int, str, date]]:
    """The contract's events as (sequence, type, business date), in position order."""
    found = events(s, contract_id)
    assert [event.position for event in found] == sorted(event.position for event in found)
    return [(event.sequence, event.type.value, event.business_date) for event in found]


async def test_a_contract_writes_its_events_in_order_numbered_without_gaps(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        created = await s.create("c1", "HOT", s.day(3, 1))
        assert [event.type for event in events(s, "c1")] == [E.CONTRACT_CREATED]
        today = events(s, "c1")[0].business_date
        assert created.contract.start > today  # created ahead of its start

        await s.at(s.day(3, 10))
        await s.update(
            "c1", ContractWorkflow.schedule_change, ScheduleChange(next_plan="OFFICE", **WHO)
        )
        refusal = await s.refuse(
            "c1", ContractWorkflow.schedule_change, ScheduleChange(next_plan="LON-DESK", **WHO)
        )  # decided in the handler, once the plan is read
        assert refusal.type == "other_location"
        await s.update("c1", ContractWorkflow.clear_change, ClearChange(**WHO))
        await s.signal("c1", ContractWorkflow.uncancel_signal, Uncancel(**WHO))

        await s.at(s.day(3, 12))
        await s.update(
            "c1", ContractWorkflow.cancel, Cancel(date=s.day(5, 11), prorate=True, **WHO)
        )
        await s.ends("c1", s.day(5, 11))

        assert story(s, "c1") == [
            (1, "contract.created", today),
            (2, "contract.started", s.day(3, 1)),
            (3, "invoice.issued", s.day(3, 1)),
            (4, "deposit.charged", s.day(3, 1)),
            (5, "contract.change_scheduled", s.day(3, 10)),
            (6, "command.refused", s.day(3, 10)),
            (7, "contract.change_cleared", s.day(3, 10)),
            (8, "command.refused", s.day(3, 10)),
            (9, "contract.cancellation_scheduled", s.day(3, 12)),
            (10, "invoice.issued", s.day(4, 1)),
            (11, "invoice.issued", s.day(5, 1)),
            (12, "invoice.issued", s.day(5, 11)),
            (13, "deposit.refunded", s.day(5, 11)),
            (14, "contract.ended", s.day(5, 11)),
        ]

        found = events(s, "c1")
        assert len({event.id for event in found}) == len(found)
        # What each says: the state after it, the invoice and deposit, who asked and why.
        change = found[4].payload
        assert change["version"] == 1
        assert change["contract"]["scheduled_change"] == {
            "kind": "next_plan",
            "next_plan": "OFFICE",
            "price": None,
        }
        assert (change["command"]["actor"], change["command"]["reason"]) == (
            WHO["actor"],
            WHO["reason"],
        )
        refused = found[5].payload["command"]
        assert (refused["name"], refused["refusal"]) == ("schedule_change", refusal.message)
        assert found[7].payload["command"]["name"] == "uncancel"
        cut = found[10].payload["invoice"]
        assert [(line["kind"], line["period_end"]) for line in cut["lines"]] == [
            ("plan", str(s.day(5, 11)))
        ]
        assert found[12].payload["deposit"] == {
            "movement": "refund",
            "amount": "200.00",
            "currency": "EUR",
        }
        ended = found[13].payload["contract"]
        assert (ended["status"], ended["end"]) == ("cancelled", str(s.day(5, 11)))
        # The invoices the events report are the invoices issued.
        issued = [
            event.payload["invoice"]["number"] for event in found if event.type is E.INVOICE_ISSUED
        ]
        assert issued == [invoice.number for invoice in s.invoices(contract_id="c1")]
        assert sum(
            (
                Decimal(event.payload["invoice"]["total"])
                for event in found
                if event.type is E.INVOICE_ISSUED
            ),
            Decimal(0),
        ) == sum((invoice.total for invoice in s.invoices(contract_id="c1")), Decimal(0))


async def test_an_automated_switch_ends_one_sequence_and_begins_the_next(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        await s.create("c2", "HOT", s.day(3, 1))
        await s.at(s.day(3, 10))
        await s.update(
            "c2", ContractWorkflow.schedule_change, ScheduleChange(next_plan="OFFICE", **WHO)
        )
        await s.at(s.day(4, 1))
        await s.until("c2-t2", lambda view: view.invoices_issued == 1)

        assert [kind for _, kind, _ in story(s, "c2")][-1] == "contract.switched"
        assert story(s, "c2-t2") == [
            (1, "contract.created", s.day(4, 1)),
            (2, "contract.started", s.day(4, 1)),
            (3, "invoice.issued", s.day(4, 1)),
            (4, "deposit.charged", s.day(4, 1)),
        ]
        top_up = events(s, "c2-t2")[-1].payload["deposit"]
        assert top_up["amount"] == "800.00"  # over the 200.00 passed on (SPEC §4)
