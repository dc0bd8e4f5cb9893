"""`bulk`: one command over many contracts (SPEC §8) — previewed, run as a durable workflow,
followed with a progress bar, reported per contract, cancellable.

    bulk preview --do freeze --cycles 1 --location berlin
    bulk run --do set-price --price 120.00 --from 2027-02-01 --plan desk --reason "2027 prices"
    bulk status JOB · bulk cancel JOB · bulk list

`plans set-price` runs a plan's new price the same way (`termshift.cli.plan_prices`).
"""

import asyncio
import csv
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from billing.commands import Cli, command
from billing.contract import Command
from store.db import Database
from termshift.cli._common import (
    ActorOption,
    AddressOption,
    Failed,
    JsonOption,
    Refused,
    amount_text,
    client,
    console,
    database,
    emit_json,
    handled,
    print_listing,
    requested,
    run,
)
from termshift.cli.contracts import required_date
from termshift.services import bulk as service
from termshift.settings import Settings
from workflows.bulk_requests import workflow_id

bulk = typer.Typer(
    help="One command over many contracts: preview it, run it as a durable job, follow it.",
    no_args_is_help=True,
)


class Do(StrEnum):
    SET_PRICE = "set-price"
    CHANGE = "change"
    CANCEL_AT_NEXT_INVOICE = "cancel-at-next-invoice"
    CLEAR_CHANGE = "clear-change"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"


UPDATES = {
    Do.SET_PRICE: "set_price",
    Do.CHANGE: "schedule_change",
    Do.CANCEL_AT_NEXT_INVOICE: "cancel_at_next_invoice",
    Do.CLEAR_CHANGE: "clear_change",
    Do.FREEZE: "freeze",
    Do.UNFREEZE: "unfreeze",
}
OPTIONS: dict[Do, tuple[set[str], set[str]]] = {
    # (required, allowed) options of each command
    Do.SET_PRICE: ({"--price"}, {"--price", "--from"}),
    Do.CHANGE: ({"--next-plan"}, {"--next-plan", "--price"}),
    Do.CANCEL_AT_NEXT_INVOICE: (set(), {"--override-terms"}),
    Do.CLEAR_CHANGE: (set(), set()),
    Do.FREEZE: ({"--cycles"}, {"--cycles", "--override-terms"}),
    Do.UNFREEZE: (set(), set()),
}

DoOption = Annotated[Do, typer.Option("--do", help="The command each contract is sent.")]
PriceOption = Annotated[
    str | None, typer.Option(help="set-price: the price; change: the next term's.")
]
FromOption = Annotated[
    str | None,
    typer.Option("--from", help="set-price: from the first invoice date on or after YYYY-MM-DD."),
]
NextPlanOption = Annotated[str | None, typer.Option("--next-plan", help="change: the plan.")]
CyclesOption = Annotated[int | None, typer.Option(help="freeze: billing cycles.")]
OverrideOption = Annotated[
    bool,
    typer.Option(
        "--override-terms",
        help="cancel-at-next-invoice, freeze: pass the terms (R14, R15, R17); needs --reason.",
    ),
]
QueryOption = Annotated[
    str | None,
    typer.Option(
        help="Select by search attributes, e.g. \"PlanCode = 'desk'\" (running contracts)."
    ),
]
PlanOption = Annotated[str | None, typer.Option("--plan", help="Select the plan's live contracts.")]
LocationOption = Annotated[
    str | None, typer.Option("--location", help="Select the location's live contracts.")
]
CsvOption = Annotated[
    Path | None,
    typer.Option(
        "--csv", help="Select the contract ids of a CSV (column contract_id, or the first)."
    ),
]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why, for every audit entry.")]
JobOption = Annotated[
    str | None,
    typer.Option(
        "--job", help="Job id (default: a new one); the same id again applies nothing twice."
    ),
]
WaitOption = Annotated[
    bool,
    typer.Option("--wait/--no-wait", help="Follow the job to its end (default) or return at once."),
]


