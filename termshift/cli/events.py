"""`events`: what happened to contracts, in the order it was written (SPEC §7), for other systems.

Both commands read the billing database by position, the cursor of every event: a consumer that
passes the last position it read as `--after` resumes exactly where it stopped, with nothing
missed and nothing twice. `docs/EVENTS.md` describes the events and their payload.
"""

import sys
import time
from collections.abc import Sequence
from json import dumps
from typing import Annotated

import pydantic
import typer

from billing.commands import Cli, command
from billing.events import EventType
from store import repository
from store.db import Database
from store.records import StoredEvent
from termshift.cli._common import (
    JsonOption,
    Refused,
    console,
    database,
    emit_json,
    errors,
    handled,
    print_listing,
)

events = typer.Typer(
    help="Events: every effect on a contract, in order, for other systems to read.",
    no_args_is_help=True,
)

TYPES = ", ".join(kind.value for kind in EventType)
BATCH = 500
"""Events `tail` reads per query."""

AfterOption = Annotated[
    int,
    typer.Option(
        "--after", help="Only events after this position: the last one a consumer read (0: all)."
    ),
]
ContractOption = Annotated[str | None, typer.Option("--contract", help="Only this contract's.")]
TypeOption = Annotated[
    list[str] | None,
    typer.Option("--type", help=f"Only events of this type; repeat for several. Types: {TYPES}."),
]


@events.command("list")
def list_events(
    after: AfterOption = 0,
    contract: ContractOption = None,
    type_: TypeOption = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many events.")] = 100,
    json: JsonOption = False,
) -> None:
    """List events after a position, oldest first; `--json` prints each with its payload."""
    with handled():
        types = _types(type_)
        _check_position(after)
        if limit < 1:
            raise Refused(f"--limit must be 1 or more, not {limit}.")
        db = database()
        _check_contract(db, contract)
        with db.session() as session:
            found = repository.list_events(
                session, after=after, contract_id=contract, types=types, limit=limit + 1
            )
    shown, more = found[:limit], len(found) > limit
    if json:
        emit_json(shown)
        return
    print_listing(
        ("position", "id", "contract", "sequence", "type", "business date", "occurred at"),
        (_row(event) for event in shown),
        drop=("id", "occurred at"),
        right=("position", "sequence"),
    )
    if more:
        last = shown[-1].position
        console.print(
            f"More events follow: {command(Cli.EVENTS, after=last)} lists the next ones.",
            highlight=False,
        )
    elif not shown:
        console.print(f"No events after position {after}.", highlight=False)


@events.command("tail")
def tail_events(
    after: Annotated[
        int | None,
        typer.Option(
            "--after",
            help="Print the events after this position first (default: only events written from "
            "now on).",
        ),
    ] = None,
    contract: ContractOption = None,
    type_: TypeOption = None,
    until_idle: Annotated[
        float | None,
        typer.Option(
            "--until-idle",
            help="Stop once no event has come for this many seconds (default: run until Ctrl-C).",
        ),
    ] = None,
    interval: Annotated[
        float, typer.Option("--interval", help="Seconds between two reads of the database.")
    ] = 1.0,
    json: JsonOption = False,
) -> None:
    """Print events as they are written, until Ctrl-C; with `--json`, each with its payload on
    one line (JSON Lines). The last position printed is where to resume (`--after`)."""
    with handled():
        types = _types(type_)
        if after is not None:
            _check_position(after)
        if until_idle is not None and until_idle < 0:
            raise Refused(f"--until-idle must be 0 seconds or more, not {until_idle}.")
        if interval <= 0:
            raise Refused(f"--interval must be more than 0 seconds, not {interval}.")
        db = database()
        _check_contract(db, contract)
        if after is None:
            with db.session() as session:
                after = repository.last_position(session)
    position = _follow(db, after, contract, types, json, until_idle=until_idle, interval=interval)
    errors.print(
        f"Stopped after position {position}: {command(Cli.EVENTS_TAIL, after=position)} resumes "
        "there.",
        highlight=False,
        soft_wrap=True,
    )


def _follow(
    db: Database,
    after: int,
    contract: str | None,
    types: Sequence[EventType],
    as_json: bool,
    *,
    until_idle: float | None,
    interval: float,
) -> int:
    """Print the events after `after` as they come; the position of the last one printed."""
    position = after
    quiet_since = time.monotonic()
    try:
        while True:
            with handled(), db.session() as session:
                found = repository.list_events(
                    session, after=position, contract_id=contract, types=types, limit=BATCH
                )
            for event in found:
                _print_line(event, as_json)
                position = event.position
            if found:
                quiet_since = time.monotonic()
            elif until_idle is not None and time.monotonic() - quiet_since >= until_idle:
                return position
            if len(found) < BATCH:
                time.sleep(interval)
    except KeyboardInterrupt:
        return position


_EVENT: pydantic.TypeAdapter[StoredEvent] = pydantic.TypeAdapter(StoredEvent)


def _print_line(event: StoredEvent, as_json: bool) -> None:
    if as_json:
        line = dumps(_EVENT.dump_python(event, mode="json"), ensure_ascii=False)
    else:
        line = "  ".join(_row(event))
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _row(event: StoredEvent) -> tuple[str, ...]:
    return (
        str(event.position),
        event.id,
        event.contract_id,
        str(event.sequence),
        event.type.value,
        str(event.business_date),
        event.occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def _types(given: list[str] | None) -> list[EventType]:
    types = []
    for value in given or ():
        try:
            types.append(EventType(value))
        except ValueError:
            raise Refused(f"Unknown event type {value!r}: the types are {TYPES}.") from None
    return types


def _check_position(after: int) -> None:
    if after < 0:
        raise Refused(
            f"--after must be a position, 0 or more (the last one a consumer read), not {after}."
        )


def _check_contract(db: Database, contract_id: str | None) -> None:
    """A contract to filter on must exist (a misspelt id would show nothing, silently)."""
    if contract_id is not None:
        with db.session() as session:
            repository.get_contract(session, contract_id)
