"""Bad input, through the CLI and through raw updates: a clear refusal, and nothing changed.

Every case snapshots the whole billing database (every table's rows) and the contract workflow's
`state` query before and after. A refusal decided before anything runs changes nothing; one the
workflow's rules decide in an update's validator is recorded by the CLI as one `command.refused`
event, and nothing else; a refusal decided inside a workflow handler (e.g. a plan that is not in
the database) is audited by design, so exactly that audit row is added, with its `command.refused`
event. Raw updates with malformed payloads must be rejected before they enter history: no
UpdateAccepted event for them.

The matrix runs the CLI in-process (the same `app`, with the same environment as a subprocess
gets) to stay fast; a few cases run `starter.py` as a real process to check exit code and output.

The dev server runs on the real clock, so the cases hold no dates: `{start}`, `{ended_on}`,
`{ahead}`... are filled, like the contracts' `{role}`, from the server's local date in Berlin when
the world is built (`world_dates`). Malformed dates such as 2027-02-30 are not dates and stay.
"""

import asyncio
import json
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from store.db import Database
from tests.support.cli import Cli, InProcess, Result, cli_on
from tests.support.clock import Clock, fill, server_clock
from tests.support.databases import postgres_database, sqlite_url
from tests.support.temporal import binary
from workflows.messages import ContractView

pytestmark = pytest.mark.devserver

LONG = "x" * 10_000


# --- running the CLI --------------------------------------------------------------------------


def refused_cleanly(result: Result, *needles: str) -> None:
    """Exit code 2, a one-line-ish message naming the problem, no traceback."""
    assert result.code == 2, (result.code, result.out, result.err)
    assert "Traceback" not in result.err + result.out
    text = " ".join(result.err.split())
    for needle in needles:
        assert needle in text, (needle, text)


# --- the world: reference data and contracts in every state ---------------------------------------


@dataclass
class World:
    backend: str
    cli: Cli
    run: InProcess
    database: Database
    client: Client
    address: str
    tag: str
    dates: dict[str, str]
    ids: dict[str, str] = field(default_factory=dict)

    def fill(self, text: str) -> str:
        """`text` with its placeholders filled: `{role}` (a contract's id), `{renewed_t2}`,
        `{tag}` and the world's dates (`world_dates`)."""
        return fill(text, {**self.ids, "tag": self.tag, **self.dates})


TIMEZONE = "Europe/Berlin"
"""The timezone of the world's contracts (location `berlin`): the calendar of their dates."""


def world_dates(clock: Clock) -> dict[str, str]:
    """The world's dates, from the dev server's clock (the real one: nothing here skips time).

    Running contracts start on the first of the previous month: created, they catch up on two
    invoices, and the period they are billed for is this month.
    """
    start = clock.month(-1)
    month_after_next = clock.month(2)
    dates = {
        "start": start,
        "before_start": clock.month(-2),
        "before_billed": start + timedelta(days=14),  # after the start, before the billed period
        # `ended` is cancelled on the first day of its billed period: today or earlier, so it
        # ends at once (its date is in the past, or today's 00:00 has passed).
        "ended_on": clock.month(0),
        # After the running contracts' next invoice date (the first of next month):
        "ahead": clock.month(1) + timedelta(days=14),  # the 15th: a date ahead, for any command
        "renewed_on": month_after_next,  # `renewed` ends here and its new term starts
        "overlap": month_after_next + timedelta(days=9),  # the 10th: before `cancelling` ends
        "cancelling_on": month_after_next + timedelta(days=14),  # the 15th: `cancelling` ends
        "ahead_later": month_after_next + timedelta(days=19),  # the 20th: after that
        # `future` starts a year ahead, on the first of a month.
        "future_start": clock.month(12),
        "before_future": clock.month(11),
    }
    # All different: a message that must name one of them cannot pass by naming another.
    assert len(set(dates.values())) == len(dates), dates
    return {name: str(day) for name, day in dates.items()}


ROLES: dict[str, tuple[str, ...]] = {
    "active": ("--plan", "hot-desk", "--start", "{start}"),
    "future": ("--plan", "hot-desk", "--start", "{future_start}"),
    "custom": ("--plan", "hot-desk", "--start", "{start}", "--price", "1200.00"),
    "ended": ("--plan", "hot-desk", "--start", "{start}"),
    "cancelling": ("--plan", "hot-desk", "--start", "{start}"),
    "renewed": ("--plan", "hot-desk", "--start", "{start}"),
    "unicode": ("--plan", "hot-desk", "--start", "{start}"),
}


