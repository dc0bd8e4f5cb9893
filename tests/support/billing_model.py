"""The billing rules played as the workflows play them, without Temporal or a database.

A `World` holds contracts and the invoice lines they produced. Time moves a day at a time; each
day, every contract's due dates are handled first (as the workflows do at 00:00), then the day's
commands (as an admin sends them later that day), each decided by the same pure functions the
workflow's handlers call. Every command sent is also kept as a simulator action (`actions`), so a
sequence explored here can be played through the real workflow with `termshift simulate`.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from billing import lifecycle, rules
from billing.contract import Command, Contract, InvoiceLine, Location, Plan, new_contract
from billing.coverage import Violation, check_contract
from workflows.messages import NewTerm, Switch, decide_new_term, decide_switch

ADMIN = Command(actor="model", reason="generated")
DAY = timedelta(days=1)


@dataclass
class World:
    location: Location
    plans: dict[str, Plan]
    today: date
    contracts: dict[str, Contract] = field(default_factory=dict)
    lines: dict[str, list[InvoiceLine]] = field(default_factory=dict)
    created: list[dict[str, Any]] = field(default_factory=list)
    """The contracts as a scenario's `contracts` entries."""
    actions: list[dict[str, Any]] = field(default_factory=list)
    """Every command sent, as a scenario's `actions` entries."""
    refused: list[tuple[date, str, str]] = field(default_factory=list)
    """(day, command, rejection code) of every refused command."""
    accepted: list[str] = field(default_factory=list)
    uncancel_invoices: int = 0
    """Invoices issued by undoing a cancellation whose last invoice was cut (R7)."""

    # -- contracts and time

    def create(
        self,
        contract_id: str,
        *,
        customer: str,
        plan: str,
        start: date,
        anchor: date,
        prorate_first_invoice: bool,
    ) -> Contract:
        contract = new_contract(
            id=contract_id,
            customer_id=customer,
            location=self.location,
            plan=self.plans[plan],
            start=start,
            anchor=anchor,
            prorate_first_invoice=prorate_first_invoice and self.plans[plan].prorate_first_invoice,
        )
        self.contracts[contract.id] = contract
        self.lines[contract.id] = []
        self.created.append(
            {
                "id": contract.id,
                "customer": customer,
                "plan": plan,
                "start": start,
                "anchor": anchor,
                "prorate_first_invoice": contract.prorate_first_invoice,
            }
        )
        self.settle()
        return contract

    def advance(self, days: int) -> None:
        """Move on `days` days, handling every date on its day."""
        for _ in range(days):
            self.today += DAY
            self.settle()

    def settle(self) -> None:
        """Handle every date due by today, successors included (the workflows at 00:00)."""
        moved = True
        while moved:
            moved = False
            for contract in list(self.contracts.values()):
                day = lifecycle.next_event_date(contract)
                if day is None or day > self.today:
                    continue
                step = lifecycle.advance(contract)
                self._bill(step.contract, step.invoice)
                if step.successor is not None:
                    self.contracts[step.contract.id] = step.contract.model_copy(
                        update={"successor_id": step.successor.id}
                    )
                    self.contracts[step.successor.id] = step.successor
                    self.lines[step.successor.id] = []
                moved = True

    def _bill(self, contract: Contract, invoice: Any) -> None:
        self.contracts[contract.id] = contract
        if invoice is not None:
            self.lines[contract.id].extend(invoice.lines)

    # -- commands (each kept as a scenario action)

    def schedule_change(self, contract_id: str, plan: str) -> None:
        self._send(
            "schedule_change",
            {"contract": contract_id, "next_plan": plan},
            contract_id,
            lambda c: rules.schedule_change(
                c, next_plan=self.plans[plan], requested=ADMIN, today=self.today
            ),
        )

    def cancel_at_next_invoice(self, contract_id: str) -> None:
        self._send(
            "cancel_at_next_invoice",
            {"contract": contract_id},
            contract_id,
            lambda c: rules.cancel_at_next_invoice(c, requested=ADMIN, today=self.today),
        )

    def clear_change(self, contract_id: str) -> None:
        self._send(
            "clear_change",
            {"contract": contract_id},
            contract_id,
            lambda c: rules.clear_change(c, requested=ADMIN, today=self.today),
        )

    def cancel(self, contract_id: str, on: date, *, prorate: bool) -> None:
        self._send(
            "cancel",
            {"contract": contract_id, "date": on, "prorate": prorate},
            contract_id,
            lambda c: rules.cancel(c, date=on, prorate=prorate, requested=ADMIN, today=self.today),
        )

    def uncancel(self, contract_id: str) -> None:
        self._send(
            "uncancel",
            {"contract": contract_id},
            contract_id,
            lambda c: rules.uncancel(c, requested=ADMIN, today=self.today),
        )

    def new_term(
        self, contract_id: str, *, plan: str, start: date, prorate_first_invoice: bool
    ) -> None:
        old = self.contracts[contract_id]
        command = NewTerm(
            **ADMIN.model_dump(),
            id=self._next_id(old.id),
            plan=plan,
            start=start,
            prorate_first_invoice=prorate_first_invoice,
        )
        spec = {
            "from": contract_id,
            "id": command.id,
            "plan": plan,
            "start": start,
            "prorate_first_invoice": prorate_first_invoice,
        }
        outcome = decide_new_term(command, old, self.plans[plan], self.today)
        self._record("new_term", spec, outcome)
        if isinstance(outcome, rules.Decision):
            self._add_term(old, outcome.contract)

    def switch(self, contract_id: str, *, plan: str, on: date, prorate: bool) -> None:
        old = self.contracts[contract_id]
        command = Switch(
            **ADMIN.model_dump(), to_plan=plan, on=on, prorate=prorate, id=self._next_id(old.id)
        )
        spec = {"contract": contract_id, "to": plan, "on": on, "prorate": prorate, "id": command.id}
        outcome = decide_switch(command, old, self.plans[plan], self.today)
        if isinstance(outcome, rules.Rejection):
            self._record("switch", spec, outcome)
            return
        cancelled, term = outcome
        self._record("switch", spec, term)
        self._add_term(cancelled.contract, term.contract)

    def _next_id(self, contract_id: str) -> str:
        """A new id for a manual next term, apart from the automated switches' `<id>-tN`
        (R5) and from every id an earlier command named (a scenario names each once)."""
        named = {spec.get("id") for action in self.actions for spec in action["do"].values()}
        taken = named | set(self.contracts)
        root = contract_id.partition("-")[0]
        number = len(named)
        while f"{root}-n{number}" in taken:
            number += 1
        return f"{root}-n{number}"

    def _add_term(self, old: Contract, successor: Contract) -> None:
        self.contracts[old.id] = old.model_copy(update={"successor_id": successor.id})
        self.contracts[successor.id] = successor
        self.lines[successor.id] = []
        self.settle()

    def _send(self, name: str, spec: dict[str, Any], contract_id: str, decide: Any) -> None:
        outcome = decide(self.contracts[contract_id])
        self._record(name, spec, outcome)
        if isinstance(outcome, rules.Decision):
            self._bill(outcome.contract, outcome.invoice)
            self.uncancel_invoices += outcome.invoice is not None and name == "uncancel"
            self.settle()

    def _record(
        self, name: str, spec: dict[str, Any], outcome: rules.Decision | rules.Rejection
    ) -> None:
        self.actions.append({"on": self.today, "do": {name: spec}})
        if isinstance(outcome, rules.Rejection):
            self.refused.append((self.today, name, outcome.code))
        else:
            self.accepted.append(name)

    # -- the invariant

    def violations(self) -> list[Violation]:
        """R20 over every contract, as `termshift reconcile` checks the stored lines."""
        return [
            violation
            for contract_id, contract in self.contracts.items()
            for violation in check_contract(contract, self.lines[contract_id])
        ]

    def scenario(self, *, currency: str, until: date) -> dict[str, Any]:
        """What was played, as a `termshift simulate` scenario."""
        return {
            "currency": currency,
            "timezone": self.location.timezone,
            "plans": [
                {
                    "code": plan.code,
                    "price": plan.price,
                    "every": plan.every,
                    "deposit": plan.deposit,
                    "prorate_first_invoice": plan.prorate_first_invoice,
                }
                for plan in self.plans.values()
            ],
            "contracts": self.created,
            "actions": self.actions,
            "until": until,
        }


def plan(code: str, location: Location, price: str, every: str, deposit: str = "0") -> Plan:
    return Plan(
        code=code,
        name=code.replace("-", " ").title(),
        location_id=location.id,
        price=Decimal(price),
        every=every,
        deposit=Decimal(deposit),
        prorate_first_invoice=True,
    )
