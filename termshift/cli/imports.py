"""`contracts import FILE.csv`: many contracts at once (a new location, members moving over).

The file has a header row and one contract per line:

    id,customer,plan,start,price,anchor,prorate_first_invoice,minimum_term
    c-ada,ada,hot-desk,2027-01-01,,,,
    c-alan,alan,fixed,2027-01-15,850.00,2027-02-01,false,12 months

`id`, `customer`, `plan` and `start` are required; `price` (default: the plan's), `anchor`
(default: the start), `prorate_first_invoice` (true or false, default false) and the terms
`notice`, `minimum_term`, `renewal`, `max_freeze_cycles` and `max_freezes_per_year` (default: the
plan's, as `contracts create` takes them) may be empty or left out. Every line is checked as
`contracts create` checks its options; if any line is wrong, each problem is listed with its line
number and nothing is imported. Then every row is written in one transaction and each contract's
workflow is started. Importing the same file again is safe: contracts already recorded are kept,
and a workflow that is missing (an import interrupted between the two steps) is started.
"""

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import pydantic
import typer
from pydantic import BaseModel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.orm import Session

from billing.commands import Cli, command
from billing.contract import Contract
from billing.errors import BillingError
from store.errors import NotFound
from termshift.cli._common import (
    ActorOption,
    AddressOption,
    JsonOption,
    ReasonOption,
    Refused,
    client,
    console,
    database,
    describe_validation,
    emit_json,
    errors,
    requested,
    run,
)
from termshift.cli._terms import TERM_NAMES, given_terms
from termshift.cli.contracts import contract_terms, contracts, new_or_same, shorten
from termshift.services.contracts import start_recorded
from termshift.services.imports import register_contracts
from termshift.settings import Settings
from workflows import workflow_id

COLUMNS = (
    "id",
    "customer",
    "plan",
    "start",
    "price",
    "anchor",
    "prorate_first_invoice",
    *TERM_NAMES,
)
REQUIRED = COLUMNS[:4]
PROBLEMS_SHOWN = 20
TRUE = frozenset({"true", "yes", "1"})
FALSE = frozenset({"", "false", "no", "0"})


class ImportReport(BaseModel):
    """What `contracts import` did (or, with --check, would do)."""

    file: str
    contracts: int
    recorded: list[str]
    """Contracts whose rows this import wrote."""
    already_recorded: list[str]
    """Contracts that were recorded before (the same terms): kept as they are."""
    workflows_ended: list[str]
    """Recorded contracts whose workflow had ended: not started again (see `reconcile`)."""
    checked_only: bool


class _Line(BaseModel):
    number: int
    cells: dict[str, str]
    extra_cells: int = 0


@contracts.command("import")
def import_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV file: a header row (id,customer,plan,start[,price,anchor,"
            "prorate_first_invoice,notice,minimum_term,renewal,max_freeze_cycles,"
            "max_freezes_per_year]) and one contract per line.",
        ),
    ],
    check: Annotated[
        bool,
        typer.Option("--check", help="Check every line and say what would happen; change nothing."),
    ] = False,
    address: AddressOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """Import contracts from a CSV file: every line checked first, then all rows written at once
    and every workflow started."""
    who = requested(actor, reason)

    async def go() -> ImportReport:
        lines = read_lines(file)
        db = database()
        with db.session() as session, _progress() as bar:
            task = bar.add_task("checking", total=len(lines))
            wanted, new = _contracts(session, file, lines, checked=lambda: bar.advance(task))
        report = ImportReport(
            file=str(file),
            contracts=len(wanted),
            recorded=[contract.id for contract in wanted if contract.id in new],
            already_recorded=[contract.id for contract in wanted if contract.id not in new],
            workflows_ended=[],
            checked_only=check,
        )
        if check:
            return report
        temporal = await client(address)  # reachable before anything is written
        with errors.status(f"Writing {len(wanted)} contracts…"):
            recorded = set(register_contracts(db, wanted, who, key=workflow_id))
        report.recorded = [contract.id for contract in wanted if contract.id in recorded]
        report.already_recorded = [c.id for c in wanted if c.id not in recorded]
        with _progress() as bar:
            task = bar.add_task("starting workflows", total=len(wanted))
            report.workflows_ended = await start_recorded(
                temporal,
                wanted,
                who,
                task_queue=Settings().task_queue,
                started=lambda: bar.advance(task),
            )
        return report

    report = run(go)
    if json:
        emit_json(report)
    else:
        _print(report)