async def build_world(run: InProcess, tag: str, dates: dict[str, str]) -> dict[str, str]:
    setup = [
        ("locations", "add", "berlin", "--name", "Berlin Mitte", "--timezone", TIMEZONE,
         "--currency", "EUR"),
        ("locations", "add", "london", "--name", "London", "--timezone", "Europe/London",
         "--currency", "GBP"),
        ("plans", "add", "hot-desk", "--location", "berlin", "--name", "Hot desk",
         "--price", "1500.00", "--deposit", "200"),
        ("plans", "add", "fixed", "--location", "berlin", "--name", "Fixed desk",
         "--price", "900.00", "--no-prorate-first-invoice"),
        ("plans", "add", "soho", "--location", "london", "--name", "Soho desk", "--price", "800"),
        ("customers", "add", "ada", "--location", "berlin", "--name", "Ada Lovelace",
         "--email", "ada@example.com"),
    ]  # fmt: skip
    for args in setup:
        result = await run(*args, "--reason", "setup")
        assert result.code == 0, result.err
    ids = {role: f"{role}-{tag}" for role in ROLES}
    values = {**ids, **dates}
    for role, terms in ROLES.items():
        created = await run(
            "contracts", "create", "--id", ids[role], "--customer", "ada",
            *(fill(term, values) for term in terms),
        )  # fmt: skip
        assert created.code == 0, created.err
    for args in (
        # Today or earlier: it ends at once, and the CLI wants that confirmed (`--yes`).
        ("contracts", "cancel", "{ended}", "--date", "{ended_on}", "--yes"),
        ("contracts", "cancel", "{cancelling}", "--date", "{cancelling_on}"),
        ("contracts", "cancel", "{renewed}", "--date", "{renewed_on}"),
        ("contracts", "new-term", "--from", "{renewed}", "--plan", "fixed"),
    ):
        result = await run(*(fill(arg, values) for arg in args), "--reason", "setup")
        assert result.code == 0, result.err
    ids["renewed_t2"] = f"{ids['renewed']}-t2"
    return ids


@asynccontextmanager
async def world_on(
    dev_env: WorkflowEnvironment, folder: Path, url: str, backend: str
) -> AsyncIterator[World]:
    async with cli_on(dev_env, folder, url) as cli:
        run = InProcess(cli.env)
        database = Database(url)
        tag = uuid.uuid4().hex[:6]  # workflow ids are unique on the shared server
        world = World(
            backend=backend,
            cli=cli,
            run=run,
            database=database,
            client=dev_env.client,
            address=dev_env.client.service_client.config.target_host,
            tag=tag,
            dates=world_dates(await server_clock(dev_env, TIMEZONE)),
        )
        world.ids = await build_world(run, tag, world.dates)
        await wait_ended(world, world.ids["ended"])
        yield world
        database.dispose()


async def wait_ended(world: World, contract_id: str) -> None:
    handle = world.client.get_workflow_handle(f"contract-{contract_id}")
    for _ in range(100):
        if (await handle.describe()).status is not WorkflowExecutionStatus.RUNNING:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"contract-{contract_id} did not end")


class Worlds:
    """One world per backend, made when a test first asks for it, kept for the module."""

    def __init__(
        self, dev_env: WorkflowEnvironment, factory: pytest.TempPathFactory, stack: AsyncExitStack
    ) -> None:
        self._dev_env = dev_env
        self._factory = factory
        self._stack = stack
        self._made: dict[str, World] = {}

    async def get(self, backend: str) -> World:
        if backend not in self._made:
            folder = self._factory.mktemp(f"bad-input-{backend}")
            if backend == "sqlite":
                url = sqlite_url(folder)
            else:
                url = self._stack.enter_context(postgres_database())
            self._made[backend] = await self._stack.enter_async_context(
                world_on(self._dev_env, folder, url, backend)
            )
        return self._made[backend]


@pytest.fixture(scope="module")
async def worlds(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Worlds]:
    async with AsyncExitStack() as stack:
        yield Worlds(dev_env, tmp_path_factory, stack)


@pytest.fixture
async def world(worlds: Worlds) -> World:
    """SQLite: for refusals that never reach the database's engine."""
    return await worlds.get("sqlite")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def any_world(request: pytest.FixtureRequest, worlds: Worlds) -> World:
    """SQLite and PostgreSQL: for input that is written, or looked up, in the database."""
    return await worlds.get(request.param)


# --- what "nothing changed" means -------------------------------------------------------------


Snapshot = dict[str, list[tuple[str, ...]]]


def snapshot(database: Database) -> Snapshot:
    """Every row of every table (reflected, so nothing is left out), as text."""
    metadata = MetaData()
    metadata.reflect(database.engine)
    rows: Snapshot = {}
    with database.engine.connect() as connection:
        for table in metadata.sorted_tables:
            found = connection.execute(select(table)).all()
            rows[table.name] = sorted(tuple(repr(value) for value in row) for row in found)
    return rows


def added_rows(before: Snapshot, after: Snapshot) -> dict[str, list[tuple[str, ...]]]:
    assert before.keys() == after.keys()
    added = {}
    for name in before:
        assert set(before[name]) <= set(after[name]), f"rows of {name} changed or vanished"
        new = sorted(set(after[name]) - set(before[name]))
        if new:
            added[name] = new
    return added


async def live(world: World, contract_id: str) -> Any:
    """The workflow's state query (or, once it ended, its status), and its UpdateAccepted count."""
    handle = world.client.get_workflow_handle(f"contract-{contract_id}")
    try:
        description = await handle.describe()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return "no workflow"
        raise
    if description.status is WorkflowExecutionStatus.RUNNING:
        state = await handle.query("state")
    else:
        state = description.status
    history = await handle.fetch_history()
    events = [  # a rejected update may leave a workflow task behind, never anything else
        EventType.Name(event.event_type)
        for event in history.events
        if not EventType.Name(event.event_type).startswith("EVENT_TYPE_WORKFLOW_TASK_")
    ]
    return state, events


@dataclass
class Before:
    rows: Snapshot
    states: dict[str, Any]


