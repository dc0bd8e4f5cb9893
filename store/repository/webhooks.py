"""Webhook endpoints and the deliveries of events to them (SPEC §7).

An endpoint receives the events written after it was added (`after_position`) whose type it wants.
Its delivery workflow copies them into `webhook_deliveries` as they are written (`scan_events`,
in position order: positions follow commit order, so nothing is skipped), then takes the next ones
to send (`next_deliveries`): per contract the earliest pending one, and only when the contract has
nothing in flight and nothing failed, so a contract's events are acknowledged in sequence.
"""

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    CursorResult,
    Table,
    Text,
    bindparam,
    case,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from store.errors import Conflict, NotFound
from store.models import EventRow, WebhookDeliveryRow, WebhookEndpointRow
from store.records import StoredEvent
from store.repository.events import stored_event
from store.types import UtcDateTime


@dataclass(frozen=True)
class Endpoint:
    id: str
    url: str
    event_types: tuple[str, ...]
    """Empty: every type."""
    created_at: datetime
    removed_at: datetime | None
    after_position: int


@dataclass(frozen=True)
class DeliveryCounts:
    pending: int = 0
    delivered: int = 0
    failed: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class Due:
    """A delivery to send now: the event's position, its contract, and when it was first tried."""

    position: int
    contract_id: str
    first_attempt_at: datetime | None


def add_endpoint(
    session: Session,
    *,
    endpoint_id: str,
    url: str,
    event_types: Iterable[str],
    secret: str,
    after_position: int,
) -> Endpoint:
    """Record an endpoint; `Conflict` if its id is taken."""
    if session.get(WebhookEndpointRow, endpoint_id) is not None:
        raise Conflict(f"There is already a webhook endpoint {endpoint_id}.")
    row = WebhookEndpointRow(
        id=endpoint_id,
        url=url,
        event_types=",".join(event_types),
        secret=secret,
        after_position=after_position,
        scanned_position=after_position,
    )
    session.add(row)
    session.flush()
    return _endpoint(row)


def get_endpoint(session: Session, endpoint_id: str) -> Endpoint:
    return _endpoint(_row(session, endpoint_id))


def endpoint_secret(session: Session, endpoint_id: str) -> str:
    return _row(session, endpoint_id).secret


def list_endpoints(session: Session, *, removed: bool = False) -> list[Endpoint]:
    query = select(WebhookEndpointRow).order_by(WebhookEndpointRow.created_at)
    if not removed:
        query = query.where(WebhookEndpointRow.removed_at.is_(None))
    return [_endpoint(row) for row in session.scalars(query)]


def remove_endpoint(session: Session, endpoint_id: str, *, at: datetime) -> Endpoint:
    row = _row(session, endpoint_id)
    if row.removed_at is None:
        row.removed_at = at
    return _endpoint(row)


def delivery_counts(session: Session, endpoint_id: str) -> DeliveryCounts:
    rows = session.execute(
        select(WebhookDeliveryRow.status, func.count())
        .where(WebhookDeliveryRow.endpoint_id == endpoint_id)
        .group_by(WebhookDeliveryRow.status)
    ).all()
    counts = {status: int(count) for status, count in rows}
    last_error = session.scalar(
        select(WebhookDeliveryRow.last_error)
        .where(
            WebhookDeliveryRow.endpoint_id == endpoint_id,
            WebhookDeliveryRow.status != "delivered",
            WebhookDeliveryRow.last_error.is_not(None),
        )
        .order_by(WebhookDeliveryRow.last_attempt_at.desc())
        .limit(1)
    )
    return DeliveryCounts(
        pending=counts.get("pending", 0),
        delivered=counts.get("delivered", 0),
        failed=counts.get("failed", 0),
        last_error=last_error,
    )


def scan_events(session: Session, endpoint_id: str, *, limit: int = 5000) -> int:
    """Copy the events written since the endpoint's last scan that it wants into its pending
    deliveries (at most `limit`); how many were scanned."""
    endpoint = _row(session, endpoint_id)
    query = (
        select(EventRow.position, EventRow.contract_id, EventRow.type)
        .where(EventRow.position > endpoint.scanned_position)
        .order_by(EventRow.position)
        .limit(limit)
    )
    rows = session.execute(query).all()
    if not rows:
        return 0
    wanted = set(filter(None, endpoint.event_types.split(",")))
    session.add_all(
        WebhookDeliveryRow(
            endpoint_id=endpoint_id, event_position=position, contract_id=contract_id
        )
        for position, contract_id, kind in rows
        if not wanted or kind in wanted
    )
    endpoint.scanned_position = rows[-1][0]
    session.flush()
    return len(rows)


def next_deliveries(
    session: Session, endpoint_id: str, *, in_flight: Collection[str], limit: int
) -> list[Due]:
    """Per contract not in `in_flight` and with no failed delivery, its earliest pending one;
    the oldest first, at most `limit`."""
    if limit <= 0:
        return []
    d = WebhookDeliveryRow
    blocked = select(d.contract_id).where(d.endpoint_id == endpoint_id, d.status == "failed")
    earliest = (
        select(d.contract_id, func.min(d.event_position).label("position"))
        .where(d.endpoint_id == endpoint_id, d.status == "pending")
        .where(d.contract_id.not_in(blocked))
        .group_by(d.contract_id)
    )
    if in_flight:
        earliest = earliest.where(d.contract_id.not_in(list(in_flight)))
    chosen = earliest.subquery()
    query = (
        select(d.event_position, d.contract_id, d.first_attempt_at)
        .join(
            chosen,
            (d.contract_id == chosen.c.contract_id) & (d.event_position == chosen.c.position),
        )
        .where(d.endpoint_id == endpoint_id)
        .order_by(d.event_position)
        .limit(limit)
    )
    return [
        Due(position, contract_id, first) for position, contract_id, first in session.execute(query)
    ]


