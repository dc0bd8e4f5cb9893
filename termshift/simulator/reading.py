"""Reading a scenario file (SPEC §6): YAML read as a scenario means it, the models of
`termshift.simulator.scenario`, and the checks beyond what they can check — amounts in the
currency, references to plans and contracts, dates, ids, renewals. `load_scenario` and
`parse_scenario` raise a `ScenarioError` that names each problem by its place, e.g.
`actions[3].on`.
"""

import re
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pydantic
import yaml

from billing import lifecycle
from billing.cadence import parse_cadence
from billing.errors import BillingError
from billing.money import parse_amount
from billing.terms import Renewal
from termshift.simulator.scenario import (
    ACTION_KINDS,
    ContractSpec,
    PlanSpec,
    Scenario,
    ScenarioError,
)


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
    loc = tuple(item["loc"])
    message = str(item["msg"]).removeprefix("Value error, ")
    if item["type"] == "extra_forbidden" and len(loc) == 4 and loc[::2] == ("actions", "do"):
        # A command the `do` of an action does not know (`actions`, index, `do`, its name).
        message = f"no command {loc[-1]!r}; give exactly one of: {', '.join(ACTION_KINDS)}"
    return f"{_path(loc)}: {message}"


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
        if contract.plan in plans:
            yield from _renewal(where, contract, scenario.plan(contract.plan))
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
        if target is not None and target not in known:
            field = "from" if kind == "new_term" else "contract"
            yield f"{where}.do.{kind}.{field}: {_unknown_contract(target, known)}"
        if do.schedule_change is not None:
            next_plan = do.schedule_change.next_plan
            if next_plan not in plans:
                yield f"{where}.do.schedule_change.next_plan: {_unknown_plan(next_plan, plans)}"
            if do.schedule_change.price is not None:
                price = do.schedule_change.price
                yield from _amount(f"{where}.do.schedule_change.price", price, currency)
            successor = lifecycle.successor_id(do.schedule_change.contract)
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
        if do.set_price is not None:
            yield from _amount(f"{where}.do.set_price.price", do.set_price.price, currency)
        if do.plan_price is not None:
            change = do.plan_price
            if change.plan not in plans:
                yield f"{where}.do.plan_price.plan: {_unknown_plan(change.plan, plans)}"
            yield from _amount(f"{where}.do.plan_price.price", change.price, currency)
        if do.switch is not None:
            switch = do.switch
            if switch.to not in plans:
                yield f"{where}.do.switch.to: {_unknown_plan(switch.to, plans)}"
            if switch.price is not None:
                yield from _amount(f"{where}.do.switch.price", switch.price, currency)
            if switch.id is not None and switch.id in known:
                yield f"{where}.do.switch.id: contract {switch.id} already exists"
            known.add(switch.id or lifecycle.successor_id(switch.contract))
    if scenario.until < scenario.earliest():
        yield f"until: {scenario.until} is before the scenario's first date ({scenario.earliest()})"


def _renewal(where: str, contract: ContractSpec, plan: PlanSpec) -> list[str]:
    """R16: a renewal other than `rolling` acts at the end of a minimum term; it needs one."""
    terms = contract.terms(plan.terms())
    if terms.renewal is Renewal.ROLLING or terms.minimum_term is not None:
        return []
    whose = "" if contract.renewal is not None else f" (plan {plan.code}'s)"
    return [
        f"{where}.renewal: renewal {terms.renewal.value!r}{whose} acts at the end of a minimum "
        "term, and the contract has none; give minimum_term (on the contract or its plan), or "
        "leave renewal out"
    ]


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
