"""The `starter.py` command tree."""

import typer

from termshift.cli import imports, steering  # noqa: F401 (register their commands on `contracts`)
from termshift.cli.catalog import customers, locations, plans
from termshift.cli.contracts import contracts
from termshift.cli.invoices import invoices
from termshift.cli.reconcile import reconcile_command
from termshift.cli.simulate import simulate_command

app = typer.Typer(
    name="starter.py",
    help="Termshift admin: locations, plans, customers, contracts and invoices; simulate scenarios;"
    " reconcile the billing database with the workflows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(locations, name="locations")
app.add_typer(plans, name="plans")
app.add_typer(customers, name="customers")
app.add_typer(contracts, name="contracts")
app.add_typer(invoices, name="invoices")
app.command("reconcile")(reconcile_command)
app.command("simulate")(simulate_command)
