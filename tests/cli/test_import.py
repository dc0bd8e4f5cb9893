"""`contracts import`: many contracts from a CSV file, against the real dev server and a worker."""

import asyncio
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from billing.contract import Command, new_contract
from store import repository
from store.db import Database
from termshift.services.imports import register_contracts
from tests.support.cli import SEED_TIMEZONE, Cli, seed
from tests.support.clock import Clock, fill, server_clock
from workflows import workflow_id

pytestmark = pytest.mark.devserver

HEADER = "id,customer,plan,start,price,anchor,prorate_first_invoice"


async def berlin(dev_env: WorkflowEnvironment) -> Clock:
    """The dev server's clock in the seeded location's timezone."""
    return await server_clock(dev_env, SEED_TIMEZONE)


def write_csv(tmp_path: Path, *lines: str, header: str = HEADER) -> Path:
    path = tmp_path / f"contracts-{uuid.uuid4().hex[:6]}.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


async def test_import_records_every_contract_and_starts_its_workflow(
    cli: Cli, dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    await seed(cli)
    run = uuid.uuid4().hex[:6]  # workflow ids are unique on the shared server
    clock = await berlin(dev_env)
    this_month = clock.month(0)
    later_start, later_anchor = clock.in_next_year(3, 21), clock.in_next_year(3, 1)
    billed_now, later, custom = f"i1-{run}", f"i2-{run}", f"i3-{run}"
    path = write_csv(
        tmp_path,
        f"{billed_now},ada,hot-desk,{this_month},,,",
        f"{later},ada,hot-desk,{later_start},,{later_anchor},true",
        "",  # a blank line is skipped
        f"{custom},ada,fixed,{clock.in_next_year(1, 15)},850.00,,false",
    )

    checked = await cli("contracts", "import", str(path), "--check", "--json")
    assert checked.code == 0, checked.err
    assert checked.json()["checked_only"] is True
    assert checked.json()["recorded"] == [billed_now, later, custom]
    assert (await cli("contracts", "list", "--json")).json() == []

    imported = await cli(
        "contracts", "import", str(path), "--actor", "maria", "--reason", "moving over", "--json"
    )
    assert imported.code == 0, imported.err
    assert imported.err == ""  # no progress bars (nor their blank lines) outside a terminal
    report = imported.json()
    assert report["contracts"] == 3
    assert report["recorded"] == [billed_now, later, custom]
    assert report["already_recorded"] == []
    assert report["workflows_ended"] == []

    listed = (await cli("contracts", "list", "--json")).json()
    assert sorted(row["id"] for row in listed) == sorted([billed_now, later, custom])
    for contract_id in (billed_now, later, custom):
        description = await dev_env.client.get_workflow_handle(workflow_id(contract_id)).describe()
        assert description.status is WorkflowExecutionStatus.RUNNING
    shown = (await cli("contracts", "show", custom, "--json")).json()
    assert shown["contract"]["price"] == "850.00"
    assert shown["workflow_status"] == "running"
    later_shown = (await cli("contracts", "show", later, "--json")).json()
    assert later_shown["contract"]["prorate_first_invoice"] is True
    assert later_shown["next_invoice_date"] == str(later_start)

    # The contract that began this month is billed by its workflow, once.
    for _ in range(100):
        invoices = (await cli("invoices", "list", "--contract", billed_now, "--json")).json()
        if invoices:
            break
        await asyncio.sleep(0.2)
    assert [invoice["issue_date"] for invoice in invoices] == [str(this_month)]

    # Importing the same file again changes nothing and starts nothing twice.
    again = await cli("contracts", "import", str(path), "--json")
    assert again.code == 0, again.err
    assert again.json()["recorded"] == []
    assert again.json()["already_recorded"] == [billed_now, later, custom]
    listed_again = (await cli("contracts", "list", "--json")).json()
    assert len(listed_again) == 3
    invoices = (await cli("invoices", "list", "--contract", billed_now, "--json")).json()
    assert len(invoices) == 1

    human = await cli("contracts", "import", str(path))
    assert "3 were already recorded" in human.out


async def test_an_interrupted_import_is_finished_by_importing_again(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Rows written, workflows not yet started (the import stopped between its two steps)."""
    cli = sqlite_cli
    await seed(cli)
    contract_id = f"half-{uuid.uuid4().hex[:6]}"
    start = (await berlin(dev_env)).in_next_year(5, 1)
    path = write_csv(tmp_path, f"{contract_id},ada,hot-desk,{start},,,")
    database = Database(cli.env["TERMSHIFT_DATABASE_URL"])
    with database.session() as session:
        plan = repository.get_plan(session, "hot-desk")
        location = repository.get_location(session, plan.location_id)
    contract = new_contract(
        id=contract_id, customer_id="ada", location=location, plan=plan, start=start
    )
    register_contracts(database, [contract], Command(actor="maria"), key=workflow_id)
    database.dispose()

    imported = await cli("contracts", "import", str(path), "--json")
    assert imported.code == 0, imported.err
    assert imported.json()["already_recorded"] == [contract_id]
    description = await dev_env.client.get_workflow_handle(workflow_id(contract_id)).describe()
    assert description.status is WorkflowExecutionStatus.RUNNING
    shown = (await cli("contracts", "show", contract_id, "--json")).json()
    assert shown["workflow_status"] == "running"
    assert shown["next_invoice_date"] == str(start)


async def test_import_refuses_every_wrong_line_and_imports_nothing(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    cli = sqlite_cli
    await seed(cli)
    clock = await berlin(dev_env)
    jan_1, jan_5, feb_1 = (
        clock.in_next_year(1, 1),
        clock.in_next_year(1, 5),
        clock.in_next_year(2, 1),
    )
    path = write_csv(
        tmp_path,
        f"ok-1,ada,hot-desk,{jan_1},,,",
        "bad-date,ada,hot-desk,2031-13-01,,,",
        f"nobody-1,nobody,hot-desk,{jan_1},,,",
        f"ok-1,ada,hot-desk,{feb_1},,,",
        f"no-prorate,ada,fixed,{jan_5},,{jan_1},true",
        f"maybe,ada,hot-desk,{jan_1},,,perhaps",
        f"negative,ada,hot-desk,{jan_1},-5,,",
        f"too-many,ada,hot-desk,{jan_1},,,,extra",
        f",ada,hot-desk,{jan_1},,,",
        f"bad id!,ada,hot-desk,{jan_1},,,",
    )
    result = await cli("contracts", "import", str(path))
    assert result.code == 2, (result.out, result.err)
    assert result.err.startswith("Refused: ")
    err = " ".join(result.err.split())
    assert "9 of 10 contracts cannot be imported; nothing was imported" in err
    for expected in (
        "line 3: Start date '2031-13-01' is not a date",
        "line 4: ",
        "nobody",
        "line 5: contract ok-1 is also on line 2",
        "line 6: Plan fixed does not allow a prorated first invoice",
        "line 7: prorate_first_invoice 'perhaps' is neither true nor false",
        "line 8: ",
        "line 9: 1 more cells than the header names columns",
        "line 10: id must not be empty",
        "line 11: ",
    ):
        assert expected in err, expected
    assert (await cli("contracts", "list", "--json")).json() == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,customer,plan\nc1,ada,hot-desk\n", "missing: start"),
        ("id,customer,plan,start,colour\nc1,ada,hot-desk,{start},red\n", "unknown: 'colour'"),
        ("id,customer,plan,start,id\n", "a column is named twice"),
        (f"{HEADER}\n", "has no contracts"),
        ("", "missing: id, customer, plan, start"),
    ],
)
async def test_import_refuses_a_file_that_is_not_a_contract_list(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "contracts.csv"
    start = (await berlin(dev_env)).in_next_year(1, 1)
    path.write_text(fill(content, {"start": start}), encoding="utf-8")
    result = await sqlite_cli("contracts", "import", str(path))
    assert result.code == 2, (result.out, result.err)
    assert message in " ".join(result.err.split())


async def test_import_of_a_missing_or_binary_file_is_refused(
    sqlite_cli: Cli, tmp_path: Path
) -> None:
    missing = await sqlite_cli("contracts", "import", str(tmp_path / "nope.csv"))
    assert missing.code == 2
    assert "There is no file" in missing.err
    binary = tmp_path / "contracts.xlsx"
    binary.write_bytes(b"PK\x03\x04\xff\xfe\x00binary")
    refused = await sqlite_cli("contracts", "import", str(binary))
    assert refused.code == 2
    assert "not UTF-8 text" in refused.err


async def test_a_contract_whose_workflow_ended_is_not_started_again(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    cli = sqlite_cli
    await seed(cli)
    contract_id = f"ended-{uuid.uuid4().hex[:6]}"
    start = (await berlin(dev_env)).in_next_year(5, 1)
    path = write_csv(tmp_path, f"{contract_id},ada,hot-desk,{start},,,")
    assert (await cli("contracts", "import", str(path))).code == 0
    handle = dev_env.client.get_workflow_handle(workflow_id(contract_id))
    await handle.terminate(reason="an admin ended it by hand")

    again = await cli("contracts", "import", str(path), "--json")
    assert again.code == 0, again.err
    assert again.json()["workflows_ended"] == [contract_id]
    assert (await handle.describe()).status is WorkflowExecutionStatus.TERMINATED
    human = await cli("contracts", "import", str(path))
    assert f"was not started again: {contract_id}" in " ".join(human.out.split())