async def capture(world: World, texts: Iterable[str] = ()) -> Before:
    """The database, and the state of the contracts named in `texts` (and `active`)."""
    roles = {"active"} | {role for text in texts for role in world.ids if f"{{{role}}}" in text}
    states = {world.ids[role]: await live(world, world.ids[role]) for role in sorted(roles)}
    return Before(snapshot(world.database), states)


async def assert_unchanged(world: World, before: Before) -> None:
    after = snapshot(world.database)
    assert added_rows(before.rows, after) == {}
    assert after == before.rows
    for cid, state in before.states.items():
        assert await live(world, cid) == state, cid


async def assert_same_state(world: World, before: Before) -> None:
    """The contracts' state is unchanged; their histories hold the update a handler refused."""
    for cid, state in before.states.items():
        now = await live(world, cid)
        if isinstance(state, tuple) and isinstance(now, tuple):
            assert now[0] == state[0], cid
        else:
            assert now == state, cid


async def assert_only_audited(world: World, before: Before, command: str) -> None:
    """A refusal decided in a handler: one audit row and its `command.refused` event, nothing
    else; the contract is unchanged."""
    after = snapshot(world.database)
    added = added_rows(before.rows, after)
    assert list(added) == ["audit_log", "events"], added
    [row] = added["audit_log"]
    assert f"'{command}'" in row, row
    assert any(value.startswith("'Refused: ") for value in row), row
    assert_refusal_event(added, command)
    await assert_same_state(world, before)


async def assert_only_recorded(world: World, before: Before, command: str) -> None:
    """A refusal decided by an update's validator, before history: the CLI's `command.refused`
    event, nothing else; the contract is unchanged."""
    added = added_rows(before.rows, snapshot(world.database))
    assert list(added) == ["events"], added
    assert_refusal_event(added, command)
    await assert_unchanged_state(world, before)


def assert_refusal_event(added: dict[str, list[tuple[str, ...]]], command: str) -> None:
    [row] = added["events"]
    assert "'command.refused'" in row, row
    assert any(f'"name":"{command}"' in value for value in row), row


async def assert_unchanged_state(world: World, before: Before) -> None:
    for cid, state in before.states.items():
        assert await live(world, cid) == state, cid


# --- the CLI matrix -----------------------------------------------------------------------------

NOTHING = "nothing"
RECORDED = "recorded"
"""Refused by the workflow's rules in the update's validator: one `command.refused` event."""
AUDITED = "audited"
HANDLER = "handler"
"""Accepted into history, refused by the handler before any rule ran: nothing written."""

