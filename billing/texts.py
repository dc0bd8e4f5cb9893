"""The sentences of the admin commands' refusals (R5–R8, R10, R13), and the phrases and hints they
share with the effects (`billing.effects`).

`billing.rules` decides what is allowed; this module says why not and what to do instead. Every
CLI command a sentence names is written by `billing.commands.command`, from its one table.
"""

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from billing.commands import Cli, command
from billing.contract import Cancellation, ChangeKind, Contract, Location, Plan, ScheduledChange
from billing.errors import BillingError
from billing.money import format_money


def money(amount: Decimal, contract: Contract) -> str:
    return format_money(amount, contract.currency)


# --- what a command is doing, and the advice refusals give -------------------------------------

DOING_CANCEL_AT_NEXT_INVOICE = "cancel at the next invoice date"
DOING_CLEAR_CHANGE = "clear the scheduled change"
NOTHING_LEFT_TO_CANCEL = "There is nothing left to cancel."
NOTHING_SCHEDULED_ANY_MORE = "Nothing is scheduled on it any more."
CANCEL_AGAIN = ", then cancel again with the new date"


def doing_switch(plan_code: str) -> str:
    return f"schedule a switch to plan {plan_code}"


def doing_cancel(day: date) -> str:
    return f"cancel on {day}"


def doing_new_term(old: Contract) -> str:
    return f"create a new term after contract {old.id}"


def new_term_after_cancellation(contract: Contract, plan_code: str) -> str:
    """Advice appended to a conflict with a pending cancellation, for a plan change."""
    return ", or start a new term after the cancellation with " + command(
        Cli.NEW_TERM, from_=contract.id, plan=plan_code
    )


def change_future_contract(contract: Contract) -> str:
    return (
        "Change the plan of the future contract instead: cancel it on its start date with "
        f"{command(Cli.CANCEL, contract.id, date=contract.start)} and create a new term on the "
        f"plan you want with {command(Cli.NEW_TERM, from_=contract.id, plan='PLAN')}, or "
        "schedule the change once it has started."
    )


def cancel_future_contract(contract: Contract) -> str:
    return (
        f"Cancel the future contract with {command(Cli.CANCEL, contract.id, date=contract.start)} "
        "instead; it then never starts."
    )


# --- shared phrases ------------------------------------------------------------------------------


def cancellation_text(cancellation: Cancellation) -> str:
    how = "prorated" if cancellation.prorate else "not prorated"
    return (
        f"manual cancellation on {cancellation.date} ({how}, requested by "
        f"{cancellation.requested.actor})"
    )


def change_next_term(contract: Contract, day: date | None) -> str:
    """How to change what follows a contract whose next term is lined up (the two stay linked)."""
    switch = command(Cli.SWITCH, contract.successor_id, to="PLAN", on=day)
    return (
        "The two stay linked: change the next term instead, e.g. switch it to another plan from "
        f"its start with {switch}."
    )


def continue_hint(contract: Contract) -> str:
    """What continues an ended (or ending) contract: a new term (R13), or the one it has."""
    if contract.successor_id is not None:
        return (
            f"Its next term is contract {contract.successor_id}: see "
            f"{command(Cli.SHOW, contract.successor_id)}."
        )
    return f"Continue it with a new term instead: {command(Cli.NEW_TERM, from_=contract.id)}."


def pending_change_text(contract: Contract) -> str | None:
    """The scheduled change in words, or None: "switch to plan OFFICE scheduled for its next
    invoice date, 2027-04-01" or "cancellation scheduled for its next invoice date, …"."""
    change = contract.scheduled_change
    if change is None:
        return None
    when = f"scheduled for its next invoice date, {contract.next_invoice_date}"
    if change.kind is ChangeKind.NEXT_PLAN and change.next_plan is not None:
        return f"switch to plan {change.next_plan.code} {when}"
    return f"cancellation {when}"


# --- refusals shared by several commands (R10) ---------------------------------------------------


