"""Record the workflow histories that the replay tests check (tests/histories/*.json).

    .venv/bin/python scripts/record_histories.py v3           # writes tests/histories/v3/
    .venv/bin/python scripts/record_histories.py v3 signals   # only the named lifecycles
    .venv/bin/python scripts/record_histories.py bulk bulk-job  # a bulk job's two runs

Runs each lifecycle through the real workflow — plain billing, automated switch, manual change,
cancellation, commands sent as signals (well-formed and malformed), continue-as-new — and saves
every workflow's history. Re-record only when a change
to the workflow is meant to be incompatible (and then only for workflows that no longer run
anywhere); otherwise keep the old histories: they are what running contracts look like.
"""

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.client import Client  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from billing.calendar import local_date  # noqa: E402
from billing.contract import Command, Customer, Location, Plan, new_contract  # noqa: E402
from billing.terms import Renewal, Terms  # noqa: E402
from store.db import Database  # noqa: E402
from termshift.services import bulk, catalog  # noqa: E402
from termshift.services.contracts import create_contract  # noqa: E402
from termshift.settings import Settings  # noqa: E402
from termshift.worker import build_bulk_worker  # noqa: E402
from tests.support.temporal import (  # noqa: E402
    new_task_queue,
    running_worker,
    sleep_until,
    start_dev_server,
    start_time_skipping,
)
from tests.support.wire import start_with_input, with_newer_fields  # noqa: E402
from workflows import ContractWorkflow, workflow_id  # noqa: E402
from workflows import contract as contract_workflow  # noqa: E402
from workflows.bulk import BulkJobWorkflow  # noqa: E402
from workflows.bulk_requests import BulkRun  # noqa: E402
from workflows.bulk_requests import workflow_id as bulk_workflow_id  # noqa: E402
from workflows.messages import (  # noqa: E402
    Cancel,
    CommandResult,
    ContractView,
    Freeze,
    PlanPrice,
    ScheduleChange,
    SetPrice,
    Switch,
    Uncancel,
)

HISTORIES = ROOT / "tests" / "histories" / (sys.argv[1] if len(sys.argv) > 1 else "new")
TZ = "Europe/Berlin"
ADMIN = Command(actor="recorder", reason="replay fixture")
LOCATION = Location(id="ber", name="Berlin", timezone=TZ, currency="EUR")
DESK = Plan(
    code="desk",
    name="Hot desk",
    location_id="ber",
    price=Decimal("1500.00"),
    deposit=Decimal("200.00"),
    prorate_first_invoice=True,
)
OFFICE = Plan(
    code="office",
    name="Office",
    location_id="ber",
    price=Decimal("2500.00"),
    deposit=Decimal("1000.00"),
    prorate_first_invoice=True,
)
COMMITTED = DESK.model_copy(
    update={
        "code": "committed",
        "terms": Terms(
            notice="1 month", minimum_term="6 months", renewal=Renewal.RENEW, max_freeze_cycles=2
        ),
    }
)
FIXED_TERM = DESK.model_copy(
    update={"code": "fixed-term", "terms": Terms(minimum_term="3 months", renewal=Renewal.END)}
)
ADA = Customer(id="ada", name="Ada Lovelace", email="ada@example.com", location_id="ber")

Lifecycle = Callable[[WorkflowEnvironment, Client, str, date], Awaitable[list[str]]]


def month(first: date, months: int) -> date:
    year, month0 = divmod(first.year * 12 + first.month - 1 + months, 12)
    return date(year, month0 + 1, 1)


async def plain_billing(
    env: WorkflowEnvironment, client: Client, queue: str, first: date
) -> list[str]:
    contract = new_contract(
        id="plain", customer_id="ada", location=LOCATION, plan=DESK,
        start=first.replace(day=17), anchor=first, prorate_first_invoice=True,
    )  # fmt: skip
    await create_contract(client, contract, ADMIN, task_queue=queue)
    await sleep_until(env, month(first, 3), TZ)
    return [contract.id]