# (case id, argv with {role} placeholders, substrings of the message, what may change)
CLI_CASES: list[tuple[str, tuple[str, ...], tuple[str, ...], str]] = [
    # unknown ids
    ("unknown contract: cancel", ("contracts", "cancel", "nosuch", "--date", "{ahead}"),
     ("There is no contract nosuch", "contracts list"), NOTHING),
    ("unknown contract: show", ("contracts", "show", "nosuch"), ("nosuch",), NOTHING),
    ("unknown contract: new-term", ("contracts", "new-term", "--from", "nosuch"),
     ("nosuch",), NOTHING),
    ("unknown contract: switch", ("contracts", "switch", "nosuch", "--to", "fixed", "--on",
     "{ahead}"), ("nosuch",), NOTHING),
    ("unknown customer", ("contracts", "create", "--customer", "nobody", "--plan", "hot-desk",
     "--start", "{future_start}"), ("No customer 'nobody'",), NOTHING),
    ("unknown plan: create", ("contracts", "create", "--customer", "ada", "--plan", "nothing",
     "--start", "{future_start}"), ("No plan 'nothing'",), NOTHING),
    ("unknown plan: change", ("contracts", "change", "{active}", "--next-plan", "nothing"),
     ("No plan 'nothing'", "add the plan"), NOTHING),
    ("unknown plan: switch", ("contracts", "switch", "{active}", "--to", "nothing", "--on",
     "{ahead}"), ("No plan 'nothing'",), NOTHING),
    ("unknown plan: new-term", ("contracts", "new-term", "--from", "{cancelling}", "--plan",
     "nothing"), ("No plan 'nothing'",), NOTHING),
    ("unknown location: plan", ("plans", "add", "p", "--location", "nowhere", "--name", "P",
     "--price", "10"), ("No location 'nowhere'",), NOTHING),
    ("unknown invoice", ("invoices", "show", "NO-SUCH-1"), ("NO-SUCH-1",), NOTHING),
    ("plan of another location", ("contracts", "change", "{active}", "--next-plan", "soho"),
     ("soho",), AUDITED),
    # wrong types
    ("--prorate maybe", ("contracts", "cancel", "{active}", "--date", "{ahead}", "--prorate",
     "maybe"), ("maybe",), NOTHING),
    ("number for a date", ("contracts", "cancel", "{active}", "--date", "15"),
     ("'15' is not a date", "YYYY-MM-DD"), NOTHING),
    ("basic ISO date", ("contracts", "cancel", "{active}", "--date", "20270115"),
     ("YYYY-MM-DD",), NOTHING),
    ("ISO week date", ("contracts", "cancel", "{active}", "--date", "2027-W03-5"),
     ("YYYY-MM-DD",), NOTHING),
    ("number for events", ("contracts", "preview", "{active}", "--events", "abc"),
     ("Invalid value",), NOTHING),
    ("unknown status", ("contracts", "list", "--status", "paused"), ("Invalid value",), NOTHING),
    ("word for a price", ("plans", "add", "p", "--location", "berlin", "--name", "P", "--price",
     "cheap"), ("'cheap' is not an amount", "1500.00"), NOTHING),
    # malformed dates
    ("2026-02-30: cancel", ("contracts", "cancel", "{active}", "--date", "2026-02-30"),
     ("'2026-02-30' is not a date", "YYYY-MM-DD"), NOTHING),
    ("1.2.3: cancel", ("contracts", "cancel", "{active}", "--date", "1.2.3"),
     ("'1.2.3' is not a date",), NOTHING),
    ("1.2.3: anchor", ("contracts", "create", "--customer", "ada", "--plan", "hot-desk",
     "--start", "{future_start}", "--anchor", "1.2.3"), ("'1.2.3' is not a date",), NOTHING),
    ("2027-02-30: switch", ("contracts", "switch", "{active}", "--to", "fixed", "--on",
     "2027-02-30"), ("'2027-02-30' is not a date",), NOTHING),
    ("2027-02-30: new-term", ("contracts", "new-term", "--from", "{cancelling}", "--start",
     "2027-02-30"), ("'2027-02-30' is not a date",), NOTHING),
    # malformed amounts
    ("1.2.3: plan price", ("plans", "add", "p", "--location", "berlin", "--name", "P", "--price",
     "1.2.3"), ("not an amount",), NOTHING),
    ("1e999: plan price", ("plans", "add", "p", "--location", "berlin", "--name", "P", "--price",
     "1e999"), ("too large",), NOTHING),
    ("NaN: plan price", ("plans", "add", "p", "--location", "berlin", "--name", "P", "--price",
     "NaN"), ("not an amount",), NOTHING),
    ("Infinity: deposit", ("plans", "add", "p", "--location", "berlin", "--name", "P", "--price",
     "10", "--deposit", "Infinity"), ("not an amount",), NOTHING),
    ("1.234 EUR: plan price", ("plans", "add", "p", "--location", "berlin", "--name", "P",
     "--price", "1.234"), ("more decimals than EUR allows (2)",), NOTHING),
    ("1e999: contract price", ("contracts", "create", "--customer", "ada", "--plan", "hot-desk",
     "--start", "{future_start}", "--price", "1e999"), ("too large",), NOTHING),
    ("1.234: contract price", ("contracts", "create", "--customer", "ada", "--plan", "hot-desk",
     "--start", "{future_start}", "--price", "1.234"), ("decimals",), NOTHING),
    ("1.2.3: switch price", ("contracts", "switch", "{active}", "--to", "fixed", "--on",
     "{ahead}", "--price", "1.2.3"), ("'1.2.3' is not an amount",), NOTHING),
    ("NaN: switch price", ("contracts", "switch", "{active}", "--to", "fixed", "--on",
     "{ahead}", "--price", "NaN"), ("not an amount",), NOTHING),
    ("1e999: switch price", ("contracts", "switch", "{active}", "--to", "fixed", "--on",
     "{ahead}", "--price", "1e999"), ("too large",), NOTHING),
    ("1.234: switch price", ("contracts", "switch", "{active}", "--to", "fixed", "--on",
     "{ahead}", "--price", "1.234"), ("more decimals than EUR allows",), NOTHING),
    ("1e999: new-term price", ("contracts", "new-term", "--from", "{cancelling}", "--price",
     "1e999"), ("too large",), NOTHING),
    ("1.234: new-term price", ("contracts", "new-term", "--from", "{cancelling}", "--price",
     "1.234"), ("more decimals than EUR allows",), NOTHING),
    # zero or negative prices
    ("zero plan price", ("plans", "add", "p", "--location", "berlin", "--name", "P", "--price",
     "0"), ("zero",), NOTHING),
    ("negative plan price", ("plans", "add", "p", "--location", "berlin", "--name", "P",
     "--price", "-5"), ("negative",), NOTHING),
    ("negative deposit", ("plans", "add", "p", "--location", "berlin", "--name", "P", "--price",
     "5", "--deposit", "-1"), ("negative",), NOTHING),
    ("negative contract price", ("contracts", "create", "--customer", "ada", "--plan",
     "hot-desk", "--start", "{future_start}", "--price", "-5"), ("negative",), NOTHING),
    ("zero switch price", ("contracts", "switch", "{active}", "--to", "fixed", "--on",
     "{ahead}", "--price", "0"), ("zero",), NOTHING),
    ("negative new-term price", ("contracts", "new-term", "--from", "{cancelling}", "--price",
     "-900"), ("negative",), NOTHING),
    # unknown currency or timezone
    ("unknown currency", ("locations", "add", "x", "--name", "X", "--timezone", "UTC",
     "--currency", "XYZ"), ("Unknown currency 'XYZ'", "ISO-4217"), NOTHING),
    ("unknown timezone", ("locations", "add", "x", "--name", "X", "--timezone", "Mars/Olympus",
     "--currency", "EUR"), ("Unknown timezone",), NOTHING),
    ("timezone as a path", ("locations", "add", "x", "--name", "X", "--timezone",
     "../../etc/passwd", "--currency", "EUR"), ("timezone",), NOTHING),
    # cancellation before the contract's start, or before the billed period
    ("cancel before start: future", ("contracts", "cancel", "{future}", "--date",
     "{before_future}"), ("{before_future}", "{future_start}"), RECORDED),
    ("cancel before start: active", ("contracts", "cancel", "{active}", "--date",
     "{before_start}"), ("{before_start}",), RECORDED),
    ("cancel before billed period", ("contracts", "cancel", "{active}", "--date",
     "{before_billed}"), ("{before_billed}",), RECORDED),
    ("switch before start", ("contracts", "switch", "{future}", "--to", "fixed", "--on",
     "{before_future}"), ("{before_future}",), RECORDED),
    # automated change with a custom price (R5)
    ("automated change, custom price", ("contracts", "change", "{custom}", "--next-plan",
     "fixed"), ("1,200.00", "1,500.00", "switch"), RECORDED),
    ("automated change to the same plan", ("contracts", "change", "{active}", "--next-plan",
     "hot-desk"), ("hot-desk",), RECORDED),
    # any change on an ended contract
    ("ended: change", ("contracts", "change", "{ended}", "--next-plan", "fixed"),
     ("ended on {ended_on}",), NOTHING),
    ("ended: cancel", ("contracts", "cancel", "{ended}", "--date", "{ahead}"),
     ("ended on {ended_on}",), NOTHING),
    ("ended: uncancel", ("contracts", "uncancel", "{ended}"), ("ended on {ended_on}",), NOTHING),
    ("ended: switch", ("contracts", "switch", "{ended}", "--to", "fixed", "--on", "{ahead}"),
     ("ended on {ended_on}",), NOTHING),
    ("ended: create again", ("contracts", "create", "--id", "{ended}", "--customer", "ada",
     "--plan", "hot-desk", "--start", "{start}"), ("has ended",), NOTHING),
    # double cancellation, and changes while a cancellation is pending (R10)
    ("double cancel", ("contracts", "cancel", "{cancelling}", "--date", "{ahead_later}"),
     ("{cancelling_on}", "uncancel"), RECORDED),
    ("cancel at next invoice while cancelling", ("contracts", "cancel-at-next-invoice",
     "{cancelling}"), ("{cancelling_on}", "uncancel"), RECORDED),
    ("change while cancelling", ("contracts", "change", "{cancelling}", "--next-plan", "fixed"),
     ("{cancelling_on}", "uncancel"), RECORDED),
    ("switch while cancelling", ("contracts", "switch", "{cancelling}", "--to", "fixed", "--on",
     "{ahead}"), ("{cancelling_on}", "uncancel"), RECORDED),
    ("uncancel with nothing to undo", ("contracts", "uncancel", "{active}"),
     ("no pending manual cancellation",), RECORDED),
    ("clear-change with nothing scheduled", ("contracts", "clear-change", "{active}"),
     ("no scheduled change",), RECORDED),
    # overlapping terms
    ("new term of a running contract", ("contracts", "new-term", "--from", "{active}"),
     ("cancel",), RECORDED),
    ("new term overlapping the current one", ("contracts", "new-term", "--from", "{cancelling}",
     "--start", "{overlap}"), ("{overlap}", "{cancelling_on}"), RECORDED),
    ("a second new term", ("contracts", "new-term", "--from", "{renewed}"),
     ("{renewed_t2}",), RECORDED),
    ("create over an existing id", ("contracts", "create", "--id", "{active}", "--customer",
     "ada", "--plan", "fixed", "--start", "{future_start}"), ("other terms",), NOTHING),
    # very long strings
    ("10k location id", ("locations", "add", LONG, "--name", "X", "--timezone", "UTC",
     "--currency", "EUR"), ("id:",), NOTHING),
    ("10k customer name", ("customers", "add", "c", "--location", "berlin", "--name", LONG,
     "--email", "c@example.com"), ("name:", "200"), NOTHING),
    ("10k email", ("customers", "add", "c", "--location", "berlin", "--name", "C", "--email",
     LONG + "@example.com"), ("email:",), NOTHING),
    ("10k reason", ("contracts", "cancel", "{active}", "--date", "{ahead}", "--reason", LONG),
     ("reason:", "2000"), NOTHING),
    ("10k actor", ("contracts", "cancel", "{active}", "--date", "{ahead}", "--actor", LONG),
     ("actor:", "200"), NOTHING),
    ("10k contract id: cancel", ("contracts", "cancel", LONG, "--date", "{ahead}"),
     ("There is no contract", "(10000 characters)", "1 to 64"), NOTHING),
    ("10k contract id: show", ("contracts", "show", LONG), ("1 to 64",), NOTHING),
    ("10k contract id: preview", ("contracts", "preview", LONG), ("1 to 64",), NOTHING),
    ("10k date", ("contracts", "cancel", "{active}", "--date", LONG),
     ("(10000 characters)", "YYYY-MM-DD"), NOTHING),
    ("10k next plan", ("contracts", "change", "{active}", "--next-plan", LONG),
     ("next_plan:",), NOTHING),
    ("10k new contract id", ("contracts", "create", "--id", LONG, "--customer", "ada", "--plan",
     "hot-desk", "--start", "{future_start}"), ("id:",), NOTHING),
    ("10k new-term id", ("contracts", "new-term", "--from", "{cancelling}", "--id", LONG),
     ("id:",), NOTHING),
    ("10k customer filter", ("contracts", "list", "--customer", LONG), (), "listed"),
    # non-ASCII where it is not legitimate: ids and codes
    ("non-ASCII customer id", ("customers", "add", "zoë", "--location", "berlin", "--name",
     "Zoë", "--email", "zoe@example.com"), ("id:",), NOTHING),
    ("non-ASCII contract id", ("contracts", "create", "--id", "vertrag-ü", "--customer", "ada",
     "--plan", "hot-desk", "--start", "{future_start}"), ("id:",), NOTHING),
    ("non-ASCII unknown contract", ("contracts", "cancel", "vertrag-ü", "--date", "{ahead}"),
     ("There is no contract 'vertrag-ü'", "1 to 64"), NOTHING),
    ("non-ASCII unknown plan", ("contracts", "change", "{active}", "--next-plan", "büro"),
     ("No plan 'büro'",), NOTHING),
    ("non-ASCII digits in a date", ("contracts", "cancel", "{active}", "--date", "２０２７-01-15"),
     ("YYYY-MM-DD",), NOTHING),
    ("non-ASCII digits in a price", ("plans", "add", "p", "--location", "berlin", "--name", "P",
     "--price", "١٥٠٠"), ("not an amount",), NOTHING),
    ("non-ASCII digits in a switch price", ("contracts", "switch", "{active}", "--to", "fixed",
     "--on", "{ahead}", "--price", "١٥٠٠"), ("not an amount",), NOTHING),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "needles", "effect"),
    [pytest.param(args, needles, effect, id=name) for name, args, needles, effect in CLI_CASES],
)
async def test_cli_refuses_and_changes_nothing(
    world: World, args: tuple[str, ...], needles: tuple[str, ...], effect: str
) -> None:
    before = await capture(world, args)
    result = await world.run(*(world.fill(arg) if arg != LONG else arg for arg in args))
    if effect == "listed":
        assert result.code == 0, result.err
    else:
        refused_cleanly(result, *(world.fill(needle) for needle in needles))
    command = UPDATES.get(args[1], args[1])
    if effect == AUDITED:
        await assert_only_audited(world, before, command)
    elif effect == RECORDED:
        await assert_only_recorded(world, before, command)
    else:
        await assert_unchanged(world, before)


