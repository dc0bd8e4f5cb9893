"""A bulk job (SPEC §8) whose worker, or Temporal server, is SIGKILLed mid-job, on the
production-shaped rig: the real worker process, the dev server on a file, the CLI as an operator
runs it. A new worker (or the server started again) finishes the job, and no contract takes the
command twice."""

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from billing.contract import Contract, Location, new_contract
from store.models import AuditRow
from store.repository import bulk as store
from termshift.services.contracts import create_contract
from tests.support.faults import ADMIN, DESK, ROOT, Rig, eventually, noon_clock, rig

pytestmark = pytest.mark.devserver

CONTRACTS = 30
STALL_AFTER = 10


@pytest.fixture
async def faults(tmp_path: Path, database_url: str) -> AsyncIterator[Rig]:
    async with rig(tmp_path, database_url) as the_rig:
        yield the_rig


def members(r: Rig) -> tuple[Location, list[Contract]]:
    """A location in a zone where it is about noon, and CONTRACTS contracts on its desk plan
    that start next year (asleep on a timer: each takes `set_price`)."""
    clock = noon_clock()
    location = r.location(clock.timezone)
    plan = r.plan(DESK, location)
    return location, [
        new_contract(
            id=f"{location.id}-c{index:02d}",
            customer_id=r.customer(location, index),
            location=location,
            plan=plan,
            start=clock.in_next_year(3, 1),
        )
        for index in range(CONTRACTS)
    ]


def starter(r: Rig, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "starter.py", *args],
        cwd=ROOT,
        env=r.worker_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_a_worker_killed_mid_job_is_replaced_and_no_contract_takes_it_twice(
    faults: Rig, tmp_path: Path
) -> None:
    r = faults
    location, contracts = members(r)
    env = {
        "TERMSHIFT_BULK_TASK_QUEUE": f"{r.queue}-bulk",
        "TERMSHIFT_BULK_CONCURRENCY": "1",  # one contract after the other: the kill lands mid-job
    }
    stalled = tmp_path / "stalled"
    r.start_worker(
        "tests/faults/stall_bulk.py",
        {**env, "TERMSHIFT_STALL_AFTER": str(STALL_AFTER), "TERMSHIFT_STALL_MARKER": str(stalled)},
    )
    await asyncio.gather(
        *(create_contract(r.client, c, ADMIN, task_queue=r.queue, timeout=90) for c in contracts)
    )

    job = f"raise-{uuid.uuid4().hex[:6]}"
    started = starter(
        r, env, "bulk", "run", "--do", "set-price", "--price", "350.00",
        "--location", location.id, "--job", job, "--no-wait", "--reason", "new prices",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert f"Started job {job}" in " ".join(started.stdout.split())
    await eventually(stalled.exists, timeout=90, what="the job to reach its stall")
    await asyncio.sleep(2)  # the answers before the stall are written every second
    r.kill_worker()
    with r.database.session() as session:
        at_kill = store.counts(session, job)
    assert at_kill.done == STALL_AFTER - 1, at_kill  # the stalled contract's answer is lost
    assert at_kill.left == CONTRACTS - at_kill.done

    r.start_worker(extra_env=env)

    def finished() -> bool:
        with r.database.session() as session:
            return store.get_job(session, job).status == "done"

    await eventually(finished, timeout=120, what="the job to finish on the new worker")
    report = json.loads(starter(r, env, "bulk", "status", job, "--json").stdout)
    assert (report["applied"], report["refused"], report["skipped"]) == (CONTRACTS, 0, 0)
    assert report["left"] == 0
    [lost] = [item for item in report["items"] if item["code"] == "already_applied"]
    assert lost["position"] == STALL_AFTER - 1  # the contract whose answer the kill lost
    assert f"has taken bulk job {job}'s command already" in lost["message"]
    assert "Its first answer was lost on the way" in lost["message"]

    with r.database.session() as session:
        taken = dict(
            session.execute(
                select(AuditRow.contract_id, func.count())
                .where(AuditRow.job_id == job)
                .group_by(AuditRow.contract_id)
            ).all()
        )
    assert taken == {c.id: 1 for c in contracts}  # every contract took it, once
    for contract in contracts:
        scheduled = r.stored(contract.id).scheduled_price
        assert scheduled is not None, contract.id
        assert scheduled.price == Decimal("350.00"), contract.id


async def test_a_server_killed_mid_job_and_restarted_finishes_it(
    faults: Rig, tmp_path: Path
) -> None:
    """The Temporal server SIGKILLed while a page is sending (one contract after the other) and
    started again on its file: the worker reconnects, the page is sent again to the contracts
    without an answer, and every contract takes the command once."""
    r = faults
    location, contracts = members(r)
    env = {"TERMSHIFT_BULK_TASK_QUEUE": f"{r.queue}-bulk", "TERMSHIFT_BULK_CONCURRENCY": "1"}
    sending = tmp_path / "sending"
    r.start_worker(  # half a second after each send from the third on: mid-job at the kill
        "tests/faults/stall_bulk.py",
        {
            **env,
            "TERMSHIFT_STALL_AFTER": "3",
            "TERMSHIFT_STALL_MARKER": str(sending),
            "TERMSHIFT_SEND_DELAY": "0.5",
        },
    )
    await asyncio.gather(
        *(create_contract(r.client, c, ADMIN, task_queue=r.queue, timeout=90) for c in contracts)
    )
    job = f"prices-{uuid.uuid4().hex[:6]}"
    started = starter(
        r, env, "bulk", "run", "--do", "set-price", "--price", "320.00",
        "--location", location.id, "--job", job, "--no-wait",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr

    await eventually(sending.exists, timeout=60, what="the job's third contract")
    await r.kill_server()
    with r.database.session() as session:
        at_kill = store.counts(session, job)
    await asyncio.sleep(3)
    await r.start_server()

    def finished() -> bool:
        with r.database.session() as session:
            return store.get_job(session, job).status == "done"

    await eventually(finished, timeout=180, what="the job to finish after the restart")
    with r.database.session() as session:
        counts = store.counts(session, job)
        taken = dict(
            session.execute(
                select(AuditRow.contract_id, func.count())
                .where(AuditRow.job_id == job)
                .group_by(AuditRow.contract_id)
            ).all()
        )
    assert at_kill.left > 0, at_kill  # the kill came mid-job
    assert (counts.applied, counts.refused, counts.skipped, counts.left) == (CONTRACTS, 0, 0, 0)
    assert taken == {c.id: 1 for c in contracts}
