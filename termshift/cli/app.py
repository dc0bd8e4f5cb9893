"""The `starter.py` command tree."""

import json
import sys

import typer
import typer.rich_utils

from termshift.cli import (  # noqa: F401 (their `contracts` and `plans` commands)
    imports,
    plan_prices,
    steering,
    views,
)
from termshift.cli._common import EXIT_REFUSED, reset_output
from termshift.cli.bulk import bulk
from termshift.cli.catalog import customers, locations, plans
from termshift.cli.contracts import contracts
from termshift.cli.events import events
from termshift.cli.invoices import invoices
from termshift.cli.reconcile import reconcile_command
from termshift.cli.simulate import simulate_command
from termshift.cli.webhooks import webhooks

app = typer.Typer(
    name="starter.py",
    help="Termshift admin: locations, plans, customers, contracts and invoices; simulate scenarios;"
    " reconcile the billing database with the workflows; read the events of every effect.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(locations, name="locations")
app.add_typer(plans, name="plans")
app.add_typer(customers, name="customers")
app.add_typer(contracts, name="contracts")
app.add_typer(invoices, name="invoices")
app.add_typer(events, name="events")
app.add_typer(webhooks, name="webhooks")
app.add_typer(bulk, name="bulk")
app.command("reconcile")(reconcile_command)
app.command("simulate")(simulate_command)


@app.callback()
def _each_command() -> None:
    reset_output()


def main() -> None:
    """Run the command line. A usage error (an unknown option, a value of the wrong type) is
    printed as typer prints it, with exit code 2 — and, with `--json`, also as the JSON error
    object every other refusal prints on stdout."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as error:
        typer.rich_utils.rich_format_error(error)  # type: ignore[arg-type]
        exit_code = int(getattr(error, "exit_code", EXIT_REFUSED))
        if "--json" in sys.argv[1:]:
            message = error.format_message()
            document = {"error": {"code": "usage", "message": message, "exit_code": exit_code}}
            sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        sys.exit(exit_code)
    except typer.Abort:
        sys.stderr.write("Aborted.\n")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