async def automated_switch(
    env: WorkflowEnvironment, client: Client, queue: str, first: date
) -> list[str]:
    contract = new_contract(id="auto", customer_id="ada", location=LOCATION, plan=DESK, start=first)
    await create_contract(client, contract, ADMIN, task_queue=queue)
    await sleep_until(env, first + timedelta(days=9), TZ)
    handle = client.get_workflow_handle(workflow_id(contract.id))
    await handle.execute_update(
        ContractWorkflow.schedule_change, ScheduleChange(next_plan="office", actor="maria")
    )
    await sleep_until(env, month(first, 2), TZ)
    return [contract.id, f"{contract.id}-t2"]


async def manual_change(
    env: WorkflowEnvironment, client: Client, queue: str, first: date
) -> list[str]:
    contract = new_contract(
        id="manual", customer_id="ada", location=LOCATION, plan=DESK, start=first
    )
    await create_contract(client, contract, ADMIN, task_queue=queue)
    await sleep_until(env, first + timedelta(days=5), TZ)
    handle = client.get_workflow_handle(workflow_id(contract.id))
    await handle.execute_update(
        ContractWorkflow.switch,
        Switch(to_plan="office", on=first + timedelta(days=20), prorate=True, actor="maria"),
    )
    await sleep_until(env, month(first, 2), TZ)
    return [contract.id, f"{contract.id}-t2"]


async def cancellation(
    env: WorkflowEnvironment, client: Client, queue: str, first: date
) -> list[str]:
    contract = new_contract(
        id="leave", customer_id="ada", location=LOCATION, plan=DESK, start=first
    )
    await create_contract(client, contract, ADMIN, task_queue=queue)
    await sleep_until(env, month(first, 1) + timedelta(days=3), TZ)
    handle = client.get_workflow_handle(workflow_id(contract.id))
    await handle.execute_update(
        ContractWorkflow.cancel,
        Cancel(date=month(first, 1) + timedelta(days=20), prorate=True, actor="maria"),
    )
    await sleep_until(env, month(first, 3), TZ)
    return [contract.id]


async def undone_cut(
    env: WorkflowEnvironment, client: Client, queue: str, first: date
) -> list[str]:
    """A prorated cancellation after the next invoice date, undone once that invoice was cut at
    it: the undo invoices the days cut off (R7)."""
    contract = new_contract(
        id="undone", customer_id="ada", location=LOCATION, plan=DESK, start=first
    )
    await create_contract(client, contract, ADMIN, task_queue=queue)
    await sleep_until(env, first + timedelta(days=5), TZ)
    handle = client.get_workflow_handle(workflow_id(contract.id))
    await handle.execute_update(
        ContractWorkflow.cancel,
        Cancel(date=month(first, 1) + timedelta(days=10), prorate=True, actor="maria"),
    )
    await sleep_until(env, month(first, 1) + timedelta(days=2), TZ)
    await handle.execute_update(ContractWorkflow.uncancel, Uncancel(actor="maria"))
    await sleep_until(env, month(first, 3), TZ)
    return [contract.id]


async def signals(env: WorkflowEnvironment, client: Client, queue: str, first: date) -> list[str]:
    """Commands sent as signals: one applied, one refused by the rules, and malformed ones (no
    input, two inputs, a wrong type, an unknown command)."""
    contract = new_contract(
        id="signals", customer_id="ada", location=LOCATION, plan=DESK, start=first
    )
    await create_contract(client, contract, ADMIN, task_queue=queue)
    await sleep_until(env, first + timedelta(days=4), TZ)
    handle = client.get_workflow_handle(workflow_id(contract.id))
    cancel_on = (first + timedelta(days=20)).isoformat()
    await handle.signal("cancel", {"date": cancel_on, "actor": "maria"})
    await handle.signal("cancel", {"date": cancel_on, "actor": "maria"})  # refused: already
    await handle.signal("schedule_change", {"next_plan": 42, "actor": "maria"})
    await handle.signal("cancel_everything", {"actor": "maria"})
    if hasattr(contract_workflow, "REFUSE_MALFORMED_SIGNALS"):
        # Before that patch, a signal with no input or two inputs failed every workflow task.
        await handle.signal("cancel")
        await handle.signal("cancel", args=[{"date": cancel_on}, {"date": cancel_on}])
    for _ in range(100):  # until the workflow took them (before the patch some are dropped)
        view = await handle.query("state", result_type=ContractView)
        if view.contract.cancellation is not None and view.refused:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)
    await sleep_until(env, month(first, 1), TZ)
    return [contract.id]


