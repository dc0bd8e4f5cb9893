"""The events an effect writes (SPEC §7): which ones, in what order, and what each one says.

An effect — a contract recorded, one date of its life, an admin command accepted or refused — is
described by the contract before and after it, the invoice it issued and the contract it created
besides (`Effect`). `events_of` turns it into the events to write, in order: this is the one place
that decides them. The activities that write an effect write its events in the same transaction
(`store.repository.record_events`), which numbers them per contract and gives each its position.

Pure: no clock, no database. What each event says is `billing.event_payload`'s `EventPayload`:
the state after the effect.
"""

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from billing.contract import (
    ChangeKind,
    Command,
    Contract,
    ContractStatus,
    InvoiceLine,
    LineKind,
    ScheduledChange,
)
from billing.event_payload import (
    PAYLOAD_VERSION,
    CommandState,
    DepositState,
    EventPayload,
    Invoice,
    InvoiceState,
    contract_state,
    invoice_state,
    money,
)

__all__ = [
    "PAYLOAD_VERSION",
    "Effect",
    "EventDraft",
    "EventPayload",
    "EventType",
    "changes",
    "contract_state",
    "event_id",
    "events_of",
    "money",
]


class EventType(StrEnum):
    CONTRACT_CREATED = "contract.created"
    CONTRACT_STARTED = "contract.started"
    CHANGE_SCHEDULED = "contract.change_scheduled"
    CHANGE_CLEARED = "contract.change_cleared"
    CANCELLATION_SCHEDULED = "contract.cancellation_scheduled"
    CANCELLATION_CLEARED = "contract.cancellation_cleared"
    SWITCHED = "contract.switched"
    ENDED = "contract.ended"
    FROZEN = "contract.frozen"
    UNFROZEN = "contract.unfrozen"
    PRICE_SCHEDULED = "contract.price_scheduled"
    RENEWAL_UPCOMING = "contract.renewal_upcoming"
    RENEWED = "contract.renewed"
    INVOICE_ISSUED = "invoice.issued"
    DEPOSIT_CHARGED = "deposit.charged"
    DEPOSIT_REFUNDED = "deposit.refunded"
    COMMAND_REFUSED = "command.refused"


_EVENT_IDS = uuid.UUID("5a1d7c3e-8f0b-4c52-9e61-0d4b2a7f3c18")
"""The namespace of event ids (UUIDv5): an id is a function of its effect's key."""


def event_id(key: str, index: int) -> str:
    """The id of the `index`-th event of the effect keyed `key` (its audit entry's key): the same
    for every attempt of the effect, so a retry can never make a second one."""
    return f"evt_{uuid.uuid5(_EVENT_IDS, f'{key}#{index}').hex}"


@dataclass(frozen=True)
class Effect:
    """What one write did, as the event rule sees it."""

    day: date
    """The local business date it belongs to: an invoice date, or the day a command came."""
    before: Contract | None
    """The contract as stored before; None when this effect recorded it."""
    after: Contract
    """The contract as stored after (for a refused command: as it stays)."""
    invoice: Invoice | None = None
    """The invoice issued to `after`, if any (with its deposit lines, R9)."""
    successor: Contract | None = None
    """A contract recorded besides: the next term of `after` (a switch, R5; a new term, R8)."""
    command: str | None = None
    """The admin command, as the audit log names it; None for a date of the contract's life."""
    requested: Command | None = None
    """Who asked and why (R11)."""
    refusal: str | None = None
    """Why the command was refused; `after` is then unchanged."""


class EventDraft(BaseModel):
    """An event to write: `store.repository.record_events` gives it its id, sequence and
    position."""

    model_config = ConfigDict(frozen=True)

    type: EventType
    contract_id: str
    business_date: date
    payload: EventPayload


# --- The rule -----------------------------------------------------------------------------------


def events_of(effect: Effect) -> list[EventDraft]:
    """The events of one effect, in the order they are written.

    - A refused command: `command.refused`, nothing else.
    - A contract recorded: `contract.created`.
    - A contract changed: what changed, from `changes` (renewal, pending changes scheduled or
      cleared, freezes, start).
    - An invoice issued: `invoice.issued`, then `deposit.charged` or `deposit.refunded` for each
      deposit line on it.
    - The end, `contract.switched` or `contract.ended`: always a contract's last event.
    - A next term recorded besides: its `contract.created` (the first of its own sequence).
    """
    after = effect.after
    command = _command_state(effect)

    def draft(
        kind: EventType,
        contract: Contract = after,
        invoice: InvoiceState | None = None,
        deposit: DepositState | None = None,
    ) -> EventDraft:
        payload = EventPayload(
            contract=contract_state(contract), invoice=invoice, deposit=deposit, command=command
        )
        return EventDraft(
            type=kind, contract_id=contract.id, business_date=effect.day, payload=payload
        )

    if effect.refusal is not None:
        return [draft(EventType.COMMAND_REFUSED)]
    found = [EventType.CONTRACT_CREATED] if effect.before is None else changes(effect.before, after)
    drafts = [draft(kind) for kind in found if kind not in _LAST]
    if effect.invoice is not None:
        issued = invoice_state(effect.invoice)
        drafts.append(draft(EventType.INVOICE_ISSUED, invoice=issued))
        for line in effect.invoice.lines:
            movement = _deposit_movement(line)
            if movement is not None:
                kind, amount = movement
                deposit = DepositState(
                    movement="charge" if kind is EventType.DEPOSIT_CHARGED else "refund",
                    amount=money(amount, effect.invoice.currency),
                    currency=effect.invoice.currency,
                )
                drafts.append(draft(kind, invoice=issued, deposit=deposit))
    drafts += [draft(kind) for kind in found if kind in _LAST]
    if effect.successor is not None:
        drafts.append(draft(EventType.CONTRACT_CREATED, contract=effect.successor))
    return drafts


