"""Bulk jobs through the CLI (SPEC §8, R18 `plan_price`), on the dev server with a worker."""

import asyncio
import csv
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from billing.contract import Command, new_contract
from store import repository
from store.db import Database
from termshift.services.contracts import create_contract
from tests.support.cli import SEED_TIMEZONE, Cli, InProcess, Result, seed
from tests.support.clock import Clock, server_clock
from tests.support.temporal import new_task_queue, running_worker

pytestmark = pytest.mark.devserver


def uid(prefix: str = "b") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def ok(cli: InProcess, *args: str) -> Result:
    result = await cli(*args)
    assert result.code == 0, (args, result.out, result.err)
    return result


async def refused(cli: InProcess, *args: str) -> str:
    result = await cli(*args)
    assert result.code == 2, (args, result.out, result.err)
    assert "Traceback" not in result.err + result.out
    return " ".join(result.err.split())


async def running(cli: InProcess, clock: Clock, plan: str = "fixed", *extra: str) -> str:
    """A contract that started on the first of last month, caught up on its invoices."""
    cid = uid()
    await ok(
        cli, "contracts", "create", "--id", cid, "--customer", "ada", "--plan", plan,
        "--start", str(clock.month(-1)), *extra,
    )  # fmt: skip
    for _ in range(100):
        view = (await ok(cli, "contracts", "show", cid, "--json")).json()
        if view["next_invoice_date"] == str(clock.month(1)):
            return cid
        await asyncio.sleep(0.2)
    raise AssertionError(f"contract {cid} did not catch up: {view}")


async def setup(dev_env: WorkflowEnvironment, runner: Cli) -> tuple[InProcess, Clock]:
    cli = InProcess(runner.env)
    await seed(cli)
    return cli, await server_clock(dev_env, SEED_TIMEZONE)


async def test_preview_equals_what_the_run_does(dev_env: WorkflowEnvironment, cli: Cli) -> None:
    runner, clock = await setup(dev_env, cli)
    ids = [await running(runner, clock) for _ in range(3)]
    custom = await running(runner, clock, "fixed", "--price", "800.00")
    await ok(runner, "contracts", "cancel-at-next-invoice", ids[2])
    selection = ("--plan", "fixed")
    change = ("--do", "set-price", "--price", "950.00", "--from", str(clock.month(1)))
    preview = (await ok(runner, "bulk", "preview", *change, *selection, "--json")).json()
    outcomes = {row["contract_id"]: row["outcome"] for row in preview}
    assert outcomes == {ids[0]: "apply", ids[1]: "apply", ids[2]: "refused", custom: "apply"}

    job = uid("job")
    report = (
        await ok(runner, "bulk", "run", *change, *selection, "--job", job, "--reason", "2027",
                 "--json")
    ).json()  # fmt: skip
    answers = {item["contract_id"]: item for item in report["items"]}
    assert {cid: item["outcome"] for cid, item in answers.items()} == {
        **outcomes,
        ids[0]: "applied",
        ids[1]: "applied",
        custom: "applied",
    }
    for row in preview:
        assert answers[row["contract_id"]]["message"] == row["message"]
    assert report["job"]["status"] == "done"
    assert (report["applied"], report["refused"], report["skipped"], report["left"]) == (3, 1, 0, 0)

    db = repository_database(runner)
    with db.session() as session:
        entries = [e for e in repository.audit_entries(session) if e.job_id == job]
        refusals = [
            event.contract_id
            for event in repository.list_events(session)
            if event.type == "command.refused"
        ]
    db.dispose()
    assert {e.contract_id for e in entries} == {ids[0], ids[1], custom}
    assert all(e.reason == "2027" and e.command == "set_price" and e.actor for e in entries)
    assert refusals == [ids[2]]  # the refusal reaches the other systems, as any command's

    again = (await ok(runner, "bulk", "run", *change, *selection, "--job", job, "--json")).json()
    assert again["job"]["runs"] == 2
    assert (again["applied"], again["skipped"]) == (0, 3)
    assert all(
        "has taken bulk job" in item["message"]
        for item in again["items"]
        if item["outcome"] == "skipped"
    )


def repository_database(cli: InProcess) -> Database:
    return Database(cli.env["TERMSHIFT_DATABASE_URL"])


