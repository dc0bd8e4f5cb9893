"""The admin CLI as a user runs it, against the real dev server and a worker."""

import asyncio
import uuid

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from termshift import temporal as attributes
from tests.support.cli import Cli, seed

pytestmark = pytest.mark.devserver


async def test_created_contract_runs_as_a_workflow_with_search_attributes(
    cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    await seed(cli)
    cid = f"c1-{uuid.uuid4().hex[:8]}"  # workflow ids are unique on the shared server
    created = await cli(
        "contracts", "create", "--id", cid, "--customer", "ada", "--plan", "hot-desk",
        "--start", "2031-03-21", "--anchor", "2031-03-01", "--prorate-first-invoice",
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
    assert next_invoice.isoformat() == "2031-03-20T23:00:00+00:00"  # 00:00 in Berlin

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
    assert view["next_invoice_date"] == "2031-03-21"
    assert view["workflow_status"] == "running"
    assert view["lineage"] == [cid]

    human = await cli("contracts", "show", cid)
    assert "2031-03-21" in human.out
    assert "Starts on 2031-03-21 with its first invoice." in human.out

    # Creating the same contract again joins it: nothing doubles.
    again = await cli(
        "contracts", "create", "--id", cid, "--customer", "ada", "--plan", "hot-desk",
        "--start", "2031-03-21", "--anchor", "2031-03-01", "--prorate-first-invoice",
    )  # fmt: skip
    assert again.code == 0, again.err
    listed = await cli("contracts", "list", "--json")
    assert [row["id"] for row in listed.json()] == [cid]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--customer", "nobody", "--plan", "hot-desk", "--start", "2031-01-01"), "nobody"),
        (("--customer", "ada", "--plan", "nothing", "--start", "2031-01-01"), "nothing"),
        (("--customer", "ada", "--plan", "hot-desk", "--start", "2031-13-01"), "YYYY-MM-DD"),
        (("--customer", "ada", "--plan", "hot-desk", "--start", "2031-01-01", "--price", "-5"),
         "negative"),
        (("--customer", "ada", "--plan", "hot-desk", "--start", "2031-01-01", "--price", "1.234"),
         "decimals"),
        (("--customer", "ada", "--plan", "fixed", "--start", "2031-01-05", "--anchor",
          "2031-01-01", "--prorate-first-invoice"), "does not allow"),
        (("--customer", "ada", "--plan", "hot-desk", "--start", "2031-01-01", "--id", "bad id!"),
         "id"),
    ],
)  # fmt: skip
async def test_refused_create_changes_nothing(
    sqlite_cli: Cli, args: tuple[str, ...], message: str
) -> None:
    cli = sqlite_cli
    await seed(cli)
    before = (await cli("contracts", "list", "--json")).json()
    result = await cli("contracts", "create", *args)
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


async def test_unreachable_temporal_is_a_failure_not_a_refusal(sqlite_cli: Cli) -> None:
    cli = sqlite_cli
    await seed(cli)
    cli.env["TEMPORAL_ADDRESS"] = "127.0.0.1:1"
    result = await cli(
        "contracts", "create", "--customer", "ada", "--plan", "hot-desk", "--start", "2031-01-01"
    )
    assert result.code == 1
    assert "Cannot reach the Temporal server" in result.err


async def test_steering_commands_one_each(cli: Cli) -> None:
    """Every steering command through the CLI: effect, warnings, undo, preview, switch."""
    await seed(cli)
    cid = f"s-{uuid.uuid4().hex[:8]}"
    created = await cli(
        "contracts", "create", "--id", cid, "--customer", "ada", "--plan", "hot-desk",
        "--start", "2031-03-01", "--json",
    )  # fmt: skip
    assert created.code == 0, created.err

    # Not started yet: an automated change is refused, with a reason.
    refused = await cli("contracts", "change", cid, "--next-plan", "fixed")
    assert refused.code == 2
    assert "Refused" in refused.err

    cancelled = await cli("contracts", "cancel", cid, "--date", "2031-04-11", "--prorate", "--json")
    assert cancelled.code == 0, cancelled.err
    assert cancelled.json()["view"]["contract"]["cancellation"]["date"] == "2031-04-11"

    preview = await cli("contracts", "preview", cid, "--json")
    assert preview.code == 0, preview.err
    events = preview.json()["events"]
    assert [event["date"] for event in events] == ["2031-03-01", "2031-04-01", "2031-04-11"]
    assert events[1]["lines"][0]["amount"] == "500.00"  # [04-01, 04-11) of 1,500.00: 10/30

    undone = await cli("contracts", "uncancel", cid, "--reason", "stays")
    assert undone.code == 0, undone.err
    again = await cli("contracts", "uncancel", cid)
    assert again.code == 2
    assert "no pending manual cancellation" in again.err

    switched = await cli(
        "contracts", "switch", cid, "--to", "fixed", "--on", "2031-03-20", "--json"
    )
    assert switched.code == 0, switched.err
    successor = switched.json()["successor"]
    assert successor["id"] == f"{cid}-t2"
    assert successor["start"] == "2031-03-20"
    shown = await cli("contracts", "show", f"{cid}-t2", "--json")
    assert shown.json()["lineage"] == [cid, f"{cid}-t2"]
    assert shown.json()["workflow_status"] == "running"

    unknown = await cli("contracts", "cancel", "no-such-contract", "--date", "2031-05-01")
    assert unknown.code == 2
    assert "There is no contract no-such-contract" in unknown.err