UPDATES = {
    "change": "schedule_change",
    "cancel-at-next-invoice": "cancel_at_next_invoice",
    "clear-change": "clear_change",
    "new-term": "new_term",
}
"""The update each `contracts` command sends, where its name differs."""


DB_CASES = {
    "unknown customer", "unknown plan: create", "unknown plan: change", "unknown location: plan",
    "1e999: plan price", "zero plan price", "negative contract price", "1.234: switch price",
    "10k customer name", "10k location id", "non-ASCII customer id", "ended: create again",
}  # fmt: skip
"""Input that is looked up in, or refused before a write to, the database: also on PostgreSQL."""


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("args", "needles", "effect"),
    [
        pytest.param(args, needles, effect, id=name)
        for name, args, needles, effect in CLI_CASES
        if name in DB_CASES
    ],
)
async def test_cli_refuses_and_changes_nothing_on_postgresql(
    worlds: Worlds, args: tuple[str, ...], needles: tuple[str, ...], effect: str
) -> None:
    """The cases whose input reaches the database (lookups, writes refused), on PostgreSQL."""
    world = await worlds.get("postgresql")
    await test_cli_refuses_and_changes_nothing(world, args, needles, effect)


# --- legitimate non-ASCII data is accepted and comes back intact --------------------------------


