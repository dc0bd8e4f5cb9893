"""What goes in and out of a contract workflow: its input, its live view and the admin commands.

A command's input is read here, for the workflow (its updates and signals) and the CLI alike:
dates and amounts are refused with the sentences the CLI prints, and `describe_invalid` turns
every problem of an input into one sentence.
"""

from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from billing import adjustments, lifecycle, rules
from billing.calendar import read_iso_date
from billing.contract import Command, Contract, Plan
from billing.money import read_amount

IsoDate = Annotated[date, BeforeValidator(read_iso_date)]
"""A date written YYYY-MM-DD."""
Amount = Annotated[Decimal, BeforeValidator(read_amount)]
"""An amount written like "1500.00": finite, ASCII digits."""


class RefusedCommand(BaseModel):
    """A command the workflow refused, kept where an admin sees it (query and audit log)."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    command: str
    actor: str
    message: str


class ContractInput(BaseModel):
    """The workflow's input, and what continue-as-new carries: the whole state."""

    contract: Contract
    created: Command = Field(default_factory=lambda: Command(actor="termshift"))
    """Who created the contract and why (written to the audit log with the row)."""
    registered: bool = False
    """Whether the contract's row exists in the billing database."""
    refused: tuple[RefusedCommand, ...] = ()
    invoices_issued: int = 0
    jobs: tuple[str, ...] = ()
    """The bulk jobs whose command the contract has taken, latest last (SPEC §8)."""


class ContractView(BaseModel):
    """The workflow's live state, as the `state` query and the commands return it."""

    contract: Contract
    next_event_date: date | None
    next_event: str
    """In words: what happens on the next event date."""
    next_invoice_date: date | None
    """The next invoice that bills a period (None once the contract ends before one)."""
    registered: bool
    invoices_issued: int
    refused: tuple[RefusedCommand, ...]
    warnings: tuple[str, ...] = ()


class CommandResult(BaseModel):
    """What an admin command did: the effect in words, warnings, and the contract after it."""

    effect: str
    warnings: tuple[str, ...] = ()
    view: ContractView
    successor: Contract | None = None
    """The new term a `new_term` or `switch` created."""


class ScheduleChange(Command):
    """R5: switch to `next_plan` on the next invoice date; with `price`, the next term starts at
    it (R19)."""

    next_plan: str = Field(min_length=1, max_length=64)
    price: Amount | None = None


class CancelAtNextInvoice(Command):
    """R6: end the contract on its next invoice date."""

    override_terms: bool = False
    """Pass the notice period and the commitment (R14, R15); needs a reason."""


class ClearChange(Command):
    """Undo a scheduled plan change, cancellation at the next invoice date or price change (an
    end-of-term cancellation is undone by `uncancel`)."""


class Cancel(Command):
    """R7: end the contract at 00:00 on `date`, crediting or prorating if `prorate`."""

    date: IsoDate
    prorate: bool = False
    override_terms: bool = False
    """Pass the notice period and the commitment (R14, R15); needs a reason."""
    charge_remaining_term: bool = False
    """Inside the commitment: accept, and charge the committed days on `date` (R15)."""


class Uncancel(Command):
    """Undo a manual cancellation whose date is still ahead."""


class Freeze(Command):
    """R17: no plan line for `cycles` periods from the next invoice date."""

    cycles: int = Field(ge=1, le=120)
    override_terms: bool = False
    """Pass the plan's freeze limits; needs a reason."""


class Unfreeze(Command):
    """R17: end the freeze at the next invoice date."""


class SetPrice(Command):
    """R18: invoice at `price` from the first invoice date on or after `from` (default: the next
    invoice date)."""

    model_config = ConfigDict(populate_by_name=True)

    price: Amount
    from_: IsoDate | None = Field(default=None, alias="from")


class PlanPrice(Command):
    """R18 `plan_price`: the plan's new price, for one of its contracts (sent by a bulk job)."""

    model_config = ConfigDict(populate_by_name=True)

    plan: str = Field(min_length=1, max_length=64)
    price: Amount
    from_: IsoDate = Field(alias="from")
    grandfather: bool = False


BULK_COMMANDS: dict[str, type[Command]] = {
    "plan_price": PlanPrice,
    "set_price": SetPrice,
    "schedule_change": ScheduleChange,
    "cancel_at_next_invoice": CancelAtNextInvoice,
    "clear_change": ClearChange,
    "freeze": Freeze,
    "unfreeze": Unfreeze,
}
"""The commands a bulk job may send (SPEC §8), by update name."""

Decide = Callable[[Contract, date], "rules.Decision | rules.Rejection"]
"""A rule applied to the contract on a local date: a decision or a rejection."""


def decide(command: Command, next_plan: Plan | None = None) -> Decide:
    """The rule a command of `BULK_COMMANDS` applies, as the workflow's handler decides it and a
    bulk preview shows it (`schedule_change` needs its `next_plan`, loaded by the caller)."""
    match command:
        case PlanPrice():
            return lambda contract, today: adjustments.plan_price(
                contract,
                plan_code=command.plan,
                price=command.price,
                from_=command.from_,
                grandfather=command.grandfather,
                requested=command,
                today=today,
            )
        case SetPrice():
            return lambda contract, today: adjustments.set_price(
                contract, price=command.price, from_=command.from_, requested=command, today=today
            )
        case ScheduleChange():
            assert next_plan is not None
            return lambda contract, today: rules.schedule_change(
                contract, next_plan=next_plan, requested=command, today=today, price=command.price
            )
        case CancelAtNextInvoice():
            return lambda contract, today: rules.cancel_at_next_invoice(
                contract, requested=command, today=today, override_terms=command.override_terms
            )
        case ClearChange():
            return lambda contract, today: rules.clear_change(
                contract, requested=command, today=today
            )
        case Freeze():
            return lambda contract, today: adjustments.freeze(
                contract,
                cycles=command.cycles,
                requested=command,
                today=today,
                override_terms=command.override_terms,
            )
        case Unfreeze():
            return lambda contract, today: adjustments.unfreeze(
                contract, requested=command, today=today
            )
    raise TypeError(f"{type(command).__name__} is not a bulk command")