def ended(contract: Contract, ended_on: date, doing: str, advice: str) -> str:
    return f"Cannot {doing}: contract {contract.id} is cancelled; it ended on {ended_on}. {advice}"


def cancelling(contract: Contract, doing: str, advice: str = "") -> str:
    """A pending manual cancellation blocks other changes until `contracts uncancel` — or, once a
    next term is lined up after it, for good: what follows is changed on that term."""
    cancellation = contract.cancellation
    assert cancellation is not None
    pending = f"Cannot {doing}: contract {contract.id} already has a "
    if contract.successor_id is not None:
        return (
            f"{pending}{cancellation_text(cancellation)}, and contract {contract.successor_id} "
            f"is lined up as its next term. {change_next_term(contract, cancellation.date)}"
        )
    return (
        f"{pending}{cancellation_text(cancellation)}. Undo it first with "
        f"{command(Cli.UNCANCEL, contract.id)}{advice}."
    )


def not_started(contract: Contract, doing: str, advice: str) -> str:
    return (
        f"Cannot {doing}: contract {contract.id} has not started yet (it starts on "
        f"{contract.start}), so it has no next invoice date. {advice}"
    )


def change_pending(contract: Contract, doing: str) -> str:
    """A scheduled change blocks the command until `contracts clear-change` — or, once a next term
    is lined up after it, for good."""
    pending = pending_change_text(contract)
    if contract.successor_id is not None:
        return (
            f"Cannot {doing}: contract {contract.id} already has a {pending}, and contract "
            f"{contract.successor_id} is lined up as its next term. "
            f"{change_next_term(contract, contract.next_invoice_date)}"
        )
    return (
        f"Cannot {doing}: contract {contract.id} already has a {pending}. "
        f"Undo it first with {command(Cli.CLEAR_CHANGE, contract.id)}."
    )


def plan_elsewhere(contract: Contract, plan: Plan, doing: str) -> str:
    location = contract.location
    return (
        f"Cannot {doing}: plan {plan.code} belongs to location {plan.location_id}, but contract "
        f"{contract.id} is at {location.id} ({location.currency}). Choose a plan of "
        f"{location.id}."
    )


def plan_price_unbillable(contract: Contract, plan: Plan, doing: str, error: BillingError) -> str:
    return (
        f"Cannot {doing}: plan {plan.code} has a price that {contract.currency} cannot bill. "
        f"{error} Correct the plan's price first."
    )


def unknown_plan(code: str, *, location: Location, known: Iterable[str]) -> str:
    choices = ", ".join(sorted(known)) or "none yet"
    return (
        f"There is no plan {code!r} at location {location.id}: choose one of its plans ({choices})."
    )


# --- R5: automated change ------------------------------------------------------------------------


def same_plan(contract: Contract, doing: str, plan_code: str, scheduled: Plan | None) -> str:
    undo = (
        f" To keep plan {plan_code}, clear the scheduled switch to {scheduled.code} "
        f"with {command(Cli.CLEAR_CHANGE, contract.id)}."
        if scheduled is not None
        else ""
    )
    return (
        f"Cannot {doing}: contract {contract.id} is already on plan {plan_code}. "
        f"Choose a different plan.{undo}"
    )


def custom_price(contract: Contract, doing: str, plan_code: str) -> str:
    return (
        f"Cannot {doing}: contract {contract.id} has a custom price of "
        f"{money(contract.price, contract)}, while plan {contract.plan.code}'s price is "
        f"{money(contract.plan.price, contract)}, and automated plan changes are not allowed "
        "on custom prices. Use a manual change instead: cancel the contract with "
        f"{command(Cli.CANCEL, contract.id, date='DATE')} and create a new term with "
        f"{command(Cli.NEW_TERM, from_=contract.id, plan=plan_code)}, or do both at once with "
        f"{command(Cli.SWITCH, contract.id, to=plan_code, on='DATE')}. Or keep the automated "
        "change and give the next term its price: "
        f"{command(Cli.CHANGE, contract.id, next_plan=plan_code, price='PRICE')}."
    )


