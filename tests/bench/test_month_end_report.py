"""The month-end benchmark, run as the script it is (`bench/month_end.py`) with tiny sizes and short
margins, its results written into a temp dir: what it reports, in JSON and in Markdown.

Two runs: the default month-end (new members' first invoices) on PostgreSQL (`--postgres`, the
production setting), and a renewal (`--renewal`) on SQLite. Their numbers are meaningless at this
size; what is checked is that every ratio is there and positive, that the floors are the mean of
their two rounds, that the table says what it measured and on which database, and that the
same-commands skeleton's cycle is the contract's. Nothing here imports `bench/`.
"""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.databases import POSTGRES_HOST, POSTGRES_PORT, POSTGRES_USER

pytestmark = pytest.mark.devserver

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = 20
QUICK = ("--contracts", str(CONTRACTS), "--margin", "3", "--zone-wait", "0")
"""Tiny, with 3 s before each timed instant and a fixed-offset zone's midnight (no waiting for an
Etc/GMT zone's): about a minute per run."""

FLOORS = ("skeleton", "same_commands")
ROUNDS = ("before", "after")
MONTH_END_RATIOS = ("month_end_vs_skeleton_firings", "month_end_vs_same_commands")
ONBOARDING_RATIOS = ("onboarding_vs_skeleton_starts", "onboarding_vs_same_commands_starts")
RATIOS = (*ONBOARDING_RATIOS, "create_vs_skeleton_starts", *MONTH_END_RATIOS)
RATIO_ROWS = {
    "onboarding_vs_skeleton_starts": "onboarding / skeleton starts",
    "onboarding_vs_same_commands_starts": "onboarding / same-commands skeleton starts",
    "create_vs_skeleton_starts": "contracts create / skeleton starts",
    "month_end_vs_skeleton_firings": "month-end / skeleton firings",
    "month_end_vs_same_commands": "month-end / same-commands skeleton firings",
}
"""Each ratio's row in the Markdown table."""
ROWS = (
    "contracts (N)",
    "Temporal server",
    "billing database (the contracts')",
    "billing database: which",
    "skeleton rows database (both floors')",
    "onboarding (contracts import)",
    *(
        f"{floor} {what}, {when}"
        for floor in ("skeleton", "same-commands skeleton")
        for what in ("starts", "firings")
        for when in ("before the contracts", "after the contracts", "mean of the two")
    ),
    *RATIO_ROWS.values(),
    "month-end: whose invoices",
    "month-end throughput",
    "month-end events pushed to a webhook receiver",
    "webhooks: last event acknowledged after 00:00",
    "webhook delivery throughput",
    "webhooks' time / invoices' time",
    "cron baseline (one SQL batch)",
    "history events per billing cycle",
    "history events per cycle, same-commands skeleton",
    "Termshift worker peak RSS",
    "skeleton worker peak RSS",
    "Temporal server peak RSS",
)
"""Rows the Markdown table has, among others."""


@dataclass
class Run:
    out: Path
    numbers: dict[str, Any]
    table: str
    output: str

    def rows(self) -> dict[str, str]:
        """The first Markdown table's values by label."""
        found = {}
        for line in self.table.split("\n\n", 2)[1].splitlines()[2:]:
            label, value, _unit = (cell.strip() for cell in line.strip("|").split("|"))
            found[label] = value
        return found