def read_lines(file: Path) -> list[_Line]:
    """The file's data lines as cells by column; `Refused` if the file or its header is wrong."""
    try:
        text = file.read_text(encoding="utf-8-sig")  # a spreadsheet's byte-order mark is fine
    except FileNotFoundError:
        raise Refused(f"There is no file {str(file)!r}.") from None
    except UnicodeDecodeError:
        raise Refused(f"{file} is not UTF-8 text: save it as CSV (UTF-8).") from None
    except OSError as error:
        raise Refused(f"Cannot read {file}: {error.strerror}.") from None
    reader = csv.reader(text.splitlines())
    header = [name.strip().lower() for name in next(reader, [])]
    unknown = [name for name in header if name not in COLUMNS]
    missing = [name for name in REQUIRED if name not in header]
    if unknown or missing or len(set(header)) != len(header):
        raise Refused(
            f"{file}: the first line must name the columns "
            f"{', '.join(REQUIRED)} and, if wanted, {', '.join(COLUMNS[len(REQUIRED) :])}"
            + (f"; unknown: {', '.join(map(repr, unknown))}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + ("; a column is named twice" if len(set(header)) != len(header) else "")
            + "."
        )
    lines = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue  # blank lines are allowed
        lines.append(
            _Line(
                number=reader.line_num,
                cells={name: value.strip() for name, value in zip(header, cells, strict=False)},
                extra_cells=max(0, len(cells) - len(header)),
            )
        )
    if not lines:
        raise Refused(f"{file} has no contracts: one per line after the header.")
    return lines


def _contracts(
    session: Session, file: Path, lines: list[_Line], checked: Callable[[], None]
) -> tuple[list[Contract], set[str]]:
    """Every line as a contract, and the ids not yet recorded; `Refused` listing every problem."""
    problems: list[str] = []
    wanted: list[Contract] = []
    new: set[str] = set()
    first_line: dict[str, int] = {}
    for line in lines:
        try:
            contract = _contract(session, line)
            if contract.id in first_line:
                raise Refused(f"contract {contract.id} is also on line {first_line[contract.id]}.")
            first_line[contract.id] = line.number
            if new_or_same(session, contract):
                new.add(contract.id)
            wanted.append(contract)
        except (Refused, NotFound, BillingError) as error:
            problems.append(f"line {line.number}: {error}")
        except pydantic.ValidationError as error:
            problems.append(f"line {line.number}: {describe_validation(error)}")
        checked()
    if problems:
        shown = "\n".join(f"  {problem}" for problem in problems[:PROBLEMS_SHOWN])
        more = len(problems) - PROBLEMS_SHOWN
        raise Refused(
            f"{file}: {len(problems)} of {len(lines)} contracts cannot be imported; nothing was "
            f"imported. Correct these lines and import the file again:\n{shown}"
            + (f"\n  … and {more} more." if more > 0 else "")
        )
    return wanted, new


def _contract(session: Session, line: _Line) -> Contract:
    cells = line.cells
    if line.extra_cells:
        raise Refused(f"{line.extra_cells} more cells than the header names columns.")
    empty = [name for name in REQUIRED if not cells.get(name)]
    if empty:
        raise Refused(f"{', '.join(empty)} must not be empty.")
    return contract_terms(
        session,
        id=cells["id"],
        customer=cells["customer"],
        plan=cells["plan"],
        start=cells["start"],
        price=cells.get("price") or None,
        anchor=cells.get("anchor") or None,
        prorate_first_invoice=_yes_no(cells.get("prorate_first_invoice", "")),
        terms=given_terms(
            notice=cells.get("notice"),
            minimum_term=cells.get("minimum_term"),
            renewal=cells.get("renewal"),
            max_freeze_cycles=cells.get("max_freeze_cycles"),
            max_freezes_per_year=cells.get("max_freezes_per_year"),
            flags=False,
        ),
    )


def _yes_no(text: str) -> bool:
    if text.lower() in TRUE:
        return True
    if text.lower() in FALSE:
        return False
    raise Refused(f"prorate_first_invoice {shorten(text)!r} is neither true nor false.")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
        disable=not errors.is_terminal,  # no bar (nor its blank line) in logs and pipes
    )


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _print(report: ImportReport) -> None:
    before = len(report.already_recorded)
    were = "was" if before == 1 else "were"
    already = f"; {before} {were} already recorded and kept" if before else ""
    if report.checked_only:
        every = "The" if report.contracts == 1 else "All"
        console.print(
            f"{every} {_count(report.contracts, 'contract')} in {report.file} can be imported: "
            f"{len(report.recorded)} new{already}. Nothing was changed (--check)."
        )
        return
    ended = len(report.workflows_ended)
    console.print(
        f"Imported {_count(report.contracts, 'contract')} from {report.file}: "
        f"{len(report.recorded)} recorded now{already}; "
        f"{_count(report.contracts - ended, 'workflow')} running."
    )
    if ended:
        whose = (
            "contract's workflow has ended and was"
            if ended == 1
            else "contracts' workflows have ended and were"
        )
        console.print(
            f"[yellow]{ended} recorded {whose} not started again:[/] "
            f"{', '.join(report.workflows_ended)}. "
            f"See {command(Cli.RECONCILE)} and {command(Cli.SHOW, 'ID')}."
        )