def selection_of(
    query: str | None, plan: str | None, location: str | None, csv_path: Path | None
) -> service.Selection:
    ids = None
    if csv_path is not None:
        try:
            ids = service.read_csv_ids(csv_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            raise Refused(f"Cannot read {csv_path}: {error}; nothing ran.") from None
        if not ids:
            raise Refused(f"{csv_path} lists no contract id; nothing ran.")
    return service.Selection(
        query=query,
        plan=plan,
        location=location,
        contract_ids=ids,
        source=csv_path.name if csv_path is not None else None,
    )


def command_of(
    do: Do,
    who: Command,
    *,
    price: str | None,
    from_: str | None,
    next_plan: str | None,
    cycles: int | None,
    override_terms: bool,
) -> tuple[str, Command]:
    """The update and its command, or `Refused` for an option the command does not take or
    lacks."""
    given = {
        flag
        for flag, value in (
            ("--price", price),
            ("--from", from_),
            ("--next-plan", next_plan),
            ("--cycles", cycles),
            ("--override-terms", override_terms or None),
        )
        if value is not None
    }
    required, allowed = OPTIONS[do]
    if given - allowed:
        raise Refused(
            f"{', '.join(sorted(given - allowed))} does not apply to {do.value}; nothing ran."
        )
    if required - given:
        raise Refused(f"{do.value} needs {', '.join(sorted(required - given))}; nothing ran.")
    fields: dict[str, Any] = {"actor": who.actor, "reason": who.reason}
    if price is not None:
        fields["price"] = amount_text(price)
    if from_ is not None:
        fields["from"] = required_date(from_, "Price date").isoformat()
    if next_plan is not None:
        fields["next_plan"] = next_plan
    if cycles is not None:
        fields["cycles"] = cycles
    if override_terms:
        fields["override_terms"] = True
    name = UPDATES[do]
    try:
        return name, service.build_command(name, fields)
    except service.BulkRefused as error:
        raise Refused(str(error)) from None


async def _maybe_client(selection: service.Selection, address: str | None) -> Client | None:
    return await client(address) if selection.query is not None else None


def print_preview(rows: list[service.PreviewRow], *, as_json: bool, as_csv: bool) -> None:
    if as_json:
        emit_json(rows)
        return
    if as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["contract_id", "outcome", "code", "message"])
        for row in rows:
            writer.writerow([row.contract_id, row.outcome, row.code or "", row.message])
        return
    print_answers(
        ("Contract", "Outcome", "Effect or reason"),
        [(row.contract_id, row.outcome, row.message) for row in rows],
    )
    counts = {
        outcome: sum(row.outcome == outcome for row in rows)
        for outcome in ("apply", "refused", "skipped")
    }
    console.print(
        f"{len(rows)} contracts: {counts['apply']} would take it, {counts['refused']} would "
        f"refuse it, {counts['skipped']} skipped. Nothing changed.",
        highlight=False,
    )


