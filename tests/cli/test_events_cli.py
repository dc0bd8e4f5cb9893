"""`events list` and `events tail` as a user runs them, against the dev server and a worker.

A contract created a month back catches up on its invoices; its events are listed, paged with
`--after`, filtered, printed with their payloads, and followed with `tail` while a command is sent.
A command the workflow refuses is recorded once as `command.refused`, whether its update's
validator refused it (the CLI records it) or its handler did (the workflow's activity did).
Bad input is refused with exit code 2 and a sentence.
"""

import asyncio
import re
import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.cli import SEED_TIMEZONE, Cli, seed
from tests.support.clock import server_clock

pytestmark = pytest.mark.devserver


async def listed(cli: Cli, *args: str) -> list[dict[str, object]]:
    result = await cli("events", "list", "--json", *args)
    assert result.code == 0, result.err
    events: list[dict[str, object]] = result.json()
    return events


def kinds(events: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(event["sequence"], event["type"]) for event in events]


async def test_events_are_listed_paged_filtered_and_followed(
    cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    await seed(cli)
    clock = await server_clock(dev_env, SEED_TIMEZONE)
    cid = f"e1-{uuid.uuid4().hex[:8]}"  # workflow ids are unique on the shared server
    created = await cli(
        "contracts", "create", "--id", cid, "--customer", "ada", "--plan", "hot-desk",
        "--start", str(clock.month(-1)), "--reason", "signed",
    )  # fmt: skip
    assert created.code == 0, created.err

    # Created a month back: it starts and catches up on this month's invoice at once.
    events = await listed(cli, "--contract", cid)
    assert kinds(events) == [
        (1, "contract.created"),
        (2, "contract.started"),
        (3, "invoice.issued"),
        (4, "deposit.charged"),
        (5, "invoice.issued"),
    ]
    positions = [event["position"] for event in events]
    assert positions == sorted(positions)
    assert [event["business_date"] for event in events[1:]] == [
        str(clock.month(-1)),
        str(clock.month(-1)),
        str(clock.month(-1)),
        str(clock.month(0)),
    ]
    payload = events[3]["payload"]
    assert isinstance(payload, dict)
    assert payload["version"] == 1
    assert payload["deposit"] == {"movement": "charge", "amount": "200.00", "currency": "EUR"}
    assert payload["contract"]["id"] == cid

    # The table: one row per event, the columns a consumer needs.
    table = await cli("events", "list", "--contract", cid)
    assert table.code == 0, table.err
    for header in ("position", "contract", "sequence", "type", "business date", "occurred at"):
        assert header in table.out
    assert table.out.count(cid) == 5
    assert "deposit.charged" in table.out

    # Paged: the next page starts right after the last position read.
    first, second = events[0]["position"], events[1]["position"]
    page = await cli("events", "list", "--contract", cid, "--after", str(first), "--limit", "1")
    assert page.code == 0, page.err
    assert f"`events list --after {second}`" in " ".join(page.out.split())
    rest = await listed(cli, "--contract", cid, "--after", str(second))
    assert kinds(rest) == kinds(events)[2:]
    invoices = await listed(cli, "--contract", cid, "--type", "invoice.issued")
    assert kinds(invoices) == [(3, "invoice.issued"), (5, "invoice.issued")]
    both = await listed(
        cli, "--contract", cid, "--type", "contract.started", "--type", "deposit.charged"
    )
    assert kinds(both) == [(2, "contract.started"), (4, "deposit.charged")]

    # Followed: `tail` prints what is written while it runs, and says where to resume.
    last = events[-1]["position"]
    following = cli(
        "events", "tail", "--contract", cid, "--after", str(last), "--json",
        "--until-idle", "4", "--interval", "0.2",
    )  # fmt: skip
    tail = asyncio.create_task(following)
    await asyncio.sleep(1)
    changed = await cli("contracts", "change", cid, "--next-plan", "fixed", "--reason", "smaller")
    assert changed.code == 0, changed.err
    followed = await tail
    assert followed.code == 0, followed.err
    lines = [line for line in followed.out.splitlines() if line.strip()]
    assert len(lines) == 1
    assert '"type": "contract.change_scheduled"' in lines[0]
    assert '"sequence": 6' in lines[0]
    resume = re.search(r"`events tail --after (\d+)`", " ".join(followed.err.split()))
    assert resume is not None, followed.err
    assert await listed(cli, "--contract", cid, "--after", resume[1]) == []

    # From position 0, `tail` prints what was written before it too.
    everything = await cli("events", "tail", "--contract", cid, "--after", "0", "--until-idle", "0")
    assert everything.code == 0, everything.err
    assert len(everything.out.splitlines()) == 6


async def test_a_refused_command_is_recorded_once_whoever_refused_it(
    cli: Cli, dev_env: WorkflowEnvironment
) -> None:
    await seed(cli)
    for args in (
        ("locations", "add", "london", "--name", "London", "--timezone", "Europe/London",
         "--currency", "GBP"),
        ("plans", "add", "soho", "--location", "london", "--name", "Soho desk", "--price", "800"),
    ):  # fmt: skip
        result = await cli(*args, "--reason", "setup")
        assert result.code == 0, result.err
    clock = await server_clock(dev_env, SEED_TIMEZONE)
    cid = f"e2-{uuid.uuid4().hex[:8]}"
    created = await cli(
        "contracts", "create", "--id", cid, "--customer", "ada", "--plan", "hot-desk",
        "--start", str(clock.in_next_year(3, 1)),
    )  # fmt: skip
    assert created.code == 0, created.err

    # The update's validator refuses it: it never reaches the workflow's history.
    undo = await cli("contracts", "uncancel", cid, "--actor", "maria", "--reason", "oops")
    assert undo.code == 2, undo.err
    # The handler refuses it, once the plan is read: the workflow records it.
    elsewhere = await cli("contracts", "change", cid, "--next-plan", "soho", "--actor", "maria")
    assert elsewhere.code == 2, elsewhere.err

    refusals = await listed(cli, "--contract", cid, "--type", "command.refused")
    assert [(event["sequence"], event["payload"]["command"]["name"]) for event in refusals] == [  # type: ignore[index]
        (2, "uncancel"),
        (3, "schedule_change"),
    ]
    said = refusals[0]["payload"]["command"]  # type: ignore[index]
    assert (said["actor"], said["reason"]) == ("maria", "oops")
    assert said["refusal"] in " ".join(undo.err.split())


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("list", "--type", "contract.paused"), "Unknown event type 'contract.paused'"),
        (("tail", "--type", "paused", "--until-idle", "0"), "Unknown event type 'paused'"),
        (("list", "--after", "-1"), "--after must be a position, 0 or more"),
        (("tail", "--after", "-5", "--until-idle", "0"), "not -5"),
        (("list", "--limit", "0"), "--limit must be 1 or more"),
        (("tail", "--until-idle", "-1"), "--until-idle must be 0 seconds or more"),
        (("tail", "--interval", "0", "--until-idle", "0"), "--interval must be more than 0"),
        (("list", "--contract", "nosuch"), "No contract 'nosuch'"),
    ],
)
async def test_bad_input_is_refused_with_a_sentence(
    sqlite_cli: Cli, args: tuple[str, ...], needle: str
) -> None:
    result = await sqlite_cli("events", *args)
    assert result.code == 2, (result.out, result.err)
    assert needle in " ".join(result.err.split())
    assert "Traceback" not in result.err

    as_json = await sqlite_cli("events", *args, "--json")
    assert as_json.code == 2
    error = as_json.json()["error"]
    assert error["exit_code"] == 2
    assert needle in error["message"]