async def test_non_ascii_names_and_reasons_round_trip(any_world: World) -> None:
    world = any_world
    name = "Zoë Ünal-Łukasiewicz 李小龍 — Café №7 🚀"
    reason = "Umzug nach Köln — 引っ越し; «toujours» ✓"
    actor = "Jürgen Müller"
    suffix = world.tag
    added = await world.run(
        "customers", "add", f"zoe-{suffix}", "--location", "berlin", "--name", name,
        "--email", "zoë@exämple.com", "--actor", actor, "--reason", reason, "--json",
    )  # fmt: skip
    assert added.code == 0, added.err
    assert added.json()["name"] == name
    listed = await world.run("customers", "list", "--json")
    [row] = [row for row in listed.json() if row["id"] == f"zoe-{suffix}"]
    assert (row["name"], row["email"]) == (name, "zoë@exämple.com")

    location = await world.run(
        "locations", "add", f"zrh-{suffix}", "--name", "Zürich Oerlikon", "--timezone",
        "Europe/Zurich", "--currency", "CHF", "--json",
    )  # fmt: skip
    assert location.code == 0, location.err
    assert location.json()["name"] == "Zürich Oerlikon"

    # Through the workflow and its activity into the audit log, and back in the human output.
    cid = world.ids["unicode"]
    steered = await world.run(
        "contracts", "cancel-at-next-invoice", cid, "--actor", actor, "--reason", reason
    )
    assert steered.code == 0, steered.err
    undone = await world.run("contracts", "clear-change", cid, "--actor", actor, "--reason", "ok")
    assert undone.code == 0, undone.err
    audit = snapshot(world.database)["audit_log"]
    assert any(repr(actor) in row and repr(reason) in row for row in audit), audit
    assert any(repr(name) in row for row in snapshot(world.database)["customers"])
    human = await world.cli("customers", "list")  # a real process prints it intact too
    assert human.code == 0, human.err
    assert "Zoë Ünal" in human.out