def pending_events(
    session: Session, endpoint_id: str, contract_id: str, *, limit: int
) -> list[StoredEvent]:
    """The events of the contract's pending deliveries to the endpoint, earliest first, at most
    `limit`; none while one of its deliveries is failed (it holds back the others)."""
    d = WebhookDeliveryRow
    failed = aliased(WebhookDeliveryRow)
    query = (
        select(EventRow)
        .join(d, d.event_position == EventRow.position)
        .where(d.endpoint_id == endpoint_id, d.contract_id == contract_id, d.status == "pending")
        .where(
            ~select(failed.event_position)
            .where(
                failed.endpoint_id == endpoint_id,
                failed.contract_id == contract_id,
                failed.status == "failed",
            )
            .exists()
        )
        .order_by(d.event_position)
        .limit(limit)
    )
    return [stored_event(row) for row in session.scalars(query)]


def record_attempt(
    session: Session, endpoint_id: str, position: int, *, at: datetime, error: str | None
) -> None:
    """One attempt at a delivery: acknowledged (`error` None) or not, and why."""
    record_attempts(session, endpoint_id, [(position, at, error)])


def record_attempts(
    session: Session, endpoint_id: str, attempts: Sequence[tuple[int, datetime, str | None]]
) -> None:
    """Attempts at deliveries, each (position, when, error): acknowledged when `error` is None.
    One statement for all of them; a delivery already acknowledged is left as it is."""
    if not attempts:
        return
    table = cast(Table, WebhookDeliveryRow.__table__)
    at = bindparam("at", type_=UtcDateTime())
    acknowledged = bindparam("acknowledged", type_=Boolean())
    statement = (
        update(table)
        .where(
            table.c.endpoint_id == endpoint_id,
            table.c.event_position == bindparam("position"),
            table.c.status != "delivered",
        )
        .values(
            attempts=table.c.attempts + 1,
            first_attempt_at=func.coalesce(table.c.first_attempt_at, at),
            last_attempt_at=at,
            last_error=bindparam("error", type_=Text()),
            status=case((acknowledged, "delivered"), else_=table.c.status),
            delivered_at=case((acknowledged, at), else_=table.c.delivered_at),
        )
    )
    session.execute(
        statement,
        [
            {"position": position, "at": when, "error": error, "acknowledged": error is None}
            for position, when, error in attempts
        ],
    )


def give_up(
    session: Session,
    endpoint_id: str,
    position: int,
    *,
    error: str,
    contract_id: str | None = None,
) -> None:
    """The delivery's retries ran out: failed, until redelivered. With `contract_id`, the
    contract's earliest pending delivery (where its deliveries stopped), whatever `position`."""
    if contract_id is not None:
        earliest = session.scalar(
            select(func.min(WebhookDeliveryRow.event_position)).where(
                WebhookDeliveryRow.endpoint_id == endpoint_id,
                WebhookDeliveryRow.contract_id == contract_id,
                WebhookDeliveryRow.status == "pending",
            )
        )
        if earliest is None:
            return
        position = earliest
    session.execute(
        update(WebhookDeliveryRow)
        .where(
            WebhookDeliveryRow.endpoint_id == endpoint_id,
            WebhookDeliveryRow.event_position == position,
            WebhookDeliveryRow.status == "pending",
        )
        .values(
            status="failed",
            last_error=func.coalesce(WebhookDeliveryRow.last_error, error),
        )
    )


def redeliver(session: Session, endpoint_id: str, *, event_id: str | None = None) -> int:
    """Make failed deliveries of the endpoint (or the one of `event_id`) pending again, with a
    new retry window; how many."""
    _row(session, endpoint_id)
    query = (
        update(WebhookDeliveryRow)
        .where(WebhookDeliveryRow.endpoint_id == endpoint_id, WebhookDeliveryRow.status == "failed")
        .values(status="pending", first_attempt_at=None)
    )
    if event_id is not None:
        position = session.scalar(select(EventRow.position).where(EventRow.id == event_id))
        if position is None:
            raise NotFound(f"There is no event {event_id}.")
        query = query.where(WebhookDeliveryRow.event_position == position)
    result = cast(CursorResult[Any], session.execute(query))
    return result.rowcount or 0


def _row(session: Session, endpoint_id: str) -> WebhookEndpointRow:
    row = session.get(WebhookEndpointRow, endpoint_id)
    if row is None:
        raise NotFound(f"There is no webhook endpoint {endpoint_id}.")
    return row


def _endpoint(row: WebhookEndpointRow) -> Endpoint:
    return Endpoint(
        id=row.id,
        url=row.url,
        event_types=tuple(filter(None, row.event_types.split(","))),
        created_at=row.created_at,
        removed_at=row.removed_at,
        after_position=row.after_position,
    )
