"""Tests that talk to a running Temporal server hold no literal dates.

The dev server runs on the real clock and the time-skipping server starts at it, so a date
written into such a test is in the past one day, and the test breaks then (as 2026-10-01 did in
December 2026). Those tests take their dates from the server (`tests/support/clock.py`).

A module "talks to a running server" when its source names a fixture or helper that starts or
uses one (`LIVE_FIXTURES`, `LIVE_NAMES`, `LIVE_MODULES`); every `tests/support/` helper counts
too. A literal date is a string holding a real ISO date `YYYY-MM-DD` (f-string parts, JSON
payloads and timestamps such as `2031-03-20T23:00:00+00:00` included) or a `date(...)` or
`datetime(...)` call whose year is written as a number. Malformed dates (2027-02-30, 20270115) are
input, not dates, and may stay. Nor do these modules read the clock themselves (`date.today()`,
`datetime.now()`): only `tests/support/clock.py` does, for a dev server.
"""

import ast
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

LIVE_FIXTURES = frozenset({"time_env", "dev_env", "cli", "sqlite_cli"})
"""The conftest fixtures that are a running server, or the CLI with one behind it: a test (or
fixture) that takes one as a parameter talks to a server."""

LIVE_NAMES = frozenset(
    {
        # starting a server
        "start_dev_server",
        "start_time_skipping",
        "start_local",
        "WorkflowEnvironment",
        "DevServer",
        "running_stack",
        "rig",
        "simulate",
        # using one
        "running_worker",
        "build_worker",
        "run_worker",
        "cli_on",
        "scenario",
        "Scenario",
        "worlds",
        "world_on",
        "server_clock",
        "dev_server_clock",
        "dev_server_now",
    }
)
"""Names (called, imported or taken as a parameter) that start a server or work on one."""

LIVE_MODULES = frozenset(
    {
        "tests.support.cli",
        "tests.support.clock",
        "tests.support.contracts",
        "tests.support.faults",
        "tests.support.temporal",
        "termshift.worker",
        "worker",
    }
)
"""Modules whose import means a server: the test helpers that run one, and the worker."""

_SIMULATOR = (
    "the simulator runs a scenario on its own time-skipping server and shifts the scenario's "
    "dates past that server's clock itself (by whole 4-year steps); the dates written here "
    "are the scenario's, and the test of the shift is about them"
)
EXEMPT = {
    "tests/simulator/test_examples.py": _SIMULATOR,
    "tests/simulator/test_switch.py": _SIMULATOR,
    "tests/simulator/test_violations.py": _SIMULATOR,
    "tests/simulator/test_served_days.py": _SIMULATOR,
    "tests/simulator/test_terms.py": _SIMULATOR,
}
"""Modules that run a server but keep literal dates, and why."""

CLOCK = "tests/support/clock.py"
"""The one place that reads the wall clock: a dev server's clock."""
CLOCK_READS = frozenset({"today", "now", "utcnow"})

ISO_DATE = re.compile(r"(?<![0-9])([0-9]{4})-([0-9]{2})-([0-9]{2})(?![0-9])")
DATE_CALLS = frozenset({"date", "datetime"})


@dataclass(frozen=True)
class Finding:
    line: int
    text: str


def _names(tree: ast.AST) -> set[str]:
    """Every identifier the module refers to, imports or takes as a parameter."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.rsplit(".", 1)[-1])
    return names


def _imported_modules(tree: ast.AST) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def _parameters(tree: ast.AST) -> set[str]:
    return {
        argument.arg
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for argument in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)
    }


def uses_a_live_server(source: str) -> bool:
    """Whether the module's source starts a Temporal server or works on a running one."""
    tree = ast.parse(source)
    return bool(
        _parameters(tree) & LIVE_FIXTURES
        or _names(tree) & LIVE_NAMES
        or _imported_modules(tree) & LIVE_MODULES
        or _connects_a_client(tree)
    )


