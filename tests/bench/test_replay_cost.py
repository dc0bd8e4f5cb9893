"""The replay benchmark's counting and arithmetic (the replays themselves: tests/replay)."""

import json

import pytest

from bench.replay_cost import CASES, HISTORIES, dates_in, markdown, per_date


@pytest.mark.parametrize(
    ("history", "dates"),
    [
        ("v4/continue-as-new-run1", 48),  # the run bound before
        ("v5/continue-as-new-run1", 12),  # the run bound now
        ("v5/plain-billing", 4),
        ("v1/plain-billing", 4),  # dates written by the activity `record_step`
    ],
)
def test_dates_in_a_run(history: str, dates: int) -> None:
    assert dates_in(json.loads((HISTORIES / f"{history}.json").read_text())) == dates


def test_every_case_is_a_checked_in_history() -> None:
    assert all((HISTORIES / f"{name}.json").is_file() for name, _ in CASES)


def test_cost_per_date_and_report() -> None:
    results = [
        {"history": "a", "what": "long", "events": 109, "dates": 48, "cpu_ms_per_replay": 80.0},
        {"history": "b", "what": "short", "events": 37, "dates": 12, "cpu_ms_per_replay": 26.0},
        {"history": "c", "what": "first", "events": 13, "dates": 1, "cpu_ms_per_replay": 6.4},
    ]
    assert per_date(results) == 1.57  # (80.0 - 6.4) / (48 - 1)
    report = markdown(
        {
            "started_at": "2026-11-27T00:00:00+00:00",
            "rounds": 20,
            "cpus": 2,
            "workflow_sandbox": False,
            "histories": results,
            "cpu_ms_per_date": 1.57,
        }
    )
    assert "| a | long | 109 | 48 | 80.0 |" in report
    assert "workflow sandbox off" in report
    assert report.endswith("CPU per date in the run: 1.57 ms.\n")