# --- R6, clearing a scheduled change --------------------------------------------------------------


def clear_change_successor(contract: Contract) -> str:
    return (
        f"Cannot clear the {pending_change_text(contract)} on contract {contract.id}: contract "
        f"{contract.successor_id} is lined up as its next term from "
        f"{contract.next_invoice_date}. "
        f"{change_next_term(contract, contract.next_invoice_date)}"
    )


def nothing_scheduled(contract: Contract) -> str:
    hint = (
        f" Its {cancellation_text(contract.cancellation)} is undone with "
        f"{command(Cli.UNCANCEL, contract.id)}."
        if contract.cancellation is not None and contract.successor_id is None
        else ""
    )
    return f"Contract {contract.id} has no scheduled change to clear.{hint}"


# --- R7: manual cancellation ---------------------------------------------------------------------


def date_before_start(contract: Contract, doing: str) -> str:
    start = contract.start
    return (
        f"Cannot {doing}: that is before the contract starts, on {start}. Choose {start} or later "
        f"(cancelling on {start} means it never starts)."
    )


def date_before_billed_period(contract: Contract, doing: str) -> str:
    return (
        f"Cannot {doing}: that is before the period currently billed, {contract.billed_from} to "
        f"{contract.billed_through}, and a cancellation cannot reach back before it. Choose "
        f"{contract.billed_from} or later."
    )


def date_in_past(doing: str, today: date) -> str:
    return (
        f"Cannot {doing}: that date is past and outside the period currently billed. Choose "
        f"{today} or later."
    )


# --- undoing a cancellation ----------------------------------------------------------------------


def uncancel_ended(contract: Contract, ended_on: date) -> str:
    return (
        f"Cannot undo the cancellation: contract {contract.id} ended on {ended_on}. "
        f"{continue_hint(contract)}"
    )


def nothing_to_undo(contract: Contract) -> str:
    change = contract.scheduled_change
    hint = (
        " Its cancellation at the next invoice date is undone with "
        f"{command(Cli.CLEAR_CHANGE, contract.id)}."
        if change is not None
        and change.kind is ChangeKind.CANCEL_AT_NEXT_INVOICE
        and contract.successor_id is None
        else ""
    )
    return f"Contract {contract.id} has no pending manual cancellation to undo.{hint}"


def uncancel_too_late(contract: Contract, cancellation: Cancellation, today: date) -> str:
    return (
        f"Cannot undo the cancellation: contract {contract.id} ended at 00:00 on "
        f"{cancellation.date} (today is {today}). {continue_hint(contract)}"
    )


def uncancel_successor(contract: Contract, cancellation: Cancellation) -> str:
    return (
        f"Cannot undo the cancellation on {cancellation.date}: contract "
        f"{contract.successor_id} is lined up as the next term of contract {contract.id}. "
        f"{change_next_term(contract, cancellation.date)}"
    )


# --- R8, R13: new term ---------------------------------------------------------------------------


def second_successor(old: Contract, doing: str) -> str:
    return (
        f"Cannot {doing}: it already has a next term, contract {old.successor_id}. Change or "
        f"cancel contract {old.successor_id} instead."
    )


def not_cancelled(old: Contract, doing: str) -> str:
    return (
        f"Cannot {doing}: contract {old.id} is not cancelled, so the new term would overlap it. "
        f"Cancel it first with {command(Cli.CANCEL, old.id, date='DATE')}, or cancel it and "
        "create the new term at once with "
        f"{command(Cli.SWITCH, old.id, to='PLAN', on='DATE')}."
    )


def overlap(old: Contract, doing: str, start: date, old_end: date) -> str:
    return (
        f"Cannot {doing} starting on {start}: contract {old.id} runs until {old_end} (its "
        "cancellation date, the first day not served), so the terms would overlap. Start the "
        f"new term on {old_end} or later."
    )


def prorate_not_allowed(plan: Plan, doing: str) -> str:
    return (
        f"Cannot {doing} with a prorated first invoice: plan {plan.code} does not allow it. "
        "Create it without the flag (a short first period is then charged at the full price), "
        "or choose a plan that allows it."
    )


