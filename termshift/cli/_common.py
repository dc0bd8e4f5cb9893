"""What every command shares: options, output (rich or --json), errors and exit codes.

Exit codes: 0 success, 2 refused input (the message says what is wrong and what to do), 1 failure
(a server or database that cannot be reached, an unexpected error).
"""

import asyncio
import gc
import getpass
import json
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn, TypeVar

import pydantic
import typer
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from temporalio.client import Client
from temporalio.runtime import Runtime, TelemetryConfig

from billing.contract import Command
from billing.errors import BillingError
from billing.money import read_amount
from store.db import Database
from store.errors import AlreadyExists, Conflict, NotFound
from termshift.settings import Settings, describe_invalid
from termshift.temporal import connect, data_converter
from workflows.messages import describe_invalid as describe_invalid_input

EXIT_REFUSED = 2
EXIT_FAILED = 1

console = Console()
errors = Console(stderr=True)

_output = {"json": False}
"""Whether the running command was asked for JSON (`--json`): its errors are then JSON too."""


def _remember_json(value: bool) -> bool:
    _output["json"] = value
    return value


def reset_output() -> None:
    """Before each command (the app's callback): human output unless `--json` is given."""
    _output["json"] = False


JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print JSON for scripts (an error too: code, message and exit code, on stdout).",
        callback=_remember_json,
    ),
]
ActorOption = Annotated[
    str | None, typer.Option("--actor", help="Who does this (default: your OS user).")
]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why, for the audit log.")]
AddressOption = Annotated[str | None, typer.Option(help="Temporal address (host:port).")]
ContractArgument = Annotated[str, typer.Argument(help="Contract id.")]
OverrideTermsOption = Annotated[
    bool,
    typer.Option(
        "--override-terms",
        help="Pass the notice period and the minimum term (R14, R15); --reason is required.",
    ),
]
YesOption = Annotated[
    bool,
    typer.Option(
        "--yes",
        "-y",
        help="Confirm without asking when the date is today or earlier: the contract then ends "
        "at once (needed outside a terminal).",
    ),
]
OverrideFreezeLimitsOption = Annotated[
    bool,
    typer.Option(
        "--override-terms", help="Pass the plan's freeze limits (R17); --reason is required."
    ),
]

T = TypeVar("T")


class Refused(Exception):
    """Input the command refuses: exit code 2, nothing changed. `code` names the reason for
    scripts (a rule's rejection code, e.g. "conflict"; "invalid_input" by default)."""

    def __init__(self, message: str, *, code: str = "invalid_input") -> None:
        super().__init__(message)
        self.code = code


class Failed(Exception):
    """Something outside the input went wrong: exit code 1."""


def requested(actor: str | None, reason: str) -> Command:
    """Who asks and why (R11); a refusal here exits with code 2 like every other."""
    try:
        return Command(actor=actor or getpass.getuser(), reason=reason)
    except pydantic.ValidationError as error:
        fail(Refused(describe_validation(error)))


def amount_text(text: str) -> str:
    """An amount as typed: ASCII digits (`Decimal` would also read the digits of other scripts)."""
    try:
        read_amount(text)
    except BillingError as error:
        raise Refused(str(error)) from None
    return text


def describe_validation(error: pydantic.ValidationError) -> str:
    """One sentence per problem: the field and what is wrong with it (as the workflow says it)."""
    return describe_invalid_input(error)


def fail(error: BaseException) -> NoReturn:
    """Print the error as a sentence and exit with its code; with `--json`, also print it as a
    JSON object on stdout (`code`, `message`, `exit_code`) for scripts."""
    code = EXIT_REFUSED if isinstance(error, Refused) else EXIT_FAILED
    label = "Refused" if code == EXIT_REFUSED else "Failed"
    errors.print(f"[bold red]{label}:[/] {error}", highlight=False, markup=True, soft_wrap=True)
    if _output["json"]:
        reason = error.code if isinstance(error, Refused) else "failed"
        document = {"error": {"code": reason, "message": str(error), "exit_code": code}}
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    raise typer.Exit(code)


