"""The scenario simulator: a contract story in YAML, played through the real workflow (SPEC §6).

`simulate(scenario)` starts a fresh time-skipping Temporal test server, a fresh in-memory billing
database and a worker with the real contract workflow and activities, then plays the scenario:

- Reference data: one location (id `sim`, the scenario's currency and timezone), the plans with
  their terms (§3b), and one customer per distinct `customer` name (its id is a slug of the name;
  the output uses the names).
- The simulation starts at 12:00 local time on the day before the scenario's earliest date (the
  contracts' starts and the actions' `on` dates). Every contract is created then, with
  `create_contract` (update-with-start), so each runs its whole life in its own workflow; its terms
  are its plan's, with those the scenario gives the contract in their place.
- Each action is sent at 12:00 local time on its `on` date — after that day's 00:00 invoicing — as
  an update to the contract's workflow; actions of the same date go in file order. Its reason is
  the scenario's, or `scenario actions[N]` (so an override needs none). A refused update is a
  rejection (`on`, `action`, `error`); every command is also kept, with its effect or refusal, for
  the timeline.
- `plan_price` (R18) goes to a plan, not a contract, as `plans set-price` does it: the plan's price
  changes in the catalog, so contracts created from then on (new terms, switches) get it; then
  the command goes, as an update, to each of the plan's contracts whose workflow runs at that
  moment — not started yet included, since the scenario's contracts are all created at the start.
  A contract it does not concern (rejection code `unaffected`: a custom price, or that price
  already) is skipped, not a rejection; any other refusal is a rejection naming its contract. A
  `from` already past is refused before anything changes.
- The run ends at 12:00 local time on `until`: that day's 00:00 invoicing is included, and so are
  actions dated `until`.
- An automated switch (R5) starts the next term as contract `<id>-t2` (the workflow's own choice:
  `c1` → `c1-t2` → `c1-t3`); actions may refer to it by that id once a `schedule_change` on its
  predecessor comes earlier in the scenario. Sent before the switch happened, they are rejections.
  A manual switch (`switch`) and a new term are known by their id from their action on (a switch
  without `id` makes `<id>-t2` too).
- After the run, the billing database is checked against R20
  (`termshift.services.served_days`): every served day billed exactly once, every held deposit
  what was charged less what was refunded. What breaks it is reported as `violations`; a
  correct run has none.

The test server starts at the real current time and only moves forward, so a scenario in the past
runs shifted forward by the smallest multiple of 4 years that puts its first instant (12:00 on the
day before its earliest date) after the server's clock; every date in the output, and in the
messages, is shifted back. A 4-year shift keeps month lengths, leap days (29 Feb stays valid) and
the number of days between any two dates — except across a century year that is not a leap year
(1900, 2100, 2200, …): a scenario whose dates and billing periods would cross one in the original
years or the shifted ones, but not in both, is refused instead (a `ScenarioError`). Weekdays are not
kept, and nothing in the billing rules depends on them.

The package's modules: `scenario` (the scenario file's models), `reading` (loading a scenario
and checking it), `shift` (moving a scenario's dates past the server's clock and back), `commands`
(the workflow messages of a scenario's actions), `runner` (the run itself: server, worker, clock,
commands) and `report` (the output models, read from the billing database after the run).
"""

from termshift.simulator.reading import load_scenario, parse_scenario
from termshift.simulator.report import (
    ContractOut,
    DepositOut,
    InvoiceOut,
    RejectionOut,
    SentCommand,
    SimulationResult,
    ViolationOut,
)
from termshift.simulator.runner import simulate
from termshift.simulator.scenario import Scenario, ScenarioError
from termshift.simulator.shift import choose_shift, shift_date

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