def invalid_price(doing: str, price: Decimal, error: BillingError) -> str:
    return f"Cannot {doing} at the price {price}. {error}"


def same_id(old: Contract, doing: str) -> str:
    return f"Cannot {doing}: the new term needs an id of its own, not {old.id}'s."


def invalid_id(doing: str, id: str) -> str:
    return (
        f"Cannot {doing}: {id!r} is not a valid contract id. Use up to 64 letters, digits, "
        "'.', '_' or '-', starting with a letter or digit."
    )


# --- R14, R15: notice period and minimum term ----------------------------------------------------


def _override_hint() -> str:
    return "`--override-terms` with a reason passes it."


def notice(
    contract: Contract, doing: str, *, today: date, earliest: date, invoice_date: date | None
) -> str:
    """R14: the cancellation's date falls inside the notice period."""
    head = (
        f"Cannot {doing}: contract {contract.id} has a notice period of {contract.terms.notice}, "
        f"so a cancellation requested on {today} takes effect on {earliest} at the earliest."
    )
    if invoice_date is not None:
        return (
            f"{head} The first invoice date allowed is {invoice_date}: cancel then with "
            f"{command(Cli.CANCEL, contract.id, date=invoice_date)}, or on {earliest} with "
            f"{command(Cli.CANCEL, contract.id, date=earliest)}; {_override_hint()}"
        )
    return (
        f"{head} Cancel on {earliest} or later with "
        f"{command(Cli.CANCEL, contract.id, date=earliest)}; {_override_hint()}"
    )


def minimum_term(contract: Contract, doing: str, *, day: date, invoice_date: date | None) -> str:
    """R15: the cancellation's date falls inside the commitment."""
    commitment = contract.commitment_end
    assert commitment is not None
    head = (
        f"Cannot {doing}: contract {contract.id} is committed until {commitment} (minimum term "
        f"{contract.terms.minimum_term or 'of the contract it continues'})."
    )
    later = invoice_date if invoice_date is not None else commitment
    charge = command(Cli.CANCEL, contract.id, date=day, charge_remaining_term=True)
    return (
        f"{head} Cancel on {later} or later with {command(Cli.CANCEL, contract.id, date=later)}, "
        f"or on {day} charging the committed days after it with {charge}; {_override_hint()}"
    )


def override_without_reason(doing: str) -> str:
    return (
        f"Cannot {doing} with --override-terms and no reason: say why the terms are passed with "
        "--reason."
    )


def notice_passed(contract: Contract, earliest: date) -> str:
    return f"notice period {contract.terms.notice} (earliest date {earliest})"


def commitment_passed(commitment: date) -> str:
    return f"minimum term to {commitment}, nothing charged for it"


# --- R17: freezes; R18: scheduled prices ---------------------------------------------------------


def price_pending(contract: Contract, doing: str) -> str:
    scheduled = contract.scheduled_price
    assert scheduled is not None
    return (
        f"Cannot {doing}: contract {contract.id} already has a price change to "
        f"{money(scheduled.price, contract)} from {scheduled.effective}. Undo it first with "
        f"{command(Cli.CLEAR_CHANGE, contract.id)}, or give the next term's price with the "
        f"change: {command(Cli.CHANGE, contract.id, next_plan='PLAN', price='PRICE')}."
    )


def doing_set_price(price: Decimal, contract: Contract) -> str:
    return f"set the price of contract {contract.id} to {money(price, contract)}"


def doing_plan_price(plan_code: str, price: Decimal, contract: Contract) -> str:
    return (
        f"apply plan {plan_code}'s new price of {money(price, contract)} to contract {contract.id}"
    )


def not_on_plan(contract: Contract, doing: str, plan_code: str) -> str:
    return (
        f"Cannot {doing}: contract {contract.id} is on plan {contract.plan.code}, not "
        f"{plan_code}. Select the plan's contracts with --plan {plan_code}."
    )


