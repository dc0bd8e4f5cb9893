"""Contract activities: record contracts, invoices, deposit movements, the audit log and events.

Every write is keyed by its business key (R12) and done in one transaction, so an activity that
runs twice — a retry after a crash, a replayed workflow — leaves one effect. Its events (SPEC §7,
`billing.events`) are written last in that transaction, when its audit entry is new: a retry that
finds the entry writes none.
"""

from datetime import UTC, date, datetime

from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from billing import deposits, events, lifecycle
from billing.calendar import local_date
from billing.contract import Command, Contract, InvoiceDraft, InvoiceLine, LineKind, Plan
from store import repository
from store.db import Database
from store.errors import Conflict, NotFound
from store.records import AuditEntry, DepositKind, IssuedInvoice
from workflows.requests import (
    DayRecorded,
    RecordCommand,
    RecordNewTerm,
    RecordStep,
    RegisterContract,
)

__all__ = [
    "ContractActivities",
    "DayRecorded",
    "RecordCommand",
    "RecordNewTerm",
    "RecordStep",
    "RegisterContract",
    "created",
    "record_events",
    "register",
    "write_new_term",
]


def register(
    session: Session,
    contract: Contract,
    requested: Command,
    *,
    key: str,
    today: date,
    command: str = "contracts create",
) -> bool:
    """Insert the contract's row (once) with its audit entry and its `contract.created` event
    (business date `today`); False if it was already there.

    The audit entry's key is the contract's workflow id, whichever way the contract came in, so
    a contract is recorded once. Raises `NotFound` (customer, plan) or `Conflict` (id taken).
    """
    recorded = repository.record_contract(session, contract)
    repository.record_audits(session, [created(contract, requested, key=key, command=command)])
    if recorded:
        record_events(
            session,
            key,
            events.Effect(
                day=today, before=None, after=contract, command=command, requested=requested
            ),
        )
    return recorded


def record_events(session: Session, key: str, effect: events.Effect) -> None:
    """Write the events of the effect keyed `key` (`billing.events.events_of`), last in the
    caller's transaction."""
    repository.record_events(session, {key: events.events_of(effect)}, at=_now())


def created(contract: Contract, requested: Command, *, key: str, command: str) -> AuditEntry:
    """The audit entry of a contract's creation, keyed by `key` (its workflow id)."""
    return AuditEntry(
        key=key,
        at=_now(),
        actor=requested.actor,
        reason=requested.reason,
        command=command,
        contract_id=contract.id,
        effect=f"Contract {contract.id} created on plan {contract.plan.code}, "
        f"starting {contract.start}.",
    )


class ContractActivities:
    """Activities bound to one billing database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    @activity.defn
    def register_contract(self, request: RegisterContract) -> None:
        """Insert the contract's row (once) with its audit entry."""
        with self._database.session() as session:
            try:
                register(
                    session,
                    request.contract,
                    request.requested,
                    key=request.key,
                    today=request.today or _business_day(request.contract),
                )
            except (NotFound, Conflict) as error:
                raise ApplicationError(
                    str(error), type=type(error).__name__, non_retryable=True
                ) from None

    @activity.defn
    def record_step(self, request: RecordStep) -> IssuedInvoice | None:
        """Write what happened on one date (the regular activity of workflows started before
        `record_day`; kept so that their histories replay)."""
        with self._database.session() as session:
            return _record_day(session, request).invoice

    @activity.defn
    def record_day(self, request: RecordStep) -> DayRecorded:
        """Write what happened on one date: invoice and deposit movements, contract state, audit.

        A successor whose id another contract took meanwhile gets the next free term id.
        """
        with self._database.session() as session:
            return _record_day(session, request)

    @activity.defn
    def record_new_term(self, request: RecordNewTerm) -> None:
        """Write the new term's row and the old contract's link to it, with the audit entry."""
        with self._database.session() as session:
            try:
                write_new_term(session, request, today=_business_day(request.old))
            except (NotFound, Conflict) as error:
                raise ApplicationError(
                    str(error), type=type(error).__name__, non_retryable=True
                ) from None

    @activity.defn
    def load_plan(self, code: str) -> Plan:
        """The plan `code`; a plan that does not exist fails without retrying."""
        with self._database.session() as session:
            try:
                return repository.get_plan(session, code)
            except NotFound as error:
                raise ApplicationError(
                    str(error), type="unknown_plan", non_retryable=True
                ) from None

    @activity.defn
    def record_command(self, request: RecordCommand) -> None:
        """Save the contract after an admin command (if it was accepted) with what it bills at
        once, audit it (R11) and write its events; a refused command leaves the contract as it
        is and writes `command.refused`."""
        with self._database.session() as session:
            before = repository.stored_contract(session, request.contract_id)
            invoice = None
            if request.invoice is not None:
                invoice = _issue_invoice(session, request.invoice)
            if request.contract is not None:
                try:
                    repository.save_contract(session, request.contract)
                except NotFound as error:  # never recorded: retrying will not write it
                    raise ApplicationError(
                        str(error), type=type(error).__name__, non_retryable=True
                    ) from None
            first = _audit(session, request, contract_id=request.contract_id)
            if first and before is not None:  # a contract never recorded has no events
                day = invoice.issue_date if invoice is not None else _business_day(before)
                record_events(session, request.key, _command_effect(request, before, day, invoice))


