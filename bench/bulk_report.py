"""What bench/bulk.py writes: the results' Markdown, the table it prints, the file's name, the
code it measured and the notes on the run (how busy the machine was, what the phases saw)."""

from __future__ import annotations

import hashlib
import subprocess
from decimal import Decimal
from typing import Any

from rich.table import Table

from bench.harness import ROOT, THREAD_KINDS, console, timestamp
from termshift.settings import Settings
from workflows.bulk_requests import PAGE_SIZE

BATCH_PRICE = Decimal("1600.00")
BULK_PRICE = Decimal("1700.00")
"""The plan's price is bench/month_end.py's (1500.00); each phase schedules another, so that each
contract accepts both (the second replaces the first)."""
DEFAULT_CONCURRENCY = Settings.model_fields["bulk_concurrency"].default

ROWS: list[tuple[str, str, str]] = [
    ("contracts", "contracts (N)", ""),
    ("mode", "Temporal server", ""),
    ("billing_database", "billing database", ""),
    ("cpu_count", "CPUs", ""),
    ("order", "order of the phases", ""),
    ("onboarding_per_second", "onboarding (contracts import)", "contracts/s"),
    ("batcher_rps", "batch: the server's worker.batcherRPS", "signals/s at most"),
    ("batch.seconds_to_last_change", "batch signal: last change after the command started", "s"),
    ("batch.batch_operation.seconds", "batch signal: the batch operation open", "s"),
    ("batch.applied", "batch signal: contracts changed", ""),
    ("batch.contracts_per_second", "**batch signal throughput**", "contracts/s"),
    ("bulk.concurrency", "bulk job: TERMSHIFT_BULK_CONCURRENCY", "commands in flight"),
    ("bulk.page_size", "bulk job: page size", "contracts per activity"),
    ("bulk.seconds_to_last_change", "bulk job: last change after the command started", "s"),
    ("bulk.seconds_to_job_done", "bulk job: done, every answer written", "s"),
    ("bulk.command_seconds", "bulk job: the command returned", "s"),
    ("bulk.applied", "bulk job: applied (report)", ""),
    ("bulk.refused", "bulk job: refused (report)", ""),
    ("bulk.skipped", "bulk job: skipped (report)", ""),
    ("bulk.page_turn_seconds_mean", "bulk job: one page's last answer to the next's first", "s"),
    ("bulk.cpu_seconds.cli", "bulk job: the command's own CPU (it follows the job)", "CPU s"),
    ("bulk.contracts_per_second", "**bulk job throughput** (until done)", "contracts/s"),
    ("bulk_vs_batch", "**bulk job / batch signal**", "× (target ≥ 1.0)"),
    ("worker_peak_rss_mb", "Termshift worker peak RSS, whole run", "MB"),
    ("server_peak_rss_mb", "Temporal server peak RSS, whole run", "MB"),
]


def value_at(numbers: dict[str, Any], dotted: str) -> Any:
    value: Any = numbers
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def shown(value: Any) -> str:
    return "n/a" if value is None else str(value)


PHASES = ("onboarding", "batch signal", "bulk job")


