"""Steering a contract: plan changes, cancellations, new terms.

Each command is one update on the contract's workflow; the workflow validates it before it enters
history and answers with what it did. Only a new term of a contract whose workflow has completed
is made without it (`termshift.services.contracts.new_term_after_end`, R13).
"""

import sys
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

import typer
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from billing import rules, texts
from billing.calendar import local_date
from billing.contract import Command
from billing.money import parse_amount, read_amount
from billing.rules import RejectionCode
from store import repository
from store.errors import NotFound
from store.models import ID_LENGTH
from termshift.cli._common import (
    ActorOption,
    AddressOption,
    ContractArgument,
    Failed,
    JsonOption,
    OverrideFreezeLimitsOption,
    OverrideTermsOption,
    ReasonOption,
    Refused,
    YesOption,
    amount_text,
    client,
    console,
    database,
    emit_json,
    handled,
    requested,
    run,
)
from termshift.cli.contracts import contracts, existing_contract_id, required_date
from termshift.cli.views import live_view, no_workflow
from termshift.services.contracts import (
    BUSY_RETRY_SECONDS,
    CommandRefused,
    ContractNotEnded,
    new_term_after_end,
)
from termshift.services.refusals import send_recording_refusal
from termshift.settings import Settings
from workflows import workflow_id
from workflows.messages import (
    Cancel,
    CancelAtNextInvoice,
    ClearChange,
    CommandResult,
    Freeze,
    NewTerm,
    ScheduleChange,
    SetPrice,
    Switch,
    Uncancel,
    Unfreeze,
)

REFUSALS = frozenset(code.value for code in RejectionCode) | {"registration_failed"}


async def _send(
    contract_id: str, update: str, message: Command, address: str | None
) -> CommandResult:
    """Execute the update on the contract's workflow; refusals become exit code 2 (and a
    `command.refused` event).

    A new term of a contract whose workflow has completed is made without it (R13)."""
    temporal = await client(address)
    try:
        return await send_recording_refusal(temporal, database(), contract_id, update, message)
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        if isinstance(cause, ApplicationError) and (cause.type in REFUSALS or cause.non_retryable):
            raise Refused(cause.message, code=cause.type or "refused") from None
        raise Failed(str(cause or error)) from None
    except RPCError as error:
        if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            if isinstance(message, NewTerm):
                return await _new_term_after_end(temporal, contract_id, message)
            raise Refused(no_workflow(contract_id), code="not_running") from None
        if error.status is RPCStatusCode.RESOURCE_EXHAUSTED:
            raise Failed(
                f"Contract {contract_id} is busy with other commands (retried for "
                f"{BUSY_RETRY_SECONDS:.0f} s); nothing changed. Try again in a moment."
            ) from None
        raise


async def _new_term_after_end(
    temporal: Client, contract_id: str, message: NewTerm
) -> CommandResult:
    try:
        return await new_term_after_end(
            temporal, database(), contract_id, message, task_queue=Settings().task_queue
        )
    except CommandRefused as refusal:
        raise Refused(str(refusal), code=refusal.code) from None
    except ContractNotEnded:
        raise Refused(no_workflow(contract_id), code="not_running") from None


def _steer(
    contract_id: str,
    update: str,
    build: Callable[[Command], Command],
    *,
    address: str | None,
    actor: str | None,
    reason: str,
    as_json: bool,
    confirmed: bool | None = None,
) -> None:
    """Build the command's message (refusing bad input), send it, and print what it did.

    `confirmed` is given for commands that cancel on a date (`--yes`): one that takes effect at
    once is confirmed first.
    """
    who = requested(actor, reason)
    with handled():
        existing_contract_id(contract_id)

    async def go() -> CommandResult:
        message = build(who)
        if confirmed is not None and isinstance(message, Cancel | Switch):
            await _confirm_if_immediate(contract_id, message, address, confirmed=confirmed)
        return await _send(contract_id, update, message, address)

    _report(run(go), as_json)