def _connects_a_client(tree: ast.AST) -> bool:
    """`Client.connect(...)`: a client of a server the test started another way (the stack)."""
    return any(
        isinstance(node, ast.Attribute)
        and node.attr == "connect"
        and isinstance(node.value, ast.Name)
        and node.value.id == "Client"
        for node in ast.walk(tree)
    )


def _is_date(year: str, month: str, day: str) -> bool:
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


def literal_dates(source: str) -> list[Finding]:
    """The literal dates in a module's source (see the module's docstring), in source order."""
    found: list[Finding] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
            text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
            for match in ISO_DATE.finditer(text):
                if _is_date(*match.groups()):
                    line = node.lineno + text.count("\n", 0, match.start())
                    found.append(Finding(line, match[0]))
        elif isinstance(node, ast.Call) and _called_name(node.func) in DATE_CALLS:
            year = node.args[0] if node.args else _keyword(node, "year")
            if isinstance(year, ast.Constant) and type(year.value) is int:
                found.append(Finding(node.lineno, ast.get_source_segment(source, node) or ""))
    return sorted(found, key=lambda finding: finding.line)


def clock_reads(source: str) -> list[Finding]:
    """Calls that read the machine's clock: `date.today()`, `datetime.now(...)`, `.utcnow()`."""
    return sorted(
        (
            Finding(node.lineno, ast.get_source_segment(source, node) or "")
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in CLOCK_READS
            and _called_name(node.func.value) in DATE_CALLS
        ),
        key=lambda finding: finding.line,
    )


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((keyword.value for keyword in call.keywords if keyword.arg == name), None)


