"""Which events an effect writes (SPEC §7, `billing.events`), and what each one says.

The effects are the core's own: contracts from `new_contract`, dates from `lifecycle.advance`,
commands from `billing.rules` and `billing.adjustments`. An invoice is issued as the ledger would
issue it to a customer with this one contract (the deposit charged on the first invoice, refunded
when it ends). A property test runs random lives and checks that the events tell the same story
as the contract's state.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing import adjustments, lifecycle, rules
from billing.contract import (
    ChangeKind,
    Command,
    Contract,
    ContractStatus,
    InvoiceDraft,
    InvoiceLine,
    InvoicePurpose,
    LineKind,
    Location,
    Plan,
    new_contract,
)
from billing.events import (
    PAYLOAD_VERSION,
    Effect,
    EventDraft,
    EventType,
    contract_state,
    event_id,
    events_of,
    money,
)
from billing.terms import Renewal, Terms

E = EventType
BERLIN = Location(id="ber", name="Berlin", timezone="Europe/Berlin", currency="EUR")
HOT = Plan(
    code="HOT", name="Hot desk", location_id="ber", price=Decimal("1000.00"),
    deposit=Decimal("200.00"), terms=Terms(max_freeze_cycles=3),
)  # fmt: skip
OFFICE = Plan(code="OFFICE", name="Office", location_id="ber", price=Decimal("1500.00"))
RENEWING = Plan(
    code="RENEW", name="Renewing desk", location_id="ber", price=Decimal("500.00"),
    terms=Terms(minimum_term="3 months", renewal=Renewal.RENEW),
)  # fmt: skip
ENDING = RENEWING.model_copy(
    update={"code": "END", "terms": Terms(minimum_term="3 months", renewal=Renewal.END)}
)
ALICE = Command(actor="alice", reason="customer asked")
MAR_1 = date(2027, 3, 1)


@dataclass(frozen=True)
class Issued:
    """An invoice as the ledger issues it (`store.records.IssuedInvoice`'s fields)."""

    number: str
    issue_date: date
    purpose: InvoicePurpose
    currency: str
    total: Decimal
    lines: tuple[InvoiceLine, ...]


def issue(draft: InvoiceDraft | None, contract: Contract) -> Issued | None:
    """The invoice of `draft` for a customer with this one contract: the deposit charged in full
    on the first invoice, refunded when the contract ends without a next term (R9)."""
    if draft is None:
        return None
    lines = list(draft.lines)
    day = draft.issue_date
    if draft.deposit_due > 0:
        lines.append(deposit_line(LineKind.DEPOSIT, day, draft.deposit_due))
    replaced = draft.successor_id or contract.successor_id
    if draft.settle_deposit and replaced is None and contract.plan.deposit > 0:
        lines.append(deposit_line(LineKind.DEPOSIT_REFUND, day, -contract.plan.deposit))
    if not lines:
        return None
    total = sum((line.amount for line in lines), Decimal(0))
    return Issued(f"INV-{day}", day, draft.purpose, draft.currency, total, tuple(lines))


def deposit_line(kind: LineKind, day: date, amount: Decimal) -> InvoiceLine:
    return InvoiceLine(kind=kind, period_start=day, period_end=day, amount=amount, description="")


def contract(plan: Plan = HOT, start: date = MAR_1) -> Contract:
    return new_contract(id="c1", customer_id="ada", location=BERLIN, plan=plan, start=start)


def on_date(value: Contract) -> tuple[Contract, list[EventDraft]]:
    """The contract's next date, as `record_day` writes it: the contract after, its events."""
    step = lifecycle.advance(value)
    effect = Effect(
        day=step.day,
        before=value,
        after=step.contract,
        invoice=issue(step.invoice, step.contract),
        successor=step.successor,
    )
    return step.contract, events_of(effect)


def commanded(
    value: Contract, outcome: rules.Decision | rules.Rejection, day: date, name: str = "command"
) -> tuple[Contract, list[EventDraft]]:
    """An admin command's outcome, as `record_command` writes it."""
    if isinstance(outcome, rules.Rejection):
        effect = Effect(
            day=day, before=value, after=value, command=name, requested=ALICE,
            refusal=outcome.message,
        )  # fmt: skip
        return value, events_of(effect)
    effect = Effect(
        day=day, before=value, after=outcome.contract, command=name, requested=ALICE,
        invoice=issue(outcome.invoice, outcome.contract),
    )  # fmt: skip
    return outcome.contract, events_of(effect)


def types(drafts: list[EventDraft]) -> list[EventType]:
    return [draft.type for draft in drafts]


def started(plan: Plan = HOT) -> Contract:
    value, _ = on_date(contract(plan))
    return value


# --- one effect each -----------------------------------------------------------------------------


def test_a_recorded_contract_writes_created_with_its_state_and_who_asked() -> None:
    value = contract()
    [created] = events_of(
        Effect(day=MAR_1, before=None, after=value, command="contracts create", requested=ALICE)
    )

    assert (created.type, created.contract_id, created.business_date) == (
        E.CONTRACT_CREATED,
        "c1",
        MAR_1,
    )
    payload = created.payload.model_dump(mode="json")
    assert payload["version"] == PAYLOAD_VERSION == 1
    assert payload["contract"]["price"] == "1000.00"
    assert payload["contract"]["status"] == "inactive"
    assert payload["contract"]["start"] == "2027-03-01"
    assert payload["invoice"] is None
    assert payload["command"] == {
        "name": "contracts create",
        "actor": "alice",
        "reason": "customer asked",
        "refusal": None,
    }


def test_the_first_invoice_starts_the_contract_and_charges_the_deposit() -> None:
    _, drafts = on_date(contract())

    assert types(drafts) == [E.CONTRACT_STARTED, E.INVOICE_ISSUED, E.DEPOSIT_CHARGED]
    invoice = drafts[1].payload.model_dump(mode="json")["invoice"]
    assert invoice["total"] == "1200.00"
    assert [(line["kind"], line["amount"]) for line in invoice["lines"]] == [
        ("plan", "1000.00"),
        ("deposit", "200.00"),
    ]
    deposit = drafts[2].payload.model_dump(mode="json")["deposit"]
    assert deposit == {"movement": "charge", "amount": "200.00", "currency": "EUR"}
    assert drafts[0].payload.command is None  # a date of the contract's life, not a command
    assert {draft.business_date for draft in drafts} == {MAR_1}


def test_a_regular_invoice_writes_only_invoice_issued() -> None:
    _, drafts = on_date(started())
    assert types(drafts) == [E.INVOICE_ISSUED]
    assert drafts[0].business_date == date(2027, 4, 1)


def test_a_next_plan_is_scheduled_replaced_and_cleared() -> None:
    value = started()
    day = date(2027, 3, 10)
    value, drafts = commanded(
        value, rules.schedule_change(value, next_plan=OFFICE, requested=ALICE, today=day), day
    )
    assert types(drafts) == [E.CHANGE_SCHEDULED]
    assert drafts[0].payload.contract.scheduled_change is not None

    # The same plan again changes nothing, so it writes nothing.
    again = rules.schedule_change(value, next_plan=OFFICE, requested=ALICE, today=day)
    assert commanded(value, again, day)[1] == []

    # At another price it is another change (R19).
    priced = rules.schedule_change(
        value, next_plan=OFFICE, requested=ALICE, today=day, price=Decimal("1400.00")
    )
    value, drafts = commanded(value, priced, day)
    assert types(drafts) == [E.CHANGE_SCHEDULED]

    _, drafts = commanded(value, rules.clear_change(value, requested=ALICE, today=day), day)
    assert types(drafts) == [E.CHANGE_CLEARED]


def test_the_automated_switch_ends_the_contract_and_creates_the_next_term() -> None:
    value = started()
    day = date(2027, 3, 10)
    value, _ = commanded(
        value, rules.schedule_change(value, next_plan=OFFICE, requested=ALICE, today=day), day
    )

    after, drafts = on_date(value)

    assert [(draft.contract_id, draft.type) for draft in drafts] == [
        ("c1", E.SWITCHED),
        ("c1-t2", E.CONTRACT_CREATED),
    ]
    assert after.successor_id == "c1-t2"
    assert drafts[0].payload.contract.successor_id == "c1-t2"
    assert drafts[1].payload.contract.replaces == "c1"


def test_cancel_at_next_invoice_is_a_cancellation_scheduled_then_cleared() -> None:
    value = started()
    day = date(2027, 3, 10)
    cancelling, drafts = commanded(
        value, rules.cancel_at_next_invoice(value, requested=ALICE, today=day), day
    )
    assert types(drafts) == [E.CANCELLATION_SCHEDULED]

    _, drafts = commanded(
        cancelling, rules.clear_change(cancelling, requested=ALICE, today=day), day
    )
    assert types(drafts) == [E.CANCELLATION_CLEARED]

    ended, drafts = on_date(cancelling)
    assert ended.status is ContractStatus.CANCELLED
    assert types(drafts) == [E.INVOICE_ISSUED, E.DEPOSIT_REFUNDED, E.ENDED]


def test_a_manual_cancellation_ends_with_its_credit_and_the_refund() -> None:
    value = started()
    day = date(2027, 3, 10)
    decision = rules.cancel(value, date=date(2027, 3, 21), prorate=True, requested=ALICE, today=day)
    cancelling, drafts = commanded(value, decision, day)
    assert types(drafts) == [E.CANCELLATION_SCHEDULED]

    _, drafts = on_date(cancelling)

    assert types(drafts) == [E.INVOICE_ISSUED, E.DEPOSIT_REFUNDED, E.ENDED]
    invoice = drafts[0].payload.model_dump(mode="json")["invoice"]
    assert invoice["purpose"] == "closing"
    assert [line["amount"] for line in invoice["lines"]] == ["-354.84", "-200.00"]  # SPEC §4
    assert drafts[1].payload.model_dump(mode="json")["deposit"]["amount"] == "200.00"
    assert drafts[2].business_date == date(2027, 3, 21)


def test_undoing_a_cut_cancellation_clears_it_and_invoices_the_days_cut_off() -> None:
    """SPEC §4: 600.00/month, cancelled on 05-11 with proration, undone on 05-03."""
    flex = Plan(code="FLEX", name="Flex", location_id="ber", price=Decimal("600.00"))
    value = started(flex)
    value, _ = commanded(
        value,
        rules.cancel(value, date=date(2027, 5, 11), prorate=True, requested=ALICE, today=MAR_1),
        MAR_1,
    )
    value, _ = on_date(value)  # 04-01
    value, drafts = on_date(value)  # 05-01: cut at 05-11
    assert types(drafts) == [E.INVOICE_ISSUED]

    day = date(2027, 5, 3)
    _, drafts = commanded(value, rules.uncancel(value, requested=ALICE, today=day), day, "uncancel")

    assert types(drafts) == [E.CANCELLATION_CLEARED, E.INVOICE_ISSUED]
    invoice = drafts[1].payload.model_dump(mode="json")["invoice"]
    assert (invoice["purpose"], invoice["total"]) == ("uncancel", "406.45")


def test_a_manual_switch_schedules_the_end_creates_the_term_and_switches_on_the_day() -> None:
    value = started()
    day = date(2027, 3, 10)
    cancelled = rules.cancel(
        value, date=date(2027, 3, 21), prorate=True, requested=ALICE, today=day
    )
    assert isinstance(cancelled, rules.Decision)
    term = rules.new_term(
        cancelled.contract, id="c1-t2", plan=OFFICE, start=None, price=None, anchor=None,
        prorate_first_invoice=False, requested=ALICE, today=day,
    )  # fmt: skip
    assert isinstance(term, rules.Decision)
    old = cancelled.contract.model_copy(update={"successor_id": "c1-t2"})

    drafts = events_of(
        Effect(
            day=day, before=value, after=old, successor=term.contract, command="switch",
            requested=ALICE,
        )
    )  # fmt: skip
    assert [(draft.contract_id, draft.type) for draft in drafts] == [
        ("c1", E.CANCELLATION_SCHEDULED),
        ("c1-t2", E.CONTRACT_CREATED),
    ]

    _, drafts = on_date(old)
    assert types(drafts) == [E.INVOICE_ISSUED, E.SWITCHED]  # the credit; the deposit passes on


def test_a_freeze_is_reported_when_accepted_and_when_undone() -> None:
    value = started()
    day = date(2027, 3, 10)
    frozen, drafts = commanded(
        value, adjustments.freeze(value, cycles=2, requested=ALICE, today=day), day
    )
    assert types(drafts) == [E.FROZEN]
    [freeze] = drafts[0].payload.contract.freezes
    assert (freeze.start, freeze.end, freeze.cycles) == (date(2027, 4, 1), date(2027, 6, 1), 2)

    # Its dates are no events: nothing is invoiced on 04-01.
    running, drafts = on_date(frozen)
    assert drafts == []

    later = date(2027, 4, 10)
    _, drafts = commanded(
        running, adjustments.unfreeze(running, requested=ALICE, today=later), later
    )
    assert types(drafts) == [E.UNFROZEN]


def test_a_scheduled_price_is_reported_then_applied_silently_or_cleared() -> None:
    value = started()
    day = date(2027, 3, 10)
    repriced, drafts = commanded(
        value,
        adjustments.set_price(
            value, price=Decimal("900.00"), from_=None, requested=ALICE, today=day
        ),
        day,
    )
    assert types(drafts) == [E.PRICE_SCHEDULED]
    assert drafts[0].payload.model_dump(mode="json")["contract"]["scheduled_price"] == {
        "price": "900.00",
        "effective": "2027-04-01",
    }

    # Applied on its invoice date: the invoice says so.
    _, drafts = on_date(repriced)
    assert types(drafts) == [E.INVOICE_ISSUED]
    assert drafts[0].payload.contract.price == "900.00"

    _, drafts = commanded(repriced, rules.clear_change(repriced, requested=ALICE, today=day), day)
    assert types(drafts) == [E.CHANGE_CLEARED]


def test_a_renewing_commitment_notices_then_renews() -> None:
    value = started(RENEWING)  # committed until 06-01; noticed 30 days before
    for _ in range(2):  # 04-01, 05-01
        value, drafts = on_date(value)
        assert types(drafts) == [E.INVOICE_ISSUED]

    value, drafts = on_date(value)
    assert (types(drafts), drafts[0].business_date) == ([E.RENEWAL_UPCOMING], date(2027, 5, 2))

    value, drafts = on_date(value)  # 06-01: renewed and invoiced
    assert types(drafts) == [E.RENEWED, E.INVOICE_ISSUED]
    assert drafts[0].payload.contract.commitment_end == date(2027, 9, 1)


def test_a_commitment_that_ends_notices_schedules_the_end_and_ends() -> None:
    value = started(ENDING)
    for _ in range(2):  # 04-01, 05-01
        value, _ = on_date(value)

    value, drafts = on_date(value)  # 05-02
    assert types(drafts) == [E.RENEWAL_UPCOMING, E.CANCELLATION_SCHEDULED]

    value, drafts = on_date(value)  # 06-01, the end
    assert types(drafts) == [E.ENDED]
    assert value.end == date(2027, 6, 1)


def test_a_refused_command_writes_only_command_refused_with_why() -> None:
    value = started()
    day = date(2027, 3, 10)
    refusal = rules.uncancel(value, requested=ALICE, today=day)
    assert isinstance(refusal, rules.Rejection)

    _, drafts = commanded(value, refusal, day, "uncancel")

    assert types(drafts) == [E.COMMAND_REFUSED]
    said = drafts[0].payload.command
    assert said is not None
    assert (said.name, said.actor, said.refusal) == ("uncancel", "alice", refusal.message)
    assert drafts[0].payload.contract == contract_state(value)


def test_event_ids_are_a_function_of_the_effect_key_and_the_index() -> None:
    assert event_id("contract-c1/2027-03-01", 0) == event_id("contract-c1/2027-03-01", 0)
    ids = {event_id(key, index) for key in ("a", "b") for index in range(3)}
    assert len(ids) == 6
    assert all(len(value) == 36 and value.startswith("evt_") for value in ids)


@pytest.mark.parametrize(
    ("amount", "currency", "written"),
    [
        (Decimal("1500"), "EUR", "1500.00"),
        (Decimal("-354.84"), "EUR", "-354.84"),
        (Decimal("16129"), "JPY", "16129"),
        (Decimal("1.5"), "KWD", "1.500"),
        (Decimal("300.0000"), "CHF", "300.00"),  # as PostgreSQL's NUMERIC(20, 4) returns it
    ],
)
def test_amounts_are_strings_in_the_minor_unit(
    amount: Decimal, currency: str, written: str
) -> None:
    assert money(amount, currency) == written


# --- a random life tells the same story in its events ------------------------------------------

COMMANDS = ("cancel", "cancel_at_next_invoice", "change", "clear", "uncancel", "freeze",
            "unfreeze", "price")  # fmt: skip


def command_outcome(
    name: str, value: Contract, today: date, days: int
) -> rules.Decision | rules.Rejection:
    """The rule of the command `name` on `value`; `days` picks a date or a count."""
    match name:
        case "cancel":
            on = today + timedelta(days=days)
            return rules.cancel(value, date=on, prorate=days % 2 == 0, requested=ALICE, today=today)
        case "cancel_at_next_invoice":
            return rules.cancel_at_next_invoice(value, requested=ALICE, today=today)
        case "change":
            return rules.schedule_change(value, next_plan=OFFICE, requested=ALICE, today=today)
        case "clear":
            return rules.clear_change(value, requested=ALICE, today=today)
        case "uncancel":
            return rules.uncancel(value, requested=ALICE, today=today)
        case "freeze":
            return adjustments.freeze(value, cycles=1 + days % 3, requested=ALICE, today=today)
        case "unfreeze":
            return adjustments.unfreeze(value, requested=ALICE, today=today)
        case _:
            price = Decimal(800 + 10 * days)
            return adjustments.set_price(
                value, price=price, from_=None, requested=ALICE, today=today
            )


DATE_ONLY = {E.CONTRACT_STARTED, E.SWITCHED, E.ENDED, E.RENEWED, E.RENEWAL_UPCOMING}
COMMAND_ONLY = {E.COMMAND_REFUSED, E.FROZEN, E.UNFROZEN, E.PRICE_SCHEDULED, E.CHANGE_SCHEDULED}


@dataclass
class Story:
    """What the events of one contract say, read in order."""

    started: int = 0
    ended: int = 0
    cancelling: bool = False
    next_plan: bool = False
    invoices: int = 0

    def read(self, drafts: list[EventDraft]) -> None:
        for draft in drafts:
            assert self.ended == 0, f"{draft.type} after the end"
            match draft.type:
                case E.CONTRACT_STARTED:
                    assert self.invoices == 0
                    self.started += 1
                case E.SWITCHED | E.ENDED:
                    self.ended += 1
                case E.CANCELLATION_SCHEDULED:
                    self.cancelling = True
                case E.CANCELLATION_CLEARED:
                    self.cancelling = False
                case E.CHANGE_SCHEDULED:
                    self.next_plan = True
                case E.CHANGE_CLEARED if self.next_plan:
                    self.next_plan = False
                case E.INVOICE_ISSUED:
                    self.invoices += 1

    def agrees_with(self, value: Contract) -> None:
        change = value.scheduled_change
        if value.status is ContractStatus.CANCELLED:
            assert self.ended == 1
            return
        assert self.started == (1 if value.status is ContractStatus.ACTIVE else 0)
        cancelling = value.cancellation is not None or (
            change is not None and change.kind is ChangeKind.CANCEL_AT_NEXT_INVOICE
        )
        assert self.cancelling == cancelling
        assert self.next_plan == (change is not None and change.kind is ChangeKind.NEXT_PLAN)


@settings(max_examples=150, deadline=None)
@given(
    plan=st.sampled_from([HOT, RENEWING, ENDING]),
    life=st.lists(
        st.one_of(
            st.just(("date", 0)),
            st.tuples(st.sampled_from(COMMANDS), st.integers(min_value=0, max_value=70)),
        ),
        max_size=25,
    ),
)
def test_the_events_of_a_random_life_tell_its_story(
    plan: Plan, life: list[tuple[str, int]]
) -> None:
    value = contract(plan)
    story = Story()
    story.read(events_of(Effect(day=MAR_1, before=None, after=value)))
    today = MAR_1 - timedelta(days=1)
    for action, days in life:
        if lifecycle.next_event_date(value) is None:
            break
        before = value
        if action == "date":
            value, drafts = on_date(value)
            today = lifecycle.next_event_date(before) or today
            kinds = set(types(drafts))
            assert not kinds & COMMAND_ONLY, kinds
            invoices = sum(1 for kind in types(drafts) if kind is E.INVOICE_ISSUED)
            assert invoices <= 1
        else:
            outcome = command_outcome(action, value, today, days)
            value, drafts = commanded(value, outcome, today, action)
            assert not set(types(drafts)) & DATE_ONLY, types(drafts)
            if isinstance(outcome, rules.Rejection):
                assert types(drafts) == [E.COMMAND_REFUSED]
            elif outcome.contract == before and outcome.invoice is None:
                assert drafts == []  # nothing changed, nothing to say
        # Every event is the contract's, with its state after; a next term's is its creation.
        for draft in drafts:
            if draft.type is E.CONTRACT_CREATED:
                assert draft.contract_id == value.successor_id
            else:
                assert draft.contract_id == value.id
                assert draft.payload.contract == contract_state(value)
        story.read([draft for draft in drafts if draft.contract_id == value.id])
        story.agrees_with(value)
