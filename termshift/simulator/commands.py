"""A scenario's commands in the workflow's terms: the update message each action sends, its dates
shifted for the run (`workflow_message`), and the rule's own refusal of a command sent to a
contract whose workflow has already ended (`rule_refusal`).
"""

from billing import rules
from billing.contract import Command, Contract
from termshift.simulator.scenario import ActionSpec, DoSpec, NewTermSpec, SwitchSpec
from termshift.simulator.shift import shift_date
from workflows.messages import (
    Cancel,
    CancelAtNextInvoice,
    ClearChange,
    NewTerm,
    ScheduleChange,
    Switch,
    Uncancel,
)


def workflow_message(do: DoSpec, requested: Command, years: int) -> Command:
    """The workflow message of a scenario command, its dates shifted for the run by `years`."""
    who = requested.model_dump()
    if do.schedule_change is not None:
        return ScheduleChange(**who, next_plan=do.schedule_change.next_plan)
    if do.cancel_at_next_invoice is not None:
        return CancelAtNextInvoice(**who)
    if do.clear_change is not None:
        return ClearChange(**who)
    if do.cancel is not None:
        return Cancel(**who, date=shift_date(do.cancel.date, years), prorate=do.cancel.prorate)
    if do.uncancel is not None:
        return Uncancel(**who)
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
            contract, next_plan_code=do.schedule_change.next_plan, today=today
        )
    elif do.cancel_at_next_invoice is not None:
        outcome = rules.cancel_at_next_invoice(contract, requested=requested, today=today)
    elif do.clear_change is not None:
        outcome = rules.clear_change(contract, requested=requested, today=today)
    elif do.cancel is not None:
        outcome = rules.cancel(
            contract,
            date=shift_date(do.cancel.date, years),
            prorate=do.cancel.prorate,
            requested=requested,
            today=today,
        )
    elif do.uncancel is not None:
        outcome = rules.uncancel(contract, requested=requested, today=today)
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
