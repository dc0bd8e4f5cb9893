"""The admin CLI as a user runs it, against the real dev server and a worker."""

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from termshift import temporal as attributes
from tests.support.cli import SEED_TIMEZONE, Cli, seed
from tests.support.clock import Clock, fill, server_clock

pytestmark = pytest.mark.devserver


async def berlin(dev_env: WorkflowEnvironment) -> Clock:
    """The dev server's clock in the seeded location's timezone."""
    return await server_clock(dev_env, SEED_TIMEZONE)


async def test_created_contract_runs_as_a_workflow_with_search_attributes(
    cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    await seed(cli)
    clock = await berlin(dev_env)
    start, anchor = str(clock.in_next_year(3, 21)), str(clock.in_next_year(3, 1))
    cid = f"c1-{uuid.uuid4().hex[:8]}"  # workflow ids are unique on the shared server
    created = await cli(
        "contracts", "create", "--id", cid, "--customer", "ada", "--plan", "hot-desk",
        "--start", start, "--anchor", anchor, "--prorate-first-invoice",
        "--actor", "maria", "--reason", "signed", "--json",
    )  # fmt: skip
    assert created.code == 0, created.err
    assert created.json()["contract"]["status"] == "inactive"

    found = [
        execution async for execution in dev_env.client.list_workflows(f"ContractId = '{cid}'")
    ]
    assert [execution.id for execution in found] == [f"contract-{cid}"]
    execution = found[0]
    assert execution.status is WorkflowExecutionStatus.RUNNING
    search = execution.typed_search_attributes
    assert search.get(attributes.PLAN_CODE) == "hot-desk"
    assert search.get(attributes.CUSTOMER_ID) == "ada"
    assert search.get(attributes.CONTRACT_STATUS) == "inactive"
    next_invoice = search.get(attributes.NEXT_INVOICE_AT)
    assert next_invoice is not None
    # 00:00 in Berlin, on CET (UTC+1) on 21 March of any year: summer time begins on the last
    # Sunday of March, the 25th at the earliest.
    the_day_before = clock.in_next_year(3, 21) - timedelta(days=1)
    assert next_invoice.isoformat() == f"{the_day_before}T23:00:00+00:00"

    for _ in range(50):  # visibility is eventually consistent
        selected = await cli("contracts", "list", "--query", f"ContractId = '{cid}'", "--json")
        if selected.code == 0 and selected.json():
            break
        await asyncio.sleep(0.2)
    assert [row["id"] for row in selected.json()] == [cid]
    nothing = await cli("contracts", "list", "--query", "NextPlanCode = 'office'", "--json")
    assert nothing.json() == []
    bad = await cli("contracts", "list", "--query", "Bogus = 1")
    assert bad.code == 2
    assert "not valid" in bad.err

    shown = await cli("contracts", "show", cid, "--json")
    assert shown.code == 0, shown.err
    view = shown.json()
    assert view["next_invoice_date"] == start
    assert view["workflow_status"] == "running"
    assert view["lineage"] == [cid]

    human = await cli("contracts", "show", cid)
    assert start in human.out
    assert f"Starts on {start} with its first invoice." in human.out

    # Creating the same contract again joins it: nothing doubles.
    again = await cli(
        "contracts", "create", "--id", cid, "--customer", "ada", "--plan", "hot-desk",
        "--start", start, "--anchor", anchor, "--prorate-first-invoice",
    )  # fmt: skip
    assert again.code == 0, again.err
    listed = await cli("contracts", "list", "--json")
    assert [row["id"] for row in listed.json()] == [cid]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--customer", "nobody", "--plan", "hot-desk", "--start", "{jan_1}"), "nobody"),
        (("--customer", "ada", "--plan", "nothing", "--start", "{jan_1}"), "nothing"),
        (("--customer", "ada", "--plan", "hot-desk", "--start", "2031-13-01"), "YYYY-MM-DD"),
        (("--customer", "ada", "--plan", "hot-desk", "--start", "{jan_1}", "--price", "-5"),
         "negative"),
        (("--customer", "ada", "--plan", "hot-desk", "--start", "{jan_1}", "--price", "1.234"),
         "decimals"),
        (("--customer", "ada", "--plan", "fixed", "--start", "{jan_5}", "--anchor", "{jan_1}",
          "--prorate-first-invoice"), "does not allow"),
        (("--customer", "ada", "--plan", "hot-desk", "--start", "{jan_1}", "--id", "bad id!"),
         "id"),
    ],
)  # fmt: skip
async def test_refused_create_changes_nothing(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment, args: tuple[str, ...], message: str
) -> None:
    """`{jan_1}` and `{jan_5}`: 1 and 5 January of the year after the server's."""
    cli = sqlite_cli
    await seed(cli)
    clock = await berlin(dev_env)
    dates = {"jan_1": clock.in_next_year(1, 1), "jan_5": clock.in_next_year(1, 5)}
    before = (await cli("contracts", "list", "--json")).json()
    result = await cli("contracts", "create", *(fill(arg, dates) for arg in args))
    assert result.code == 2, (result.out, result.err)
    assert message in result.err
    assert (await cli("contracts", "list", "--json")).json() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("locations", "add", "x", "--name", "X", "--timezone", "Mars/Olympus", "--currency",
          "EUR"), "Unknown timezone"),
        (("locations", "add", "x", "--name", "X", "--timezone", "UTC", "--currency", "XYZ"),
         "Unknown currency"),
        (("plans", "add", "p", "--location", "nowhere", "--name", "P", "--price", "10"),
         "nowhere"),
        (("plans", "add", "p", "--location", "berlin", "--name", "P", "--price", "0"), "zero"),
        (("plans", "add", "p", "--location", "berlin", "--name", "P", "--price", "10",
          "--every", "fortnightly"), "cadence"),
        (("customers", "add", "c", "--location", "berlin", "--name", "C", "--email", "nope"),
         "email"),
    ],
)  # fmt: skip
async def test_refused_reference_data(sqlite_cli: Cli, args: tuple[str, ...], message: str) -> None:
    cli = sqlite_cli
    await seed(cli)
    result = await cli(*args)
    assert result.code == 2, (result.out, result.err)
    assert message in result.err