_LAST = frozenset({EventType.SWITCHED, EventType.ENDED})
"""A contract's last event: written after its closing invoice."""


def changes(before: Contract, after: Contract) -> list[EventType]:
    """What changed from `before` to `after`, as event types in the order they are written.

    A pending change is `scheduled` when it appears or is replaced, `cleared` when a command
    removes it; when the contract ends, or a scheduled price takes effect on its invoice date,
    what was pending is carried out, not cleared. A freeze is reported when it is accepted
    (`contract.frozen`, with its dates) and when an unfreeze shortens or drops it; the dates it
    covers are not events of their own. A contract that ends is `switched` when a next term is
    linked to it (R5, R8: it passes its deposit on), else `ended`.
    """
    found: list[EventType] = []
    if after.renewal_noticed is not None and after.renewal_noticed != before.renewal_noticed:
        found.append(EventType.RENEWAL_UPCOMING)
    renewed = (
        before.commitment_end is not None
        and after.commitment_end is not None
        and after.commitment_end > before.commitment_end
        and after.freezes == before.freezes  # a freeze moves the commitment end too (R17)
    )
    if renewed:
        found.append(EventType.RENEWED)
    cancelled = ContractStatus.CANCELLED
    ended = after.status is cancelled and before.status is not cancelled
    if not ended:
        found += _pending(before, after)
    if before.status is ContractStatus.INACTIVE and after.status is ContractStatus.ACTIVE:
        found.append(EventType.CONTRACT_STARTED)
    if ended:
        found.append(EventType.SWITCHED if after.successor_id is not None else EventType.ENDED)
    return found


def _pending(before: Contract, after: Contract) -> list[EventType]:
    """Pending changes scheduled or cleared: next plan and cancel at next invoice date (R5, R6),
    manual cancellation (R7, R16's end of term), scheduled price (R18), freeze (R17)."""
    found: list[EventType] = []
    was, now = before.scheduled_change, after.scheduled_change
    if was is not None and (now is None or now.kind is not was.kind):
        found.append(_change_event(was.kind, scheduled=False))
    if now is not None and _change_key(now) != _change_key(was):
        found.append(_change_event(now.kind, scheduled=True))
    if before.cancellation is not None and after.cancellation is None:
        found.append(EventType.CANCELLATION_CLEARED)
    if after.cancellation is not None and after.cancellation != before.cancellation:
        found.append(EventType.CANCELLATION_SCHEDULED)
    applied = len(after.earlier_prices) > len(before.earlier_prices)
    if before.scheduled_price is not None and after.scheduled_price is None and not applied:
        found.append(EventType.CHANGE_CLEARED)
    if after.scheduled_price is not None and after.scheduled_price != before.scheduled_price:
        found.append(EventType.PRICE_SCHEDULED)
    if len(after.freezes) > len(before.freezes):
        found.append(EventType.FROZEN)
    elif after.freezes != before.freezes:
        found.append(EventType.UNFROZEN)
    return found


def _change_event(kind: ChangeKind, *, scheduled: bool) -> EventType:
    if kind is ChangeKind.NEXT_PLAN:
        return EventType.CHANGE_SCHEDULED if scheduled else EventType.CHANGE_CLEARED
    return EventType.CANCELLATION_SCHEDULED if scheduled else EventType.CANCELLATION_CLEARED


def _change_key(change: ScheduledChange | None) -> tuple[object, ...] | None:
    """What makes a scheduled change another one: its kind, next plan and price."""
    if change is None:
        return None
    plan = None if change.next_plan is None else change.next_plan.code
    return change.kind, plan, change.price


def _deposit_movement(line: InvoiceLine) -> tuple[EventType, Decimal] | None:
    """A deposit line's event and the amount charged or refunded (positive), if it is one."""
    if line.kind is LineKind.DEPOSIT:
        return EventType.DEPOSIT_CHARGED, line.amount
    if line.kind is LineKind.DEPOSIT_REFUND:
        return EventType.DEPOSIT_REFUNDED, -line.amount
    return None


def _command_state(effect: Effect) -> CommandState | None:
    if effect.command is None or effect.requested is None:
        return None
    return CommandState(
        name=effect.command,
        actor=effect.requested.actor,
        reason=effect.requested.reason,
        refusal=effect.refusal,
    )