def print_answers(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Contracts and what they answer (or would): ids whole, the sentence wrapped in the last
    column."""
    table = Table(box=box.SIMPLE_HEAD)
    for header in headers[:-1]:
        table.add_column(header, no_wrap=True)
    table.add_column(headers[-1], overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table, highlight=False)


@bulk.command("preview")
def preview(
    do: DoOption,
    price: PriceOption = None,
    from_: FromOption = None,
    next_plan: NextPlanOption = None,
    cycles: CyclesOption = None,
    override_terms: OverrideOption = False,
    query: QueryOption = None,
    plan: PlanOption = None,
    location: LocationOption = None,
    csv_path: CsvOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    address: AddressOption = None,
    json: JsonOption = False,
    as_csv: Annotated[bool, typer.Option("--csv-out", help="Print CSV.")] = False,
) -> None:
    """What the command would do to each selected contract, by the same rules; writes nothing."""
    who = requested(actor, reason)
    with handled():
        _, message = command_of(
            do,
            who,
            price=price,
            from_=from_,
            next_plan=next_plan,
            cycles=cycles,
            override_terms=override_terms,
        )
        selection = selection_of(query, plan, location, csv_path)
    rows = run(lambda: preview_contracts(selection, message, address))
    print_preview(rows, as_json=json, as_csv=as_csv)


async def preview_contracts(
    selection: service.Selection, message: Command, address: str | None
) -> list[service.PreviewRow]:
    db = database()
    try:
        service.check_command(db, message)
        ids = await service.select_contracts(await _maybe_client(selection, address), db, selection)
        return service.preview(db, message, ids)
    except service.BulkRefused as error:
        raise Refused(str(error)) from None


@bulk.command("run")
def run_job(
    do: DoOption,
    price: PriceOption = None,
    from_: FromOption = None,
    next_plan: NextPlanOption = None,
    cycles: CyclesOption = None,
    override_terms: OverrideOption = False,
    query: QueryOption = None,
    plan: PlanOption = None,
    location: LocationOption = None,
    csv_path: CsvOption = None,
    job: JobOption = None,
    wait: WaitOption = True,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    address: AddressOption = None,
    json: JsonOption = False,
) -> None:
    """Send the command to every selected contract as a durable job, and follow it."""
    who = requested(actor, reason)
    with handled():
        name, message = command_of(
            do,
            who,
            price=price,
            from_=from_,
            next_plan=next_plan,
            cycles=cycles,
            override_terms=override_terms,
        )
        selection = selection_of(query, plan, location, csv_path)
    job_id = job or service.new_job_id()
    run(lambda: launch(job_id, name, message, selection, address=address))
    follow(job_id, wait=wait, as_json=json, address=address)


async def launch(
    job_id: str,
    name: str,
    message: Command,
    selection: service.Selection,
    *,
    address: str | None,
    allow_empty: bool = False,
) -> None:
    """Create the job (or find it, for a run again with the same id) and start its workflow;
    with `allow_empty`, a selection without contracts makes an empty job (a plan's new price
    with no contract to change)."""
    db = database()
    temporal = await client(address)
    settings = Settings()
    try:
        existing = service.find_job(db, job_id)
        if existing is not None:
            if not service.same_command(existing, name, message):
                raise service.BulkRefused(
                    f"Bulk job {job_id} exists with another command ({existing.command} "
                    f"{existing.arguments}): choose another --job id; nothing ran."
                )
            job = existing
        else:
            service.check_command(db, message)
            ids = await service.select_contracts(temporal, db, selection, allow_empty=allow_empty)
            job = service.create_job(db, job_id, name, message, selection, ids)
    except service.BulkRefused as error:
        raise Refused(str(error)) from None
    await service.start(
        temporal,
        db,
        job,
        task_queue=settings.bulk_task_queue,
        concurrency=settings.bulk_concurrency,
    )


def follow(job_id: str, *, wait: bool, as_json: bool, address: str | None = None) -> None:
    """Show the job's progress until it ends (or at once, without waiting), then its report."""
    db = database()
    if not wait:
        _print_report(service.report(db, job_id), as_json=as_json, started=True)
        return
    try:
        report = run(lambda: _follow(db, job_id, as_json=as_json, address=address))
    except KeyboardInterrupt:
        console.print(
            f"Stopped following; job {job_id} goes on. {command(Cli.BULK_STATUS, job_id)} shows "
            f"where it is, {command(Cli.BULK_CANCEL, job_id)} stops it.",
            highlight=False,
        )
        raise typer.Exit(130) from None
    _print_report(report, as_json=as_json)


async def _follow(
    db: Database, job_id: str, *, as_json: bool, address: str | None
) -> service.JobReport:
    """Poll the job's counts every half second (its workflow's state every few seconds) until
    it is done or cancelled; a workflow that ended otherwise (terminated, failed) is a failure."""
    temporal = await client(address)
    report = service.report(db, job_id, items=False)
    stalled_since = checked = time.monotonic()
    last_done = -1
    with Progress(
        TextColumn(f"Job {job_id}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[tally]}"),
        TimeElapsedColumn(),
        console=console,
        disable=as_json or not console.is_terminal,
    ) as bar:
        task = bar.add_task("job", total=report.job.total, tally="")
        while report.job.status == "running":
            done = report.applied + report.refused + report.skipped
            tally = f"{report.applied} applied, {report.refused} refused, {report.skipped} skipped"
            bar.update(task, completed=done, tally=tally)
            now = time.monotonic()
            if done != last_done:
                last_done, stalled_since = done, now
            elif now - stalled_since > STALL_NOTE_SECONDS:
                console.print(
                    f"No answer for {STALL_NOTE_SECONDS} s: is the worker running "
                    f"(`scripts/up`)? The job waits for it; {command(Cli.BULK_STATUS, job_id)} "
                    "shows where it is.",
                    highlight=False,
                )
                stalled_since = now
            if now - checked > WORKFLOW_CHECK_SECONDS:
                checked = now
                await _workflow_still_running(temporal, db, job_id)
            await asyncio.sleep(0.5)
            report = service.report(db, job_id, items=False)
        bar.update(task, completed=report.applied + report.refused + report.skipped)
    return service.report(db, job_id)


async def _workflow_still_running(temporal: Client, db: Database, job_id: str) -> None:
    ended = await service.workflow_ended(temporal, job_id)
    if ended is not None and service.report(db, job_id, items=False).job.status == "running":
        raise Failed(
            f"Job {job_id}'s workflow ended ({ended}) before every contract answered; the "
            f"answers so far are kept. {command(Cli.BULK_RUN, job=job_id)} with the same command "
            "runs it again (no contract takes it twice)."
        )


WORKFLOW_CHECK_SECONDS = 5
STALL_NOTE_SECONDS = 30


def _print_report(report: service.JobReport, *, as_json: bool, started: bool = False) -> None:
    if as_json:
        emit_json(report)
        return
    job = report.job
    if started and job.status == "running":
        console.print(
            f"Started job {job.id}: {job.command} on {job.selection} ({job.total} contracts). "
            f"{command(Cli.BULK_STATUS, job.id)} shows its progress.",
            highlight=False,
        )
        return
    state = {"running": "running", "done": "done", "cancelled": "cancelled"}[job.status]
    console.print(
        f"Job {job.id} {state}: {job.command} on {job.selection} — {report.applied} applied, "
        f"{report.refused} refused, {report.skipped} skipped, {report.left} left, of "
        f"{job.total}.",
        highlight=False,
    )
    refused = [item for item in report.items if item.outcome == "refused"]
    if refused:
        print_answers(
            ("Contract", "Refused"),
            [(item.contract_id, item.message or "") for item in refused[:REFUSALS_SHOWN]],
        )
        if len(refused) > REFUSALS_SHOWN:
            console.print(
                f"… and {len(refused) - REFUSALS_SHOWN} more: "
                f"{command(Cli.BULK_STATUS, job.id)} --json lists every answer.",
                highlight=False,
            )


REFUSALS_SHOWN = 20


@bulk.command("status")
def status(
    job_id: Annotated[str, typer.Argument(help="Job id.")],
    outcome: Annotated[
        str | None, typer.Option(help="With --json: only contracts with this answer.")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Where a job stands: command, selection, counts, every refusal; --json: every answer."""
    with handled():
        report = service.report(database(), job_id, outcome=outcome)
    _print_report(report, as_json=json)


@bulk.command("cancel")
def cancel(
    job_id: Annotated[str, typer.Argument(help="Job id.")],
    address: AddressOption = None,
    json: JsonOption = False,
) -> None:
    """Stop a running job: contracts that answered keep their answer, the rest are not sent."""
    with handled():
        job = service.report(database(), job_id).job
        if job.status != "running":
            raise Refused(f"Job {job_id} is {job.status} already; nothing to cancel.")
    run(lambda: _cancel(job_id, address))
    db = database()
    deadline = time.monotonic() + 60
    report = service.report(db, job_id)
    while report.job.status == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
        report = service.report(db, job_id)
    _print_report(report, as_json=json)


async def _cancel(job_id: str, address: str | None) -> None:
    handle = (await client(address)).get_workflow_handle(workflow_id(job_id))
    try:
        await handle.cancel()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise Failed(f"Job {job_id}'s workflow is not there; nothing to cancel.") from None
        raise


@bulk.command("list")
def list_jobs(json: JsonOption = False) -> None:
    """Every bulk job, newest first."""
    with handled():
        db = database()
        reports = [service.report(db, job.id) for job in service.list_jobs(db)]
    if json:
        emit_json([report.model_copy(update={"items": []}) for report in reports])
        return
    print_listing(
        (
            "Job",
            "Command",
            "Selection",
            "Status",
            "Applied",
            "Refused",
            "Skipped",
            "Left",
            "Created",
        ),
        (
            (
                r.job.id,
                r.job.command,
                r.job.selection,
                r.job.status,
                str(r.applied),
                str(r.refused),
                str(r.skipped),
                str(r.left),
                f"{r.job.created_at:%Y-%m-%d %H:%M}",
            )
            for r in reports
        ),
        drop=("Created", "Selection"),
        right=("Applied", "Refused", "Skipped", "Left"),
    )
