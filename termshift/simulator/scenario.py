"""The scenario file (SPEC §6): the pydantic models of its YAML (`Scenario` and its specs), and
`ScenarioError`, which names each problem by its place, e.g. `actions[3].on`. How a file is read
and checked beyond what the models can check is `termshift.simulator.reading`.
"""

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from billing.contract import CurrencyCode, Identifier, Name, TimezoneName
from billing.terms import Renewal, SpanText, Terms


class ScenarioError(ValueError):
    """A scenario that cannot be simulated; each problem names its place, e.g. `actions[3].on`."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


_Count = Annotated[int, Field(strict=True)]
"""A whole number written as one (not `true`, not `2.5`)."""


class _TermsSpec(_Spec):
    """The terms of §3b; each left out is none (on a plan) or the plan's (on a contract)."""

    notice: SpanText | None = None
    """R14, e.g. "30 days"."""
    minimum_term: SpanText | None = None
    """R15, e.g. "12 months"."""
    renewal: Renewal | None = None
    """R16: `rolling` (the default), `renew` or `end`."""
    max_freezes_per_year: Annotated[_Count, Field(ge=0)] | None = None
    """R17: freezes that may start in any 365 days."""
    max_freeze_cycles: Annotated[_Count, Field(ge=1)] | None = None
    """R17: the longest freeze, in billing cycles."""

    def terms(self, base: Terms | None = None) -> Terms:
        """`base` (default: no terms) with the terms given here in their place."""
        return (base or Terms()).overridden_by(
            notice=self.notice,
            minimum_term=self.minimum_term,
            renewal=self.renewal,
            max_freezes_per_year=self.max_freezes_per_year,
            max_freeze_cycles=self.max_freeze_cycles,
        )


class PlanSpec(_TermsSpec):
    code: Identifier
    price: Decimal
    every: str = "1 month"
    deposit: Decimal = Decimal(0)
    prorate_first_invoice: bool = True
    """Whether contracts on the plan may prorate their first invoice (as `plans add` defaults)."""


class ContractSpec(_TermsSpec):
    id: Identifier
    customer: Name
    plan: str
    start: dt.date
    price: Decimal | None = None
    anchor: dt.date | None = None
    prorate_first_invoice: bool = False


class _CommandSpec(_Spec):
    reason: Annotated[str, Field(max_length=2000)] | None = None
    """Why (R11); left out, the simulator writes one (`scenario actions[3]`), so that an
    override needs none."""


class ScheduleChangeSpec(_CommandSpec):
    contract: str
    next_plan: str
    price: Decimal | None = None
    """R19: the next term starts at this price (a custom-priced contract may then switch)."""


class ContractOnlySpec(_CommandSpec):
    contract: str


class CancelAtNextInvoiceSpec(_CommandSpec):
    contract: str
    override_terms: bool = False
    """Pass the notice period and the commitment (R14, R15)."""


class CancelSpec(_CommandSpec):
    contract: str
    date: dt.date
    prorate: bool = False
    override_terms: bool = False
    """Pass the notice period and the commitment (R14, R15)."""
    charge_remaining_term: bool = False
    """Inside the commitment: accepted, and the committed days are charged on `date` (R15)."""


class FreezeSpec(_CommandSpec):
    contract: str
    cycles: Annotated[_Count, Field(ge=1, le=120)]
    override_terms: bool = False
    """Pass the plan's freeze limits (R17)."""


class SetPriceSpec(_CommandSpec):
    contract: str
    price: Decimal
    from_: dt.date | None = Field(default=None, alias="from")
    """The price applies from the first invoice date on or after this (default: the next)."""


class PlanPriceSpec(_CommandSpec):
    """R18 `plan_price`: the plan's new price. Contracts created from then on get it; each of the
    plan's running contracts is sent it (with `grandfather`, they keep their price)."""

    plan: str
    price: Decimal
    from_: dt.date = Field(alias="from")
    """Running contracts are invoiced at it from their first invoice date on or after this."""
    grandfather: bool = False
    """Running contracts keep their price (it becomes their custom price)."""