class NewTerm(Command):
    """R8: a new inactive contract that continues this one (the manual change's second step).

    Every field has the seed platform's default: the same plan, that plan's price, the start on
    this contract's cancellation date, this contract's billing anchor, no prorated first invoice.
    """

    id: str | None = Field(default=None, max_length=64)
    plan: str | None = Field(default=None, max_length=64)
    start: IsoDate | None = None
    price: Amount | None = None
    anchor: IsoDate | None = None
    prorate_first_invoice: bool = False


def decide_new_term(
    command: NewTerm,
    old: Contract,
    plan: Plan,
    today: date,
    *,
    deposit_held: Decimal | None = None,
) -> rules.Decision | rules.Rejection:
    """The rule (R8, R13) applied to a `new_term` command, its defaults filled in: the id is the
    next term id of `old` (`c1` → `c1-t2`) unless the command names one."""
    return rules.new_term(
        old,
        id=command.id or lifecycle.successor_id(old.id),
        plan=plan,
        start=command.start,
        price=command.price,
        anchor=command.anchor,
        prorate_first_invoice=command.prorate_first_invoice,
        requested=command,
        today=today,
        deposit_held=deposit_held,
    )


class Switch(Command):
    """The manual change in one step: cancel on `on` and continue with a new term on `to_plan`.

    The seed's two toggles, each on its own: `prorate` adjusts the old contract's last invoice
    (its unserved days are credited, or its last invoice is cut at `on`, R7);
    `prorate_first_invoice` prorates the new term's first invoice (R8). Left out (None), the
    second follows the first wherever the new plan allows a prorated first invoice.
    """

    to_plan: str = Field(min_length=1, max_length=64)
    on: IsoDate
    prorate: bool = False
    prorate_first_invoice: bool | None = None
    id: str | None = Field(default=None, max_length=64)
    price: Amount | None = None


def decide_switch(
    command: Switch, contract: Contract, plan: Plan, today: date
) -> tuple[rules.Decision, rules.Decision] | rules.Rejection:
    """The manual change in one step (R7 then R8): the cancellation on `command.on`, and the new
    term on `plan` that starts that day — or the first refusal of either."""
    cancelled = rules.cancel(
        contract,
        date=command.on,
        prorate=command.prorate,
        requested=command,
        today=today,
        terms_apply=False,  # a plan change, not a cancellation: no notice, the commitment kept
    )
    if isinstance(cancelled, rules.Rejection):
        return cancelled
    term = rules.new_term(
        cancelled.contract,
        id=command.id or lifecycle.successor_id(contract.id),
        plan=plan,
        start=command.on,
        price=command.price,
        anchor=None,
        prorate_first_invoice=(
            command.prorate and plan.prorate_first_invoice
            if command.prorate_first_invoice is None
            else command.prorate_first_invoice
        ),
        requested=command,
        today=today,
    )
    if isinstance(term, rules.Rejection):
        return term
    return cancelled, term


C = TypeVar("C", bound=Command)


class InvalidInput(ValueError):
    """A command's input that is not the command it names; the message says what is wrong."""


def describe_invalid(error: ValidationError) -> str:
    """Every problem of an input, as one sentence: "Invalid input — date: '2027-02-30' is not a
    date: write it as YYYY-MM-DD."."""
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in item["loc"]) or "input"
        message = str(item["msg"]).removeprefix("Value error, ").removesuffix(".")
        problems.append(f"{field}: {message}")
    return "Invalid input — " + "; ".join(problems) + "."


_JSON_KINDS: dict[type, str] = {
    type(None): "null",
    bool: "true or false",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "a list",
}


def parse_command(model: type[C], payloads: Sequence[Any], *, unknown_fields: bool = False) -> C:
    """The command that an update's or a signal's input describes, or `InvalidInput` saying why
    it does not (one JSON object is expected).

    A field the command does not have is refused unless `unknown_fields`: an update's validator
    refuses it before it enters history (a misspelt `prorrate` must not cancel without
    proration), while what is already in history — an update's handler, a signal on replay — is
    read tolerantly, so that a version that does not know a newer field still replays it.
    """
    if len(payloads) != 1:
        raise InvalidInput(
            f"Invalid input — expected one JSON object as input, got {len(payloads)} inputs; "
            "nothing changed."
        )
    if not isinstance(payloads[0], dict | model):
        kind = _JSON_KINDS.get(type(payloads[0]), "something else")
        raise InvalidInput(
            f"Invalid input — expected one JSON object as input, got {kind}; nothing changed."
        )
    if not unknown_fields and isinstance(payloads[0], dict):
        known = {
            key for name, field in model.model_fields.items() for key in (name, field.alias) if key
        }
        unknown = [str(key) for key in payloads[0] if key not in known]
        if unknown:
            problems = "; ".join(f"{key}: not a field of this command" for key in unknown)
            raise InvalidInput(f"Invalid input — {problems}; nothing changed.")
    try:
        return model.model_validate(payloads[0])
    except ValidationError as error:
        raise InvalidInput(
            describe_invalid(error).removesuffix(".") + "; nothing changed."
        ) from None