@contextmanager
def handled() -> Iterator[None]:
    """Map the errors of the layers below to exit codes and sentences."""
    try:
        yield
    except typer.Exit:
        raise
    except Refused as error:
        fail(error)
    except NotFound as error:
        fail(Refused(str(error), code="not_found"))
    except AlreadyExists as error:
        fail(Refused(str(error), code="already_exists"))
    except Conflict as error:
        fail(Refused(str(error), code="conflict"))
    except BillingError as error:
        fail(Refused(str(error)))
    except pydantic.ValidationError as error:
        if error.title == Settings.__name__:  # the environment, not the command's input
            fail(Failed(f"Invalid settings — {describe_invalid(error)}."))
        fail(Refused(describe_validation(error)))
    except Failed as error:
        fail(error)
    except Exception as error:
        fail(Failed(f"{type(error).__name__}: {error}"))


def run(command: Callable[[], Awaitable[T]]) -> T:
    """Run an async command; its Temporal runtime is dropped before the interpreter exits."""
    global _runtime  # noqa: PLW0603 - one runtime per command, released here
    with handled():
        try:
            return asyncio.run(command())  # type: ignore[arg-type]
        finally:
            # Left to interpreter shutdown, the runtime's threads can abort the process
            # (PyGILState_Release); dropped here, they stop while Python still runs.
            _runtime = None
            gc.collect()


def database() -> Database:
    db = Database(Settings().billing_database_url())
    db.migrate()
    return db


_runtime: Runtime | None = None


async def client(address: str | None = None) -> Client:
    global _runtime  # noqa: PLW0603 - see run()
    settings = Settings()
    try:
        data_converter(settings)  # a malformed payload key is a configuration error, said as such
    except ValueError as error:
        raise Failed(str(error)) from None
    _runtime = _runtime or Runtime(telemetry=TelemetryConfig())
    try:
        return await asyncio.wait_for(
            connect(address=address, profile=settings.temporal_profile, runtime=_runtime),
            timeout=10,
        )
    except Exception as error:
        raise Failed(
            f"Cannot reach the Temporal server ({error}). Start the stack with `scripts/up`, "
            "or set TEMPORAL_ADDRESS."
        ) from None


def print_listing(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    drop: Sequence[str] = (),
    right: Iterable[str] = (),
) -> None:
    """Print the rows of a `list` command so that they fit the terminal, never cutting a value.

    While the table is wider than the terminal, the optional columns in `drop` are left out, in
    that order (a note says which; `--json` has them all). If it still does not fit, each row is
    printed as a block of `column: value` lines instead, where long values wrap."""
    cells = [tuple(row) for row in rows]
    kept = list(headers)
    aligned = set(right)
    unbounded = console.options.update(max_width=1_000_000)

    def fits() -> bool:
        table = _listing(headers, kept, cells, aligned)
        return Measurement.get(console, unbounded, table).maximum <= console.width

    for name in drop:
        if fits():
            break
        kept.remove(name)
    if fits():
        console.print(_listing(headers, kept, cells, aligned))
        left_out = [name for name in headers if name not in kept]
        if left_out:
            console.print(
                f"(Left out to fit the terminal: {', '.join(left_out)}; `--json` shows "
                "everything.)",
                highlight=False,
            )
        return
    for row in cells:
        block = Table.grid(padding=(0, 1))
        block.add_column(no_wrap=True, style="bold")
        block.add_column(overflow="fold")
        for name, value in zip(headers, row, strict=True):
            block.add_row(f"{name}:", value)
        console.print(block, highlight=False)
        console.print()


def _listing(
    headers: Sequence[str], kept: Sequence[str], rows: list[tuple[str, ...]], right: set[str]
) -> Table:
    table = Table(box=box.SIMPLE_HEAD)
    for name in kept:
        table.add_column(name, no_wrap=True, justify="right" if name in right else "left")
    columns = [headers.index(name) for name in kept]
    for row in rows:
        table.add_row(*(row[index] for index in columns))
    return table


def emit_json(value: Any) -> None:
    """Print a pydantic value (or a list or dict of them) as JSON."""
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(type(value))
    data = adapter.dump_python(value, mode="json")
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