async def _confirm_if_immediate(
    contract_id: str, message: Cancel | Switch, address: str | None, *, confirmed: bool
) -> None:
    """A cancellation dated today or earlier ends the contract at once (and may refund its
    deposit): say what it does and ask first, unless `--yes` was given. Outside a terminal,
    without `--yes`, nothing is sent."""
    _, view = await live_view(await client(address), contract_id)
    if view is None or confirmed:
        return  # a contract that takes no commands is refused with its own reason
    contract = view.contract
    today = local_date(datetime.now(UTC), contract.timezone)
    day = message.date if isinstance(message, Cancel) else message.on
    if day > today:
        return
    outcome = rules.cancel(
        contract,
        date=day,
        prorate=message.prorate,
        requested=message,
        today=today,
        override_terms=isinstance(message, Cancel) and message.override_terms,
        charge_remaining_term=isinstance(message, Cancel) and message.charge_remaining_term,
        terms_apply=isinstance(message, Cancel),
    )
    if isinstance(outcome, rules.Rejection):
        return  # refused anyway, by the workflow, with the rule's own message
    when = "today" if day == today else f"in the past (today is {today})"
    text = (
        f"{outcome.effect} It takes effect at once: {day} is {when}, and the deposit is settled "
        "then (refunded unless the customer has another current or future contract)."
    )
    if not sys.stdin.isatty():
        raise Refused(
            f"{text} Nothing changed: run the same command with --yes to confirm.",
            code="confirmation_required",
        )
    console.print(text, highlight=False)
    if not typer.confirm("Go ahead?", default=False):
        raise Refused("Not confirmed; nothing changed.", code="not_confirmed")


def _report(result: CommandResult, as_json: bool) -> None:
    if as_json:
        emit_json(result)
        return
    console.print(result.effect, highlight=False)
    for warning in result.warnings:
        console.print(f"[bold yellow]Warning:[/] {warning}", highlight=False)
    if result.successor is not None:
        console.print(
            f"New term: contract [bold]{result.successor.id}[/], workflow "
            f"{workflow_id(result.successor.id)}.",
            highlight=False,
        )
    console.print(f"Next: {result.view.next_event}", highlight=False)


