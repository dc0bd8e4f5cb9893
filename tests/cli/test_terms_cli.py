"""Contract terms through the CLI (§3b, R14–R19), against the real dev server and a worker: plans
and contracts with terms, what `contracts show` and `preview` say about them, every command that
acts on them — accepted, refused with the dates and the command that works, or refused as bad
input with nothing changed — the `contracts list` filters, and `contracts import` with terms.

The CLI runs in this process (as `test_operator_edges.py` does) to stay fast. Dates come from the
dev server's clock (`tests.support.clock`): a running contract started on the first of the
previous month, so it is billed up to the first of the next, and a twelve-month commitment ends on
the first of the month eleven months ahead.
"""

import asyncio
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, select
from temporalio.testing import WorkflowEnvironment

from store import repository
from store.db import Database
from tests.support.cli import SEED_TIMEZONE, Cli, InProcess, Result, seed
from tests.support.clock import Clock, add_months, server_clock

pytestmark = pytest.mark.devserver

Runner = Cli | InProcess

TERMS = (
    "--notice", "1 month", "--minimum-term", "12 months", "--renewal", "renew",
    "--max-freeze-cycles", "2", "--max-freezes-per-year", "1",
)  # fmt: skip
"""The terms of plan `term-desk`."""
TERMS_IN_WORDS = (
    "notice 1 month, minimum term 12 months, then renew, freezes of at most 2 cycles, "
    "at most 1 freeze a year"
)
NO_TERMS = {
    "notice": None,
    "minimum_term": None,
    "renewal": "rolling",
    "max_freeze_cycles": None,
    "max_freezes_per_year": None,
}


# --- running the CLI ----------------------------------------------------------------------------


