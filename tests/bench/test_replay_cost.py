"""The replay benchmark, run as the script it is (`bench/replay_cost.py`) with one replay per
history, its results written into a temp dir: the dates it counts in each checked-in run and its
arithmetic (the replays themselves are tested in tests/replay). Nothing here imports `bench/`."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HISTORIES = ROOT / "tests" / "histories"
DEFAULT_CASES = {
    "v4/continue-as-new-run1": 48,  # the run bound before
    "v5/continue-as-new-run1": 12,  # the run bound now
    "v5/plain-billing": 4,
    "v5/continue-as-new-run6": 1,  # a run's first date
}
"""The histories it replays by default, and the dates each run wrote."""


def replay_cost(out: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "bench/replay_cost.py", "--rounds", "1", "--out", str(out), *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def results(out: Path) -> tuple[dict[str, Any], str]:
    (document,) = out.glob("replay-cost-*.json")
    return json.loads(document.read_text()), document.with_suffix(".md").read_text()


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("replay-cost")
    finished = replay_cost(out)
    assert finished.returncode == 0, (finished.stdout + finished.stderr)[-4000:]
    return results(out)


def test_every_default_case_is_a_checked_in_history() -> None:
    assert all((HISTORIES / f"{name}.json").is_file() for name in DEFAULT_CASES)


def test_the_dates_in_each_run(default_run: tuple[dict[str, Any], str]) -> None:
    numbers, _ = default_run
    assert {r["history"]: r["dates"] for r in numbers["histories"]} == DEFAULT_CASES
    assert numbers["rounds"] == 1
    assert all(r["events"] > 0 and r["cpu_ms_per_replay"] > 0 for r in numbers["histories"])


def test_the_cost_per_date_is_the_slope_from_the_shortest_to_the_longest_run(
    default_run: tuple[dict[str, Any], str],
) -> None:
    numbers, report = default_run
    by_name = {r["history"]: r for r in numbers["histories"]}
    longest, shortest = by_name["v4/continue-as-new-run1"], by_name["v5/continue-as-new-run6"]
    slope = (longest["cpu_ms_per_replay"] - shortest["cpu_ms_per_replay"]) / (48 - 1)
    assert numbers["cpu_ms_per_date"] == round(slope, 2)
    assert numbers["cpu_ms_per_date"] > 0
    assert report.endswith(f"CPU per date in the run: {numbers['cpu_ms_per_date']} ms.\n")


def test_the_report_has_a_row_per_history(default_run: tuple[dict[str, Any], str]) -> None:
    numbers, report = default_run
    sandbox = "on" if numbers["workflow_sandbox"] else "off"
    assert f"1 replays each, {numbers['cpus']} CPUs, workflow sandbox {sandbox}" in report
    for r in numbers["histories"]:
        assert (
            f"| {r['history']} | {r['what']} | {r['events']} | {r['dates']} | "
            f"{r['cpu_ms_per_replay']} |"
        ) in report


def test_chosen_histories_and_runs_of_as_many_dates(tmp_path: Path) -> None:
    """`--history` replays others: the oldest run's dates were written by the activity
    `record_step`; two runs of 4 dates leave no slope."""
    finished = replay_cost(
        tmp_path, "--history", "v1/plain-billing", "--history", "v5/plain-billing"
    )
    assert finished.returncode == 0, (finished.stdout + finished.stderr)[-4000:]
    numbers, report = results(tmp_path)
    assert [(r["history"], r["dates"]) for r in numbers["histories"]] == [
        ("v1/plain-billing", 4),
        ("v5/plain-billing", 4),
    ]
    assert numbers["cpu_ms_per_date"] is None
    assert report.endswith("CPU per date in the run: n/a ms.\n")


def test_an_unknown_history_is_refused(tmp_path: Path) -> None:
    finished = replay_cost(tmp_path, "--history", "v9/nothing")
    assert finished.returncode == 2
    assert "no such history" in finished.stderr
    assert list(tmp_path.iterdir()) == []
