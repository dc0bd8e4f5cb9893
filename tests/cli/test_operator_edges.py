"""What a new operator meets, through the CLI on the dev server (run in this process, as
`test_bad_input.py` does, except where the process itself is under test): ended contracts shown and
continued (R13), every refusal's hint run as written, confirmations, the two switch toggles,
JSON errors, malformed raw updates, and the dates and words the UI and the lists show.

Dates come from the dev server's clock (`tests.support.clock`): a running contract started on
the first of the previous month, so it is billed from the first of this month to the first of
the next.
"""

import asyncio
import json
import os
import pty
import re
import select
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from tests.support.cli import ROOT, SEED_TIMEZONE, Cli, InProcess, Result, seed
from tests.support.clock import Clock, server_clock
from tests.support.temporal import binary
from workflows import workflow_id

pytestmark = pytest.mark.devserver

Runner = Cli | InProcess
"""`starter.py` as a process, or run in this process (faster: no interpreter start)."""

HINT = re.compile(r"`((?:contracts|plans|customers|invoices|locations) [^`]+)`")


def uid(prefix: str = "c") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"  # workflow ids are unique on the shared server


async def clock_of(dev_env: WorkflowEnvironment) -> Clock:
    return await server_clock(dev_env, SEED_TIMEZONE)


async def ok(cli: Runner, *args: str) -> Result:
    result = await cli(*args)
    assert result.code == 0, (args, result.out, result.err)
    return result


async def refused(cli: Runner, *args: str) -> Result:
    result = await cli(*args)
    assert result.code == 2, (args, result.out, result.err)
    assert "Traceback" not in result.err
    return result


def message(result: Result) -> str:
    return " ".join(result.err.split())


async def settle(cli: Runner, cid: str, ready: Callable[[Any], bool]) -> Any:
    """`contracts show --json` once `ready` holds (the workflow catches up in the background)."""
    shown: Any = None
    for _ in range(100):
        shown = (await ok(cli, "contracts", "show", cid, "--json")).json()
        if ready(shown):
            return shown
        await asyncio.sleep(0.2)
    raise AssertionError(f"contract {cid} did not settle: {shown}")


async def running(cli: Runner, clock: Clock, *extra: str, plan: str = "hot-desk") -> str:
    """A contract that started on the first of last month: active, next invoice next month."""
    cid = uid()
    created = await ok(
        cli, "contracts", "create", "--id", cid, "--customer", "ada", "--plan", plan,
        "--start", str(clock.month(-1)), *extra,
    )  # fmt: skip
    # A start in the past is said as such, not as "Starts on …" (the state at registration).
    assert f"Started on {clock.month(-1)}: every invoice due up to today" in " ".join(
        created.out.split()
    )
    # Both invoices written (show reads the database before it asks the workflow).
    await settle(
        cli,
        cid,
        lambda shown: (
            len(shown["invoices"]) == 2 and shown["next_invoice_date"] == str(clock.month(1))
        ),
    )
    return cid


async def future(cli: Runner, clock: Clock) -> str:
    cid = uid("f")
    await ok(
        cli, "contracts", "create", "--id", cid, "--customer", "ada", "--plan", "hot-desk",
        "--start", str(clock.month(12)),
    )  # fmt: skip
    return cid


async def ended(cli: Runner, cid: str) -> Any:
    """Cancel `cid` today (it ends at once) and wait until its workflow has completed."""
    await ok(cli, "contracts", "cancel", cid, "--date", "today", "--yes", "--reason", "leaves")
    return await settle(cli, cid, lambda shown: shown["workflow_status"] == "completed")


async def cancellation_of(cli: Runner, cid: str) -> Any:
    return (await ok(cli, "contracts", "show", cid, "--json")).json()["contract"]["cancellation"]


def hints(result: Result) -> list[str]:
    found = HINT.findall(message(result))
    assert found, message(result)
    return found


