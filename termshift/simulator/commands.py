"""A scenario's commands in the workflow's terms: the update message each action sends, its dates
shifted for the run (`workflow_message`), and the rule's own refusal of a command sent to a
contract whose workflow has already ended (`rule_refusal`).
"""

from billing import adjustments, rules
from billing.contract import Command, Contract
from termshift.simulator.scenario import ActionSpec, DoSpec, NewTermSpec, SwitchSpec
from termshift.simulator.shift import shift_date
from workflows.messages import (
    Cancel,
    CancelAtNextInvoice,
    ClearChange,
    Freeze,
    NewTerm,
    PlanPrice,
    ScheduleChange,
    SetPrice,
    Switch,
    Uncancel,
    Unfreeze,
)


def workflow_message(do: DoSpec, requested: Command, years: int) -> Command:
    """The workflow message of a scenario command, its dates shifted for the run by `years`."""
    who = requested.model_dump()
    if do.schedule_change is not None:
        change = do.schedule_change
        return ScheduleChange(**who, next_plan=change.next_plan, price=change.price)
    if do.cancel_at_next_invoice is not None:
        return CancelAtNextInvoice(**who, override_terms=do.cancel_at_next_invoice.override_terms)
    if do.clear_change is not None:
        return ClearChange(**who)
    if do.cancel is not None:
        cancel = do.cancel
        return Cancel(
            **who,
            date=shift_date(cancel.date, years),
            prorate=cancel.prorate,
            override_terms=cancel.override_terms,
            charge_remaining_term=cancel.charge_remaining_term,
        )
    if do.uncancel is not None:
        return Uncancel(**who)
    if do.freeze is not None:
        return Freeze(**who, cycles=do.freeze.cycles, override_terms=do.freeze.override_terms)
    if do.unfreeze is not None:
        return Unfreeze(**who)
    if do.set_price is not None:
        since = do.set_price.from_
        return SetPrice(
            **who,
            price=do.set_price.price,
            from_=None if since is None else shift_date(since, years),
        )
    if do.plan_price is not None:
        repriced = do.plan_price
        return PlanPrice(
            **who,
            plan=repriced.plan,
            price=repriced.price,
            from_=shift_date(repriced.from_, years),
            grandfather=repriced.grandfather,
        )
    if do.switch is not None:
        return switch_message(do.switch, requested, years)
    assert do.new_term is not None
    return new_term_message(do.new_term, requested, years)


def switch_message(switch: SwitchSpec, requested: Command, years: int) -> Switch:
    return Switch(
        **requested.model_dump(),
        to_plan=switch.to,
        on=shift_date(switch.on, years),
        prorate=switch.prorate,
        prorate_first_invoice=switch.prorate_first_invoice,
        id=switch.id,
        price=switch.price,
    )


def new_term_message(term: NewTermSpec, requested: Command, years: int) -> NewTerm:
    return NewTerm(
        **requested.model_dump(),
        id=term.id,
        plan=term.plan,
        start=shift_date(term.start, years),
        price=term.price,
        anchor=None if term.anchor is None else shift_date(term.anchor, years),
        prorate_first_invoice=term.prorate_first_invoice,
    )


def rule_refusal(
    contract: Contract, action: ActionSpec, requested: Command, years: int
) -> str | None:
    """The rule's own refusal of a command on an ended contract, where it has one (the action's
    dates shifted for the run by `years`)."""
    do, today = action.do, shift_date(action.on, years)
    outcome: rules.Decision | rules.Rejection | None
    if do.schedule_change is not None:
        outcome = rules.precheck_schedule_change(
            contract,
            next_plan_code=do.schedule_change.next_plan,
            today=today,
            price=do.schedule_change.price,
        )
    elif do.cancel_at_next_invoice is not None:
        outcome = rules.cancel_at_next_invoice(
            contract,
            requested=requested,
            today=today,
            override_terms=do.cancel_at_next_invoice.override_terms,
        )
    elif do.clear_change is not None:
        outcome = rules.clear_change(contract, requested=requested, today=today)
    elif do.cancel is not None:
        outcome = rules.cancel(
            contract,
            date=shift_date(do.cancel.date, years),
            prorate=do.cancel.prorate,
            requested=requested,
            today=today,
            override_terms=do.cancel.override_terms,
            charge_remaining_term=do.cancel.charge_remaining_term,
        )
    elif do.uncancel is not None:
        outcome = rules.uncancel(contract, requested=requested, today=today)
    elif do.freeze is not None:
        outcome = adjustments.freeze(
            contract,
            cycles=do.freeze.cycles,
            requested=requested,
            today=today,
            override_terms=do.freeze.override_terms,
        )
    elif do.unfreeze is not None:
        outcome = adjustments.unfreeze(contract, requested=requested, today=today)
    elif do.set_price is not None:
        since = do.set_price.from_
        outcome = adjustments.set_price(
            contract,
            price=do.set_price.price,
            from_=None if since is None else shift_date(since, years),
            requested=requested,
            today=today,
        )
    elif do.switch is not None:
        # A switch is a cancellation first: on an ended contract, that is what is refused.
        outcome = rules.cancel(
            contract,
            date=shift_date(do.switch.on, years),
            prorate=do.switch.prorate,
            requested=requested,
            today=today,
        )
    else:
        outcome = None
    return outcome.message if isinstance(outcome, rules.Rejection) else None