async def newer_fields(
    env: WorkflowEnvironment, client: Client, queue: str, first: date
) -> list[str]:
    """A contract whose input, and a signal to it, carry fields this version does not know (as a
    newer version writes them, read after a rollback): ignored, and billing goes on."""
    contract = new_contract(
        id="newer", customer_id="ada", location=LOCATION, plan=DESK,
        start=first.replace(day=11), anchor=first, prorate_first_invoice=True,
    )  # fmt: skip
    handle = await start_with_input(
        client, contract, with_newer_fields(contract, ADMIN), task_queue=queue
    )
    await sleep_until(env, first + timedelta(days=15), TZ)
    await handle.signal(
        "schedule_change", {"next_plan": "office", "actor": "maria", "effective": "next"}
    )
    for _ in range(100):
        view = await handle.query("state", result_type=ContractView)
        if view.contract.scheduled_change is not None:
            break
        await asyncio.sleep(0.1)
    await sleep_until(env, month(first, 2), TZ)
    return [contract.id, f"{contract.id}-t2"]


async def terms(env: WorkflowEnvironment, client: Client, queue: str, first: date) -> list[str]:
    """Contract terms (§3b): a freeze of two cycles ended after one by a signal, a scheduled
    price, and the commitment's "renewal upcoming" notice and renewal (moved by the freeze)."""
    contract = new_contract(
        id="terms", customer_id="ada", location=LOCATION, plan=COMMITTED, start=first
    )
    await create_contract(client, contract, ADMIN, task_queue=queue)
    await sleep_until(env, first + timedelta(days=5), TZ)
    handle = client.get_workflow_handle(workflow_id(contract.id))
    await handle.execute_update(ContractWorkflow.freeze, Freeze(cycles=2, actor="maria"))
    await sleep_until(env, month(first, 1) + timedelta(days=3), TZ)
    await handle.signal("unfreeze", {"actor": "maria", "reason": "back early"})
    await sleep_until(env, month(first, 2) + timedelta(days=3), TZ)
    await handle.execute_update(
        ContractWorkflow.set_price, SetPrice(price=Decimal("1600.00"), actor="maria")
    )
    await sleep_until(env, month(first, 8), TZ)
    return [contract.id]


async def early_termination(
    env: WorkflowEnvironment, client: Client, queue: str, first: date
) -> list[str]:
    """A cancellation inside the minimum term, charging the committed days left (R15)."""
    contract = new_contract(
        id="early", customer_id="ada", location=LOCATION, plan=COMMITTED, start=first
    )
    await create_contract(client, contract, ADMIN, task_queue=queue)
    await sleep_until(env, first + timedelta(days=10), TZ)
    handle = client.get_workflow_handle(workflow_id(contract.id))
    await handle.execute_update(
        ContractWorkflow.cancel,
        Cancel(
            date=month(first, 2) + timedelta(days=9),
            prorate=True,
            charge_remaining_term=True,
            actor="maria",
            reason="member moves abroad",
        ),
    )
    await sleep_until(env, month(first, 3), TZ)
    return [contract.id]


async def priced_change(
    env: WorkflowEnvironment, client: Client, queue: str, first: date
) -> list[str]:
    """A custom-priced contract's automated change with a price (R19)."""
    contract = new_contract(
        id="priced", customer_id="ada", location=LOCATION, plan=DESK, start=first, price="1400.00"
    )
    await create_contract(client, contract, ADMIN, task_queue=queue)
    await sleep_until(env, first + timedelta(days=9), TZ)
    handle = client.get_workflow_handle(workflow_id(contract.id))
    await handle.execute_update(
        ContractWorkflow.schedule_change,
        ScheduleChange(next_plan="office", price=Decimal("2300.00"), actor="maria"),
    )
    await sleep_until(env, month(first, 2), TZ)
    return [contract.id, f"{contract.id}-t2"]


async def end_of_term(
    env: WorkflowEnvironment, client: Client, queue: str, first: date
) -> list[str]:
    """A fixed term that ends on its commitment end (R16 `end`)."""
    contract = new_contract(
        id="fixed", customer_id="ada", location=LOCATION, plan=FIXED_TERM, start=first
    )
    await create_contract(client, contract, ADMIN, task_queue=queue)
    await sleep_until(env, month(first, 4), TZ)
    return [contract.id]


