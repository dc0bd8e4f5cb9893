"""Bulk jobs (SPEC §8): the job, the contracts it takes in order, and each contract's answer.

A job's items are written once, when the job is created; the job's workflow then takes them page
by page and writes each answer here. Answers are what the contracts said: a contract that took
the command before (a run again, or a send whose answer was lost) says so itself.
"""

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from billing.commands import Cli, command
from store.errors import NotFound
from store.models import BulkItemRow, BulkJobRow, ContractRow
from store.records import BulkCounts, BulkItem, BulkJob
from store.repository._shared import _insert_new, _insert_new_rows

ITEMS_PER_INSERT = 1000
NO_JOB = "No bulk job {!r}: check the id with " + command(Cli.BULK_LIST) + "."


def create_job(session: Session, job: BulkJob, contract_ids: Sequence[str]) -> bool:
    """The job and its contracts, in order; False (and nothing written) if the id is taken."""
    values = {
        "id": job.id,
        "command": job.command,
        "arguments": json.dumps(job.arguments, sort_keys=True),
        "selection": job.selection,
        "selection_json": json.dumps(job.selection_json, sort_keys=True),
        "actor": job.actor,
        "reason": job.reason,
        "created_at": job.created_at,
        "status": "running",
        "runs": 1,
        "total": len(contract_ids),
    }
    if not _insert_new(session, BulkJobRow, values, key=["id"]):
        return False
    for start in range(0, len(contract_ids), ITEMS_PER_INSERT):
        rows = [
            {"job_id": job.id, "position": start + offset, "contract_id": contract_id}
            for offset, contract_id in enumerate(contract_ids[start : start + ITEMS_PER_INSERT])
        ]
        _insert_new_rows(session, BulkItemRow, rows, key=None, returning="position")
    return True


def get_job(session: Session, job_id: str) -> BulkJob:
    row = session.get(BulkJobRow, job_id)
    if row is None:
        raise NotFound(NO_JOB.format(job_id))
    return _job(row)


def list_jobs(session: Session) -> list[BulkJob]:
    """Every job, newest first."""
    query = select(BulkJobRow).order_by(BulkJobRow.created_at.desc(), BulkJobRow.id)
    return [_job(row) for row in session.scalars(query)]


def counts(session: Session, job_id: str) -> BulkCounts:
    """How many of the job's contracts answered each way, and how many are left."""
    found = dict(
        session.execute(
            select(BulkItemRow.outcome, func.count())
            .where(BulkItemRow.job_id == job_id)
            .group_by(BulkItemRow.outcome)
        ).all()
    )
    return BulkCounts(
        applied=found.get("applied", 0),
        refused=found.get("refused", 0),
        skipped=found.get("skipped", 0),
        left=found.get(None, 0),
    )


def unanswered(session: Session, job_id: str, *, after: int, limit: int) -> list[tuple[int, str]]:
    """(position, contract id) of the job's next `limit` contracts after `after` with no answer."""
    query = (
        select(BulkItemRow.position, BulkItemRow.contract_id)
        .where(
            BulkItemRow.job_id == job_id,
            BulkItemRow.position > after,
            BulkItemRow.outcome.is_(None),
        )
        .order_by(BulkItemRow.position)
        .limit(limit)
    )
    return [(position, contract_id) for position, contract_id in session.execute(query)]


def record_answers(session: Session, job_id: str, answers: Iterable[BulkItem]) -> None:
    """Write the contracts' answers, in one statement."""
    rows = [
        {
            "j": job_id,
            "p": answer.position,
            "outcome": answer.outcome,
            "code": answer.code,
            "message": answer.message,
            "answered_at": answer.answered_at or datetime.now(UTC),
        }
        for answer in answers
    ]
    if not rows:
        return
    table = cast(Table, BulkItemRow.__table__)
    statement = (
        update(table)
        .where(table.c.job_id == bindparam("j"), table.c.position == bindparam("p"))
        .values(
            outcome=bindparam("outcome"),
            code=bindparam("code"),
            message=bindparam("message"),
            answered_at=bindparam("answered_at"),
        )
    )
    session.connection().execute(statement, rows)


def items(session: Session, job_id: str, *, outcome: str | None = None) -> list[BulkItem]:
    """The job's contracts in order, with their answers (of one outcome, if given)."""
    query = select(BulkItemRow).where(BulkItemRow.job_id == job_id).order_by(BulkItemRow.position)
    if outcome is not None:
        query = query.where(BulkItemRow.outcome == outcome)
    return [
        BulkItem(
            position=row.position,
            contract_id=row.contract_id,
            outcome=row.outcome,
            code=row.code,
            message=row.message,
            answered_at=row.answered_at,
        )
        for row in session.scalars(query)
    ]


def start_again(session: Session, job_id: str) -> None:
    """Run a job again: every contract is asked again (each one that took the command says so)."""
    session.execute(
        update(BulkJobRow)
        .where(BulkJobRow.id == job_id)
        .values(status="running", runs=BulkJobRow.runs + 1, finished_at=None)
    )
    session.execute(
        update(BulkItemRow)
        .where(BulkItemRow.job_id == job_id)
        .values(outcome=None, code=None, message=None, answered_at=None)
    )


def go_on(session: Session, job_id: str) -> None:
    """A job cancelled or interrupted goes on: running again, its answers kept."""
    session.execute(
        update(BulkJobRow).where(BulkJobRow.id == job_id).values(status="running", finished_at=None)
    )


def finish_job(session: Session, job_id: str, status: str) -> None:
    """Mark the job done or cancelled (once: a finished job keeps its first end)."""
    session.execute(
        update(BulkJobRow)
        .where(BulkJobRow.id == job_id, BulkJobRow.status == "running")
        .values(status=status, finished_at=datetime.now(UTC))
    )


def live_contract_ids(
    session: Session,
    *,
    plan_code: str | None = None,
    location_id: str | None = None,
    changing_to_plan: bool = False,
) -> list[str]:
    """The contracts not ended (active, or not started yet) of a plan — and with
    `changing_to_plan`, those with a change to it scheduled — or of a location, oldest first."""
    query = select(ContractRow.id).where(ContractRow.status != "cancelled")
    if plan_code is not None and changing_to_plan:
        query = query.where(
            or_(ContractRow.plan_code == plan_code, ContractRow.next_plan_code == plan_code)
        )
    elif plan_code is not None:
        query = query.where(ContractRow.plan_code == plan_code)
    if location_id is not None:
        query = query.where(ContractRow.location_id == location_id)
    return list(session.scalars(query.order_by(ContractRow.created_at, ContractRow.id)))


def _job(row: BulkJobRow) -> BulkJob:
    return BulkJob(
        id=row.id,
        command=row.command,
        arguments=json.loads(row.arguments),
        selection=row.selection,
        selection_json=json.loads(row.selection_json),
        actor=row.actor,
        reason=row.reason,
        created_at=row.created_at,
        status=row.status,
        runs=row.runs,
        total=row.total or 0,
        finished_at=row.finished_at,
    )