class NewTermSpec(_CommandSpec):
    from_: str = Field(alias="from")
    id: Identifier
    plan: str
    start: dt.date
    price: Decimal | None = None
    anchor: dt.date | None = None
    prorate_first_invoice: bool = False


class SwitchSpec(_CommandSpec):
    """The manual change in one step (R7 + R8), with the defaults of `contracts switch`."""

    contract: str
    to: str
    on: dt.date
    prorate: bool = False
    """The old plan's last invoice: credit its unserved days, or cut it at `on` (R7)."""
    prorate_first_invoice: bool | None = None
    """The new term's first invoice (R8); left out: as `prorate`, where the new plan allows it."""
    id: Identifier | None = None
    """The new term's id; left out: the workflow's choice, `<contract>-t2`."""
    price: Decimal | None = None


ActionKind = Literal[
    "schedule_change",
    "cancel_at_next_invoice",
    "clear_change",
    "cancel",
    "uncancel",
    "new_term",
    "switch",
    "freeze",
    "unfreeze",
    "set_price",
    "plan_price",
]
ACTION_KINDS: tuple[ActionKind, ...] = (
    "schedule_change",
    "cancel_at_next_invoice",
    "clear_change",
    "cancel",
    "uncancel",
    "new_term",
    "switch",
    "freeze",
    "unfreeze",
    "set_price",
    "plan_price",
)


class DoSpec(_Spec):
    """Exactly one command."""

    schedule_change: ScheduleChangeSpec | None = None
    cancel_at_next_invoice: CancelAtNextInvoiceSpec | None = None
    clear_change: ContractOnlySpec | None = None
    cancel: CancelSpec | None = None
    uncancel: ContractOnlySpec | None = None
    new_term: NewTermSpec | None = None
    switch: SwitchSpec | None = None
    freeze: FreezeSpec | None = None
    unfreeze: ContractOnlySpec | None = None
    set_price: SetPriceSpec | None = None
    plan_price: PlanPriceSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "DoSpec":
        given = [kind for kind in ACTION_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one command, one of: {', '.join(ACTION_KINDS)}")
        return self

    @property
    def kind(self) -> ActionKind:
        return next(kind for kind in ACTION_KINDS if getattr(self, kind) is not None)

    @property
    def contract(self) -> str | None:
        """The contract the command is sent to (`from` for a new term); None for `plan_price`,
        which is sent to each of the plan's running contracts."""
        spec = getattr(self, self.kind)
        if isinstance(spec, PlanPriceSpec):
            return None
        return spec.from_ if isinstance(spec, NewTermSpec) else str(spec.contract)

    @property
    def reason(self) -> str | None:
        """The reason the scenario gives, if any."""
        spec: _CommandSpec = getattr(self, self.kind)
        return spec.reason


class ActionSpec(_Spec):
    on: dt.date
    do: DoSpec


class Scenario(_Spec):
    currency: CurrencyCode
    timezone: TimezoneName
    plans: Annotated[list[PlanSpec], Field(min_length=1)]
    contracts: Annotated[list[ContractSpec], Field(min_length=1)]
    actions: list[ActionSpec] = Field(default_factory=list)
    until: dt.date

    def earliest(self) -> dt.date:
        """The earliest date: of a contract's start or an action's `on`."""
        return min([c.start for c in self.contracts] + [a.on for a in self.actions])

    def ordered_actions(self) -> list[tuple[int, ActionSpec]]:
        """Actions with their index in the file, by date (file order within a date)."""
        return sorted(enumerate(self.actions), key=lambda item: item[1].on)

    def customers(self) -> list[str]:
        """Distinct customer names, in order of first appearance."""
        return list(dict.fromkeys(contract.customer for contract in self.contracts))

    def plan(self, code: str) -> PlanSpec:
        return next(plan for plan in self.plans if plan.code == code)
