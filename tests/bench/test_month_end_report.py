"""The month-end benchmark's arithmetic: the skeleton's floor and the ratios it reports."""

import asyncio
import json
import os
import threading
import time
from pathlib import Path

from bench.month_end import (
    ROWS,
    THREAD_KINDS,
    CpuMeter,
    markdown,
    ratio,
    skeleton_floor,
    thread_cpu_seconds,
    write_results,
)


def test_the_floor_is_the_mean_of_the_skeletons_two_rounds() -> None:
    numbers = {
        "skeleton_before": {"starts_per_second": 300.0, "firings_per_second": 150.0},
        "skeleton_after": {"starts_per_second": 260.0, "firings_per_second": 130.0},
    }
    skeleton_floor(numbers)
    assert numbers["skeleton_starts_per_second"] == 280.0
    assert numbers["skeleton_firings_per_second"] == 140.0
    assert numbers["skeleton_starts_per_second_before"] == 300.0
    assert numbers["skeleton_firings_per_second_after"] == 130.0
    assert ratio(112.0, numbers["skeleton_firings_per_second"]) == 0.8


def test_a_missing_round_leaves_the_other_as_the_floor() -> None:
    numbers = {"skeleton_before": {"starts_per_second": 300.0, "firings_per_second": None}}
    skeleton_floor(numbers)
    assert numbers["skeleton_starts_per_second"] == 300.0
    assert numbers["skeleton_starts_per_second_after"] is None
    assert numbers["skeleton_firings_per_second"] is None
    assert ratio(100.0, None) is None


def test_the_report_shows_both_rounds_and_the_mean() -> None:
    numbers = {"started_at": "2026-11-26T00:00:00+00:00", "contracts": 10}
    numbers |= {
        "skeleton_before": {"starts_per_second": 300.0, "firings_per_second": 150.0},
        "skeleton_after": {"starts_per_second": 260.0, "firings_per_second": 130.0},
    }
    skeleton_floor(numbers)
    table = markdown(numbers, ["a note"])
    assert "| skeleton starts, before the contracts | 300.0 | workflows/s |" in table
    assert "| skeleton firings, mean of the two | 140.0 | workflows/s |" in table
    assert "- a note" in table
    assert len([line for line in table.splitlines() if line.startswith("| ")]) == len(ROWS) + 1


def test_settling_returns_once_the_processes_are_idle() -> None:
    meter = CpuMeter({"idle": 0})  # pid 0 reads as no CPU at all
    asyncio.run(asyncio.wait_for(meter.settle("test", timeout=5.0), timeout=10.0))


def test_a_renewal_run_keeps_its_own_latest(tmp_path: Path) -> None:
    first = write_results(tmp_path, {"started_at": "x", "contracts": 10}, [])
    renewal = write_results(
        tmp_path, {"started_at": "y", "contracts": 10, "month_end_kind": "renewal"}, ["n"]
    )
    assert first.name.endswith("-n10.json")
    assert renewal.name.endswith("-n10-renewal.json")
    assert json.loads((tmp_path / "latest.json").read_text())["started_at"] == "x"
    assert json.loads((tmp_path / "latest-renewal.json").read_text())["notes"] == ["n"]
    assert "| month-end: whose invoices | renewal |" in (tmp_path / "latest-renewal.md").read_text()


def burn(seconds: float) -> None:
    """Spend about `seconds` of CPU in the calling thread."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


def test_a_process_cpu_is_split_by_kind_of_thread() -> None:
    before = thread_cpu_seconds(os.getpid())
    burn(0.3)  # this thread is the process's main thread (a worker's event loop)
    after_main = thread_cpu_seconds(os.getpid())
    assert after_main["loop"] - before["loop"] >= 0.25
    assert set(after_main) == set(THREAD_KINDS)

    meter = CpuMeter({"me": os.getpid()}, split=("me",))
    burnt, release = threading.Event(), threading.Event()

    def spin() -> None:
        burn(0.3)
        burnt.set()
        release.wait(30)  # alive while measured

    start = meter.read()
    spinner = threading.Thread(target=spin)
    spinner.start()
    assert burnt.wait(30)
    meter.record("phase", start, 1, "me")
    release.set()
    spinner.join()
    spent = meter.per_item["phase"]
    assert spent["me:threads"] >= 250  # ms for one item
    # The process's total and its threads' are read one after the other, in clock ticks of
    # 10 ms: under load the threads' may come out a tick or two ahead.
    assert spent["me"] >= spent["me:threads"] - 30
    assert set(spent) == {"me", "me:loop", "me:threads", "me:core"}


def test_a_process_that_is_gone_reads_as_no_cpu() -> None:
    assert thread_cpu_seconds(0) == dict.fromkeys(THREAD_KINDS, 0.0)


def test_the_cpu_table_shows_the_worker_by_thread() -> None:
    numbers = {
        "started_at": "x",
        "contracts": 10,
        "cpu_ms_per_item": {
            "month-end": {
                "server": 11.0,
                "worker": 10.0,
                "worker:loop": 4.0,
                "worker:threads": 5.0,
                "worker:core": 1.0,
            },
            "skeleton firing (before)": {"server": 9.0, "skeleton_worker": 6.0},
        },
    }
    table = markdown(numbers, [])
    assert "| month-end | 11.0 | 10.0 | 4.0 | 5.0 | 1.0 |" in table
    assert "| skeleton firing (before) | 9.0 | 6.0 | n/a | n/a | n/a |" in table