def uid(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"  # workflow ids are unique on the shared server


async def clock_of(dev_env: WorkflowEnvironment) -> Clock:
    return await server_clock(dev_env, SEED_TIMEZONE)


async def ok(cli: Runner, *args: str) -> Result:
    result = await cli(*args)
    assert result.code == 0, (args, result.out, result.err)
    return result


async def refused(cli: Runner, *args: str) -> str:
    """The refusal's message on one line: exit code 2, no traceback."""
    result = await cli(*args)
    assert result.code == 2, (args, result.out, result.err)
    assert "Traceback" not in result.err + result.out
    return " ".join(result.err.split())


def words(result: Result) -> str:
    return " ".join(result.out.split())


async def with_terms_plan(cli: Runner) -> None:
    """The seed (`hot-desk` 1,500.00 and `fixed` 900.00, no terms) and `term-desk` with TERMS."""
    await seed(cli)
    await ok(
        cli, "plans", "add", "term-desk", "--location", "berlin", "--name", "Desk with terms",
        "--price", "1000.00", *TERMS,
    )  # fmt: skip


async def shown(cli: Runner, cid: str) -> Any:
    return (await ok(cli, "contracts", "show", cid, "--json")).json()


async def running(cli: Runner, clock: Clock, *extra: str, plan: str = "term-desk") -> str:
    """A contract that started on the first of last month: active, both invoices issued."""
    cid = uid()
    await ok(
        cli, "contracts", "create", "--id", cid, "--customer", "ada", "--plan", plan,
        "--start", str(clock.month(-1)), *extra,
    )  # fmt: skip
    for _ in range(100):  # the workflow catches up on its invoices in the background
        view = await shown(cli, cid)
        if len(view["invoices"]) == 2 and view["next_invoice_date"] == str(clock.month(1)):
            return cid
        await asyncio.sleep(0.2)
    raise AssertionError(f"contract {cid} did not catch up: {view}")


def database(cli: Runner) -> Database:
    return Database(cli.env["TERMSHIFT_DATABASE_URL"])


def rows(db: Database) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table, as text."""
    metadata = MetaData()
    metadata.reflect(db.engine)
    with db.engine.connect() as connection:
        return {
            table.name: sorted(
                tuple(repr(value) for value in row) for row in connection.execute(select(table))
            )
            for table in metadata.sorted_tables
        }


REFUSAL_EVENT = "'command.refused'"
"""The one row a refusal may add: its `command.refused` event, for the systems that follow."""


def assert_only_refusal_recorded(
    before: dict[str, list[tuple[str, ...]]], after: dict[str, list[tuple[str, ...]]]
) -> None:
    assert before.keys() == after.keys()
    for table, kept in before.items():
        added = set(after[table]) - set(kept)
        assert set(kept) <= set(after[table]), f"rows of {table} changed or vanished"
        assert all(table == "events" and REFUSAL_EVENT in row for row in added), (table, added)


async def refused_unchanged(cli: Runner, cid: str, *args: str) -> str:
    """The command is refused, and neither the database (but for the refusal's event) nor the
    contract's state changes."""
    db = database(cli)
    before, state = rows(db), await shown(cli, cid)
    message = await refused(cli, *args)
    assert_only_refusal_recorded(before, rows(db))
    assert await shown(cli, cid) == state, args
    db.dispose()
    return message


def on(days: int, clock: Clock) -> str:
    return str(clock.today + timedelta(days=days))


# --- plans ------------------------------------------------------------------------------------


async def test_a_plan_takes_terms_and_lists_them(sqlite_cli: Cli) -> None:
    cli = InProcess(sqlite_cli.env)
    await seed(cli)
    added = await ok(
        cli, "plans", "add", "term-desk", "--location", "berlin", "--name", "Desk with terms",
        "--price", "1000.00", *TERMS, "--reason", "new tariff",
    )  # fmt: skip
    assert f"Terms: {TERMS_IN_WORDS}." in words(added)

    listed = {row["code"]: row for row in (await ok(cli, "plans", "list", "--json")).json()}
    assert listed["term-desk"]["terms"] == {
        "notice": "1 month",
        "minimum_term": "12 months",
        "renewal": "renew",
        "max_freeze_cycles": 2,
        "max_freezes_per_year": 1,
    }
    assert listed["hot-desk"]["terms"] == NO_TERMS
    table = await ok(cli, "plans", "list")
    assert "terms" in table.out.split()
    assert TERMS_IN_WORDS in words(table)
    assert "none" in table.out.split()  # the plans without terms

    db = database(cli)
    with db.session() as session:
        [entry] = [e for e in repository.audit_entries(session) if e.command == "plans add"][-1:]
    db.dispose()
    assert entry.effect == f"Plan term-desk added at 1000.00. Terms: {TERMS_IN_WORDS}."
    assert entry.reason == "new tariff"


async def test_a_catalog_without_terms_lists_as_before(sqlite_cli: Cli) -> None:
    cli = InProcess(sqlite_cli.env)
    await seed(cli)
    assert "terms" not in (await ok(cli, "plans", "list")).out.split()


@pytest.mark.parametrize(
    ("terms", "needles"),
    [
        (("--notice", "soon"), ("--notice", "'soon'", '"30 days"', '"12 months"', "none")),
        (("--minimum-term", "0 months"), ("--minimum-term", "'0 months'", '"1 month"')),
        (("--minimum-term", "20 years"), ("at most ten years",)),
        (("--renewal", "forever"), ("--renewal 'forever'", "rolling", "renew", "end")),
        (("--renewal", "end"), ("Renewal end", "minimum term")),
        (("--max-freeze-cycles", "0"), ("--max-freeze-cycles '0'", "from 1 to 120")),
        (("--max-freeze-cycles", "121"), ("from 1 to 120",)),
        (("--max-freezes-per-year", "-1"), ("--max-freezes-per-year '-1'", "from 0 to 120")),
        (("--max-freeze-cycles", "two"), ("Invalid value", "--max-freeze-cycles")),
    ],
)
async def test_bad_plan_terms_are_refused_and_nothing_is_stored(
    sqlite_cli: Cli, terms: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    cli = InProcess(sqlite_cli.env)
    await seed(cli)
    db = database(cli)
    before = rows(db)
    message = await refused(
        cli, "plans", "add", "bad", "--location", "berlin", "--name", "Bad", "--price", "10",
        *terms,
    )  # fmt: skip
    for needle in needles:
        assert needle in message, (needle, message)
    assert rows(db) == before
    db.dispose()


# --- contracts: their terms and what show and preview say ----------------------------------------


async def test_contract_terms_override_the_plans_and_show_their_dates(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    cli = InProcess(sqlite_cli.env)
    await with_terms_plan(cli)
    clock = await clock_of(dev_env)

    # The plan's terms: committed for twelve months, renewed then; notice one month.
    plans = await running(cli, clock)
    view = await shown(cli, plans)
    today = date.fromisoformat(view["terms"]["today"])
    assert today - clock.today in (timedelta(0), timedelta(days=1))  # midnight may pass
    assert view["contract"]["commitment_end"] == str(clock.month(11))
    assert view["terms"] == {
        "today": str(today),
        "terms": TERMS_IN_WORDS,
        "commitment_end": str(clock.month(11)),
        "earliest_notice_date": str(add_months(today, 1)),
        "earliest_cancellation_date": str(clock.month(11)),
        "renewal_date": str(clock.month(11)),
        "end_of_term_date": None,
        "renewal_notice_date": str(clock.month(10)),
        "freezes": [],
        "scheduled_price": None,
    }
    human = words(await ok(cli, "contracts", "show", plans))
    assert f"terms in force {TERMS_IN_WORDS}" in human
    assert f"commitment end {clock.month(11)}" in human
    assert (
        f"earliest cancellation {clock.month(11)} (commitment end); from {add_months(today, 1)} "
        f"with `contracts cancel {plans} --date {add_months(today, 1)} --charge-remaining-term`"
    ) in human
    assert (
        f"renewal renews on {clock.month(11)} for 12 months; renewal upcoming noted on "
        f"{clock.month(10)}"
    ) in human

    # Its own terms in place of the plan's; those not given stay the plan's.
    own = await running(
        cli, clock, "--notice", "2 weeks", "--minimum-term", "6 months", "--renewal", "end",
        "--max-freeze-cycles", "1",
    )  # fmt: skip
    view = await shown(cli, own)
    assert view["contract"]["terms"] == {
        "notice": "2 weeks",
        "minimum_term": "6 months",
        "renewal": "end",
        "max_freeze_cycles": 1,
        "max_freezes_per_year": 1,
    }
    ends = clock.month(5)
    terms = view["terms"]
    assert terms["commitment_end"] == str(ends)
    assert terms["earliest_notice_date"] == str(today + timedelta(days=14))
    assert terms["earliest_cancellation_date"] == str(ends)
    assert (terms["renewal_date"], terms["end_of_term_date"]) == (None, str(ends))
    assert terms["renewal_notice_date"] == str(ends - timedelta(days=14))

    preview = (await ok(cli, "contracts", "preview", own, "--json")).json()
    assert preview["terms"] == view["terms"]
    human = words(await ok(cli, "contracts", "preview", own))
    assert f"Commitment end: {ends}" in human
    assert f"Earliest cancellation: {ends} (commitment end)" in human
    assert f"Renewal: ends on {ends}, the end of its term" in human

    # No minimum term for this one: the notice alone sets the earliest cancellation.
    waived = await running(cli, clock, "--minimum-term", "none")
    terms = (await shown(cli, waived))["terms"]
    assert terms["commitment_end"] is None
    assert terms["earliest_cancellation_date"] == str(add_months(today, 1))
    assert (terms["renewal_date"], terms["renewal_notice_date"]) == (None, None)
    human = words(await ok(cli, "contracts", "show", waived))
    assert f"earliest cancellation {add_months(today, 1)} (notice 1 month from today" in human
    assert "commitment end" not in human

    # A contract without terms reads as before.
    plain = await running(cli, clock, plan="hot-desk")
    view = await shown(cli, plain)
    assert view["contract"]["terms"] == NO_TERMS
    assert {k: v for k, v in view["terms"].items() if k != "today"} == {
        "terms": None,
        "commitment_end": None,
        "earliest_notice_date": None,
        "earliest_cancellation_date": None,
        "renewal_date": None,
        "end_of_term_date": None,
        "renewal_notice_date": None,
        "freezes": [],
        "scheduled_price": None,
    }
    for command in ("show", "preview"):
        human = (await ok(cli, "contracts", command, plain)).out.lower()
        for absent in ("terms in force", "commitment", "earliest cancellation", "renew", "freeze"):
            assert absent not in human, (command, absent)


@pytest.mark.parametrize(
    ("terms", "needles"),
    [
        (("--notice", "soon"), ("--notice", "'soon'", '"30 days"')),
        (("--minimum-term", "twelve months"), ("--minimum-term", "'twelve months'")),
        (("--renewal", "sometimes"), ("--renewal 'sometimes'", "rolling", "renew", "end")),
        (("--plan", "hot-desk", "--renewal", "end"), ("Renewal end", "minimum term")),
        (("--max-freezes-per-year", "500"), ("--max-freezes-per-year '500'", "from 0 to 120")),
    ],
)
async def test_bad_contract_terms_are_refused_and_nothing_is_created(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment, terms: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    cli = InProcess(sqlite_cli.env)
    await with_terms_plan(cli)
    clock = await clock_of(dev_env)
    db = database(cli)
    before = rows(db)
    message = await refused(
        cli, "contracts", "create", "--id", uid(), "--customer", "ada", "--plan", "term-desk",
        "--start", str(clock.month(12)), *terms,
    )  # fmt: skip
    for needle in needles:
        assert needle in message, (needle, message)
    assert rows(db) == before
    db.dispose()


# --- R14, R15: cancelling inside the notice period or the commitment -----------------------------


async def test_cancel_inside_the_terms_is_refused_overridden_or_charged(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    cli = InProcess(sqlite_cli.env)
    await with_terms_plan(cli)
    clock = await clock_of(dev_env)
    cid = await running(cli, clock)
    today = date.fromisoformat((await shown(cli, cid))["terms"]["today"])
    notice_ends, commitment = add_months(today, 1), clock.month(11)

    # R14: tomorrow is inside the notice period.
    tomorrow = str(today + timedelta(days=1))
    message = await refused_unchanged(cli, cid, "contracts", "cancel", cid, "--date", tomorrow)
    assert f"contract {cid} has a notice period of 1 month" in message
    assert (
        f"a cancellation requested on {today} takes effect on {notice_ends} at the earliest"
    ) in message
    assert f"`contracts cancel {cid} --date {notice_ends}`" in message
    assert "--override-terms" in message

    # R15: after the notice period, but inside the commitment.
    inside = str(clock.month(3))
    message = await refused_unchanged(cli, cid, "contracts", "cancel", cid, "--date", inside)
    assert f"contract {cid} is committed until {commitment} (minimum term 12 months)" in message
    assert f"`contracts cancel {cid} --date {commitment}`" in message
    assert f"`contracts cancel {cid} --date {inside} --charge-remaining-term`" in message

    # An override needs a reason.
    message = await refused_unchanged(
        cli, cid, "contracts", "cancel", cid, "--date", inside, "--override-terms"
    )
    assert "--override-terms and no reason" in message
    assert "--reason" in message

    # With one it is accepted, and the audit log says which term was passed.
    accepted = await ok(
        cli, "contracts", "cancel", cid, "--date", inside, "--override-terms",
        "--actor", "maria", "--reason", "moving abroad",
    )  # fmt: skip
    assert f"Terms overridden: minimum term to {commitment}" in words(accepted)
    assert (await shown(cli, cid))["contract"]["cancellation"]["date"] == inside
    db = database(cli)
    with db.session() as session:
        [entry] = [e for e in repository.audit_entries(session, cid) if e.command == "cancel"]
    db.dispose()
    assert (entry.actor, entry.reason) == ("maria", "moving abroad")
    assert f"Terms overridden: minimum term to {commitment}" in entry.effect
    # Set to end: no earlier cancellation to offer any more.
    assert "earliest cancellation" not in words(await ok(cli, "contracts", "show", cid))

    # Charging the remaining term: accepted, and the committed days are invoiced on the date.
    charged = await running(cli, clock)
    result = await ok(
        cli, "contracts", "cancel", charged, "--date", inside, "--charge-remaining-term",
        "--reason", "leaves early",
    )  # fmt: skip
    assert f"The committed days {inside} to {commitment} are charged on {inside}" in words(result)
    events = (await ok(cli, "contracts", "preview", charged, "--json")).json()["events"]
    last = events[-1]
    assert last["date"] == inside
    assert [(line["kind"], line["period_start"], line["period_end"]) for line in last["lines"]] == [
        ("early_termination", inside, str(commitment))
    ]
    assert last["lines"][0]["amount"] == "8000.00"  # eight months of 1,000.00


# --- R17: freezes -------------------------------------------------------------------------------


async def test_freeze_within_the_limits_show_it_and_unfreeze(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    cli = InProcess(sqlite_cli.env)
    await with_terms_plan(cli)
    clock = await clock_of(dev_env)
    cid = await running(cli, clock)
    other = await running(cli, clock)

    for cycles in ("0", "-1"):
        message = await refused_unchanged(cli, cid, "contracts", "freeze", cid, "--cycles", cycles)
        assert f"Cannot freeze the contract for {cycles} cycles: freeze for 1 cycle or more" in (
            message
        )
    message = await refused_unchanged(cli, cid, "contracts", "freeze", cid, "--cycles", "3")
    assert "plan term-desk allows at most 2 (max_freeze_cycles)" in message
    assert f"`contracts freeze {cid} --cycles 2`" in message
    message = await refused_unchanged(
        cli, cid, "contracts", "freeze", cid, "--cycles", "3", "--override-terms"
    )
    assert "--override-terms and no reason" in message

    frozen = await ok(cli, "contracts", "freeze", cid, "--cycles", "2", "--reason", "travelling")
    start, end = clock.month(1), clock.month(3)
    assert f"frozen for 2 cycles, {start} to {end}" in words(frozen)
    view = await shown(cli, cid)
    assert view["terms"]["freezes"] == [
        {"start": str(start), "end": str(end), "cycles": 2, "state": "scheduled"}
    ]
    assert view["terms"]["commitment_end"] == str(clock.month(13))  # two cycles later
    human = words(await ok(cli, "contracts", "show", cid))
    assert f"freeze {start} to {end}, 2 cycles (scheduled): billed again from {end}" in human
    assert f"commitment end {clock.month(13)}" in human
    preview = (await ok(cli, "contracts", "preview", cid, "--json")).json()
    assert preview["terms"]["freezes"] == view["terms"]["freezes"]
    assert preview["events"][0]["lines"] == []  # nothing invoiced on the frozen date

    message = await refused_unchanged(cli, cid, "contracts", "freeze", cid, "--cycles", "1")
    assert f"contract {cid} is already frozen from {start} to {end}" in message
    assert f"`contracts unfreeze {cid}`" in message

    assert await listed(cli, "--frozen") == [cid]

    unfrozen = await ok(cli, "contracts", "unfreeze", cid, "--reason", "back early")
    assert "cancelled before it began" in words(unfrozen)
    view = await shown(cli, cid)
    assert view["terms"]["freezes"] == []
    assert view["terms"]["commitment_end"] == str(clock.month(11))
    assert await listed(cli, "--frozen") == []
    message = await refused_unchanged(cli, cid, "contracts", "unfreeze", cid)
    assert f"contract {cid} has no freeze scheduled or running" in message

    # The plan's limit passed, with a reason.
    passed = await ok(
        cli, "contracts", "freeze", other, "--cycles", "3", "--override-terms",
        "--reason", "long illness",
    )  # fmt: skip
    assert "Terms overridden" in words(passed)
    assert (await shown(cli, other))["terms"]["freezes"][0]["cycles"] == 3


# --- R18, R19: prices ---------------------------------------------------------------------------


async def test_set_price_is_previewed_and_undone_by_clear_change(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    cli = InProcess(sqlite_cli.env)
    await with_terms_plan(cli)
    clock = await clock_of(dev_env)
    cid = await running(cli, clock, plan="hot-desk")

    for args, needle in (
        (("--price", "-5"), "negative"),
        (("--price", "0"), "zero"),
        (("--price", "abc"), "'abc' is not an amount"),
        (("--price", "12.345"), "decimals"),
        (("--price", "1200.00", "--from", "soon"), "Price date 'soon' is not a date"),
        (("--price", "1200.00", "--from", str(clock.month(-1))), "that date is past"),
    ):
        message = await refused_unchanged(cli, cid, "contracts", "set-price", cid, *args)
        assert needle in message, (args, message)

    later = str(clock.month(1) + timedelta(days=9))  # the price changes on the next invoice date
    set_to = await ok(
        cli, "contracts", "set-price", cid, "--price", "1200.00", "--from", later,
        "--reason", "loyalty",
    )  # fmt: skip
    effective = str(clock.month(2))
    assert f"from its invoice date {effective} on" in words(set_to)

    preview = (await ok(cli, "contracts", "preview", cid, "--json")).json()
    assert preview["terms"]["scheduled_price"] == {"price": "1200.00", "effective": effective}
    amounts = {event["date"]: event["lines"][0]["amount"] for event in preview["events"]}
    assert amounts[str(clock.month(1))] == "1500.00"
    assert amounts[effective] == "1200.00"
    human = words(await ok(cli, "contracts", "preview", cid))
    assert (
        f"Scheduled price: 1,200.00 EUR from the invoice of {effective} (now 1,500.00 EUR); "
        f"undo with `contracts clear-change {cid}`"
    ) in human
    assert await listed(cli, "--price-scheduled") == [cid]

    await ok(cli, "contracts", "clear-change", cid, "--reason", "changed our minds")
    preview = (await ok(cli, "contracts", "preview", cid, "--json")).json()
    assert preview["terms"]["scheduled_price"] is None
    assert {event["lines"][0]["amount"] for event in preview["events"]} == {"1500.00"}
    assert "Scheduled price" not in (await ok(cli, "contracts", "preview", cid)).out
    assert await listed(cli, "--price-scheduled") == []


async def test_an_automated_change_with_a_price_on_a_custom_price(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    cli = InProcess(sqlite_cli.env)
    await with_terms_plan(cli)
    clock = await clock_of(dev_env)
    cid = await running(cli, clock, "--price", "1200.00", plan="hot-desk")

    message = await refused_unchanged(cli, cid, "contracts", "change", cid, "--next-plan", "fixed")
    assert "custom price" in message
    assert f"`contracts change {cid} --next-plan fixed --price PRICE`" in message
    for price, needle in (("-3", "negative"), ("lots", "'lots' is not an amount")):
        message = await refused_unchanged(
            cli, cid, "contracts", "change", cid, "--next-plan", "fixed", "--price", price
        )
        assert needle in message, (price, message)

    await ok(cli, "contracts", "change", cid, "--next-plan", "fixed", "--price", "850.00")
    change = (await shown(cli, cid))["contract"]["scheduled_change"]
    assert (change["next_plan"]["code"], change["price"]) == ("fixed", "850.00")
    events = (await ok(cli, "contracts", "preview", cid, "--json")).json()["events"]
    switched, first = events[0], events[1]  # the next term's first invoice, at its price
    assert (switched["date"], switched["contract_id"], switched["lines"]) == (
        str(clock.month(1)),
        cid,
        [],
    )
    assert (first["date"], first["contract_id"]) == (str(clock.month(1)), f"{cid}-t2")
    assert first["lines"][0]["amount"] == "850.00"


# --- contracts list ------------------------------------------------------------------------------


async def listed(cli: Runner, *filters: str) -> list[str]:
    return [row["id"] for row in (await ok(cli, "contracts", "list", *filters, "--json")).json()]


async def test_list_filters_on_commitment_freezes_and_prices(
    sqlite_cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    cli = InProcess(sqlite_cli.env)
    await with_terms_plan(cli)
    clock = await clock_of(dev_env)
    plain = await running(cli, clock, plan="hot-desk")
    assert "commitment" not in (await ok(cli, "contracts", "list")).out

    year = await running(cli, clock)  # commitment end: month(11)
    half = await running(cli, clock, "--minimum-term", "6 months")  # month(5)
    await ok(cli, "contracts", "freeze", half, "--cycles", "1")  # now month(6)
    await ok(cli, "contracts", "set-price", plain, "--price", "1400.00")

    assert await listed(cli) == [plain, year, half]
    assert await listed(cli, "--commitment-ends-before", str(clock.month(6))) == []
    assert await listed(cli, "--commitment-ends-before", str(clock.month(7))) == [half]
    assert await listed(cli, "--commitment-ends-before", str(clock.month(12))) == [year, half]
    assert await listed(cli, "--frozen") == [half]
    assert await listed(cli, "--price-scheduled") == [plain]
    assert await listed(cli, "--frozen", "--price-scheduled") == []
    by_id = {row["id"]: row for row in (await ok(cli, "contracts", "list", "--json")).json()}
    assert by_id[year]["commitment_end"] == str(clock.month(11))
    assert by_id[plain]["commitment_end"] is None

    table = (await ok(cli, "contracts", "list")).out
    assert "commitment end" in table
    lines = {line.split()[0]: line.split() for line in table.splitlines() if line.split()}
    assert lines[year][-1] == str(clock.month(11))
    assert lines[half][-1] == str(clock.month(6))
    assert lines[plain][-1] == "—"

    for bad in ("soon", "2027-02-30"):
        message = await refused(cli, "contracts", "list", "--commitment-ends-before", bad)
        assert f"--commitment-ends-before '{bad}'" in message
        assert "YYYY-MM-DD" in message


# --- contracts import ----------------------------------------------------------------------------

HEADER = (
    "id,customer,plan,start,price,anchor,prorate_first_invoice,"
    "notice,minimum_term,renewal,max_freeze_cycles,max_freezes_per_year"
)


def write_csv(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / f"contracts-{uuid.uuid4().hex[:6]}.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


async def test_import_takes_term_columns(
    cli: Cli, dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    run = InProcess(cli.env)
    await with_terms_plan(run)
    clock = await clock_of(dev_env)
    start = clock.month(12)
    own, plans, waived = uid("i"), uid("i"), uid("i")

    bad = write_csv(
        tmp_path,
        f"{own},ada,term-desk,{start},,,,soon,,,,",
        f"{plans},ada,term-desk,{start},,,,,,forever,,",
        f"{waived},ada,term-desk,{start},,,,,,,two,",
        f"{uid('i')},ada,hot-desk,{start},,,,,,end,,",
        f"{uid('i')},ada,hot-desk,{start},,,,,,,,-2",
    )
    db = database(run)
    before = rows(db)
    message = await refused(run, "contracts", "import", str(bad))
    assert "5 of 5 contracts cannot be imported; nothing was imported" in message
    for needle in (
        "line 2: notice: Unknown span 'soon'",
        "line 3: renewal 'forever' is not a renewal",
        "line 4: max_freeze_cycles 'two' is not a whole number from 1 to 120",
        "line 5: Renewal end acts at the end of a minimum term",
        "line 6: max_freezes_per_year '-2' is not a whole number from 0 to 120",
    ):
        assert needle in message, (needle, message)
    assert rows(db) == before
    db.dispose()

    good = write_csv(
        tmp_path,
        f"{own},ada,term-desk,{start},,,,2 weeks,6 months,end,1,0",
        f"{plans},ada,term-desk,{start},,,,,,,,",
        f"{waived},ada,term-desk,{start},,,,,none,,,",
    )
    imported = await ok(run, "contracts", "import", str(good), "--reason", "moving over", "--json")
    assert imported.json()["recorded"] == [own, plans, waived]
    contracts = {row["id"]: row for row in (await ok(run, "contracts", "list", "--json")).json()}
    assert contracts[own]["terms"] == {
        "notice": "2 weeks",
        "minimum_term": "6 months",
        "renewal": "end",
        "max_freeze_cycles": 1,
        "max_freezes_per_year": 0,
    }
    assert contracts[own]["commitment_end"] == str(add_months(start, 6))
    assert contracts[plans]["terms"]["minimum_term"] == "12 months"
    assert contracts[plans]["commitment_end"] == str(add_months(start, 12))
    assert contracts[waived]["terms"]["minimum_term"] is None
    assert contracts[waived]["commitment_end"] is None
    assert (await shown(run, own))["terms"]["end_of_term_date"] == str(add_months(start, 6))

    # Again: kept as recorded. With other terms under the same id: refused.
    again = await ok(run, "contracts", "import", str(good), "--json")
    assert again.json()["already_recorded"] == [own, plans, waived]
    other = write_csv(tmp_path, f"{plans},ada,term-desk,{start},,,,,3 months,,,")
    message = await refused(run, "contracts", "import", str(other))
    assert f"Contract {plans} exists with other terms" in message