REFUSED = "Refused: "
"""How the workflow begins the effect of a refused command in the audit log."""


def _command_effect(
    request: RecordCommand, before: Contract, day: date, invoice: IssuedInvoice | None
) -> events.Effect:
    """What an admin command did, for `billing.events`: accepted, or refused (the workflow
    records a refusal with no contract and the effect "Refused: <why>")."""
    if request.contract is None:
        return events.Effect(
            day=day,
            before=before,
            after=before,
            command=request.command,
            requested=request.requested,
            refusal=request.effect.removeprefix(REFUSED),
        )
    return events.Effect(
        day=day,
        before=before,
        after=request.contract,
        invoice=invoice,
        command=request.command,
        requested=request.requested,
    )


def write_new_term(session: Session, request: RecordNewTerm, *, today: date) -> None:
    """The new term's row, the old contract's link to it, the audit entry and the events
    (business date `today`), in the caller's transaction; written once (the row and the audit
    entry are keyed). Raises `NotFound` or `Conflict` (the id is taken, or the old contract
    already has another next term)."""
    before = repository.stored_contract(session, request.old.id)
    recorded = repository.record_contract(session, request.successor)
    repository.save_contract(session, request.old)
    if _audit(session, request, contract_id=request.old.id) and before is not None:
        effect = events.Effect(
            day=today,
            before=before,
            after=request.old,
            successor=request.successor if recorded else None,
            command=request.command,
            requested=request.requested,
        )
        record_events(session, request.key, effect)