async def test_unreachable_temporal_is_a_failure_not_a_refusal(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    cli = sqlite_cli
    await seed(cli)
    start = str((await berlin(dev_env)).in_next_year(1, 1))
    cli.env["TEMPORAL_ADDRESS"] = "127.0.0.1:1"
    result = await cli(
        "contracts", "create", "--customer", "ada", "--plan", "hot-desk", "--start", start
    )
    assert result.code == 1
    assert "Cannot reach the Temporal server" in result.err


async def test_steering_commands_one_each(cli: Cli, dev_env: WorkflowEnvironment) -> None:
    """Every steering command through the CLI: effect, warnings, undo, preview, switch."""
    await seed(cli)
    clock = await berlin(dev_env)
    mar_1, mar_20, apr_1, apr_11, may_1 = (
        str(clock.in_next_year(month, day))
        for month, day in ((3, 1), (3, 20), (4, 1), (4, 11), (5, 1))
    )
    cid = f"s-{uuid.uuid4().hex[:8]}"
    created = await cli(
        "contracts", "create", "--id", cid, "--customer", "ada", "--plan", "hot-desk",
        "--start", mar_1, "--json",
    )  # fmt: skip
    assert created.code == 0, created.err

    # Not started yet: an automated change is refused, with a reason.
    refused = await cli("contracts", "change", cid, "--next-plan", "fixed")
    assert refused.code == 2
    assert "Refused" in refused.err

    cancelled = await cli("contracts", "cancel", cid, "--date", apr_11, "--prorate", "--json")
    assert cancelled.code == 0, cancelled.err
    assert cancelled.json()["view"]["contract"]["cancellation"]["date"] == apr_11

    preview = await cli("contracts", "preview", cid, "--json")
    assert preview.code == 0, preview.err
    events = preview.json()["events"]
    assert [event["date"] for event in events] == [mar_1, apr_1, apr_11]
    assert events[1]["lines"][0]["amount"] == "500.00"  # [04-01, 04-11) of 1,500.00: 10/30

    undone = await cli("contracts", "uncancel", cid, "--reason", "stays")
    assert undone.code == 0, undone.err
    again = await cli("contracts", "uncancel", cid)
    assert again.code == 2
    assert "no pending manual cancellation" in again.err

    switched = await cli("contracts", "switch", cid, "--to", "fixed", "--on", mar_20, "--json")
    assert switched.code == 0, switched.err
    successor = switched.json()["successor"]
    assert successor["id"] == f"{cid}-t2"
    assert successor["start"] == mar_20
    shown = await cli("contracts", "show", f"{cid}-t2", "--json")
    assert shown.json()["lineage"] == [cid, f"{cid}-t2"]
    assert shown.json()["workflow_status"] == "running"

    unknown = await cli("contracts", "cancel", "no-such-contract", "--date", may_1)
    assert unknown.code == 2
    assert "There is no contract no-such-contract" in unknown.err
