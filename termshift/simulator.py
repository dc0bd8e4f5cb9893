"""The scenario simulator: a contract story in YAML, played through the real workflow (SPEC §6).

`simulate(scenario)` starts a fresh time-skipping Temporal test server, a fresh in-memory billing
database and a worker with the real contract workflow and activities, then plays the scenario:

- Reference data: one location (id `sim`, the scenario's currency and timezone), the plans, and one
  customer per distinct `customer` name (its id is a slug of the name; the output uses the names).
- The simulation starts at 12:00 local time on the day before the scenario's earliest date (the
  contracts' starts and the actions' `on` dates). Every contract is created then, with
  `create_contract` (update-with-start), so each runs its whole life in its own workflow.
- Each action is sent at 12:00 local time on its `on` date — after that day's 00:00 invoicing — as
  an update to the contract's workflow; actions of the same date go in file order. A refused
  update is a rejection (`on`, `action`, `error`); every command is also kept, with its effect or
  refusal, for the timeline.
- The run ends at 12:00 local time on `until`: that day's 00:00 invoicing is included, and so are
  actions dated `until`.
- An automated switch (R5) starts the next term as contract `<id>-t2` (the workflow's own choice:
  `c1` → `c1-t2` → `c1-t3`); actions may refer to it by that id once a `schedule_change` on its
  predecessor comes earlier in the scenario. Sent before the switch happened, they are rejections.
  A manual switch (`switch`) and a new term are known by their id from their action on (a switch
  without `id` makes `<id>-t2` too).
- After the run, the billing database is checked against R20 (`termshift.served_days`): every
  served day billed exactly once, every held deposit what was charged less what was refunded. What
  breaks it is reported as `violations`; a correct run has none.

The test server starts at the real current time and only moves forward, so a scenario in the past
runs shifted forward by the smallest multiple of 4 years that puts its first instant (12:00 on the
day before its earliest date) after the server's clock; every date in the output, and in the
messages, is shifted back. A 4-year shift keeps month lengths, leap days (29 Feb stays valid) and
the number of days between any two dates — except across a century year that is not a leap year
(1900, 2100, 2200, …): a scenario whose dates and billing periods would cross one in the original
years or the shifted ones, but not in both, is refused instead (a `ScenarioError`). Weekdays are not
kept, and nothing in the billing rules depends on them.
"""

import asyncio
import calendar
import concurrent.futures
import datetime as dt
import gc
import re
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.testservice.v1 import SleepRequest, UnlockTimeSkippingRequest
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    DescribeWorkflowExecutionResponse,
)
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from activities import catalog
from billing import lifecycle, rules
from billing.cadence import CadenceUnit, parse_cadence
from billing.calendar import local_date, local_midnight, local_noon
from billing.contract import (
    Command,
    Contract,
    ContractStatus,
    CurrencyCode,
    Customer,
    Identifier,
    Location,
    Name,
    Plan,
    TimezoneName,
    new_contract,
)
from billing.errors import BillingError
from billing.money import minor_units, parse_amount
from store import repository
from store.db import Database
from termshift.contracts import (
    CommandRefused,
    ContractNotCreated,
    create_contract,
    new_term_after_end,
)
from termshift.served_days import check_database
from termshift.temporal import register_search_attributes
from termshift.worker import build_worker
from workflows import workflow_id
from workflows.messages import (
    Cancel,
    CancelAtNextInvoice,
    ClearChange,
    CommandResult,
    NewTerm,
    ScheduleChange,
    Switch,
    Uncancel,
)

LOCATION_ID = "sim"
TASK_QUEUE = "termshift-simulator"
ACTOR = "simulator"
SKIP_STEP = dt.timedelta(days=10)
"""Server time is skipped in steps of at most this, so each step's timers and activities finish."""
SETTLE = dt.timedelta(minutes=1)
"""Skipped after the last 12:00, so work an action set off (a retroactive end) is written."""
ENDING_GRACE = dt.timedelta(milliseconds=50)
"""How far past a next term's end a skip stops (see `_release_leaked_locks`)."""
SLEEP_TIMEOUT = dt.timedelta(minutes=2)
"""Wall-clock time a single skip may take before the run is given up."""
SHIFT_YEARS = 4

Progress = Callable[[dt.date], None]
"""Called with the simulated date (as in the scenario) as the run moves through time."""


