"""Events (SPEC §7): written with their effect, numbered per contract, read by position.

`record_events` writes the events `billing.events.events_of` decided, in the caller's transaction
and as its last statements. Each gets the next `sequence` of its contract (1, 2, 3 … without
gaps) and a `position` in the order transactions commit, so that a consumer that has read up to a
position never finds an event appear before it later: on PostgreSQL the writers of events take
turns on a transaction lock from their first event to their commit; SQLite has one writer at a
time already.

An effect writes its events once: the caller writes them only when its audit entry is new (a
retry finds it), and the ids, derived from the audit key, are unique besides.
"""

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, literal_column, select
from sqlalchemy.orm import Session

from billing.events import EventDraft, EventType, event_id
from store.models import EventRow
from store.records import StoredEvent

EVENTS_LOCK = 0x6576656E
"""PostgreSQL advisory lock key ("even") held by a transaction from its first event to its end."""


def record_events(
    session: Session, effects: Mapping[str, Sequence[EventDraft]], *, at: datetime
) -> list[str]:
    """Write the events of each effect (keyed by its audit entry's key), in order; their ids.

    Call it last in the transaction: it takes the turn of event writers until the commit.
    """
    rows = [
        {
            "id": event_id(key, index),
            "effect_key": key,
            "contract_id": draft.contract_id,
            "type": draft.type.value,
            "occurred_at": at,
            "business_date": draft.business_date,
            "payload": draft.payload.model_dump_json(),
        }
        for key, drafts in effects.items()
        for index, draft in enumerate(drafts)
    ]
    if not rows:
        return []
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(EVENTS_LOCK)))
    # One statement per row, run in order: each reads the sequence the previous one wrote.
    connection.execute(_insert_statement(), rows)
    return [str(row["id"]) for row in rows]


@functools.cache
def _insert_statement() -> Any:
    """INSERT … SELECT with the contract's next sequence, built once."""
    table = cast(Table, EventRow.__table__)
    values = [bindparam(name, type_=table.c[name].type) for name in _BOUND]
    following = func.coalesce(func.max(table.c.sequence), 0) + literal_column("1")
    columns = [*_BOUND, "sequence", "payload"]
    return table.insert().from_select(
        columns,
        select(*values, following, bindparam("payload", type_=table.c.payload.type)).where(
            table.c.contract_id == bindparam("contract_id", type_=table.c.contract_id.type)
        ),
    )


_BOUND = ("id", "effect_key", "contract_id", "type", "occurred_at", "business_date")
"""The columns an event's INSERT binds before its sequence and payload."""


def list_events(
    session: Session,
    *,
    after: int = 0,
    contract_id: str | None = None,
    types: Iterable[EventType] = (),
    limit: int | None = None,
) -> list[StoredEvent]:
    """Events after the position `after`, in position order: of one contract and of some types
    if given, at most `limit`."""
    query = select(EventRow).where(EventRow.position > after).order_by(EventRow.position)
    if contract_id is not None:
        query = query.where(EventRow.contract_id == contract_id)
    wanted = [kind.value for kind in types]
    if wanted:
        query = query.where(EventRow.type.in_(wanted))
    if limit is not None:
        query = query.limit(limit)
    return [stored_event(row) for row in session.scalars(query)]


def last_position(session: Session) -> int:
    """The position of the last event written (0 when there is none)."""
    return session.scalar(select(func.coalesce(func.max(EventRow.position), 0))) or 0


def refusal_recorded(
    session: Session, contract_id: str, *, after: int, command: str, actor: str, message: str
) -> bool:
    """Whether a `command.refused` of this command, actor and message was written for the
    contract after the position `after`."""
    query = select(EventRow.payload).where(
        EventRow.position > after,
        EventRow.contract_id == contract_id,
        EventRow.type == EventType.COMMAND_REFUSED.value,
    )
    for payload in session.scalars(query):
        said = json.loads(payload).get("command") or {}
        if (said.get("name"), said.get("actor"), said.get("refusal")) == (command, actor, message):
            return True
    return False


def stored_event(row: EventRow) -> StoredEvent:
    return StoredEvent(
        position=row.position,
        id=row.id,
        contract_id=row.contract_id,
        sequence=row.sequence,
        type=EventType(row.type),
        occurred_at=row.occurred_at,
        business_date=row.business_date,
        payload=json.loads(row.payload),
    )