# --- a real process: exit code and message, no traceback ----------------------------------------


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("contracts", "cancel", "{active}", "--date", "2026-02-30"), ("is not a date",)),
        (("contracts", "cancel", LONG, "--date", "{ahead}"), ("contract id",)),
        (("contracts", "switch", "{active}", "--to", "fixed", "--on", "{ahead}", "--price",
          "1e999"), ("too large",)),
    ],
)  # fmt: skip
async def test_cli_process_refuses_cleanly(
    world: World, args: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    before = await capture(world, args)
    result = await world.cli(*(world.fill(arg) if arg != LONG else arg for arg in args))
    refused_cleanly(result, *needles)
    await assert_unchanged(world, before)


# --- raw updates with the temporal CLI ----------------------------------------------------------


def temporal_update(world: World, contract_id: str, name: str, *inputs: str) -> tuple[str, Result]:
    update_id = f"bad-input-{uuid.uuid4().hex}"
    args = [
        binary("temporal"), "workflow", "update", "execute", "--address", world.address,
        "--namespace", "default", "--workflow-id", f"contract-{contract_id}", "--name", name,
        "--update-id", update_id,
    ]  # fmt: skip
    for payload in inputs:
        args += ["--input", payload]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    return update_id, Result(done.returncode, done.stdout, done.stderr)


async def accepted_update_ids(world: World, contract_id: str) -> set[str]:
    history = await world.client.get_workflow_handle(f"contract-{contract_id}").fetch_history()
    return {
        event.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    }


def payload(**fields: Any) -> str:
    return json.dumps({"actor": "maria", **fields})


# (case id, role, update name, inputs, substring of the failure, what may change)
RAW_CASES: list[tuple[str, str, str, tuple[str, ...], str, str]] = [
    # wrong JSON types
    ("date as a number", "active", "cancel", (payload(date=20270115),), "date", NOTHING),
    ("date 2027-02-30", "active", "cancel", (payload(date="2027-02-30"),), "date", NOTHING),
    ("date 1.2.3", "active", "cancel", (payload(date="1.2.3"),), "date", NOTHING),
    ("prorate maybe", "active", "cancel", (payload(date="{ahead}", prorate="maybe"),),
     "prorate", NOTHING),
    ("actor a number", "active", "cancel", ('{"date": "{ahead}", "actor": 5}',), "actor",
     NOTHING),
    ("payload a list", "active", "cancel", ("[]",), "object", NOTHING),
    ("payload a string", "active", "cancel", ('"cancel"',), "object", NOTHING),
    ("payload null", "active", "cancel", ("null",), "object", NOTHING),
    ("next_plan an object", "active", "schedule_change", (payload(next_plan={"code": "x"}),),
     "next_plan", NOTHING),
    # malformed amounts
    ("price NaN", "cancelling", "new_term", (payload(price="NaN"),), "price", NOTHING),
    ("price Infinity", "cancelling", "new_term", (payload(price="Infinity"),), "price", NOTHING),
    ("price 1e999 number", "cancelling", "new_term", ('{"actor": "m", "price": 1e999}',),
     "price", NOTHING),
    ("price a word", "cancelling", "switch", (payload(to_plan="fixed", on="{ahead}",
     price="cheap"),), "price", NOTHING),
    ("price -5", "cancelling", "new_term", (payload(price="-5"),), "price", NOTHING),
    ("price 1.234", "cancelling", "new_term", (payload(price="1.234"),), "decimals", NOTHING),
    ("price 1e999 text", "cancelling", "new_term", (payload(price="1e999"),), "price", NOTHING),
    ("switch price 1.234", "active", "switch", (payload(to_plan="fixed", on="{ahead}",
     price="1.234"),), "decimals", NOTHING),
    # missing required fields
    ("no actor", "active", "cancel", ('{"date": "{ahead}"}',), "actor", NOTHING),
    ("no date", "active", "cancel", (payload(),), "date", NOTHING),
    ("no next_plan", "active", "schedule_change", (payload(),), "next_plan", NOTHING),
    ("no to_plan", "active", "switch", (payload(on="{ahead}"),), "to_plan", NOTHING),
    ("empty actor", "active", "cancel", ('{"date": "{ahead}", "actor": ""}',), "actor",
     NOTHING),
    # unknown field names
    ("unknown field", "active", "cancel", (payload(date="{ahead}", bogus=1),), "bogus",
     NOTHING),
    ("misspelt field", "active", "schedule_change", (payload(next_plan="fixed", nextplan="x"),),
     "nextplan", NOTHING),
    ("snake/kebab", "active", "cancel", (payload(**{"date": "{ahead}", "pro-rate": True}),),
     "pro-rate", NOTHING),
    # no input, two inputs
    ("no input", "active", "cancel", (), "", NOTHING),
    ("two inputs", "active", "uncancel", (payload(), payload()), "", NOTHING),
    ("two inputs, cancel", "active", "cancel", (payload(date="{ahead}"),
     payload(date="{ahead_later}")), "", NOTHING),
    # unknown update
    ("unknown update name", "active", "cancel_everything", (payload(),), "cancel_everything",
     NOTHING),
    # very long strings, non-ASCII ids
    ("10k actor", "active", "cancel", (payload(date="{ahead}", actor=LONG),), "actor",
     NOTHING),
    ("10k reason", "active", "cancel", (payload(date="{ahead}", reason=LONG),), "reason",
     NOTHING),
    ("10k next_plan", "active", "schedule_change", (payload(next_plan=LONG),), "next_plan",
     NOTHING),
    ("10k new-term id", "cancelling", "new_term", (payload(id=LONG),), "id", NOTHING),
    ("non-ASCII new-term id", "cancelling", "new_term", (payload(id="vertrag-ü"),), "",
     NOTHING),
    # the rules, raw: refused by the validator before history
    ("cancel before start", "future", "cancel", (payload(date="{before_future}"),),
     "{future_start}", NOTHING),
    ("double cancellation", "cancelling", "cancel", (payload(date="{ahead_later}"),), "uncancel",
     NOTHING),
    ("custom price change", "custom", "schedule_change", (payload(next_plan="fixed"),),
     "1,200.00", NOTHING),
    ("new term overlapping", "cancelling", "new_term", (payload(start="{overlap}"),),
     "{cancelling_on}", NOTHING),
    ("second new term", "renewed", "new_term", (payload(),), "-t2", NOTHING),
    # decided in the handler (the plan is read from the database): audited by design
    ("unknown plan", "active", "schedule_change", (payload(next_plan="nothing"),),
     "No plan 'nothing'", HANDLER),
    ("plan of another location", "active", "schedule_change", (payload(next_plan="soho"),),
     "soho", AUDITED),
]  # fmt: skip


@pytest.mark.parametrize(
    ("role", "name", "inputs", "needle", "effect"),
    [
        pytest.param(role, name, inputs, needle, effect, id=case)
        for case, role, name, inputs, needle, effect in RAW_CASES
    ],
)
async def test_raw_update_is_rejected_before_history(
    world: World, role: str, name: str, inputs: tuple[str, ...], needle: str, effect: str
) -> None:
    contract_id = world.ids[role]
    before = await capture(world, [f"{{{role}}}"])
    filled = [world.fill(value) for value in inputs]
    update_id, result = await asyncio.to_thread(temporal_update, world, contract_id, name, *filled)
    assert result.code != 0, (result.out, result.err)
    assert world.fill(needle) in result.out + result.err, (result.out, result.err)
    accepted = await accepted_update_ids(world, contract_id)
    if effect == AUDITED:
        assert update_id in accepted  # by design: the handler decides, then audits
        await assert_only_audited(world, before, name)
    elif effect == HANDLER:
        assert update_id in accepted
        assert snapshot(world.database) == before.rows
        await assert_same_state(world, before)
    else:
        assert update_id not in accepted
        await assert_unchanged(world, before)


async def test_raw_update_on_an_ended_contract(world: World) -> None:
    before = await capture(world, ["{ended}"])
    _, result = await asyncio.to_thread(
        temporal_update, world, world.ids["ended"], "cancel", world.fill(payload(date="{ahead}"))
    )
    assert result.code != 0
    assert "completed" in (result.out + result.err).lower()
    await assert_unchanged(world, before)


# --- raw signals: a signal cannot answer, so its refusal is kept in `state` and audited ---------


def temporal_signal(world: World, contract_id: str, name: str, *inputs: str) -> Result:
    args = [
        binary("temporal"), "workflow", "signal", "--address", world.address,
        "--namespace", "default", "--workflow-id", f"contract-{contract_id}", "--name", name,
    ]  # fmt: skip
    for value in inputs:
        args += ["--input", value]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    return Result(done.returncode, done.stdout, done.stderr)


# (case id, signal name, inputs, substring of the refusal kept in `state().refused`)
RAW_SIGNALS: list[tuple[str, str, tuple[str, ...], str]] = [
    ("no input", "cancel", (), "got 0 inputs"),
    ("two inputs", "uncancel", (payload(), payload()), "got 2 inputs"),
    ("date 2027-02-30", "cancel", (payload(date="2027-02-30"),), "date:"),
    ("prorate maybe", "cancel", (payload(date="{ahead}", prorate="maybe"),), "prorate:"),
    ("missing date", "cancel", (payload(),), "date: Field required"),
    ("payload a list", "cancel", ("[]",), "expected one JSON object as input, got a list"),
    ("price a word", "new_term", (payload(price="cheap"),), "price:"),
    ("10k actor", "cancel", (payload(date="{ahead}", actor=LONG),), "actor:"),
    ("unknown command", "cancel_everything", (payload(),), "Unknown command"),
    ("the rules: nothing to undo", "uncancel", (payload(),), "no pending manual cancellation"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "inputs", "needle"),
    [pytest.param(name, inputs, needle, id=case) for case, name, inputs, needle in RAW_SIGNALS],
)
async def test_raw_signal_is_refused_where_an_admin_sees_it(
    world: World, name: str, inputs: tuple[str, ...], needle: str
) -> None:
    contract_id = world.ids["active"]
    handle = world.client.get_workflow_handle(f"contract-{contract_id}")
    rows = snapshot(world.database)
    state = await handle.query("state", result_type=ContractView)

    filled = [world.fill(value) for value in inputs]
    result = await asyncio.to_thread(temporal_signal, world, contract_id, name, *filled)

    assert result.code == 0, (result.out, result.err)  # the server takes any signal
    for _ in range(200):
        after = await handle.query("state", result_type=ContractView)
        added = added_rows(rows, snapshot(world.database))
        if after.refused != state.refused and added:  # (the list keeps the last 20)
            break
        await asyncio.sleep(0.05)
    refusal = after.refused[-1]
    assert (refusal.command, needle in refusal.message) == (name, True), refusal
    assert list(added) == ["audit_log", "events"], added
    assert len(added["audit_log"]) == 1, added
    assert_refusal_event(added, name)
    assert after.contract == state.contract
    assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