class ScenarioError(ValueError):
    """A scenario that cannot be simulated; each problem names its place, e.g. `actions[3].on`."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


# --- the scenario file ---------------------------------------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class PlanSpec(_Spec):
    code: Identifier
    price: Decimal
    every: str = "1 month"
    deposit: Decimal = Decimal(0)
    prorate_first_invoice: bool = True
    """Whether contracts on the plan may prorate their first invoice (as `plans add` defaults)."""


class ContractSpec(_Spec):
    id: Identifier
    customer: Name
    plan: str
    start: dt.date
    price: Decimal | None = None
    anchor: dt.date | None = None
    prorate_first_invoice: bool = False


class ScheduleChangeSpec(_Spec):
    contract: str
    next_plan: str


class ContractOnlySpec(_Spec):
    contract: str


class CancelSpec(_Spec):
    contract: str
    date: dt.date
    prorate: bool = False


class NewTermSpec(_Spec):
    from_: str = Field(alias="from")
    id: Identifier
    plan: str
    start: dt.date
    price: Decimal | None = None
    anchor: dt.date | None = None
    prorate_first_invoice: bool = False


class SwitchSpec(_Spec):
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
]
ACTION_KINDS: tuple[ActionKind, ...] = (
    "schedule_change",
    "cancel_at_next_invoice",
    "clear_change",
    "cancel",
    "uncancel",
    "new_term",
    "switch",
)


class DoSpec(_Spec):
    """Exactly one command."""

    schedule_change: ScheduleChangeSpec | None = None
    cancel_at_next_invoice: ContractOnlySpec | None = None
    clear_change: ContractOnlySpec | None = None
    cancel: CancelSpec | None = None
    uncancel: ContractOnlySpec | None = None
    new_term: NewTermSpec | None = None
    switch: SwitchSpec | None = None

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
    def contract(self) -> str:
        """The contract the command is sent to (`from` for a new term)."""
        spec = getattr(self, self.kind)
        return spec.from_ if isinstance(spec, NewTermSpec) else str(spec.contract)


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


class _ScenarioLoader(yaml.SafeLoader):
    """YAML read as a scenario means it: `on` is a key (not `true`), and amounts and dates keep
    their text (a float would turn 0.1 into 0.1000000000000000055…; a bad date would not name its
    place), so that the model checks them."""


_BOOL = "tag:yaml.org,2002:bool"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_ScenarioLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL, _TIMESTAMP)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ScenarioLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _exact_number(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal | str:
    text = str(loader.construct_scalar(node))
    try:
        return Decimal(text.replace("_", ""))
    except InvalidOperation:
        return text


_ScenarioLoader.add_constructor(_FLOAT, _exact_number)


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file; a `ScenarioError` says what is wrong and where."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError([f"file: cannot be read ({error.strerror or error})"]) from None
    except UnicodeDecodeError:
        raise ScenarioError(["file: is not UTF-8 text"]) from None
    return parse_scenario(text)


def parse_scenario(source: str | dict[str, Any]) -> Scenario:
    """Check a scenario given as YAML text or as already-parsed data."""
    data: Any = source
    if isinstance(source, str):
        try:
            data = yaml.load(source, Loader=_ScenarioLoader)
        except yaml.MarkedYAMLError as error:
            where = error.problem_mark
            at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
            raise ScenarioError([f"file: not valid YAML{at}: {error.problem}"]) from None
        except yaml.YAMLError as error:
            raise ScenarioError([f"file: not valid YAML: {error}"]) from None
    if not isinstance(data, dict):
        raise ScenarioError(["file: a scenario is a mapping of currency, timezone, plans, …"])
    try:
        scenario = Scenario.model_validate(data)
    except pydantic.ValidationError as error:
        raise ScenarioError([_problem(item) for item in error.errors()]) from None
    problems = list(_check(scenario))
    if problems:
        raise ScenarioError(problems)
    return scenario


def _path(loc: Iterable[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f"{'.' if text else ''}{part}"
    return text or "scenario"


def _problem(item: Any) -> str:
    message = str(item["msg"]).removeprefix("Value error, ")
    return f"{_path(item['loc'])}: {message}"


def _check(scenario: Scenario) -> Iterator[str]:
    """What the model alone cannot check: amounts in the currency, references, dates, ids."""
    currency = scenario.currency
    plans: set[str] = set()
    for i, plan in enumerate(scenario.plans):
        where = f"plans[{i}]"
        if plan.code in plans:
            yield f"{where}.code: plan {plan.code} is defined twice"
        plans.add(plan.code)
        yield from _amount(f"{where}.price", plan.price, currency)
        yield from _amount(f"{where}.deposit", plan.deposit, currency, allow_zero=True)
        try:
            parse_cadence(plan.every)
        except BillingError as error:
            yield f"{where}.every: {error}"

    known: set[str] = set()
    for i, contract in enumerate(scenario.contracts):
        where = f"contracts[{i}]"
        if contract.id in known:
            yield f"{where}.id: contract {contract.id} is defined twice"
        known.add(contract.id)
        if contract.plan not in plans:
            yield f"{where}.plan: {_unknown_plan(contract.plan, plans)}"
        elif (
            contract.prorate_first_invoice
            and not scenario.plan(contract.plan).prorate_first_invoice
        ):
            yield (
                f"{where}.prorate_first_invoice: plan {contract.plan} does not allow a prorated "
                "first invoice"
            )
        if contract.price is not None:
            yield from _amount(f"{where}.price", contract.price, currency)
        if contract.start > scenario.until:
            yield f"{where}.start: {contract.start} is after until ({scenario.until})"

    # Contracts the actions create: new terms by their id, automated switches as `<id>-t2`.
    switched: set[str] = set()
    for i, action in scenario.ordered_actions():
        where = f"actions[{i}]"
        do, kind = action.do, action.do.kind
        if action.on > scenario.until:
            yield f"{where}.on: {action.on} is after until ({scenario.until})"
        target = do.contract
        if target not in known:
            field = "from" if kind == "new_term" else "contract"
            yield f"{where}.do.{kind}.{field}: {_unknown_contract(target, known)}"
        if do.schedule_change is not None:
            next_plan = do.schedule_change.next_plan
            if next_plan not in plans:
                yield f"{where}.do.schedule_change.next_plan: {_unknown_plan(next_plan, plans)}"
            successor = lifecycle.successor_id(target)
            if successor in known and successor not in switched:
                yield (
                    f"{where}.do.schedule_change: the switch would start contract {successor}, "
                    "which the scenario already names; give the other contract another id"
                )
            known.add(successor)
            switched.add(successor)
        if do.new_term is not None:
            term = do.new_term
            if term.plan not in plans:
                yield f"{where}.do.new_term.plan: {_unknown_plan(term.plan, plans)}"
            if term.price is not None:
                yield from _amount(f"{where}.do.new_term.price", term.price, currency)
            if term.id in known:
                yield f"{where}.do.new_term.id: contract {term.id} already exists"
            known.add(term.id)
        if do.switch is not None:
            switch = do.switch
            if switch.to not in plans:
                yield f"{where}.do.switch.to: {_unknown_plan(switch.to, plans)}"
            if switch.price is not None:
                yield from _amount(f"{where}.do.switch.price", switch.price, currency)
            if switch.id is not None and switch.id in known:
                yield f"{where}.do.switch.id: contract {switch.id} already exists"
            known.add(switch.id or lifecycle.successor_id(target))
    if scenario.until < scenario.earliest():
        yield f"until: {scenario.until} is before the scenario's first date ({scenario.earliest()})"


def _amount(where: str, amount: Decimal, currency: str, *, allow_zero: bool = False) -> list[str]:
    try:
        parse_amount(amount, currency, allow_zero=allow_zero)
    except BillingError as error:
        return [f"{where}: {error}"]
    return []


def _unknown_plan(code: str, plans: Iterable[str]) -> str:
    return f"no plan {code!r} in the scenario (its plans: {', '.join(sorted(plans))})"


def _unknown_contract(contract_id: str, known: Iterable[str]) -> str:
    return (
        f"no contract {contract_id!r} at this point of the scenario (known: "
        f"{', '.join(sorted(known))}; a new term is known after its new_term or switch action, "
        "an automated switch's next term `<id>-t2` after its schedule_change)"
    )


# --- shifting dates by 4 years -------------------------------------------------------------------


def shift_date(day: dt.date, years: int) -> dt.date:
    """`day` moved by `years` (a multiple of 4, so 29 Feb stays 29 Feb)."""
    return day.replace(year=day.year + years)


def _horizon_years(scenario: Scenario) -> int:
    """Years past `until` that an invoice issued by then can cover (its period's end)."""
    longest = 0
    for plan in scenario.plans:
        cadence = parse_cadence(plan.every)
        if cadence.unit is CadenceUnit.YEAR:
            longest = max(longest, cadence.count)
        elif cadence.unit is CadenceUnit.MONTH:
            longest = max(longest, -(-cadence.count // 12))
        else:
            longest = max(longest, -(-cadence.count * 7 // 365))
    return longest + 1


def _scenario_dates(scenario: Scenario) -> list[dt.date]:
    dates = [scenario.until]
    for contract in scenario.contracts:
        dates += [contract.start] + ([contract.anchor] if contract.anchor else [])
    for action in scenario.actions:
        dates.append(action.on)
        spec = getattr(action.do, action.do.kind)
        for name in ("date", "start", "anchor", "on"):
            value = getattr(spec, name, None)
            if isinstance(value, dt.date):
                dates.append(value)
    return dates


def choose_shift(scenario: Scenario, now: dt.datetime) -> int:
    """The smallest multiple of 4 years (0 or more) that puts the simulation's first instant —
    12:00 local on the day before the earliest date — after `now`, the server's clock.

    Refused (`ScenarioError`) where the shift would change a day count: when the years the scenario
    spans include a common century year (1900, 2100, …) on one side of the shift only.
    """
    first_day = scenario.earliest() - dt.timedelta(days=1)
    years = 0
    while True:
        try:
            if local_noon(shift_date(first_day, years), scenario.timezone) > now:
                break
        except ValueError:
            pass  # 29 Feb of a common century year: the check below refuses such a shift
        years += SHIFT_YEARS
    if years == 0:
        return 0
    dates = _scenario_dates(scenario)
    low, high = min(dates).year - 1, max(dates).year + _horizon_years(scenario)
    for year in range(low, high + 1):
        if calendar.isleap(year) != calendar.isleap(year + years):
            raise ScenarioError(
                [
                    f"dates: the scenario runs on the test server, which starts today, so its "
                    f"dates are shifted forward by {years} years; but {year} "
                    f"{'is' if calendar.isleap(year) else 'is not'} a leap year while "
                    f"{year + years} {'is' if calendar.isleap(year + years) else 'is not'}, which "
                    "would change day counts. Move the scenario to years that no common century "
                    "year (1900, 2100, …) separates from today."
                ]
            )
    if high + years > dt.MAXYEAR:
        raise ScenarioError([f"dates: shifted by {years} years they pass the year {dt.MAXYEAR}"])
    return years


_ISO_DATE = re.compile(r"(?<![\w-])(\d{4})-(\d{2})-(\d{2})(?![\w-])")
"""A date in a message, not inside an id such as `lease-2027-05-01`."""


def _shift_text(text: str, years: int) -> str:
    """Shift every ISO date in a message (the workflow speaks in shifted dates)."""
    if years == 0:
        return text

    def back(match: re.Match[str]) -> str:
        try:
            day = dt.date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return match[0]
        return shift_date(day, years).isoformat()

    return _ISO_DATE.sub(back, text)


# --- what the simulation reports -----------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class InvoiceLineOut(_Out):
    kind: str
    period_start: dt.date
    period_end: dt.date
    amount: str


class InvoiceOut(_Out):
    contract: str
    date: dt.date
    lines: list[InvoiceLineOut]
    total: str


class ContractOut(_Out):
    id: str
    plan: str
    price: str
    status: str
    start: dt.date
    end: dt.date | None
    replaces: str | None


class DepositOut(_Out):
    customer: str
    held: str


class RejectionOut(_Out):
    on: dt.date
    action: str
    error: str


class ViolationOut(_Out):
    """A breach of R20 (`billing.coverage.Violation`): the days `[start, end)` of a contract that
    are not billed exactly once, or a customer's deposit that does not add up."""

    kind: str
    """`gap`, `overlap`, `uncharged credit`, `wrong amount` or `deposit`."""
    contract: str | None
    """None for a deposit: it is the customer's."""
    customer: str
    start: dt.date | None
    end: dt.date | None
    days: int
    amount: str
    """The money involved: not charged (gap), charged in excess, or held without an invoice."""
    detail: str


class SentCommand(_Out):
    """A command as sent and what came of it, in words (for the timeline; not in the JSON)."""

    on: dt.date
    action: str
    contract: str
    accepted: bool
    message: str
    """The effect of an accepted command, or why it was refused."""
    warnings: tuple[str, ...] = ()


class SimulationResult(BaseModel):
    """What happened. `to_json()` is SPEC §6's output: invoices, contracts, deposits, rejections,
    and the breaches of R20 found in the billing database afterwards (none when all is right)."""

    invoices: list[InvoiceOut]
    contracts: list[ContractOut]
    deposits: list[DepositOut]
    rejections: list[RejectionOut]
    violations: list[ViolationOut]
    commands: list[SentCommand] = Field(default_factory=list, exclude=True)
    """Every command in the order sent, accepted or refused."""
    currency: str = Field(exclude=True)
    until: dt.date = Field(exclude=True)
    shift_years: int = Field(default=0, exclude=True)
    """How far the run was shifted forward (0 for a scenario in the future)."""

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# --- the run -------------------------------------------------------------------------------------


def _binary(name: str) -> str | None:
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else shutil.which(name)


def _quiet_runtime() -> Runtime:
    """A Temporal runtime that logs errors only (the test server lacks features it warns about)."""
    quiet = TelemetryFilter(core_level="ERROR", other_level="ERROR")
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=quiet)))


async def _start_server(runtime: Runtime) -> WorkflowEnvironment:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
        runtime=runtime,
    )
    try:
        await register_search_attributes(env.client)
    except BaseException:
        await env.shutdown()
        raise
    return env


def _slug(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:56] or "customer"
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    taken.add(slug)
    return slug


async def simulate(scenario: Scenario, *, progress: Progress | None = None) -> SimulationResult:
    """Run `scenario` on a fresh time-skipping server and in-memory database; report what happened.

    Raises `ScenarioError` when the scenario's dates cannot be shifted to run (see the module).
    """
    runtime = _quiet_runtime()
    env = await _start_server(runtime)
    database = Database("sqlite://")
    try:
        database.migrate()
        return await _Simulation(scenario, env, database, progress).run()
    finally:
        database.dispose()
        await env.shutdown()
        # Drop the runtime's threads now: left to interpreter shutdown, they can abort the
        # process ("PyGILState_Release: thread state must be current", sdk-python issue #300).
        del env, runtime
        gc.collect()


class _Simulation:
    def __init__(
        self,
        scenario: Scenario,
        env: WorkflowEnvironment,
        database: Database,
        progress: Progress | None,
    ) -> None:
        self.scenario = scenario
        self.env = env
        self.client: Client = env.client
        self.database = database
        self.progress = progress
        self.tz = scenario.timezone
        self.years = 0
        self.location = Location(
            id=LOCATION_ID, name="Simulation", timezone=self.tz, currency=scenario.currency
        )
        taken: set[str] = set()
        self.customer_ids = {name: _slug(name, taken) for name in scenario.customers()}
        self.rejections: list[RejectionOut] = []
        self.commands: list[SentCommand] = []
        self.released: set[str] = set()
        """Next terms whose workflow completed (and whose leaked lock was released)."""

    def forward(self, day: dt.date) -> dt.date:
        return shift_date(day, self.years)

    def back(self, day: dt.date) -> dt.date:
        return shift_date(day, -self.years)

    def text(self, message: str) -> str:
        return _shift_text(message, -self.years)

    async def run(self) -> SimulationResult:
        self.years = choose_shift(self.scenario, await self.env.get_current_time())
        self._add_reference_data()
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as executor:
            worker = build_worker(
                self.client, self.database, task_queue=TASK_QUEUE, executor=executor
            )
            async with worker:
                await self._skip_to(self.scenario.earliest() - dt.timedelta(days=1), empty=True)
                for contract in self.scenario.contracts:
                    await self._create(contract)
                for index, action in self.scenario.ordered_actions():
                    await self._skip_to(action.on)
                    await self._send(index, action)
                    await self._release_leaked_locks()
                await self._skip_to(self.scenario.until)
                await self._sleep(SETTLE)
                await self._release_leaked_locks()
        return self._report()

    # -- reference data and contracts

    def _add_reference_data(self) -> None:
        requested = Command(actor=ACTOR, reason="scenario reference data")
        catalog.add_location(self.database, self.location, requested)
        for spec in self.scenario.plans:
            plan = Plan(
                code=spec.code,
                name=spec.code,
                location_id=LOCATION_ID,
                price=parse_amount(spec.price, self.scenario.currency),
                every=str(parse_cadence(spec.every)),
                deposit=parse_amount(spec.deposit, self.scenario.currency, allow_zero=True),
                prorate_first_invoice=spec.prorate_first_invoice,
            )
            catalog.add_plan(self.database, plan, requested)
        for name, customer_id in self.customer_ids.items():
            customer = Customer(
                id=customer_id,
                name=name,
                email=f"{customer_id}@example.com",
                location_id=LOCATION_ID,
            )
            catalog.add_customer(self.database, customer, requested)

    def _plan(self, code: str) -> Plan:
        with self.database.session() as session:
            return repository.get_plan(session, code)

    async def _create(self, spec: ContractSpec) -> None:
        contract = new_contract(
            id=spec.id,
            customer_id=self.customer_ids[spec.customer],
            location=self.location,
            plan=self._plan(spec.plan),
            start=self.forward(spec.start),
            price=spec.price,
            anchor=None if spec.anchor is None else self.forward(spec.anchor),
            prorate_first_invoice=spec.prorate_first_invoice,
        )
        requested = Command(actor=ACTOR, reason=f"scenario contract {spec.id}")
        try:
            await create_contract(self.client, contract, requested, task_queue=TASK_QUEUE)
        except ContractNotCreated as error:
            raise RuntimeError(
                f"Contract {spec.id} was not created: {self.text(str(error))}"
            ) from None

    # -- time

    async def _skip_to(self, day: dt.date, *, empty: bool = False) -> None:
        """Move the server's clock to 12:00 local on `day` (a scenario date), in steps.

        `empty`: no workflow runs yet, so one jump is safe however far it goes. Otherwise a step
        also stops just after each next term's predicted end (see `_release_leaked_locks`).
        """
        target = local_noon(self.forward(day), self.tz)
        now = await self.env.get_current_time()
        if target <= now:
            return
        if empty:
            await self._sleep(target - now)
            return
        while now < target:
            stop = min(now + SKIP_STEP, target)
            ending = self._next_successor_end(after=now)
            if ending is not None and ending < stop:
                stop = ending + ENDING_GRACE
            await self._sleep(stop - now)
            await self._release_leaked_locks()
            now = await self.env.get_current_time()
            if self.progress is not None:
                self.progress(self.back(local_date(now, self.tz)))

    async def _sleep(self, duration: dt.timedelta) -> None:
        request = SleepRequest()
        request.duration.FromTimedelta(duration)
        try:
            await self.client.test_service.unlock_time_skipping_with_sleep(
                request, timeout=SLEEP_TIMEOUT
            )
        except RPCError as error:
            now = await self.env.get_current_time()
            raise RuntimeError(
                f"The time-skipping server did not move {duration} past "
                f"{self.back(local_date(now, self.tz))} within {SLEEP_TIMEOUT} ({error})."
            ) from None

    # The time-skipping test server leaks one time-skipping lock whenever a child workflow
    # completes after its parent has closed: from then on its clock only runs at wall-clock
    # speed, and the next skip hangs. Every next term (new term or automated switch) is such a
    # child: its predecessor started it and ended first. So each skip stops just after a next
    # term's end, and once its workflow has completed the leaked lock is released.

    def _successors(self) -> list[Contract]:
        with self.database.session() as session:
            return [
                record.contract
                for record in repository.list_contracts(session)
                if record.contract.replaces is not None and record.contract.id not in self.released
            ]

    def _end_instant(self, contract: Contract) -> dt.datetime | None:
        """When a running next term's workflow ends as things stand: the first of its coming
        events (invoices first, then a cancellation or switch) that ends it, by `until`."""
        if contract.status is ContractStatus.CANCELLED:
            return None
        last = self.forward(self.scenario.until)
        state = contract
        while (day := lifecycle.next_event_date(state)) is not None and day <= last:
            state = lifecycle.advance(state).contract
            if state.status is ContractStatus.CANCELLED:
                return local_midnight(day, self.tz)
        return None

    def _next_successor_end(self, *, after: dt.datetime) -> dt.datetime | None:
        instants = [
            instant
            for contract in self._successors()
            if (instant := self._end_instant(contract)) is not None and instant > after
        ]
        return min(instants, default=None)

    async def _release_leaked_locks(self) -> None:
        """Release the lock leaked by each next term whose workflow has completed by now."""
        deadline = asyncio.get_running_loop().time() + SLEEP_TIMEOUT.total_seconds()
        while True:
            now = await self.env.get_current_time()
            waiting = False
            for contract in self._successors():
                instant = self._end_instant(contract)
                if contract.status is not ContractStatus.CANCELLED and (
                    instant is None or instant > now
                ):
                    continue
                closed = await self._closed_at(contract.id)
                if closed is None:
                    waiting = True  # it ends now; its workflow is completing
                    continue
                parent_closed = (
                    await self._closed_at(contract.replaces) if contract.replaces else None
                )
                if (
                    parent_closed is not None
                    and parent_closed <= closed
                    and await self._started_as_child(contract.id)
                ):
                    await self.client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())
                self.released.add(contract.id)
            if not waiting:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError("A next term's workflow did not complete after its end date.")
            await asyncio.sleep(0.01)

    async def _closed_at(self, contract_id: str) -> dt.datetime | None:
        """When the contract's workflow closed; None while it runs."""
        info = (await self._describe(contract_id)).workflow_execution_info
        if info.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
            return None
        return info.close_time.ToDatetime(tzinfo=dt.UTC)

    async def _started_as_child(self, contract_id: str) -> bool:
        """Whether the contract's workflow was started by its predecessor's (a next term made
        after the predecessor ended is started by the simulator, and leaks no lock)."""
        info = (await self._describe(contract_id)).workflow_execution_info
        return bool(info.parent_execution.workflow_id)

    async def _describe(self, contract_id: str) -> DescribeWorkflowExecutionResponse:
        return await self.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=self.client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id(contract_id)),
            )
        )

    # -- actions

    async def _send(self, index: int, action: ActionSpec) -> None:
        do = action.do
        kind, contract_id = do.kind, do.contract
        requested = Command(actor=ACTOR, reason=f"scenario actions[{index}]")
        handle = self.client.get_workflow_handle(workflow_id(contract_id))
        try:
            # Each update is named as the scenario's command (see workflows/contract.py).
            result = await handle.execute_update(
                kind, self._message(do, requested), result_type=CommandResult
            )
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause)
            self._reject(action, message)
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise
            if do.new_term is None:
                self._reject(action, self._not_running(action))
                return
            try:  # R13: the next term of a contract that has ended
                result = await new_term_after_end(
                    self.client,
                    self.database,
                    contract_id,
                    self._new_term(do.new_term, requested),
                    task_queue=TASK_QUEUE,
                    today=self.forward(action.on),
                )
            except CommandRefused as refusal:
                self._reject(action, str(refusal))
                return
            self._accepted(action, result)
        else:
            self._accepted(action, result)

    def _accepted(self, action: ActionSpec, result: CommandResult) -> None:
        self.commands.append(
            SentCommand(
                on=action.on,
                action=action.do.kind,
                contract=action.do.contract,
                accepted=True,
                message=self.text(result.effect),
                warnings=tuple(self.text(warning) for warning in result.warnings),
            )
        )

    def _reject(self, action: ActionSpec, message: str) -> None:
        do = action.do
        self.rejections.append(RejectionOut(on=action.on, action=do.kind, error=self.text(message)))
        self.commands.append(
            SentCommand(
                on=action.on,
                action=do.kind,
                contract=do.contract,
                accepted=False,
                message=self.text(message),
            )
        )

    def _message(self, do: DoSpec, requested: Command) -> Command:
        """The workflow message of a scenario command, its dates shifted for the run."""
        who = requested.model_dump()
        if do.schedule_change is not None:
            return ScheduleChange(**who, next_plan=do.schedule_change.next_plan)
        if do.cancel_at_next_invoice is not None:
            return CancelAtNextInvoice(**who)
        if do.clear_change is not None:
            return ClearChange(**who)
        if do.cancel is not None:
            return Cancel(**who, date=self.forward(do.cancel.date), prorate=do.cancel.prorate)
        if do.uncancel is not None:
            return Uncancel(**who)
        if do.switch is not None:
            return self._switch(do.switch, requested)
        assert do.new_term is not None
        return self._new_term(do.new_term, requested)

    def _switch(self, switch: SwitchSpec, requested: Command) -> Switch:
        return Switch(
            **requested.model_dump(),
            to_plan=switch.to,
            on=self.forward(switch.on),
            prorate=switch.prorate,
            prorate_first_invoice=switch.prorate_first_invoice,
            id=switch.id,
            price=switch.price,
        )

    def _new_term(self, term: NewTermSpec, requested: Command) -> NewTerm:
        return NewTerm(
            **requested.model_dump(),
            id=term.id,
            plan=term.plan,
            start=self.forward(term.start),
            price=term.price,
            anchor=None if term.anchor is None else self.forward(term.anchor),
            prorate_first_invoice=term.prorate_first_invoice,
        )

    def _not_running(self, action: ActionSpec) -> str:
        """Why a contract's workflow takes no command: it never existed, or its life is over."""
        contract_id = action.do.contract
        with self.database.session() as session:
            try:
                contract = repository.get_contract(session, contract_id).contract
            except LookupError:
                return (
                    f"There is no contract {contract_id} on {self.forward(action.on)}: it was "
                    "never created (an automated switch creates `<id>-t2` only on the switch date)."
                )
        refusal = self._rule_refusal(contract, action)
        if refusal is not None:
            return refusal
        return (
            f"Contract {contract_id} ended on {contract.end}: its workflow has completed and "
            "takes no more commands."
        )

    def _rule_refusal(self, contract: Contract, action: ActionSpec) -> str | None:
        """The rule's own refusal of a command on an ended contract, where it has one."""
        do, today = action.do, self.forward(action.on)
        requested = Command(actor=ACTOR)
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
                date=self.forward(do.cancel.date),
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
                date=self.forward(do.switch.on),
                prorate=do.switch.prorate,
                requested=requested,
                today=today,
            )
        else:
            outcome = None
        return outcome.message if isinstance(outcome, rules.Rejection) else None

    # -- the report

    def _report(self) -> SimulationResult:
        currency = self.scenario.currency
        decimals = minor_units(currency)

        def money(amount: Decimal) -> str:
            return f"{amount:.{decimals}f}"

        names = {customer_id: name for name, customer_id in self.customer_ids.items()}
        # R20 over everything the run wrote (termshift.served_days); a correct run has none.
        violations = [
            ViolationOut(
                kind=violation.kind.value,
                contract=violation.contract_id,
                customer=names[violation.customer_id],
                start=None if violation.start is None else self.back(violation.start),
                end=None if violation.end is None else self.back(violation.end),
                days=violation.days,
                amount=money(violation.amount),
                detail=self.text(violation.detail),
            )
            for violation in check_database(self.database)
        ]
        with self.database.session() as session:
            issued = repository.list_invoices(session)
            contracts = [record.contract for record in repository.list_contracts(session)]
            held = {
                customer_id: repository.held_by_customer(session, customer_id)
                for customer_id in names
            }
        invoices = [
            InvoiceOut(
                contract=invoice.contract_id,
                date=self.back(invoice.issue_date),
                lines=[
                    InvoiceLineOut(
                        kind=line.kind.value,
                        period_start=self.back(line.period_start),
                        period_end=self.back(line.period_end),
                        amount=money(line.amount),
                    )
                    for line in invoice.lines
                ],
                total=money(invoice.total),
            )
            for invoice in issued
        ]
        invoices.sort(key=lambda invoice: (invoice.date, invoice.contract))
        shown = [
            ContractOut(
                id=contract.id,
                plan=contract.plan.code,
                price=money(contract.price),
                status=contract.status.value,
                start=self.back(contract.start),
                end=None if contract.end is None else self.back(contract.end),
                replaces=contract.replaces,
            )
            for contract in contracts
        ]
        shown.sort(key=lambda contract: (contract.start, contract.id))
        deposits = sorted(
            (
                DepositOut(customer=names[customer_id], held=money(amount))
                for customer_id, amount in held.items()
            ),
            key=lambda deposit: deposit.customer,
        )
        return SimulationResult(
            invoices=invoices,
            contracts=shown,
            deposits=deposits,
            rejections=self.rejections,
            violations=violations,
            commands=self.commands,
            currency=currency,
            until=self.scenario.until,
            shift_years=self.years,
        )


__all__ = [
    "ContractOut",
    "DepositOut",
    "InvoiceOut",
    "RejectionOut",
    "Scenario",
    "ScenarioError",
    "SentCommand",
    "SimulationResult",
    "ViolationOut",
    "choose_shift",
    "load_scenario",
    "parse_scenario",
    "shift_date",
    "simulate",
]