async def test_bad_selections_and_commands_are_refused_before_anything_runs(
    dev_env: WorkflowEnvironment, sqlite_cli: Cli, tmp_path: Path
) -> None:
    runner, clock = await setup(dev_env, sqlite_cli)
    cid = await running(runner, clock)
    freeze = ("--do", "freeze", "--cycles", "1")
    assert "Choose the contracts one way" in await refused(runner, "bulk", "run", *freeze)
    assert "Choose the contracts one way" in await refused(
        runner, "bulk", "run", *freeze, "--plan", "fixed", "--location", "berlin"
    )
    assert "No plan 'nope'" in await refused(runner, "bulk", "run", *freeze, "--plan", "nope")
    assert "Invalid query" in await refused(
        runner, "bulk", "run", *freeze, "--query", "PlanCode = = 'x'"
    )
    assert "freeze needs --cycles" in await refused(
        runner, "bulk", "run", "--do", "freeze", "--plan", "fixed"
    )
    assert "--price does not apply to freeze" in await refused(
        runner, "bulk", "run", *freeze, "--price", "1", "--plan", "fixed"
    )
    listed = tmp_path / "ids.csv"
    with listed.open("w", newline="") as handle:
        csv.writer(handle).writerows([["contract_id"], [cid], ["ghost-1"]])
    assert "No contract 'ghost-1'" in await refused(
        runner, "bulk", "run", *freeze, "--csv", str(listed)
    )
    assert "No plan 'nope'" in await refused(
        runner, "bulk", "run", "--do", "change", "--next-plan", "nope", "--plan", "fixed"
    )
    assert "No location 'atlantis'" in await refused(
        runner, "bulk", "preview", *freeze, "--location", "atlantis"
    )
    assert (await ok(runner, "bulk", "list", "--json")).json() == []

    job = uid("job")
    await ok(runner, "bulk", "run", *freeze, "--plan", "fixed", "--job", job)
    assert f"Bulk job {job} exists with another command" in await refused(
        runner, "bulk", "run", "--do", "unfreeze", "--plan", "fixed", "--job", job
    )
    assert [row["job"]["id"] for row in (await ok(runner, "bulk", "list", "--json")).json()] == [
        job
    ]


async def future_contracts(
    dev_env: WorkflowEnvironment, cli: InProcess, clock: Clock, n: int, *, task_queue: str
) -> list[str]:
    """`n` contracts on `fixed` that start next year, created at once on `task_queue` (on
    another queue than the CLI's worker's, a worker runs only while they are created)."""
    db = repository_database(cli)
    with db.session() as session:
        location = repository.get_location(session, "berlin")
        plan = repository.get_plan(session, "fixed")
    contracts = [
        new_contract(
            id=uid(), customer_id="ada", location=location, plan=plan,
            start=clock.in_next_year(4, 1),
        )
        for _ in range(n)
    ]  # fmt: skip
    creating = asyncio.gather(
        *(
            create_contract(dev_env.client, contract, Command(actor="test"), task_queue=task_queue)
            for contract in contracts
        )
    )
    if task_queue == cli.env["TERMSHIFT_TASK_QUEUE"]:
        await creating  # the CLI's worker serves them
    else:
        async with running_worker(dev_env.client, db, task_queue):
            await creating  # then no worker serves them
    db.dispose()
    return [contract.id for contract in contracts]


async def test_a_cancelled_job_stops_and_reports_what_it_did(
    dev_env: WorkflowEnvironment, sqlite_cli: Cli, tmp_path: Path
) -> None:
    """Five contracts answer; the next five have no worker (their updates wait), so the job is
    mid-way, on any machine, when it is cancelled."""
    runner, clock = await setup(dev_env, sqlite_cli)
    served = await future_contracts(
        dev_env, runner, clock, 5, task_queue=runner.env["TERMSHIFT_TASK_QUEUE"]
    )
    unserved_queue = new_task_queue()
    unserved = await future_contracts(dev_env, runner, clock, 5, task_queue=unserved_queue)
    listed = tmp_path / "members.csv"
    listed.write_text("\n".join(served + unserved) + "\n")  # no header: the first column
    slow = InProcess({**runner.env, "TERMSHIFT_BULK_CONCURRENCY": "1"})
    job = uid("job")
    started = await ok(
        slow, "bulk", "run", "--do", "set-price", "--price", "990.00", "--csv", str(listed),
        "--job", job, "--no-wait",
    )  # fmt: skip
    assert f"Started job {job}" in " ".join(started.out.split())

    for _ in range(200):
        status = (await ok(runner, "bulk", "status", job, "--json")).json()
        if status["applied"] == len(served):
            break
        await asyncio.sleep(0.1)
    cancelled = (await ok(runner, "bulk", "cancel", job, "--json")).json()
    assert cancelled["job"]["status"] == "cancelled"
    assert (cancelled["applied"], cancelled["left"]) == (len(served), len(unserved))
    db = repository_database(runner)
    with db.session() as session:
        taken = {e.contract_id for e in repository.audit_entries(session) if e.job_id == job}
    db.dispose()
    assert taken == set(served)
    words = " ".join((await ok(runner, "bulk", "list")).out.split())
    assert f"{job} set_price" in words
    assert "cancelled" in words
    assert "is cancelled already" in await refused(runner, "bulk", "cancel", job)

    # Run again, it goes on where it stopped; its workflow terminated meanwhile, the CLI says so.
    again = ("bulk", "run", "--do", "set-price", "--price", "990.00", "--csv", str(listed))
    following = asyncio.ensure_future(slow(*again, "--job", job))
    await asyncio.sleep(3)
    await dev_env.client.get_workflow_handle(f"bulk-{job}").terminate("test")
    stopped = await following
    assert stopped.code == 1, stopped
    assert f"Job {job}'s workflow ended (terminated) before every contract answered" in " ".join(
        stopped.err.split()
    )
    db = repository_database(runner)
    async with running_worker(dev_env.client, db, unserved_queue):
        finished = (await ok(slow, *again, "--job", job, "--json")).json()
    db.dispose()
    assert finished["job"]["status"] == "done"
    assert finished["job"]["runs"] == 1  # the same run, gone on: the answers before are kept
    assert (finished["applied"], finished["skipped"], finished["left"]) == (10, 0, 0)