def plan_price_unaffected(contract: Contract, price: Decimal) -> str:
    if contract.custom_price:
        return (
            f"Contract {contract.id} has a custom price of {money(contract.price, contract)}; "
            f"plan {contract.plan.code}'s new price of {money(price, contract)} does not apply "
            "to it."
        )
    return f"Contract {contract.id} is already invoiced at {money(price, contract)}."


def leaves_before_price(contract: Contract, price: Decimal, leaves: date, effective: date) -> str:
    return (
        f"Contract {contract.id} leaves plan {contract.plan.code} on {leaves}, before the new "
        f"price of {money(price, contract)} would apply on its invoice date {effective}."
    )


def next_term_price_kept(contract: Contract, change: ScheduledChange, price: Decimal) -> str:
    assert change.next_plan is not None
    kept = change.price if change.price is not None else change.next_plan.price
    return (
        f"Contract {contract.id}'s change to plan {change.next_plan.code} starts its next term "
        f"at {money(kept, contract)}, not at the plan's new price of {money(price, contract)}."
    )


def plan_price_date_in_past(doing: str, day: date, today: date) -> str:
    return (
        f"Cannot {doing} from {day}: that date is past (today is {today}). Choose {today} or later."
    )


def price_date_in_past(contract: Contract, price: Decimal, day: date, today: date) -> str:
    again = command(Cli.SET_PRICE, contract.id, price=price, from_=today)
    return (
        f"Cannot {doing_set_price(price, contract)} from {day}: that date is past. Choose "
        f"{today} or later: {again}."
    )


def price_unchanged(contract: Contract, doing: str) -> str:
    return (
        f"Cannot {doing}: that is its price already, and no other price is scheduled. "
        f"See {command(Cli.SHOW, contract.id)}."
    )


DOING_FREEZE = "freeze the contract"
DOING_UNFREEZE = "unfreeze the contract"


def freeze_running(contract: Contract, start: date, end: date) -> str:
    return (
        f"Cannot {DOING_FREEZE}: contract {contract.id} is already frozen from {start} to {end}. "
        f"End that freeze first with {command(Cli.UNFREEZE, contract.id)}."
    )


def freeze_too_long(contract: Contract, cycles: int, limit: int) -> str:
    return (
        f"Cannot {DOING_FREEZE} for {cycles} cycles: plan {contract.plan.code} allows at most "
        f"{limit} (max_freeze_cycles). Freeze for {limit} or fewer with "
        f"{command(Cli.FREEZE, contract.id, cycles=limit)}; `--override-terms` with a reason "
        "passes it."
    )


def too_many_freezes(
    contract: Contract, start: date, count: int, limit: int, earliest: date
) -> str:
    return (
        f"Cannot {DOING_FREEZE} from {start}: contract {contract.id} already has {count} "
        f"freeze{'s' if count != 1 else ''} starting in the 365 days up to it, and at most "
        f"{limit} a year are allowed (max_freezes_per_year). The first invoice date a new freeze "
        f"may start is {earliest}; `--override-terms` with a reason passes it."
    )


def invalid_cycles(cycles: int) -> str:
    return f"Cannot {DOING_FREEZE} for {cycles} cycles: freeze for 1 cycle or more."


def freeze_ending(contract: Contract, doing: str, end: date) -> str:
    """R17: the last frozen period of a freeze runs now; billing resumes on `end`."""
    if doing == DOING_UNFREEZE:
        return (
            f"Cannot {doing}: the freeze of contract {contract.id} ends on {end}, its next invoice "
            "date, already. There is nothing to unfreeze."
        )
    return (
        f"Cannot {doing}: contract {contract.id} is frozen until {end}, its next invoice date. "
        f"Ask for a new freeze once billing resumes on {end}."
    )


def not_frozen(contract: Contract) -> str:
    return (
        f"Cannot {DOING_UNFREEZE}: contract {contract.id} has no freeze scheduled or running. "
        f"Freeze it with {command(Cli.FREEZE, contract.id, cycles='N')}."
    )
