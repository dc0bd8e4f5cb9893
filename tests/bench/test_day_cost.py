"""The day-cost benchmark, run as the script it is (`bench/day_cost.py`) on a few contracts, its
results written into a temp dir: on SQLite and on PostgreSQL it writes every first invoice and
reports what each part cost (the numbers themselves mean nothing at this size). Nothing here
imports `bench/`."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def day_cost(out: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "bench/day_cost.py", "--out", str(out), *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def results(out: Path) -> tuple[dict[str, Any], str]:
    (document,) = out.glob("day-cost-*.json")
    return json.loads(document.read_text()), document.with_suffix(".md").read_text()


@pytest.mark.parametrize("postgres", [False, True], ids=["sqlite", "postgresql"])
def test_it_writes_every_first_invoice_and_reports_each_part(
    tmp_path: Path, postgres: bool
) -> None:
    finished = day_cost(tmp_path, "--contracts", "5", *(["--postgres"] if postgres else []))
    assert finished.returncode == 0, (finished.stdout + finished.stderr)[-4000:]
    numbers, report = results(tmp_path)
    assert numbers["contracts"] == 5
    assert numbers["billing_database"] == ("postgresql" if postgres else "sqlite")
    day = numbers["first_invoice"]
    # A first invoice with its deposit is a handful of statements in one transaction, the same
    # on either database.
    assert 5 <= day["statements_per_invoice"] <= 15
    assert day["transaction_wall_ms"] > 0
    assert day["transaction_python_cpu_ms"] > 0
    assert ("database_backend_cpu_ms" in day) == postgres
    assert numbers["skeleton_write"]["wall_ms"] > 0
    assert f"| transaction: statements sent | {day['statements_per_invoice']} |  |" in report
    assert ("| transaction: database server CPU |" in report) == postgres
    if postgres:
        assert "created for the run" in numbers["billing_database_where"]


def test_a_count_below_one_is_refused(tmp_path: Path) -> None:
    finished = day_cost(tmp_path, "--contracts", "0")
    assert finished.returncode == 2
    assert "--contracts must be at least 1" in finished.stderr
    assert list(tmp_path.iterdir()) == []
