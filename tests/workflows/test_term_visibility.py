"""Contract terms in the UI: the search attributes a contract with terms publishes (commitment
end, freeze, scheduled price) and its current details in words, kept in step with its state."""

from datetime import date
from decimal import Decimal

from temporalio.testing import WorkflowEnvironment

from billing.calendar import local_midnight
from billing.contract import Plan, new_contract
from billing.terms import Renewal, Terms
from store.db import Database
from termshift.services import catalog
from termshift.services.contracts import create_contract
from tests.support.contracts import BERLIN, SETUP, TZ, WHO, Scenario, scenario
from workflows import ContractWorkflow
from workflows import search_attributes as attributes
from workflows.messages import ClearChange, Freeze, SetPrice

D = Decimal

RENEWING = Plan(
    code="RENEWING",
    name="Renewing Desk",
    location_id=BERLIN.id,
    price=D("500.00"),
    terms=Terms(notice="1 month", minimum_term="6 months", renewal=Renewal.RENEW),
)


async def create(s: Scenario, contract_id: str, month: int) -> None:
    s.add_customer(f"cu-{contract_id}")
    contract = new_contract(
        id=contract_id,
        customer_id=f"cu-{contract_id}",
        location=BERLIN,
        plan=RENEWING,
        start=s.day(month, 1),
    )
    await create_contract(s.client, contract, SETUP, task_queue=s.task_queue, timeout=20)


async def published(s: Scenario, contract_id: str) -> dict[str, object]:
    described = await s.handle(contract_id).describe()
    found = described.typed_search_attributes
    keys = (attributes.COMMITMENT_END_AT, attributes.FREEZE_STATUS, attributes.PRICE_SCHEDULED)
    return {key.name: found.get(key) for key in keys}


async def current_details(s: Scenario, contract_id: str) -> str:
    metadata = await s.handle(contract_id).query("__temporal_workflow_metadata")
    details: str = metadata.current_details
    return details


def midnight(day: date) -> object:
    return local_midnight(day, TZ)


async def test_commitment_freeze_and_scheduled_price_are_published_while_they_hold(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        catalog.add_plan(s.database, RENEWING, SETUP)
        await create(s, "v1", 1)
        await create(s, "v2", 1)
        commitment = s.day(7, 1)
        await s.at(s.day(2, 10))

        # Set from the start, with the commitment in words (renewal and its notice date).
        assert await published(s, "v1") == {
            "CommitmentEndAt": midnight(commitment),
            "FreezeStatus": None,
            "PriceScheduled": None,
        }
        details = await current_details(s, "v1")
        assert "**Terms:** notice 1 month, minimum term 6 months, then renew" in details
        assert (
            f"**Commitment:** ends {commitment}, renews on {commitment}; renewal upcoming "
            f"recorded on {s.day(6, 1)}" in details
        )

        # A freeze of two cycles from 03-01: scheduled, then running until billing resumes.
        await s.update("v1", ContractWorkflow.freeze, Freeze(cycles=2, **WHO))
        assert (await published(s, "v1"))["FreezeStatus"] == "scheduled"
        assert (
            f"**Freeze:** scheduled, 2 cycle(s): no plan line from {s.day(3, 1)}, billing again "
            f"on {s.day(5, 1)}" in await current_details(s, "v1")
        )
        await s.at(s.day(3, 2))
        assert await published(s, "v1") == {
            "CommitmentEndAt": midnight(s.day(9, 1)),  # moved by the two cycles (R17)
            "FreezeStatus": "running",
            "PriceScheduled": None,
        }
        await s.at(s.day(4, 2))
        assert (await published(s, "v1"))["FreezeStatus"] == "running"
        await s.at(s.day(5, 2))
        assert (await published(s, "v1"))["FreezeStatus"] is None
        assert "**Freeze:**" not in await current_details(s, "v1")

        # A scheduled price: published until it applies or is cleared.
        await s.update("v2", ContractWorkflow.set_price, SetPrice(price=D("550.00"), **WHO))
        assert (await published(s, "v2"))["PriceScheduled"] is True
        assert f"**Scheduled price:** 550.00 EUR from {s.day(6, 1)}" in await current_details(
            s, "v2"
        )
        await s.update("v2", ContractWorkflow.clear_change, ClearChange(**WHO))
        assert (await published(s, "v2"))["PriceScheduled"] is None
        await s.update("v2", ContractWorkflow.set_price, SetPrice(price=D("550.00"), **WHO))
        await s.at(s.day(6, 2))
        assert (await published(s, "v2"))["PriceScheduled"] is None
        assert "**Scheduled price:**" not in await current_details(s, "v2")

        # R16 renew: the commitment end moves by one term on its date.
        await s.at(s.day(7, 2))
        assert (await published(s, "v2"))["CommitmentEndAt"] == midnight(s.day(1, 1, years=1))


async def test_a_contract_without_terms_publishes_none_of_them(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        await s.create("plain", "FLEX", s.day(1, 1))
        await s.at(s.day(1, 2))
        assert await published(s, "plain") == {
            "CommitmentEndAt": None,
            "FreezeStatus": None,
            "PriceScheduled": None,
        }
        details = await current_details(s, "plain")
        assert "Terms" not in details
        assert "Commitment" not in details
