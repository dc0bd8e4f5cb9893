"""`invoices`: what contracts have billed, line by line."""

from typing import Annotated

import typer
from rich.table import Table

from billing.money import format_money
from store import repository
from termshift.cli._common import JsonOption, console, database, emit_json, handled

invoices = typer.Typer(help="Issued invoices.", no_args_is_help=True)


@invoices.command("list")
def list_invoices(
    contract: Annotated[str | None, typer.Option(help="Only this contract's.")] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer's.")] = None,
    json: JsonOption = False,
) -> None:
    """List invoices, oldest first."""
    with handled(), database().session() as session:
        rows = repository.list_invoices(session, contract_id=contract, customer_id=customer)
        if json:
            emit_json(rows)
            return
        table = Table()
        table.add_column("date", no_wrap=True)
        for column in ("contract", "customer"):
            table.add_column(column)
        table.add_column("total", no_wrap=True, justify="right")
        table.add_column("lines")
        table.add_column("number", no_wrap=True)
        for row in rows:
            table.add_row(
                str(row.issue_date),
                row.contract_id,
                row.customer_id,
                format_money(row.total, row.currency),
                ", ".join(line.kind.value for line in row.lines),
                row.number,
            )
        console.print(table)


@invoices.command("show")
def show_invoice(
    number: Annotated[str, typer.Argument(help="Invoice number.")],
    json: JsonOption = False,
) -> None:
    """Show one invoice with every line."""
    with handled(), database().session() as session:
        invoice = repository.get_invoice(session, number)
        if json:
            emit_json(invoice)
            return
        console.print(
            f"[bold]{invoice.number}[/] issued {invoice.issue_date} to {invoice.customer_id} "
            f"for contract {invoice.contract_id}"
        )
        table = Table("kind", "period", "description", "amount")
        for line in invoice.lines:
            table.add_row(
                line.kind.value,
                f"{line.period_start} to {line.period_end}",
                line.description,
                format_money(line.amount, invoice.currency),
            )
        table.add_row("", "", "[bold]total[/]", format_money(invoice.total, invoice.currency))
        console.print(table)
