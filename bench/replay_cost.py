"""What it costs a worker to rebuild a contract's workflow from its history.

    python bench/replay_cost.py [--rounds R] [--out DIR] [--history NAME ...]

A worker caches a few hundred workflows (TERMSHIFT_WORKFLOW_CACHE_SIZE). At month-end every
contract beyond the cache is rebuilt before its invoice date runs: the worker replays the
contract's current run from its first event. This replays the checked-in histories of one long
contract (`tests/histories/*/continue-as-new-run1.json`: a run of 48 dates recorded before runs
were shortened, and one of 12 after) and of an ordinary one, R times each, on the same workflow
runner as the workers, and prints the CPU per replay and per date in the run (`--history`
replays other checked-in histories instead, by their name under tests/histories/). Results:
bench/results/replay-cost-<timestamp>.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.table import Table  # noqa: E402
from temporalio.client import WorkflowHistory  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.worker import Replayer  # noqa: E402

from bench.harness import RESULTS, console, timestamp, write_results  # noqa: E402
from termshift.settings import Settings  # noqa: E402
from workflows import ContractWorkflow  # noqa: E402
from workflows.sandbox import workflow_runner  # noqa: E402

HISTORIES = ROOT / "tests" / "histories"
CASES = (
    ("v4/continue-as-new-run1", "a run of 48 dates (before runs were shortened)"),
    ("v5/continue-as-new-run1", "a run of 12 dates (the bound now)"),
    ("v5/plain-billing", "an ordinary contract: 4 dates"),
    ("v5/continue-as-new-run6", "a run's first date"),
)


def dates_in(document: dict[str, Any]) -> int:
    """Dates the run wrote: its local activities `record_day` (an older run: activities
    `record_step`)."""
    count = 0
    for event in document["history"]["events"]:
        marker = event.get("markerRecordedEventAttributes") or {}
        if marker.get("markerName") == "core_local_activity":
            data = marker["details"]["data"]["payloads"][0]["data"]
            count += json.loads(base64.b64decode(data))["activity_type"] == "record_day"
        scheduled = event.get("activityTaskScheduledEventAttributes") or {}
        count += scheduled.get("activityType", {}).get("name") == "record_step"
    return count


async def replay_cost(rounds: int, cases: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    replayer = Replayer(
        workflows=[ContractWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(sandboxed=Settings().workflow_sandbox),
    )
    results = []
    for name, what in cases:
        document = json.loads((HISTORIES / f"{name}.json").read_text())
        history = WorkflowHistory.from_json(document["workflow_id"], document["history"])
        await replayer.replay_workflow(history)  # warm-up: imports, caches
        started = time.process_time()
        for _ in range(rounds):
            await replayer.replay_workflow(history, raise_on_replay_failure=True)
        ms = 1000 * (time.process_time() - started) / rounds
        results.append(
            {
                "history": name,
                "what": what,
                "events": len(history.events),
                "dates": dates_in(document),
                "cpu_ms_per_replay": round(ms, 1),
            }
        )
    return results


def per_date(results: list[dict[str, Any]]) -> float | None:
    """CPU per date in the run: the slope between the longest and the shortest run (None when
    every run has as many dates)."""
    longest = max(results, key=lambda r: r["dates"])
    shortest = min(results, key=lambda r: r["dates"])
    if longest["dates"] == shortest["dates"]:
        return None
    slope: float = (longest["cpu_ms_per_replay"] - shortest["cpu_ms_per_replay"]) / (
        longest["dates"] - shortest["dates"]
    )
    return round(slope, 2)


def markdown(numbers: dict[str, Any]) -> str:
    sandbox = "on" if numbers["workflow_sandbox"] else "off"
    lines = [
        f"Replay cost, {numbers['started_at']}: {numbers['rounds']} replays each, "
        f"{numbers['cpus']} CPUs, workflow sandbox {sandbox}",
        "",
        "| history | run | events | dates | CPU ms per replay |",
        "|---|---|---:|---:|---:|",
    ]
    for r in numbers["histories"]:
        lines.append(
            f"| {r['history']} | {r['what']} | {r['events']} | {r['dates']} | "
            f"{r['cpu_ms_per_replay']} |"
        )
    per = numbers["cpu_ms_per_date"]
    lines += ["", f"CPU per date in the run: {'n/a' if per is None else per} ms."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="replays of each history")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results are written")
    parser.add_argument(
        "--history",
        action="append",
        metavar="NAME",
        help="a history under tests/histories/ to replay instead of the default ones "
        "(e.g. v1/plain-billing); repeatable",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    cases: Sequence[tuple[str, str]] = CASES
    if args.history:
        missing = [name for name in args.history if not (HISTORIES / f"{name}.json").is_file()]
        if missing:
            parser.error(f"no such history under {HISTORIES}: {', '.join(missing)}")
        cases = tuple((name, "a checked-in history") for name in args.history)
    results = asyncio.run(replay_cost(args.rounds, cases))
    numbers = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "workflow_sandbox": Settings().workflow_sandbox,
        "histories": results,
        "cpu_ms_per_date": per_date(results),
    }
    table = Table(title="Replaying a contract's run")
    for column in ("history", "run", "events", "dates", "CPU ms per replay"):
        table.add_column(column, justify="left" if column in ("history", "run") else "right")
    for r in results:
        table.add_row(
            r["history"], r["what"], str(r["events"]), str(r["dates"]), str(r["cpu_ms_per_replay"])
        )
    console.print(table)
    console.print(f"CPU per date in the run: {numbers['cpu_ms_per_date']} ms")
    path = write_results(args.out, [f"replay-cost-{timestamp()}"], numbers, markdown(numbers))
    console.print(f"Results: {path} (and .md)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