def _audit(session: Session, request: RecordCommand | RecordNewTerm, *, contract_id: str) -> bool:
    """The audit entry of an admin command (R11), once per key; True when written now."""
    return repository.record_audit(
        session,
        key=request.key,
        at=_now(),
        actor=request.requested.actor,
        reason=request.requested.reason,
        command=request.command,
        contract_id=contract_id,
        effect=request.effect,
        job_id=request.requested.job,
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _business_day(contract: Contract) -> date:
    """The contract's local date when the workflow asked for this write: the day the server
    scheduled the activity (a retry hours later still belongs to that day)."""
    return local_date(activity.info().scheduled_time, contract.timezone)


def _record_day(session: Session, request: RecordStep) -> DayRecorded:
    step = request.step
    contract, successor, draft = step.contract, step.successor, step.invoice
    before = repository.stored_contract(session, contract.id)
    created_successor = False
    if successor is not None:
        successor = _free_successor(session, successor)
        contract = contract.model_copy(update={"successor_id": successor.id})
        if draft is not None:
            draft = draft.model_copy(update={"successor_id": successor.id})
        created_successor = repository.record_contract(session, successor)
    invoice = _issue_invoice(session, draft) if draft is not None else None
    repository.save_contract(session, contract)
    first = repository.record_audit(
        session,
        key=request.key,
        at=_now(),
        actor="termshift",
        reason="scheduled",
        command=f"contract date {step.day}",
        contract_id=contract.id,
        effect=step.summary,
    )
    if first and before is not None:
        effect = events.Effect(
            day=step.day,
            before=before,
            after=contract,
            invoice=invoice,
            successor=successor if created_successor else None,
        )
        record_events(session, request.key, effect)
    return DayRecorded(invoice=invoice, successor=successor)


def _free_successor(session: Session, successor: Contract) -> Contract:
    """The successor itself, or under the next term id if an unrelated contract has its id."""
    while True:
        try:
            taken = repository.get_contract(session, successor.id).contract
        except NotFound:
            return successor
        if taken.replaces == successor.replaces:
            return successor  # written by an earlier attempt of this very step
        successor = successor.model_copy(update={"id": lifecycle.successor_id(successor.id)})


def _issue_invoice(session: Session, draft: InvoiceDraft) -> IssuedInvoice | None:
    """Apply the deposit rule (R9) in the ledger; write the invoice once per contract and date."""
    existing = repository.find_invoice(
        session, contract_id=draft.contract_id, issue_date=draft.issue_date, purpose=draft.purpose
    )
    if existing is not None:
        return existing
    lines = list(draft.lines)
    if draft.deposit_due or draft.replaces is not None:
        lines += _charge_deposit(session, draft)
    if draft.settle_deposit:
        lines += _settle_deposit(session, draft)
    if not lines:
        return None
    return repository.insert_invoice(
        session,
        contract_id=draft.contract_id,
        customer_id=draft.customer_id,
        currency=draft.currency,
        issue_date=draft.issue_date,
        lines=lines,
        purpose=draft.purpose,
    )


def _transfer(session: Session, draft: InvoiceDraft, source: str, target: str) -> None:
    """Pass what `source` holds to `target` (R9); keyed by each contract's transfer, so once."""
    held = repository.held_by_contract(session, source)
    if held <= 0:
        return
    for contract_id, kind, amount in (
        (source, DepositKind.TRANSFER_OUT, -held),
        (target, DepositKind.TRANSFER_IN, held),
    ):
        repository.record_deposit_movement(
            session,
            customer_id=draft.customer_id,
            contract_id=contract_id,
            kind=kind,
            amount=amount,
            on_date=draft.issue_date,
        )


def _charge_deposit(session: Session, draft: InvoiceDraft) -> list[InvoiceLine]:
    """First invoice: take over the replaced contract's deposit and charge only the top-up."""
    repository.lock_customer(session, draft.customer_id)
    if draft.replaces is not None:
        _transfer(session, draft, draft.replaces, draft.contract_id)
    inherited = repository.held_by_contract(session, draft.contract_id)
    outcome = deposits.first_invoice_deposit(required=draft.deposit_due, inherited=inherited)
    if outcome.charge <= 0:
        return []
    repository.record_deposit_movement(
        session,
        customer_id=draft.customer_id,
        contract_id=draft.contract_id,
        kind=DepositKind.CHARGE,
        amount=outcome.charge,
        on_date=draft.issue_date,
    )
    note = f" (top-up over {inherited} held)" if inherited > 0 else ""
    return [
        InvoiceLine(
            kind=LineKind.DEPOSIT,
            period_start=draft.issue_date,
            period_end=draft.issue_date,
            amount=outcome.charge,
            description=f"Refundable deposit{note}",
        )
    ]


def _settle_deposit(session: Session, draft: InvoiceDraft) -> list[InvoiceLine]:
    """The contract ends: pass its deposit on, hold it, or refund everything held (R9)."""
    repository.lock_customer(session, draft.customer_id)
    successor = draft.successor_id or repository.successor_of(session, draft.contract_id)
    outcome = deposits.on_contract_end(
        held_by_contract=repository.held_by_contract(session, draft.contract_id),
        held_by_customer=repository.held_by_customer(session, draft.customer_id),
        replaced=successor is not None,
        other_live_contract=repository.has_other_live_contract(
            session, draft.customer_id, excluding=draft.contract_id, on=draft.issue_date
        ),
    )
    if successor is not None:
        _transfer(session, draft, draft.contract_id, successor)
        return []
    if outcome.refund <= 0:
        return []
    # Everything the customer holds comes back, so every contract's holding goes to zero: an
    # earlier contract that only held its deposit must not pass it to a later new term.
    for contract_id, held in repository.holdings(session, draft.customer_id).items():
        repository.record_deposit_movement(
            session,
            customer_id=draft.customer_id,
            contract_id=contract_id,
            kind=DepositKind.REFUND,
            amount=-held,
            on_date=draft.issue_date,
        )
    refund = outcome.refund
    return [
        InvoiceLine(
            kind=LineKind.DEPOSIT_REFUND,
            period_start=draft.issue_date,
            period_end=draft.issue_date,
            amount=-refund,
            description="Deposit refunded: no other current or future contract",
        )
    ]
