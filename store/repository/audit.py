"""The audit log (R11): what each admin command did, who asked and why, recorded once per key."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import AuditRow
from store.records import AuditEntry
from store.repository._shared import _insert_new_rows


def record_audit(
    session: Session,
    *,
    key: str,
    at: datetime,
    actor: str,
    reason: str,
    command: str,
    contract_id: str | None,
    effect: str,
    job_id: str | None = None,
) -> bool:
    """Record what an admin command did, who asked and why; False if `key` is already recorded."""
    entry = AuditEntry(
        key=key,
        at=at,
        actor=actor,
        reason=reason,
        command=command,
        contract_id=contract_id,
        effect=effect,
        job_id=job_id,
    )
    return bool(record_audits(session, [entry]))


def record_audits(session: Session, entries: Sequence[AuditEntry]) -> set[str]:
    """Record the entries whose keys are not yet recorded, in one multi-row INSERT; their keys."""
    rows = [entry.model_dump() for entry in entries]
    if all(row["job_id"] is None for row in rows):
        for row in rows:  # null by default (and a schema before 0006 has no such column)
            del row["job_id"]
    return set(_insert_new_rows(session, AuditRow, rows, key=["key"], returning="key"))


def audit_entries(session: Session, contract_id: str | None = None) -> list[AuditEntry]:
    """Audit entries, of one contract or all, oldest first."""
    query = select(AuditRow).order_by(AuditRow.at, AuditRow.id)
    if contract_id is not None:
        query = query.where(AuditRow.contract_id == contract_id)
    return [
        AuditEntry(
            key=row.key,
            at=row.at,
            actor=row.actor,
            reason=row.reason,
            command=row.command,
            contract_id=row.contract_id,
            effect=row.effect,
            job_id=row.job_id,
        )
        for row in session.scalars(query)
    ]
