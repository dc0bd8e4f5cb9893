"""What every command shares: options, output (rich or --json), errors and exit codes.

Exit codes: 0 success, 2 refused input (the message says what is wrong and what to do), 1 failure
(a server or database that cannot be reached, an unexpected error).
"""

import asyncio
import gc
import getpass
import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn, TypeVar

import pydantic
import typer
from rich.console import Console
from temporalio.client import Client
from temporalio.runtime import Runtime, TelemetryConfig

from billing.contract import Command
from billing.errors import BillingError
from store.db import Database
from store.errors import AlreadyExists, Conflict, NotFound
from termshift.settings import Settings, describe_invalid
from termshift.temporal import connect, data_converter

EXIT_REFUSED = 2
EXIT_FAILED = 1

console = Console()
errors = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
ActorOption = Annotated[
    str | None, typer.Option("--actor", help="Who does this (default: your OS user).")
]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why, for the audit log.")]
AddressOption = Annotated[str | None, typer.Option(help="Temporal address (host:port).")]

T = TypeVar("T")


class Refused(Exception):
    """Input the command refuses: exit code 2, nothing changed."""


class Failed(Exception):
    """Something outside the input went wrong: exit code 1."""


def requested(actor: str | None, reason: str) -> Command:
    """Who asks and why (R11); a refusal here exits with code 2 like every other."""
    try:
        return Command(actor=actor or getpass.getuser(), reason=reason)
    except pydantic.ValidationError as error:
        fail(Refused(describe_validation(error)))


def amount_text(text: str) -> str:
    """An amount as typed: ASCII only (`Decimal` would also read the digits of other scripts)."""
    if not text.isascii():
        raise Refused(f"{text!r} is not an amount: write it like 1500.00.")
    return text


def describe_validation(error: pydantic.ValidationError) -> str:
    """One sentence per problem: the field and what is wrong with it."""
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "value"
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.append(f"{field}: {message}")
    return "Invalid input — " + "; ".join(problems) + "."


def fail(error: BaseException) -> NoReturn:
    """Print the error as a sentence and exit with its code."""
    code = EXIT_REFUSED if isinstance(error, Refused) else EXIT_FAILED
    label = "Refused" if code == EXIT_REFUSED else "Failed"
    errors.print(f"[bold red]{label}:[/] {error}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def handled() -> Iterator[None]:
    """Map the errors of the layers below to exit codes and sentences."""
    try:
        yield
    except typer.Exit:
        raise
    except (Refused, NotFound, AlreadyExists, Conflict, BillingError) as error:
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


def emit_json(value: Any) -> None:
    """Print a pydantic value (or a list or dict of them) as JSON."""
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(type(value))
    data = adapter.dump_python(value, mode="json")
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