KUNA = Location(id="zg", name="Zagreb", timezone="Europe/Zagreb", currency="HRK")
KUNA_DESK = DESK.model_copy(update={"code": "desk-zg", "location_id": "zg"})


async def withdrawn_currency(
    env: WorkflowEnvironment, client: Client, queue: str, first: date
) -> list[str]:
    """A location in a currency ISO 4217 withdrew after the location was created (HRK): its
    contracts keep billing, prorated and cancelled, to its minor unit."""
    contract = new_contract(
        id="kuna", customer_id="ada", location=KUNA, plan=KUNA_DESK,
        start=first.replace(day=11), anchor=first, prorate_first_invoice=True,
    )  # fmt: skip
    await create_contract(client, contract, ADMIN, task_queue=queue)
    await sleep_until(env, month(first, 1) + timedelta(days=3), TZ)
    handle = client.get_workflow_handle(workflow_id(contract.id))
    await handle.execute_update(
        ContractWorkflow.cancel,
        Cancel(date=month(first, 1) + timedelta(days=20), prorate=True, actor="maria"),
    )
    await sleep_until(env, month(first, 3), TZ)
    return [contract.id]


async def plan_price(
    env: WorkflowEnvironment, client: Client, queue: str, first: date
) -> list[str]:
    """A plan's new price (R18) sent by a bulk job: taken, then the same job's command again as
    a signal (refused: taken already), and invoiced at the new price from its date."""
    contract = new_contract(
        id="plan-price", customer_id="ada", location=LOCATION, plan=DESK, start=first
    )
    await create_contract(client, contract, ADMIN, task_queue=queue)
    await sleep_until(env, first + timedelta(days=5), TZ)
    handle = client.get_workflow_handle(workflow_id(contract.id))
    command = {
        "plan": DESK.code,
        "price": "1650.00",
        "from": (month(first, 1) + timedelta(days=10)).isoformat(),
        "actor": "maria",
        "reason": "yearly prices",
        "job": "prices-1",
    }
    await handle.execute_update("plan_price", command, result_type=CommandResult)
    await handle.signal("plan_price", command)  # refused: the job's command was taken
    for _ in range(100):
        if (await handle.query("state", result_type=ContractView)).refused:
            break
        await asyncio.sleep(0.1)
    await sleep_until(env, month(first, 4), TZ)
    return [contract.id]


async def grandfathered(
    env: WorkflowEnvironment, client: Client, queue: str, first: date
) -> list[str]:
    """A plan's new price with `grandfather`: the contract keeps its price, now custom."""
    contract = new_contract(
        id="grandfathered", customer_id="ada", location=LOCATION, plan=DESK, start=first
    )
    await create_contract(client, contract, ADMIN, task_queue=queue)
    await sleep_until(env, first + timedelta(days=5), TZ)
    await client.get_workflow_handle(workflow_id(contract.id)).execute_update(
        "plan_price",
        PlanPrice(
            plan=DESK.code,
            price=Decimal("1650.00"),
            from_=month(first, 1),
            grandfather=True,
            actor="maria",
            job="prices-1",
        ),
        result_type=CommandResult,
    )
    await sleep_until(env, month(first, 3), TZ)
    return [contract.id]


async def record_bulk_job() -> None:
    """A bulk job over five contracts, two a page and two pages a run: its two runs' histories
    (tests/histories/bulk/)."""
    env = await start_time_skipping()
    db = Database("sqlite://")
    db.migrate()
    catalog.add_location(db, LOCATION, ADMIN)
    catalog.add_plan(db, DESK, ADMIN)
    catalog.add_customer(db, ADA, ADMIN)
    queue = new_task_queue()
    first = month(local_date(await env.get_current_time(), TZ), 2)
    ids = [f"member-{index}" for index in range(5)]
    async with running_worker(env.client, db, queue):
        for contract_id in ids:
            contract = new_contract(
                id=contract_id, customer_id="ada", location=LOCATION, plan=DESK, start=first
            )
            await create_contract(env.client, contract, ADMIN, task_queue=queue)
        command = bulk.build_command("freeze", {"cycles": 1, "actor": "maria"})
        job = bulk.create_job(db, "freeze-1", "freeze", command, bulk.Selection(plan="desk"), ids)
        settings = Settings(bulk_task_queue=f"{queue}-bulk")
        async with build_bulk_worker(env.client, db, settings=settings, strict_sandbox=True):
            handle = await env.client.start_workflow(
                BulkJobWorkflow.run,
                BulkRun(job_id=job.id, total=len(ids), page_size=2, pages_per_run=2),
                id=bulk_workflow_id(job.id),
                task_queue=settings.bulk_task_queue,
            )
            await handle.result()
        for index, run_id in enumerate((handle.result_run_id, None)):
            run = env.client.get_workflow_handle(handle.id, run_id=run_id)
            write(f"bulk-job-run{index + 1}", handle.id, (await run.fetch_history()).to_json())
    await env.shutdown()