def run_month_end(out: Path, *options: str, latest: str) -> Run:
    env = {key: value for key, value in os.environ.items() if key != "TERMSHIFT_DATABASE_URL"}
    finished = subprocess.run(
        [sys.executable, "bench/month_end.py", *QUICK, "--out", str(out), *options],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output[-4000:]
    numbers = json.loads((out / f"{latest}.json").read_text())
    return Run(out, numbers, (out / f"{latest}.md").read_text(), output)


@pytest.fixture(scope="module")
def postgres_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_month_end(tmp_path_factory.mktemp("month-end"), "--postgres", latest="latest")


@pytest.fixture(scope="module")
def renewal_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_month_end(tmp_path_factory.mktemp("renewal"), "--renewal", latest="latest-renewal")


def positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


# --- the default month-end, on PostgreSQL -------------------------------------------------------


@pytest.mark.postgres
def test_every_ratio_is_reported_as_a_positive_number(postgres_run: Run) -> None:
    numbers, rows = postgres_run.numbers, postgres_run.rows()
    assert {key: numbers.get(key) for key in RATIOS if not positive(numbers.get(key))} == {}
    for key, label in RATIO_ROWS.items():
        assert float(rows[label]) == numbers[key]


@pytest.mark.postgres
def test_the_table_has_every_row_and_no_gap(postgres_run: Run) -> None:
    rows = postgres_run.rows()
    assert [label for label in ROWS if label not in rows] == []
    assert {label: value for label, value in rows.items() if value == "n/a"} == {}
    assert rows["contracts (N)"] == str(CONTRACTS)
    assert rows["month-end: whose invoices"] == "first invoice"
    assert "| month-end / same-commands skeleton firings |" in postgres_run.table
    assert "| × (target ≥ 1.0) |" in postgres_run.table


@pytest.mark.postgres
def test_the_billing_database_is_a_fresh_postgres_one_dropped_afterwards(postgres_run: Run) -> None:
    numbers, rows = postgres_run.numbers, postgres_run.rows()
    assert numbers["billing_database"] == "postgresql"
    assert rows["billing database (the contracts')"] == "postgresql"
    where = numbers["billing_database_where"]
    assert where.startswith("termshift_bench_")
    assert rows["billing database: which"] == where
    assert numbers["skeleton_database"].startswith("sqlite")
    name = where.split()[0]
    with psycopg.connect(
        host=POSTGRES_HOST, port=POSTGRES_PORT, user=POSTGRES_USER, dbname="postgres"
    ) as connection:
        left = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        assert left.fetchone() is None
    # The cron baseline does not write into the real billing database.
    assert any("rolled back" in note for note in numbers["notes"])


@pytest.mark.postgres
def test_each_floor_is_the_mean_of_its_two_rounds(postgres_run: Run) -> None:
    numbers = postgres_run.numbers
    for floor in FLOORS:
        for measure in ("starts_per_second", "firings_per_second"):
            rounds = [numbers[f"{floor}_{when}"][measure] for when in ROUNDS]
            assert all(positive(value) for value in rounds), (floor, measure, rounds)
            assert [numbers[f"{floor}_{measure}_{when}"] for when in ROUNDS] == rounds
            assert numbers[f"{floor}_{measure}"] == round(sum(rounds) / 2, 1)
    month_end = numbers["month_end_invoices_per_second"]
    assert numbers["month_end_invoices"] == CONTRACTS
    assert numbers["month_end_vs_same_commands"] == round(
        month_end / numbers["same_commands_firings_per_second"], 2
    )
    assert numbers["month_end_vs_skeleton_firings"] == round(
        month_end / numbers["skeleton_firings_per_second"], 2
    )


@pytest.mark.postgres
def test_the_same_commands_skeleton_makes_the_contracts_commands(postgres_run: Run) -> None:
    numbers = postgres_run.numbers
    cycle = numbers["same_commands_history_cycle"]
    assert numbers["same_commands_history_matches"] is True
    assert [name.partition("(")[0] for name in cycle] == numbers["history_cycle"]
    assert numbers["same_commands_history_events_per_cycle"] == numbers["history_events_per_cycle"]
    # A new member's first date: the run's patch, the local activity, both changed attributes.
    assert "MARKER_RECORDED(core_patch)" in cycle
    assert "MARKER_RECORDED(core_local_activity)" in cycle
    assert "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES(ContractStatus,NextInvoiceAt)" in cycle
    assert numbers["history_events_per_cycle"] <= 12


@pytest.mark.postgres
def test_the_cpu_table_shows_each_phase_and_the_workers_by_thread(postgres_run: Run) -> None:
    per_item = postgres_run.numbers["cpu_ms_per_item"]
    phases = [
        *(
            f"{floor} {step} ({when})"
            for floor in ("skeleton", "same-commands")
            for step in ("start", "firing")
            for when in ROUNDS
        ),
        "contracts create (pilot)",
        "onboarding",
        "month-end",
        "webhooks, after the last invoice",
    ]
    assert sorted(per_item) == sorted(phases)
    assert set(per_item["month-end"]) == {
        "server",
        "worker",
        "worker:loop",
        "worker:threads",
        "worker:core",
    }
    assert set(per_item["same-commands firing (before)"]) == {
        "server",
        "skeleton_worker",
        "skeleton_worker:loop",
        "skeleton_worker:threads",
        "skeleton_worker:core",
    }
    for phase in phases:
        line = next(
            row for row in postgres_run.table.splitlines() if row.startswith(f"| {phase} |")
        )
        cells = [cell.strip() for cell in line.strip("|").split("|")][1:]
        assert len(cells) == 5
        assert all(cell.replace(".", "", 1).isdigit() for cell in cells), line


@pytest.mark.postgres
def test_every_month_end_event_reaches_the_receiver_signed(postgres_run: Run) -> None:
    """A new member's first date writes three events (started, invoice issued, deposit
    charged); the receiver verified each signature and the database says each was delivered."""
    numbers, rows = postgres_run.numbers, postgres_run.rows()
    assert numbers["webhook_events"] == 3 * CONTRACTS
    assert numbers["webhook_events_delivered"] == numbers["webhook_events"]
    assert numbers["webhook_refused"] == 0
    assert numbers["webhook_requests"] >= numbers["webhook_events"]
    assert numbers["webhook_seconds"] >= numbers["month_end_seconds"]
    # Of the spans before they were rounded to hundredths of a second.
    assert numbers["webhook_vs_invoices_time"] == pytest.approx(
        numbers["webhook_seconds"] / numbers["month_end_seconds"], rel=0.05
    )
    assert float(rows["webhooks' time / invoices' time"]) == numbers["webhook_vs_invoices_time"]
    assert positive(numbers["webhook_events_per_second"])


# --- a renewal, on SQLite -----------------------------------------------------------------------


def test_a_renewal_run_keeps_its_own_latest(renewal_run: Run) -> None:
    out = renewal_run.out
    assert len(list(out.glob(f"*-n{CONTRACTS}-renewal.json"))) == 1
    assert len(list(out.glob(f"*-n{CONTRACTS}-renewal.md"))) == 1
    assert (out / "latest-renewal.md").is_file()
    assert not (out / "latest.json").exists()
    rows = renewal_run.rows()
    assert rows["month-end: whose invoices"] == "renewal"
    assert renewal_run.numbers["month_end_kind"] == "renewal"


def test_a_renewal_compares_its_month_end_not_its_onboarding(renewal_run: Run) -> None:
    numbers, rows = renewal_run.numbers, renewal_run.rows()
    for key in ONBOARDING_RATIOS:
        assert numbers[key] is None
        assert rows[RATIO_ROWS[key]] == "n/a"
    for key in (*MONTH_END_RATIOS, "create_vs_skeleton_starts"):
        assert positive(numbers[key]), key
        assert float(rows[RATIO_ROWS[key]]) == numbers[key]


def test_a_renewal_runs_on_sqlite_and_says_so(renewal_run: Run) -> None:
    numbers, rows = renewal_run.numbers, renewal_run.rows()
    assert numbers["billing_database"] == "sqlite"
    assert rows["billing database (the contracts')"] == "sqlite"
    assert any(note.startswith("Billing database: sqlite") for note in numbers["notes"])


def test_a_renewals_same_commands_skeleton_renews_as_a_contract_does(renewal_run: Run) -> None:
    numbers = renewal_run.numbers
    cycle = numbers["same_commands_history_cycle"]
    assert numbers["same_commands_history_matches"] is True
    # An ordinary date: no patch marker, only the next invoice instant changes.
    assert "MARKER_RECORDED(core_patch)" not in cycle
    assert "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES(NextInvoiceAt)" in cycle