@contracts.command("change")
def change(
    contract_id: ContractArgument,
    next_plan: Annotated[str, typer.Option("--next-plan", help="Plan to switch to.")],
    price: Annotated[
        str | None,
        typer.Option(
            help="The next term's price (default: the next plan's); allowed on a custom price "
            "(R19)."
        ),
    ] = None,
    address: AddressOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """Switch plan on the next invoice date (automated change, R5); run again to replace it."""
    _steer(
        contract_id,
        "schedule_change",
        lambda who: ScheduleChange(
            next_plan=_plan(next_plan),
            price=None if price is None else _price(contract_id, price),
            **who.model_dump(),
        ),
        address=address,
        actor=actor,
        reason=reason,
        as_json=json,
    )


@contracts.command("cancel-at-next-invoice")
def cancel_at_next_invoice(
    contract_id: ContractArgument,
    override_terms: OverrideTermsOption = False,
    address: AddressOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """End the contract on its next invoice date (R6; not the recommended way to cancel)."""
    _steer(
        contract_id,
        "cancel_at_next_invoice",
        lambda who: CancelAtNextInvoice(override_terms=override_terms, **who.model_dump()),
        address=address,
        actor=actor,
        reason=reason,
        as_json=json,
    )


@contracts.command("clear-change")
def clear_change(
    contract_id: ContractArgument,
    address: AddressOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """Undo a pending plan change or end-of-term cancellation."""
    _steer(
        contract_id,
        "clear_change",
        lambda who: ClearChange(**who.model_dump()),
        address=address,
        actor=actor,
        reason=reason,
        as_json=json,
    )


ProrateOption = Annotated[
    bool,
    typer.Option(
        "--prorate/--no-prorate",
        help="Credit the unserved days, or prorate the last invoice (R7).",
    ),
]


@contracts.command("cancel")
def cancel(
    contract_id: ContractArgument,
    on: Annotated[
        str,
        typer.Option(
            "--date",
            help="Cancellation date, the first day not served: YYYY-MM-DD, today, tomorrow or "
            "yesterday.",
        ),
    ],
    prorate: ProrateOption = False,
    override_terms: OverrideTermsOption = False,
    charge_remaining_term: Annotated[
        bool,
        typer.Option(
            "--charge-remaining-term",
            help="Inside the minimum term: cancel anyway, and charge the committed days after "
            "the date on it (an early_termination line, R15).",
        ),
    ] = False,
    yes: YesOption = False,
    address: AddressOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """Cancel on a date (manual cancellation, R7); a date today or earlier asks first. The
    notice period and the minimum term apply (R14, R15)."""
    _steer(
        contract_id,
        "cancel",
        lambda who: Cancel(
            date=required_date(on, "Cancellation date", timezone=_timezone(contract_id)),
            prorate=prorate,
            override_terms=override_terms,
            charge_remaining_term=charge_remaining_term,
            **who.model_dump(),
        ),
        address=address,
        actor=actor,
        reason=reason,
        as_json=json,
        confirmed=yes,
    )


@contracts.command("uncancel")
def uncancel(
    contract_id: ContractArgument,
    address: AddressOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """Undo a manual cancellation while its date is still ahead."""
    _steer(
        contract_id,
        "uncancel",
        lambda who: Uncancel(**who.model_dump()),
        address=address,
        actor=actor,
        reason=reason,
        as_json=json,
    )


@contracts.command("new-term")
def new_term(
    from_id: Annotated[str, typer.Option("--from", help="The contract the new term continues.")],
    plan: Annotated[str | None, typer.Option(help="Plan (default: the same).")] = None,
    start: Annotated[
        str | None,
        typer.Option(help="Start date, YYYY-MM-DD or today (default: the cancellation date)."),
    ] = None,
    price: Annotated[str | None, typer.Option(help="Custom price (default: the plan's).")] = None,
    anchor: Annotated[
        str | None, typer.Option(help="Billing anchor (default: the old contract's).")
    ] = None,
    prorate_first_invoice: Annotated[
        bool,
        typer.Option("--prorate-first-invoice", help="Prorate the first stub period (R8)."),
    ] = False,
    id: Annotated[str | None, typer.Option("--id", help="New contract id.")] = None,
    address: AddressOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """Create the next term of a cancelled contract (the manual change's second step, R8):
    before its cancellation date, on it, or any time after it ended (R13)."""
    _steer(
        from_id,
        "new_term",
        lambda who: NewTerm(
            id=id,
            plan=None if plan is None else _plan(plan),
            start=None
            if start is None
            else required_date(start, "Start date", timezone=_timezone(from_id)),
            price=None if price is None else _price(from_id, price),
            anchor=None
            if anchor is None
            else required_date(anchor, "Anchor", timezone=_timezone(from_id)),
            prorate_first_invoice=prorate_first_invoice,
            **who.model_dump(),
        ),
        address=address,
        actor=actor,
        reason=reason,
        as_json=json,
    )


@contracts.command("switch")
def switch(
    contract_id: ContractArgument,
    to: Annotated[str, typer.Option("--to", help="Plan of the new term.")],
    on: Annotated[
        str,
        typer.Option(
            "--on", help="Date the new plan starts (the old one ends): YYYY-MM-DD, today, tomorrow."
        ),
    ],
    prorate: Annotated[
        bool,
        typer.Option(
            "--prorate/--no-prorate",
            help="Both toggles below at once (the first invoice only where the new plan allows).",
        ),
    ] = False,
    prorate_last_invoice: Annotated[
        bool | None,
        typer.Option(
            "--prorate-last-invoice/--full-last-invoice",
            help="Adjust the old plan's last invoice: credit its unserved days, or cut it at the "
            "switch date (R7). Default: --prorate.",
        ),
    ] = None,
    prorate_first_invoice: Annotated[
        bool | None,
        typer.Option(
            "--prorate-first-invoice/--full-first-invoice",
            help="Prorate the new term's first invoice (R8); the plan must allow it. Default: "
            "--prorate.",
        ),
    ] = None,
    price: Annotated[str | None, typer.Option(help="Custom price of the new term.")] = None,
    id: Annotated[str | None, typer.Option("--id", help="New contract id.")] = None,
    yes: YesOption = False,
    address: AddressOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """Manual change in one step: cancel on a date and continue on another plan, all or nothing."""
    _steer(
        contract_id,
        "switch",
        lambda who: Switch(
            to_plan=_plan(to),
            on=required_date(on, "Switch date", timezone=_timezone(contract_id)),
            prorate=prorate if prorate_last_invoice is None else prorate_last_invoice,
            # --prorate alone: the first invoice too, wherever the new plan allows it.
            prorate_first_invoice=(
                prorate_first_invoice
                if prorate_first_invoice is not None
                else (None if prorate else False)
            ),
            id=id,
            price=None if price is None else _price(contract_id, price),
            **who.model_dump(),
        ),
        address=address,
        actor=actor,
        reason=reason,
        as_json=json,
        confirmed=yes,
    )


def _plan(code: str) -> str:
    """A plan code that exists: refused here, before the command enters the workflow's history
    (the workflow checks the plan's location and currency against the contract's)."""
    if len(code) <= ID_LENGTH:
        with database().session() as session:
            repository.get_plan(session, code)
    return code


def _timezone(contract_id: str) -> str:
    """The contract's location's timezone, in which `today` is meant (UTC for a contract that
    does not exist: the command is then refused for that)."""
    with database().session() as session:
        try:
            return repository.get_contract(session, contract_id).contract.timezone
        except NotFound:
            return "UTC"


def _price(contract_id: str, text: str) -> Decimal:
    """A custom price in the contract's currency: finite, above zero, at most its decimals."""
    currency = None
    with database().session() as session, suppress(NotFound):  # then: "no such contract"
        currency = repository.get_contract(session, contract_id).contract.currency
    if currency is None:
        return read_amount(amount_text(text))
    return parse_amount(amount_text(text), currency)


@contracts.command("freeze")
def freeze(
    contract_id: ContractArgument,
    cycles: Annotated[
        int, typer.Option(help="Billing cycles to freeze, from the next invoice date.")
    ],
    override_terms: OverrideFreezeLimitsOption = False,
    address: AddressOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """Freeze for N cycles from the next invoice date: no plan line, the commitment end moves
    later (R17)."""
    _steer(
        contract_id,
        "freeze",
        lambda who: Freeze(
            cycles=_cycles(cycles), override_terms=override_terms, **who.model_dump()
        ),
        address=address,
        actor=actor,
        reason=reason,
        as_json=json,
    )


def _cycles(cycles: int) -> int:
    """A freeze of at least one cycle (the message is the workflow's own refusal)."""
    if cycles < 1:
        raise Refused(texts.invalid_cycles(cycles))
    return cycles


@contracts.command("unfreeze")
def unfreeze(
    contract_id: ContractArgument,
    address: AddressOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """End the freeze at the next invoice date (a freeze not yet begun is dropped, R17)."""
    _steer(
        contract_id,
        "unfreeze",
        lambda who: Unfreeze(**who.model_dump()),
        address=address,
        actor=actor,
        reason=reason,
        as_json=json,
    )


@contracts.command("set-price")
def set_price(
    contract_id: ContractArgument,
    price: Annotated[str, typer.Option(help="The new price, in the contract's currency.")],
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="From the first invoice date on or after this date (YYYY-MM-DD or today; "
            "default: the next invoice date).",
        ),
    ] = None,
    address: AddressOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """Invoice at a new price from an invoice date on (R18); `contracts clear-change` undoes it."""
    _steer(
        contract_id,
        "set_price",
        lambda who: SetPrice(
            price=_price(contract_id, price),
            from_=None
            if from_ is None
            else required_date(from_, "Price date", timezone=_timezone(contract_id)),
            **who.model_dump(),
        ),
        address=address,
        actor=actor,
        reason=reason,
        as_json=json,
    )