def markdown(numbers: dict[str, Any], notes: list[str]) -> str:
    lines = [
        f"Bulk-job benchmark, {numbers['started_at']}",
        "",
        "| measure | value | unit |",
        "|---|---:|---|",
    ]
    for key, label, unit in ROWS:
        lines.append(f"| {label} | {shown(value_at(numbers, key))} | {unit} |")
    phases = numbers.get("phases", {})
    lines += [
        "",
        "CPU seconds of each phase (user + system): the Temporal server, the Termshift worker and "
        "its threads (main thread: the event loop; Python threads: workflow activations and "
        "activities; SDK core), the command line (`temporal workflow signal`, `starter.py bulk "
        "run`), this benchmark (its polls) and every other process on the machine; then the "
        "worker's and the server's peak RSS during the phase:",
        "",
        "| phase | wall s | server | worker | main thread | Python threads | SDK core | command "
        "line | bench | other processes | worker peak MB | server peak MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in PHASES:
        phase = phases.get(name)
        if phase is None:
            continue
        cpu = phase["cpu_seconds"]
        cells = [phase["seconds"], cpu.get("server"), cpu.get("worker")]
        cells += [cpu.get(f"worker:{kind}") for kind in THREAD_KINDS]
        cells += [cpu.get("cli"), cpu.get("bench"), cpu.get("other_processes")]
        cells += [phase["peak_rss_mb"].get("worker"), phase["peak_rss_mb"].get("server")]
        lines.append(f"| {name} | {' | '.join(shown(cell) for cell in cells)} |")
    per_item = numbers.get("cpu_ms_per_item", {})
    lines += [
        "",
        "CPU ms per contract of each phase:",
        "",
        "| phase | server | worker | main thread | Python threads | SDK core |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in PHASES:
        spent = per_item.get(name)
        if spent is None:
            continue
        cells = [spent.get("server"), spent.get("worker")]
        cells += [spent.get(f"worker:{kind}") for kind in THREAD_KINDS]
        lines.append(f"| {name} | {' | '.join(shown(cell) for cell in cells)} |")
    lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"


def print_table(numbers: dict[str, Any]) -> None:
    table = Table(title="Bulk-job benchmark")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("unit")
    for key, label, unit in ROWS:
        table.add_row(label.replace("**", ""), shown(value_at(numbers, key)), unit)
    console.print(table)


def result_name(numbers: dict[str, Any]) -> str:
    name = f"{timestamp()}-bulk-n{numbers['contracts']}"
    if numbers["bulk_concurrency"] != DEFAULT_CONCURRENCY:
        name += f"-c{numbers['bulk_concurrency']}"
    if numbers["bulk_page_size"] != PAGE_SIZE:
        name += f"-p{numbers['bulk_page_size']}"
    if numbers["batcher_rps_set"]:
        name += f"-rps{numbers['batcher_rps']}"
    if numbers["order"] == "bulk job first":
        name += "-bulk-first"
    if numbers["billing_database"] == "postgresql":
        name += "-postgres"
    return name


# ------------------------------------------------------------------------------------------------
# Main

CODE = (
    "termshift/cli/bulk.py",
    "termshift/services/bulk.py",
    "termshift/services/contracts.py",
    "workflows/bulk.py",
    "workflows/bulk_requests.py",
    "workflows/contract.py",
    "activities/bulk.py",
    "activities/contracts.py",
    "store/repository/bulk.py",
)
"""The code a bulk job and a batch signal run through: others change it while runs are made, so
the results say which version ran."""


def code_state() -> dict[str, Any]:
    """The commit, whether `CODE` differs from it, and a digest of `CODE` as it ran."""
    digest = hashlib.sha256()
    for name in CODE:
        path = ROOT / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b""))

    def git(*arguments: str) -> str:
        found = subprocess.run(
            ["git", *arguments], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return found.stdout.strip() if found.returncode == 0 else ""

    return {
        "commit": git("rev-parse", "--short", "HEAD") or None,
        "uncommitted_changes": bool(git("status", "--porcelain", "--", *CODE)),
        "bulk_code_sha256": digest.hexdigest()[:12],
    }


def add_notes(numbers: dict[str, Any], notes: list[str]) -> None:
    n = numbers["contracts"]
    for key, price in (("after_batch", BATCH_PRICE), ("after_bulk", BULK_PRICE)):
        prices = numbers.get(f"scheduled_prices_{key}", {})
        if prices.get(str(price), 0) != n:
            notes.append(f"Stored scheduled prices {key.replace('_', ' ')}: {prices}.")
    for name in PHASES:
        phase = numbers["phases"].get(name)
        if phase is None:
            continue
        other = phase["cpu_seconds"]["other_processes"]
        share = other / phase["cpu_capacity_seconds"] if phase["cpu_capacity_seconds"] else 0
        if share > 0.05:
            notes.append(
                f"Other processes used {other:.1f} CPU s during the {name} phase "
                f"({share:.0%} of the machine's {numbers['cpu_count']} CPUs): its numbers are low."
            )
    notes.append(
        f"Billing database: {numbers['billing_database']}, {numbers['billing_database_where']}. "
        f"Load average (1, 5, 15 min) {numbers['load_average_at_start']} at the start, "
        f"{numbers['load_average_at_end']} at the end."
    )
    notes.append(
        "Each phase is timed from its command's start until the billing database shows its last "
        "change (the batch signal) or the job done with every contract's answer written (the "
        "bulk job), from the rows' own times; the bulk job's page size is "
        f"{numbers['bulk_page_size']} "
        + (
            "(workflows.bulk_requests.PAGE_SIZE)."
            if numbers["bulk_page_size"] == PAGE_SIZE
            else "(--page-size: the benchmark created and started the job as `bulk run` does, "
            "and followed it itself)."
        )
    )
