"""The floors the month-end benchmark compares Termshift's contracts with, measured on its server:
N skeletons (`bench/skeleton.py`) started 50 at a time, then firing at one instant.

- `skeleton`: the bare floor, a timer and one activity writing a row — Temporal's own floor.
- `same_commands`: a skeleton whose date makes the same Temporal commands a contract's date makes
  (search attributes, summaries, current details, the first date's patch, a local activity), with
  none of Termshift's billing — the floor for the product as it is specified.

Each runs in two rounds, before and after the contracts, on the same server (it slows a little as
its database fills, and the contracts run between the two); the floor is the mean of the rounds.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client

from bench.harness import CpuMeter, Results, console, poll_until, rate, run_limited, wait_until
from bench.skeleton import (
    NEXT_PERIOD,
    TABLE,
    SameCommandsInput,
    SameCommandsWorkflow,
    SkeletonWorkflow,
    row_key,
    same_commands_start_options,
)

FLOORS = ("skeleton", "same_commands")
LABELS = {"skeleton": "skeleton", "same_commands": "same-commands"}
"""How a floor's phases are named (the CPU table, progress, notes)."""
PLURALS = {"skeleton": "skeletons", "same_commands": "same-commands skeletons"}
ROUNDS = ("before", "after")
"""Each floor runs once before the contracts and once after them, on the same server."""
MEASURES = ("starts_per_second", "firings_per_second")
MARGIN = 15.0
"""Seconds between the end of the expected starts and the skeletons' instant."""


def count_rows(db_path: str, pattern: str) -> int:
    with sqlite3.connect(db_path, timeout=30) as connection:
        row = connection.execute(
            f"SELECT COUNT(*) FROM {TABLE} WHERE workflow_id LIKE ?", (pattern,)
        ).fetchone()
        return int(row[0])


async def floor_phase(
    client: Client,
    floor: str,
    n: int,
    queue: str,
    db_path: str,
    cpu: CpuMeter,
    out: Results,
    when: str,
    *,
    margin: float | None = None,
    renewal: bool = False,
) -> str:
    """One round of one floor: N starts (starts/s), then their instant (firings/s, from the
    instant to the last row). With `renewal`, a same-commands skeleton has a date before: it runs
    as the skeleton starts, as a renewal's contract has had its first invoice. Returns the id of
    one of its workflows (for its history)."""
    label, plural = LABELS[floor], PLURALS[floor]
    bare = floor == "skeleton"
    console.rule(
        f"[bold]{'Skeleton (engine floor)' if bare else 'Same-commands skeleton'}, "
        f"{when} the contracts"
    )
    prefix = f"{'skeleton' if bare else 'same'}-{when}-{queue}"
    measured = 1 if renewal and not bare else 0  # which date of a same-commands run is timed

    async def start(workflow_id: str, fire_at: datetime) -> None:
        if bare:
            await client.start_workflow(
                SkeletonWorkflow.run, fire_at, id=workflow_id, task_queue=queue
            )
            return
        dates = [fire_at - NEXT_PERIOD, fire_at] if measured else [fire_at]
        contract_id = f"s{when[0]}-{workflow_id.rsplit('-', 1)[1]}"
        input = SameCommandsInput(
            dates=dates,
            contract_id=contract_id,
            customer_id=f"{contract_id}-cust",
            location_id=f"same-{when}",
        )
        await client.start_workflow(
            SameCommandsWorkflow.run,
            input,
            id=workflow_id,
            task_queue=queue,
            **same_commands_start_options(input),
        )

    def key(workflow_id: str) -> str:
        return workflow_id if bare else row_key(workflow_id, measured)

    # Warm-up: one end to end, so the worker is polling before anything is timed.
    await start(f"{prefix}-warmup", datetime.now(UTC))
    await poll_until(
        f"{label}: warm-up", 1, lambda: count_rows(db_path, key(f"{prefix}-warmup")), 60
    )
    await cpu.settle(f"before the {label} starts ({when})")
    lead = (MARGIN if margin is None else margin) + n / 40
    if measured:  # and the first dates, written as they start
        lead += (10 if margin is None else margin) + n / 40
    fire_at = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0)
    ids = [f"{prefix}-{i:05d}" for i in range(n)]

    before = cpu.read()
    seconds = await run_limited(f"starting {plural}", n, lambda i: start(ids[i], fire_at))
    cpu.record(f"{label} start ({when})", before, n, "server", "skeleton_worker")
    if measured:  # until the first dates are written, but never past the instant
        left = (fire_at - datetime.now(UTC)).total_seconds() - 2
        await cpu.settle(f"after the {plural}' first dates", timeout=max(0.0, left))
    if datetime.now(UTC) > fire_at:
        out.notes.append(
            f"The {label} starts ({when}) overran their timer instant: firing numbers are low."
        )
    await wait_until(fire_at, f"the {plural}' timer")
    before = cpu.read()
    pattern = key(f"{prefix}-0%")
    done, _ = await poll_until(
        f"{label} rows", n, lambda: count_rows(db_path, pattern), timeout=max(300.0, n / 2)
    )
    cpu.record(f"{label} firing ({when})", before, done, "server", "skeleton_worker")
    with sqlite3.connect(db_path) as connection:
        (last,) = connection.execute(
            f"SELECT MAX(inserted_at) FROM {TABLE} WHERE workflow_id LIKE ?", (pattern,)
        ).fetchone()
    span = (datetime.fromisoformat(last) - fire_at).total_seconds() if last else None
    out.numbers[f"{floor}_{when}"] = {
        "start_seconds": round(seconds, 2),
        "starts_per_second": rate(n, seconds),
        "fired": done,
        "firing_seconds": round(span, 2) if span is not None else None,
        "firings_per_second": rate(done, span),
    }
    console.print(
        f"  {n} starts in {seconds:.1f} s ({rate(n, seconds)}/s); {done} rows "
        f"{span or 0:.1f} s after the instant ({rate(done, span)}/s)"
    )
    return ids[0]


def floor_means(numbers: dict[str, Any]) -> None:
    """Each floor the contracts are compared with: the mean of its two rounds
    (`skeleton_firings_per_second`, `same_commands_starts_per_second`, …), and each round's."""
    for floor in FLOORS:
        for measure in MEASURES:
            values = [numbers.get(f"{floor}_{when}", {}).get(measure) for when in ROUNDS]
            for when, value in zip(ROUNDS, values, strict=True):
                numbers[f"{floor}_{measure}_{when}"] = value
            known = [value for value in values if value is not None]
            numbers[f"{floor}_{measure}"] = round(sum(known) / len(known), 1) if known else None