async def run_hint(cli: Runner, hint: str, **placeholders: str) -> Result:
    """Run a hint as an operator would: as written, the words in capitals filled in."""
    args = [placeholders.get(word, word) for word in shlex.split(hint)]
    assert not [word for word in args if word.isupper()], (hint, args)
    return await ok(cli, *args)


# --- R13: a new term before, on and after the cancellation date -----------------------------------


async def test_new_term_before_on_and_after_the_cancellation_date(
    cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    cli = InProcess(cli.env)
    await seed(cli)
    clock = await clock_of(dev_env)
    today, tomorrow = clock.today, clock.today + timedelta(days=1)

    # Before: the old contract's workflow takes the new term; its deposit passes on when it ends.
    before = await running(cli, clock)
    await ok(cli, "contracts", "cancel", before, "--date", str(clock.month(1)))
    made = await ok(cli, "contracts", "new-term", "--from", before, "--plan", "fixed", "--json")
    assert made.json()["successor"]["start"] == str(clock.month(1))
    assert f"The deposit held by contract {before} passes to it." in made.json()["effect"]
    child = await dev_env.client.get_workflow_handle(workflow_id(f"{before}-t2")).describe()
    assert f"**Replaces:** contract {before}" in (await child.static_details() or "")

    # On the cancellation date: the contract ends at once; its deposit stays held, since the
    # customer's first contract still runs, and passes to the new term, which starts today.
    on = await running(cli, clock)
    shown = await ended(cli, on)
    assert shown["contract"]["status"] == "cancelled"
    made = await ok(cli, "contracts", "new-term", "--from", on, "--json")
    successor = made.json()["successor"]
    assert (successor["id"], successor["start"], successor["replaces"]) == (
        f"{on}-t2",
        str(today),
        on,
    )
    assert (
        f"Contract {on} still holds a deposit of 200.00 EUR, which passes to it"
        in (made.json()["effect"])
    )
    new = await settle(cli, f"{on}-t2", lambda view: bool(view["invoices"]))
    assert new["lineage"] == [on, f"{on}-t2"]
    assert [line["kind"] for line in new["invoices"][0]["lines"]] == ["plan"]  # deposit inherited
    old = await ok(cli, "contracts", "show", on, "--json")
    assert old.json()["replaced_by"] == f"{on}-t2"
    assert old.json()["lineage"] == [on, f"{on}-t2"]

    # After: a member who comes back later; a gap, and the start chosen.
    after = await running(cli, clock)
    await ended(cli, after)
    made = await ok(cli, "contracts", "new-term", "--from", after, "--start", "tomorrow")
    text = " ".join(made.out.split())
    assert f"It starts on {tomorrow}" in text
    assert f"There is a gap: contract {after} ended on {today}" in text
    # A second new term from the same contract is refused and names the one it has.
    again = await refused(cli, "contracts", "new-term", "--from", after)
    assert f"already has a next term, contract {after}-t2" in message(again)


async def test_a_new_term_after_the_last_contract_ended_charges_the_deposit_in_full(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    cli = InProcess(sqlite_cli.env)
    await seed(cli)
    clock = await clock_of(dev_env)
    only = await running(cli, clock)
    await ended(cli, only)
    closing = (await ok(cli, "invoices", "list", "--contract", only, "--json")).json()[-1]
    assert [(line["kind"], line["amount"]) for line in closing["lines"]][-1] == (
        "deposit_refund",
        "-200.00",
    )
    made = await ok(cli, "contracts", "new-term", "--from", only, "--json")
    assert (
        "the first invoice charges plan hot-desk's deposit of 200.00 EUR in full"
        in (made.json()["effect"])
    )
    new = await settle(cli, f"{only}-t2", lambda view: bool(view["invoices"]))
    assert [(line["kind"], line["amount"]) for line in new["invoices"][0]["lines"]][-1] == (
        "deposit",
        "200.00",
    )


# --- an ended contract shows its terms, invoices, lineage and what ended it -----------------------


async def test_show_and_preview_of_an_ended_contract(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    cli = InProcess(sqlite_cli.env)
    await seed(cli)
    clock = await clock_of(dev_env)
    cid = await running(cli, clock)
    await ended(cli, cid)

    shown = (await ok(cli, "contracts", "show", cid, "--json")).json()
    assert shown["contract"]["status"] == "cancelled"
    assert shown["workflow_status"] == "completed"
    assert shown["lineage"] == [cid]
    assert shown["ended"]["date"] == str(clock.today)
    assert (shown["ended"]["command"], shown["ended"]["reason"]) == ("cancel", "leaves")
    assert shown["ended"]["what"].startswith(f"Cancelled on {clock.today} as requested by")
    assert [invoice["issue_date"] for invoice in shown["invoices"]][:2] == [
        str(clock.month(-1)),
        str(clock.month(0)),
    ]
    human = " ".join((await ok(cli, "contracts", "show", cid)).out.split())
    assert f"ended {clock.today}: Cancelled on {clock.today}" in human
    assert "cancel by" in human
    assert "(leaves)" in human

    preview = " ".join((await ok(cli, "contracts", "preview", cid)).out.split())
    assert f"Ended on {clock.today}. Nothing more happens" in preview
    assert f"`contracts new-term --from {cid}`" in preview
    assert (await ok(cli, "contracts", "preview", cid, "--json")).json()["events"] == []


async def test_a_contract_that_starts_and_ends_on_one_day_says_what_ended_it(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    cli = InProcess(sqlite_cli.env)
    await seed(cli)
    clock = await clock_of(dev_env)
    cid = uid()
    await ok(cli, "contracts", "create", "--id", cid, "--customer", "ada", "--plan", "hot-desk",
             "--start", "today")  # fmt: skip
    await settle(cli, cid, lambda shown: bool(shown["invoices"]))
    shown = await ended(cli, cid)
    assert shown["ended"]["what"].startswith(f"Cancelled on {clock.today} as requested by")
    days = [entry for entry in shown["invoices"] if entry["issue_date"] == str(clock.today)]
    assert len(days) == 2  # the first invoice, and the closing one with the deposit's refund


# --- every refusal's hint works in the state the refusal describes -------------------------------


async def test_custom_price_hints(sqlite_cli: Cli, dev_env: WorkflowEnvironment) -> None:
    cli = InProcess(sqlite_cli.env)
    await seed(cli)
    clock = await clock_of(dev_env)
    tomorrow = str(clock.today + timedelta(days=1))
    first, second, third = [await running(cli, clock, "--price", "1200.00") for _ in range(3)]
    cancel, new_term, switch, with_price = hints(
        await refused(cli, "contracts", "change", first, "--next-plan", "fixed")
    )
    await run_hint(cli, cancel, DATE=tomorrow)
    await run_hint(cli, new_term)  # the second step of the manual change
    other = hints(await refused(cli, "contracts", "change", second, "--next-plan", "fixed"))
    assert other[2] == switch.replace(first, second)
    await run_hint(cli, other[2], DATE=tomorrow)  # or both at once
    last = hints(await refused(cli, "contracts", "change", third, "--next-plan", "fixed"))
    assert last[3] == with_price.replace(first, third)
    await run_hint(cli, last[3], PRICE="1300.00")  # or the automated change with its price (R19)


async def test_pending_cancellation_hints(sqlite_cli: Cli, dev_env: WorkflowEnvironment) -> None:
    cli = InProcess(sqlite_cli.env)
    await seed(cli)
    clock = await clock_of(dev_env)
    for alternative in range(2):  # undo it, or continue after it
        cid = await running(cli, clock)
        await ok(cli, "contracts", "cancel", cid, "--date", str(clock.month(1)))
        offered = hints(await refused(cli, "contracts", "change", cid, "--next-plan", "fixed"))
        assert offered == [
            f"contracts uncancel {cid}",
            f"contracts new-term --from {cid} --plan fixed",
        ]
        await run_hint(cli, offered[alternative])


async def test_a_lined_up_next_term_is_what_the_hints_name(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    cli = InProcess(sqlite_cli.env)
    await seed(cli)
    clock = await clock_of(dev_env)
    cid = await running(cli, clock)
    await ok(cli, "contracts", "cancel", cid, "--date", str(clock.month(1)))
    await ok(cli, "contracts", "new-term", "--from", cid)
    switch_next = f"contracts switch {cid}-t2 --to PLAN --on {clock.month(1)}"
    for args in (
        ("contracts", "change", cid, "--next-plan", "fixed"),
        ("contracts", "uncancel", cid),
        ("contracts", "cancel-at-next-invoice", cid),
    ):
        result = await refused(cli, *args)
        assert hints(result) == [switch_next], message(result)
    nothing = await refused(cli, "contracts", "clear-change", cid)
    assert "uncancel" not in message(nothing)
    await run_hint(cli, switch_next, PLAN="fixed")
    assert (await ok(cli, "contracts", "show", f"{cid}-t3", "--json")).json()["lineage"] == [
        cid,
        f"{cid}-t2",
        f"{cid}-t3",
    ]


async def test_future_contract_hints(sqlite_cli: Cli, dev_env: WorkflowEnvironment) -> None:
    cli = InProcess(sqlite_cli.env)
    await seed(cli)
    clock = await clock_of(dev_env)
    cid = await future(cli, clock)
    cancel, new_term = hints(await refused(cli, "contracts", "change", cid, "--next-plan", "fixed"))
    assert cancel == f"contracts cancel {cid} --date {clock.month(12)}"
    await run_hint(cli, cancel)
    await run_hint(cli, new_term, PLAN="fixed")
    other = await future(cli, clock)
    [cancel] = hints(await refused(cli, "contracts", "cancel-at-next-invoice", other))
    await run_hint(cli, cancel)


async def test_ended_contract_hints(sqlite_cli: Cli, dev_env: WorkflowEnvironment) -> None:
    cli = InProcess(sqlite_cli.env)
    await seed(cli)
    clock = await clock_of(dev_env)
    cid = await running(cli, clock)
    await ended(cli, cid)
    [new_term] = hints(await refused(cli, "contracts", "change", cid, "--next-plan", "fixed"))
    assert new_term == f"contracts new-term --from {cid}"
    await run_hint(cli, new_term)
    [show] = hints(await refused(cli, "contracts", "uncancel", cid))
    assert show == f"contracts show {cid}-t2"
    await run_hint(cli, show)


async def test_cancel_at_next_invoice_hints(sqlite_cli: Cli, dev_env: WorkflowEnvironment) -> None:
    cli = InProcess(sqlite_cli.env)
    await seed(cli)
    clock = await clock_of(dev_env)
    for args in (("cancel", "--date", str(clock.month(2))), ("uncancel",)):
        cid = await running(cli, clock)
        await ok(cli, "contracts", "cancel-at-next-invoice", cid)
        result = await refused(cli, "contracts", args[0], cid, *args[1:])
        [clear] = hints(result)
        assert clear == f"contracts clear-change {cid}"
        await run_hint(cli, clear)


async def test_new_term_of_a_running_contract_hints(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    cli = InProcess(sqlite_cli.env)
    await seed(cli)
    clock = await clock_of(dev_env)
    for alternative in range(2):  # cancel it first, or switch at once
        cid = await running(cli, clock)
        offered = hints(await refused(cli, "contracts", "new-term", "--from", cid))
        await run_hint(cli, offered[alternative], DATE=str(clock.month(2)), PLAN="fixed")


# --- a cancellation that takes effect at once asks first -----------------------------------------


def in_terminal(cli: Runner, args: list[str], answer: str) -> tuple[int, str]:
    """Run `starter.py` in a pseudo-terminal, answer its question, return its code and output."""
    parent, child = pty.openpty()
    env = {**cli.env, "COLUMNS": "200", "TERM": "dumb"}
    process = subprocess.Popen(
        [sys.executable, "starter.py", *args],
        cwd=ROOT, env=env, stdin=child, stdout=child, stderr=child, close_fds=True,
    )  # fmt: skip
    os.close(child)
    output, answered, deadline = b"", False, time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([parent], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(parent, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
        if not answered and b"Go ahead?" in output:
            os.write(parent, answer.encode() + b"\n")
            answered = True
        if process.poll() is not None and not ready:
            break
    os.close(parent)
    return process.wait(timeout=60), output.decode(errors="replace")


async def test_a_cancellation_that_takes_effect_at_once_asks_first(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    cli = InProcess(sqlite_cli.env)
    await seed(cli)
    clock = await clock_of(dev_env)
    cid = await running(cli, clock)

    # Outside a terminal (a script): refused, nothing sent, and the way to confirm named.
    asked = await refused(cli, "contracts", "cancel", cid, "--date", "today", "--json")
    error = asked.json()["error"]
    assert (error["code"], error["exit_code"]) == ("confirmation_required", 2)
    assert "It takes effect at once" in error["message"]
    assert "--yes" in error["message"]
    switch = await refused(cli, "contracts", "switch", cid, "--to", "fixed", "--on", "today")
    assert "--yes" in message(switch)
    assert await cancellation_of(cli, cid) is None

    # In a terminal: the effect, the question; "no" changes nothing, "yes" cancels.
    code, output = await asyncio.to_thread(
        in_terminal, cli, ["contracts", "cancel", cid, "--date", "today"], "n"
    )
    assert code == 2, output
    assert "Not confirmed; nothing changed." in output
    assert await cancellation_of(cli, cid) is None
    code, output = await asyncio.to_thread(
        in_terminal, cli, ["contracts", "cancel", cid, "--date", "today"], "y"
    )
    assert code == 0, output
    assert f"Contract {cid} ends at 00:00 on {clock.today}" in " ".join(output.split())
    await settle(cli, cid, lambda shown: shown["contract"]["status"] == "cancelled")

    # A date ahead asks nothing.
    later = await running(cli, clock)
    await ok(cli, "contracts", "cancel", later, "--date", str(clock.month(1)))


# --- the seed's two toggles of a switch, each on its own ----------------------------------------


async def test_switch_toggles_each_on_its_own(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    cli = InProcess(sqlite_cli.env)
    await seed(cli)
    await ok(
        cli, "plans", "add", "desk-year", "--location", "berlin", "--name", "Desk, yearly",
        "--price", "12000.00", "--every", "1 year",
    )  # fmt: skip
    await ok(
        cli, "plans", "add", "office-year", "--location", "berlin", "--name", "Office, yearly",
        "--price", "24000.00", "--every", "1 year",
    )  # fmt: skip
    clock = await clock_of(dev_env)
    tomorrow = str(clock.today + timedelta(days=1))  # inside the yearly period billed
    credited, stub_prorated = "A proration credit of", "prorated ("
    cases = [
        (("--prorate-last-invoice",), True, False),
        (("--prorate-first-invoice",), False, True),
        (("--prorate",), True, True),
        (("--prorate", "--full-first-invoice"), True, False),
        ((), False, False),
    ]
    for flags, last, first in cases:
        cid = uid()
        await ok(
            cli, "contracts", "create", "--id", cid, "--customer", "ada", "--plan", "desk-year",
            "--start", str(clock.month(-1)),
        )  # fmt: skip
        await settle(cli, cid, lambda shown: shown["contract"]["status"] == "active")
        result = await ok(
            cli, "contracts", "switch", cid, "--to", "office-year", "--on", tomorrow, *flags,
            "--json",
        )  # fmt: skip
        effect = result.json()["effect"]
        assert (credited in effect, "nothing is credited" in effect) == (last, not last), flags
        assert (stub_prorated in effect, "not prorated" in effect) == (first, not first), flags
        assert result.json()["view"]["contract"]["cancellation"]["prorate"] is last
        assert result.json()["successor"]["prorate_first_invoice"] is first

    # The first invoice asked for explicitly on a plan that does not allow it: refused.
    cid = await running(cli, clock)
    refusal = await refused(
        cli, "contracts", "switch", cid, "--to", "fixed", "--on", str(clock.month(1)),
        "--prorate-first-invoice",
    )  # fmt: skip
    assert "plan fixed does not allow it" in message(refusal)


# --- JSON errors, and raw updates that answer like the CLI ----------------------------------------


async def test_json_errors_are_printed_on_stdout(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    cli = InProcess(sqlite_cli.env)
    await seed(cli)
    clock = await clock_of(dev_env)
    cid = await running(cli, clock, "--price", "1200.00")
    for args, code in (
        (("contracts", "change", cid, "--next-plan", "fixed"), "custom_price"),
        (("contracts", "cancel", cid, "--date", "someday"), "invalid_input"),
        (("contracts", "show", "nosuch"), "not_found"),
        (("plans", "add", "p", "--location", "nowhere", "--name", "P", "--price", "1"),
         "not_found"),
    ):  # fmt: skip
        result = await refused(cli, *args, "--json")
        error = result.json()["error"]
        assert (error["code"], error["exit_code"]) == (code, 2), error
        assert error["message"] == message(result).removeprefix("Refused: ")
    usage = await refused(sqlite_cli, "contracts", "preview", cid, "--events", "many", "--json")
    assert usage.json()["error"]["code"] == "usage"
    assert "--events" in usage.json()["error"]["message"]
    unreachable = await sqlite_cli("contracts", "show", cid, "--address", "127.0.0.1:1", "--json")
    assert unreachable.code == 1
    assert unreachable.json()["error"]["code"] == "failed"


def temporal_update(cli: Runner, contract_id: str, name: str, *inputs: str) -> Result:
    args = [
        binary("temporal"), "workflow", "update", "execute", "--address",
        cli.env["TEMPORAL_ADDRESS"], "--workflow-id", workflow_id(contract_id), "--name", name,
    ]  # fmt: skip
    for payload in inputs:
        args += ["--input", payload]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    return Result(done.returncode, done.stdout, done.stderr)


async def test_malformed_raw_updates_answer_like_the_cli_and_are_not_retried(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    cli = InProcess(sqlite_cli.env)
    await seed(cli)
    clock = await clock_of(dev_env)
    cid = await running(cli, clock)
    cli_says = message(await refused(cli, "contracts", "cancel", cid, "--date", "1.2.3"))
    assert "'1.2.3' is not a date: write it as YYYY-MM-DD" in cli_says
    for name, inputs, says in (
        ("clear_change", (), "expected one JSON object as input, got 0 inputs"),
        ("uncancel", ('{"actor": "m"}', '{"actor": "m"}'), "got 2 inputs"),
        ("cancel", ('{"date": "1.2.3", "actor": "m"}',), "date: '1.2.3' is not a date: write it"),
        ("new_term", ('{"price": "cheap", "actor": "m"}',), "price: 'cheap' is not an amount"),
        ("cancel", ('{"date": 5, "actor": "m"}',), "date: '5' is not a date"),
    ):
        result = await asyncio.to_thread(temporal_update, cli, cid, name, *inputs)
        text = " ".join((result.out + result.err).split())
        assert result.code != 0, text
        for needle in ("Invalid input — ", says, "retryable: false", "invalid_input"):
            assert needle in text, text
        for wrong in ("positional argument", "pydantic", "Traceback"):
            assert wrong not in text, text
    handle = dev_env.client.get_workflow_handle(workflow_id(cid))
    history = await handle.fetch_history()
    accepted = [
        event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    ]
    assert accepted == ["registered"]  # `contracts create`'s: none of the malformed ones


# --- what the UI and the lists show ---------------------------------------------------------------


async def test_pending_changes_keep_their_dates_in_lists_queries_and_show(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    cli = InProcess(sqlite_cli.env)
    await seed(cli)
    clock = await clock_of(dev_env)
    next_invoice = clock.month(1)
    switching, leaving = await running(cli, clock), await running(cli, clock)
    await ok(cli, "contracts", "change", switching, "--next-plan", "fixed")
    await ok(cli, "contracts", "cancel-at-next-invoice", leaving)

    shown = (await ok(cli, "contracts", "show", switching, "--json")).json()
    assert shown["next_invoice_date"] == str(next_invoice)
    human = " ".join((await ok(cli, "contracts", "show", switching)).out.split())
    assert f"next invoice date {next_invoice}" in human

    rows = {
        line.split()[0]: line.split()
        for line in (await ok(cli, "contracts", "list")).out.splitlines()
        if line.split() and line.split()[0] in (switching, leaving)
    }
    assert rows[switching][-2:] == [str(next_invoice), str(next_invoice)]  # next invoice, ends
    assert rows[leaving][-2:] == ["—", str(next_invoice)]

    before = f"{next_invoice + timedelta(days=1)}T00:00:00Z"
    for query, expected in (
        (f"NextInvoiceAt < '{before}'", switching),
        (f"CancellationAt < '{before}'", leaving),
    ):
        found: set[str] = set()
        for _ in range(50):  # visibility is eventually consistent
            listed = await ok(cli, "contracts", "list", "--query", query, "--json")
            found = {row["id"] for row in listed.json()}
            if expected in found:
                break
            await asyncio.sleep(0.2)
        assert expected in found, (query, found)


async def test_static_details_hold_only_what_stays_true(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    cli = InProcess(sqlite_cli.env)
    await seed(cli)
    clock = await clock_of(dev_env)
    cid = await running(cli, clock)
    await ok(cli, "contracts", "cancel", cid, "--date", str(clock.month(1)))
    description = await dev_env.client.get_workflow_handle(workflow_id(cid)).describe()
    static = await description.static_details()
    assert static is not None
    assert f"**Start:** {clock.month(-1)}" in static
    for stale in ("Status", "Next", "Starts on", "inactive", "Cancellation"):
        assert stale not in static, static

    history = await dev_env.client.get_workflow_handle(workflow_id(cid)).fetch_history()
    timers = [
        json.loads(event.user_metadata.summary.data)
        for event in history.events
        if event.HasField("timer_started_event_attributes")
    ]
    assert timers[-1] == f"Ends on {clock.month(1)} (manual cancellation) at 00:00 Europe/Berlin"
    assert not any(". at 00:00" in summary for summary in timers), timers


async def test_a_timezone_error_ends_with_one_full_stop(sqlite_cli: Cli) -> None:
    result = await refused(
        sqlite_cli, "locations", "add", "x", "--name", "X", "--timezone", "America/New_Yrok",
        "--currency", "USD",
    )  # fmt: skip
    text = message(result)
    assert "America/New_Yrok" in text
    assert text.endswith("UTC+05:30.")
    assert not text.endswith("..")


async def test_lists_in_an_80_column_terminal_never_cut_an_id(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    cli = InProcess(sqlite_cli.env)
    await seed(cli)
    clock = await clock_of(dev_env)
    ids = [f"member-{uuid.uuid4().hex}"[:40], uid()]
    for cid in ids:
        await ok(
            cli, "contracts", "create", "--id", cid, "--customer", "ada", "--plan", "hot-desk",
            "--start", str(clock.month(12)),
        )  # fmt: skip
    narrow = Cli({**cli.env, "COLUMNS": "80"})  # a process: the terminal's width is read once
    for args in (("contracts", "list"), ("invoices", "list"), ("plans", "list")):
        out = (await ok(narrow, *args)).out
        assert max(len(line) for line in out.splitlines()) <= 80, out
        assert "…" not in out, out
    listed = (await ok(narrow, "contracts", "list")).out
    for cid in ids:
        assert any(cid in line for line in listed.splitlines()), listed
