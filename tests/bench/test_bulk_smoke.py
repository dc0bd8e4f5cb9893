"""The bulk-job benchmark, run as the script it is (`bench/bulk.py`) on 20 contracts, its results
written into a temp dir: both phases change every contract (Temporal's batch signal, then the bulk
job, whose report says each one applied the price), and the results say so in JSON and Markdown.
Its numbers mean nothing at this size. Two runs: the default on SQLite, and `--postgres` with
another concurrency. Nothing here imports `bench/`."""

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

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = 20
ROWS = (
    "contracts (N)",
    "batch: the server's worker.batcherRPS",
    "batch signal: last change after the command started",
    "batch signal: contracts changed",
    "**batch signal throughput**",
    "bulk job: TERMSHIFT_BULK_CONCURRENCY",
    "bulk job: page size",
    "bulk job: done, every answer written",
    "bulk job: applied (report)",
    "**bulk job throughput** (until done)",
    "**bulk job / batch signal**",
    "Termshift worker peak RSS, whole run",
    "Temporal server peak RSS, whole run",
)
"""Rows the Markdown table has, among others."""
PHASES = ("onboarding", "batch signal", "bulk job")


@dataclass
class Run:
    out: Path
    numbers: dict[str, Any]
    table: str

    def rows(self) -> dict[str, str]:
        """The first Markdown table's values by label."""
        found = {}
        for line in self.table.split("\n\n", 2)[1].splitlines()[2:]:
            label, value, _unit = (cell.strip() for cell in line.strip("|").split("|"))
            found[label] = value
        return found


def bulk_bench(out: Path, *options: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "TERMSHIFT_DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "bench/bulk.py", "--out", str(out), *options],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run_bench(out: Path, *options: str) -> Run:
    finished = bulk_bench(out, "--contracts", str(CONTRACTS), *options)
    assert finished.returncode == 0, (finished.stdout + finished.stderr)[-4000:]
    (document,) = out.glob(f"*-bulk-n{CONTRACTS}*.json")
    return Run(out, json.loads(document.read_text()), document.with_suffix(".md").read_text())


@pytest.fixture(scope="module")
def sqlite_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_bench(tmp_path_factory.mktemp("bulk"))


@pytest.fixture(scope="module")
def postgres_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_bench(tmp_path_factory.mktemp("bulk-postgres"), "--postgres", "--concurrency", "4")


def positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


@pytest.mark.devserver
def test_the_batch_signal_changes_every_contract(sqlite_run: Run) -> None:
    batch = sqlite_run.numbers["batch"]
    assert (batch["applied"], batch["refused"]) == (CONTRACTS, 0)
    assert batch["listed_by_query"] == CONTRACTS
    assert batch["stalled"] is False
    assert batch["batch_operation"]["state"] == "BATCH_OPERATION_STATE_COMPLETED"
    assert batch["input"]["price"] == "1600.00"
    assert sqlite_run.numbers["scheduled_prices_after_batch"] == {"1600.00": CONTRACTS}


@pytest.mark.devserver
def test_the_bulk_job_reports_every_contract_applied(sqlite_run: Run) -> None:
    bulk = sqlite_run.numbers["bulk"]
    assert bulk["status"] == "done"
    assert (bulk["total"], bulk["applied"], bulk["items_reported"]) == (CONTRACTS,) * 3
    assert (bulk["refused"], bulk["skipped"], bulk["left"]) == (0, 0, 0)
    assert (bulk["audit_applied"], bulk["audit_refused"]) == (CONTRACTS, 0)
    assert (bulk["concurrency"], bulk["page_size"]) == (
        64,
        200,
    )  # the default TERMSHIFT_BULK_CONCURRENCY
    assert bulk["seconds_to_last_change"] <= bulk["seconds_to_job_done"]
    # The second price replaces the first on every contract.
    assert sqlite_run.numbers["scheduled_prices_after_bulk"] == {"1700.00": CONTRACTS}


@pytest.mark.devserver
def test_both_rates_and_their_ratio_are_in_the_table(sqlite_run: Run) -> None:
    numbers, rows = sqlite_run.numbers, sqlite_run.rows()
    batch, bulk = numbers["batch"]["contracts_per_second"], numbers["bulk"]["contracts_per_second"]
    assert positive(batch)
    assert positive(bulk)
    assert numbers["bulk_vs_batch"] == round(bulk / batch, 2)
    assert [label for label in ROWS if label not in rows] == []
    single_page = {"bulk job: one page's last answer to the next's first"}  # 20 contracts: 1 page
    assert {
        label: value for label, value in rows.items() if value == "n/a" and label not in single_page
    } == {}
    assert float(rows["**bulk job / batch signal**"]) == numbers["bulk_vs_batch"]
    assert rows["contracts (N)"] == str(CONTRACTS)
    assert rows["batch: the server's worker.batcherRPS"] == "50"


@pytest.mark.devserver
def test_each_phase_has_its_cpu_and_peak_memory(sqlite_run: Run) -> None:
    numbers = sqlite_run.numbers
    assert sorted(numbers["phases"]) == sorted(PHASES)
    for name in PHASES:
        phase = numbers["phases"][name]
        assert positive(phase["cpu_seconds"]["server"]), name
        assert positive(phase["cpu_seconds"]["worker"]), name
        assert all(positive(phase["peak_rss_mb"][p]) for p in ("worker", "server")), name
        assert set(numbers["cpu_ms_per_item"][name]) == {
            "server",
            "worker",
            "worker:loop",
            "worker:threads",
            "worker:core",
        }
        assert any(line.startswith(f"| {name} |") for line in sqlite_run.table.splitlines())
    assert positive(numbers["phases"]["bulk job"]["cpu_seconds"]["cli"])
    assert positive(numbers["worker_peak_rss_mb"])
    assert positive(numbers["server_peak_rss_mb"])


@pytest.mark.devserver
def test_each_command_adds_its_events_to_a_contracts_history(sqlite_run: Run) -> None:
    history = sqlite_run.numbers["history_events_of_one_contract"]
    signal = history["events added by the batch signal"]
    update = history["events added by the bulk job"]
    assert signal[0] == "WORKFLOW_EXECUTION_SIGNALED"
    assert "WORKFLOW_EXECUTION_UPDATE_ACCEPTED" in update
    assert "WORKFLOW_EXECUTION_UPDATE_COMPLETED" in update
    assert history["after the bulk job"] == history["after onboarding"] + len(signal) + len(update)


@pytest.mark.devserver
@pytest.mark.postgres
def test_on_postgres_with_another_concurrency(postgres_run: Run) -> None:
    numbers = postgres_run.numbers
    assert numbers["billing_database"] == "postgresql"
    assert (numbers["bulk"]["applied"], numbers["bulk"]["concurrency"]) == (CONTRACTS, 4)
    assert numbers["batch"]["applied"] == CONTRACTS
    assert len(list(postgres_run.out.glob(f"*-bulk-n{CONTRACTS}-c4-postgres.json"))) == 1
    name = numbers["billing_database_where"].split()[0]
    assert name.startswith("termshift_bench_")
    with psycopg.connect(
        host=POSTGRES_HOST, port=POSTGRES_PORT, user=POSTGRES_USER, dbname="postgres"
    ) as connection:
        left = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        assert left.fetchone() is None


def test_a_count_out_of_bounds_is_refused(tmp_path: Path) -> None:
    finished = bulk_bench(tmp_path, "--contracts", "0")
    assert finished.returncode == 2
    assert "--contracts" in finished.stderr
    assert list(tmp_path.iterdir()) == []