async def record(name: str, lifecycle: Lifecycle) -> None:
    env = await start_time_skipping()
    db = Database("sqlite://")
    db.migrate()
    catalog.add_location(db, LOCATION, ADMIN)
    catalog.add_location(db, KUNA, ADMIN)  # written as when HRK was current
    for plan in (DESK, OFFICE, KUNA_DESK, COMMITTED, FIXED_TERM):
        catalog.add_plan(db, plan, ADMIN)
    catalog.add_customer(db, ADA, ADMIN)
    queue = new_task_queue()
    first = month(local_date(await env.get_current_time(), TZ), 2)
    async with running_worker(env.client, db, queue):
        ids = await lifecycle(env, env.client, queue, first)
        await save(env.client, name, ids)
    await env.shutdown()


async def record_continue_as_new() -> None:
    env = await start_dev_server(
        ["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=40"]
    )
    db = Database("sqlite://")
    db.migrate()
    catalog.add_location(db, LOCATION, ADMIN)
    catalog.add_plan(db, DESK, ADMIN)
    catalog.add_customer(db, ADA, ADMIN)
    queue = new_task_queue()
    today = local_date(await env.get_current_time(), TZ)
    contract = new_contract(
        id="long", customer_id="ada", location=LOCATION, plan=DESK, start=month(today, -60)
    )
    async with running_worker(env.client, db, queue):
        await create_contract(env.client, contract, ADMIN, task_queue=queue)
        handle = env.client.get_workflow_handle(workflow_id(contract.id))
        for _ in range(300):
            if (await handle.query(ContractWorkflow.state)).invoices_issued >= 61:
                break
            await asyncio.sleep(0.1)
        runs = [
            execution.run_id
            async for execution in env.client.list_workflows(f"WorkflowId = '{handle.id}'")
        ]
        for index, run_id in enumerate(reversed(runs)):
            history = await env.client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
            write(f"continue-as-new-run{index + 1}", handle.id, history.to_json())
    await env.shutdown()


async def save(client: Client, name: str, contract_ids: list[str]) -> None:
    for contract_id in contract_ids:
        history = await client.get_workflow_handle(workflow_id(contract_id)).fetch_history()
        suffix = "" if contract_id == contract_ids[0] else "-successor"
        write(f"{name}{suffix}", workflow_id(contract_id), history.to_json())


def write(name: str, workflow: str, history_json: str) -> None:
    path = HISTORIES / f"{name}.json"
    document = {"workflow_id": workflow, "history": json.loads(history_json)}
    path.write_text(json.dumps(document, indent=1) + "\n")
    events = len(document["history"].get("events", []))
    print(f"wrote {path.relative_to(ROOT)} ({events} events)")


LIFECYCLES: dict[str, Lifecycle] = {
    "plain-billing": plain_billing,
    "automated-switch": automated_switch,
    "manual-change": manual_change,
    "cancellation": cancellation,
    "signals": signals,
    "undone-cut": undone_cut,
    "newer-fields": newer_fields,
    "withdrawn-currency": withdrawn_currency,
    "terms": terms,
    "early-termination": early_termination,
    "priced-change": priced_change,
    "end-of-term": end_of_term,
    "plan-price": plan_price,
    "grandfathered": grandfathered,
}


async def main() -> None:
    HISTORIES.mkdir(parents=True, exist_ok=True)
    wanted = sys.argv[2:] or [*LIFECYCLES, "continue-as-new"]  # "bulk-job": tests/histories/bulk
    for name in wanted:
        if name == "continue-as-new":
            await record_continue_as_new()
        elif name == "bulk-job":
            await record_bulk_job()
        else:
            await record(name, LIFECYCLES[name])


if __name__ == "__main__":
    asyncio.run(main())