def live_modules() -> dict[str, str]:
    """Every test module (and `tests/support/` helper) that talks to a running server, by its
    path from the project root, with its source."""
    modules: dict[str, str] = {}
    for path in sorted(TESTS.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        source = path.read_text(encoding="utf-8")
        if relative.startswith("tests/support/") or uses_a_live_server(source):
            modules[relative] = source
    return modules


# --- the guard ------------------------------------------------------------------------------------


def test_tests_on_a_running_server_hold_no_literal_dates() -> None:
    offending = [
        f"{path}:{finding.line}: {finding.text}"
        for path, source in live_modules().items()
        if path not in EXEMPT
        for finding in literal_dates(source)
    ]
    assert not offending, (
        "Literal dates in tests that talk to a running Temporal server (it runs on the real "
        "clock): take them from the server's clock, tests/support/clock.py.\n"
        + "\n".join(offending)
    )


def test_tests_on_a_running_server_read_no_clock_but_the_servers() -> None:
    offending = [
        f"{path}:{finding.line}: {finding.text}"
        for path, source in live_modules().items()
        if path not in EXEMPT and path != CLOCK
        for finding in clock_reads(source)
    ]
    assert not offending, (
        "Tests that talk to a running Temporal server read its clock through "
        "tests/support/clock.py (server_clock, dev_server_clock), not the machine's.\n"
        + "\n".join(offending)
    )


def test_the_guard_sees_the_live_modules_and_only_those() -> None:
    """So that it cannot pass by finding nothing to check."""
    live = live_modules()
    for path in (
        "tests/cli/test_bad_input.py",  # worlds, dev_env
        "tests/cli/test_cli_devserver.py",  # cli, sqlite_cli
        "tests/cli/test_reconcile.py",  # start_dev_server
        "tests/cli/test_visibility.py",  # WorkflowEnvironment.start_local
        "tests/workflows/test_commands.py",  # time_env, scenario
        "tests/workflows/test_billing_cycle.py",  # time_env
        "tests/workflows/test_continue_as_new.py",  # start_dev_server
        "tests/faults/test_faults.py",  # the faults rig (termshift.stack's dev server)
        "tests/faults/stall_invoicing.py",  # the worker
        "tests/stack/test_stack.py",  # Client.connect to the stack it starts
        "tests/stack/test_worker.py",  # start_time_skipping
        "tests/security/test_encryption.py",  # start_dev_server
        "tests/simulator/test_examples.py",  # simulate (exempt)
        "tests/support/clock.py",
    ):
        assert path in live, path
    for path in (
        "tests/billing/test_worked_examples.py",
        "tests/store/test_contracts.py",
        "tests/activities/test_idempotency.py",  # ActivityEnvironment: no server
        "tests/replay/test_replay.py",  # recorded histories
        "tests/bench/test_month_end_report.py",
        "tests/cli/test_input_parsing.py",
        "tests/test_test_dates.py",
    ):
        assert (ROOT / path).is_file(), path
        assert path not in live, path
    for path in EXEMPT:
        assert path in live, f"{path} is exempt but runs no server: drop it from EXEMPT"


# --- the guard's own checks, on sources written here ----------------------------------------------

FLAGGED = """
import json
from datetime import date, datetime

async def test_it(time_env, cli):
    start = "2031-03-21"
    stamp = f"{start}T00:00 and 2031-03-20T23:00:00+00:00"
    body = json.dumps({"date": "2027-01-15"})
    raw = '{"date": "2028-02-29", "actor": 5}'
    day = date(2031, 1, 1)
    instant = datetime(year=2030, month=6, day=1)
    assert "ended on 2026-11-01" in text
"""

NOT_FLAGGED = """
from datetime import date, timedelta

async def test_it(time_env, clock, year):
    malformed = ["2027-02-30", "2031-13-01", "20270115", "2027-W03-5", "２０２７-01-15"]
    day = date(clock.next_year, 1, 1)
    later = clock.today + timedelta(days=3)
    text = f"{day}-03-21"
    version = "1.2.3-2031"
"""

PURE = """
from datetime import date

def test_periods():
    assert str(date(2027, 3, 1)) == "2027-03-01"
"""


def test_the_guard_flags_each_kind_of_literal_date() -> None:
    assert uses_a_live_server(FLAGGED)
    assert [(finding.line, finding.text) for finding in literal_dates(FLAGGED)] == [
        (6, "2031-03-21"),
        (7, "2031-03-20"),
        (8, "2027-01-15"),
        (9, "2028-02-29"),
        (10, "date(2031, 1, 1)"),
        (11, "datetime(year=2030, month=6, day=1)"),
        (12, "2026-11-01"),
    ]


def test_the_guard_leaves_malformed_and_computed_dates_alone() -> None:
    assert uses_a_live_server(NOT_FLAGGED)
    assert literal_dates(NOT_FLAGGED) == []
    assert clock_reads(NOT_FLAGGED) == []


def test_the_guard_flags_reading_the_machines_clock() -> None:
    source = """
import datetime as dt
from datetime import UTC, date, datetime

today = date.today()
now = datetime.now(UTC)
then = dt.datetime.utcnow()
ok = clock.today, clock.now, server.now()
"""
    assert [finding.text for finding in clock_reads(source)] == [
        "date.today()",
        "datetime.now(UTC)",
        "dt.datetime.utcnow()",
    ]


def test_a_pure_module_may_hold_literal_dates() -> None:
    assert literal_dates(PURE) != []
    assert not uses_a_live_server(PURE)
    for name in ("time_env", "dev_env", "cli", "sqlite_cli"):
        assert uses_a_live_server(PURE.replace("def test_periods():", f"def test_x({name}):"))
    for live in (
        "from tests.support.temporal import start_time_skipping",
        "import worker",
        "from temporalio.testing import WorkflowEnvironment",
        "client = Client.connect(address)",
    ):
        assert uses_a_live_server(PURE + live + "\n"), live
    # An activity environment or a replayer is not a server.
    assert not uses_a_live_server(PURE + "from temporalio.testing import ActivityEnvironment\n")