async def test_a_plan_price_reaches_its_contracts_without_a_custom_price(
    dev_env: WorkflowEnvironment, cli: Cli
) -> None:
    runner, clock = await setup(dev_env, cli)
    plain = await running(runner, clock)
    custom = await running(runner, clock, "fixed", "--price", "800.00")
    new_price = ("plans", "set-price", "fixed", "--price", "990.00", "--from", str(clock.month(1)))
    preview = (await ok(runner, *new_price, "--preview", "--json")).json()
    assert {row["contract_id"]: row["outcome"] for row in preview} == {
        plain: "apply",
        custom: "skipped",
    }
    assert "custom price of 800.00 EUR" in preview[1]["message"]

    text = " ".join((await ok(runner, *new_price, "--reason", "2027 prices")).out.split())
    assert "1 applied, 0 refused, 1 skipped, 0 left, of 2" in text
    plans = {p["code"]: p for p in (await ok(runner, "plans", "list", "--json")).json()}
    assert plans["fixed"]["price"] == "990.00"
    shown = (await ok(runner, "contracts", "show", plain, "--json")).json()
    assert shown["contract"]["price"] == "900.00"
    assert shown["contract"]["scheduled_price"]["price"] == "990.00"
    assert shown["contract"]["scheduled_price"]["effective"] == str(clock.month(1))
    assert shown["contract"]["scheduled_price"]["plan_price"] is True
    later = await running(runner, clock)
    assert (await ok(runner, "contracts", "show", later, "--json")).json()["contract"][
        "price"
    ] == "990.00"


async def test_a_grandfathered_plan_price_leaves_running_contracts_at_theirs(
    dev_env: WorkflowEnvironment, sqlite_cli: Cli
) -> None:
    runner, clock = await setup(dev_env, sqlite_cli)
    plain = await running(runner, clock)
    report = (
        await ok(runner, "plans", "set-price", "fixed", "--price", "990.00", "--from",
                 str(clock.month(1)), "--grandfather", "--json")
    ).json()  # fmt: skip
    assert (report["applied"], report["skipped"]) == (1, 0)
    [item] = report["items"]
    assert "keeps its price of 900.00 EUR, now a custom price" in item["message"]
    contract = (await ok(runner, "contracts", "show", plain, "--json")).json()["contract"]
    assert (contract["price"], contract["plan"]["price"]) == ("900.00", "990.00")
    assert contract["scheduled_price"] is None
    shown = " ".join((await ok(runner, "contracts", "show", plain)).out.split())
    assert "900.00 EUR — custom price" in shown
    assert "is past" in await refused(
        runner, "plans", "set-price", "fixed", "--price", "1.00", "--from", str(clock.month(-1))
    )


async def test_the_run_reports_each_refusal_with_its_contract(
    dev_env: WorkflowEnvironment, sqlite_cli: Cli
) -> None:
    runner, clock = await setup(dev_env, sqlite_cli)
    taken = await running(runner, clock)
    busy = await running(runner, clock)
    await ok(runner, "contracts", "cancel-at-next-invoice", busy)
    text = " ".join(
        (
            await ok(runner, "bulk", "run", "--do", "freeze", "--cycles", "1", "--plan", "fixed")
        ).out.split()
    )
    assert "1 applied, 1 refused, 0 skipped, 0 left, of 2" in text
    assert f"{busy} Cannot freeze" in text
    assert taken not in text.split("Refused", 1)[1]
