"""The month-end benchmark's report: its ratios, its Markdown table, the console's table and the
results files (`bench/results/<timestamp>-n<N>.json` and `.md`, `latest.*`, `latest-renewal.*`).
"""

from __future__ import annotations

import resource
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.harness import (
    THREAD_KINDS,
    Results,
    console,
    peak_rss_mb,
    ratio,
    timestamp,
    write_results,
)
from termshift.settings import Settings

ROWS: list[tuple[str, str, str]] = [
    ("contracts", "contracts (N)", ""),
    ("mode", "Temporal server", ""),
    ("billing_database", "billing database (the contracts')", ""),
    ("billing_database_where", "billing database: which", ""),
    ("skeleton_database", "skeleton rows database (both floors')", ""),
    ("cpu_count", "CPUs (os.cpu_count())", ""),
    ("onboarding_contracts_per_second", "onboarding (contracts import)", "contracts/s"),
    ("skeleton_starts_per_second_before", "skeleton starts, before the contracts", "workflows/s"),
    ("skeleton_starts_per_second_after", "skeleton starts, after the contracts", "workflows/s"),
    ("skeleton_starts_per_second", "skeleton starts, mean of the two", "workflows/s"),
    ("onboarding_vs_skeleton_starts", "onboarding / skeleton starts", "× (target ≥ 0.9)"),
    (
        "same_commands_starts_per_second_before",
        "same-commands skeleton starts, before the contracts",
        "workflows/s",
    ),
    (
        "same_commands_starts_per_second_after",
        "same-commands skeleton starts, after the contracts",
        "workflows/s",
    ),
    (
        "same_commands_starts_per_second",
        "same-commands skeleton starts, mean of the two",
        "workflows/s",
    ),
    ("onboarding_vs_same_commands_starts", "onboarding / same-commands skeleton starts", "×"),
    ("create_contracts_per_second", "pilot: contracts create, one by one", "contracts/s"),
    ("create_vs_skeleton_starts", "contracts create / skeleton starts", "×"),
    ("month_end_kind", "month-end: whose invoices", ""),
    ("month_end_seconds", "month-end: last invoice after 00:00", "s"),
    ("month_end_invoices_per_second", "month-end throughput", "invoices/s"),
    ("skeleton_firings_per_second_before", "skeleton firings, before the contracts", "workflows/s"),
    ("skeleton_firings_per_second_after", "skeleton firings, after the contracts", "workflows/s"),
    ("skeleton_firings_per_second", "skeleton firings, mean of the two", "workflows/s"),
    ("month_end_vs_skeleton_firings", "month-end / skeleton firings", "× (target ≥ 1.0, aim 1.3)"),
    (
        "same_commands_firings_per_second_before",
        "same-commands skeleton firings, before the contracts",
        "workflows/s",
    ),
    (
        "same_commands_firings_per_second_after",
        "same-commands skeleton firings, after the contracts",
        "workflows/s",
    ),
    (
        "same_commands_firings_per_second",
        "same-commands skeleton firings, mean of the two",
        "workflows/s",
    ),
    (
        "month_end_vs_same_commands",
        "month-end / same-commands skeleton firings",
        "× (target ≥ 1.0)",
    ),
    ("webhook_events", "month-end events pushed to a webhook receiver", "events"),
    ("webhook_seconds", "webhooks: last event acknowledged after 00:00", "s"),
    ("webhook_events_per_second", "webhook delivery throughput", "events/s"),
    (
        "webhook_vs_invoices_time",
        "webhooks' time / invoices' time",
        "× (target ≤ 1.5)",
    ),
    ("webhook_duplicates", "webhook deliveries received twice", "requests"),
    ("cron_invoices_per_second", "cron baseline (one SQL batch)", "invoices/s"),
    ("history_events_per_cycle", "history events per billing cycle", "(target ≤ 12)"),
    (
        "same_commands_history_events_per_cycle",
        "history events per cycle, same-commands skeleton",
        "",
    ),
    ("worker_peak_rss_mb", "Termshift worker peak RSS", "MB"),
    ("skeleton_worker_peak_rss_mb", "skeleton worker peak RSS", "MB"),
    ("server_peak_rss_mb", "Temporal server peak RSS", "MB"),
    ("bench_process_peak_rss_mb", "benchmark client process peak RSS", "MB"),
]

WORKER_SETTINGS = (
    "workflow_sandbox",
    "workflow_cache_size",
    "max_concurrent_workflow_tasks",
    "max_concurrent_local_activities",
    "activity_threads",
    "workflow_task_pollers",
    "nonsticky_poll_ratio",
    "sticky_timeout_seconds",
)
"""The settings both workers ran with, in the results."""

RATIOS = (
    "onboarding_vs_skeleton_starts",
    "onboarding_vs_same_commands_starts",
    "create_vs_skeleton_starts",
    "month_end_vs_skeleton_firings",
    "month_end_vs_same_commands",
)
"""Every ratio the report has (the onboarding ones are n/a with `--renewal`)."""


def add_ratios(numbers: dict[str, Any], renewal: bool) -> None:
    """The contracts against each floor (a renewal's onboarding also wrote first invoices, so it
    is not compared with the skeletons' starts)."""
    onboarding = None if renewal else numbers.get("onboarding_contracts_per_second")
    month_end = numbers.get("month_end_invoices_per_second")
    numbers["onboarding_vs_skeleton_starts"] = ratio(
        onboarding, numbers.get("skeleton_starts_per_second")
    )
    numbers["onboarding_vs_same_commands_starts"] = ratio(
        onboarding, numbers.get("same_commands_starts_per_second")
    )
    numbers["create_vs_skeleton_starts"] = ratio(
        numbers.get("create_contracts_per_second"), numbers.get("skeleton_starts_per_second")
    )
    numbers["month_end_vs_skeleton_firings"] = ratio(
        month_end, numbers.get("skeleton_firings_per_second")
    )
    numbers["month_end_vs_same_commands"] = ratio(
        month_end, numbers.get("same_commands_firings_per_second")
    )


def record_memory_and_settings(out: Results, pids: dict[str, int | None], sleeping: int) -> None:
    """Peak and final RSS of each process (`worker`, `skeleton_worker`, `server`) and of this one,
    and the settings both workers ran with."""
    for name, pid in pids.items():
        values = peak_rss_mb(pid)
        out.numbers[f"{name}_peak_rss_mb"] = values["VmHWM"] if values else None
        out.numbers[f"{name}_rss_at_end_mb"] = values["VmRSS"] if values else None
    out.numbers["bench_process_peak_rss_mb"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    tuning = Settings()
    out.numbers["worker_settings"] = {name: getattr(tuning, name) for name in WORKER_SETTINGS}
    out.notes.append(
        f"Worker RSS measured with {sleeping} sleeping contracts (N plus the pilot); both "
        f"workers cache up to {tuning.workflow_cache_size} workflows "
        "(TERMSHIFT_WORKFLOW_CACHE_SIZE) and run them "
        f"{'in' if tuning.workflow_sandbox else 'without'} the workflow sandbox "
        "(TERMSHIFT_WORKFLOW_SANDBOX)."
    )


def markdown(numbers: dict[str, Any], notes: list[str]) -> str:
    lines = [
        f"Month-end benchmark, {numbers['started_at']}",
        "",
        "| measure | value | unit |",
        "|---|---:|---|",
    ]
    for key, label, unit in ROWS:
        value = numbers.get(key)
        lines.append(f"| {label} | {'n/a' if value is None else value} | {unit} |")
    lines.append("")
    per_item = numbers.get("cpu_ms_per_item") or {}
    if per_item:
        lines += [
            "CPU time per item of each phase (ms; user + system, all threads of the process), and "
            "the worker's by thread: its main thread (the event loop: polls, payload conversion, "
            "dispatch), its other Python threads (workflow activations with the workflow code, "
            "and activities) and the SDK core's native threads:",
            "",
            "| phase | Temporal server | worker | main thread | workflow and activity threads "
            "| SDK core |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for phase, spent in per_item.items():
            worker = "worker" if "worker" in spent else "skeleton_worker"
            cells = [spent.get(key, "n/a") for key in ("server", worker)]
            cells += [spent.get(f"{worker}:{kind}", "n/a") for kind in THREAD_KINDS]
            lines.append(f"| {phase} | {' | '.join(str(cell) for cell in cells)} |")
        lines.append("")
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines).rstrip() + "\n"


def save(out_dir: Path, numbers: dict[str, Any], notes: list[str]) -> Path:
    """`<timestamp>-n<N>` and `latest` (the default month-end: new members' first invoices), or
    `<timestamp>-n<N>-renewal` and `latest-renewal`; the path of the first's JSON."""
    name = f"{timestamp()}-n{numbers['contracts']}"
    names = [name, "latest"]
    if numbers.get("month_end_kind") == "renewal":
        names = [f"{name}-renewal", "latest-renewal"]
    return write_results(out_dir, names, {**numbers, "notes": notes}, markdown(numbers, notes))


def print_table(numbers: dict[str, Any]) -> None:
    table = Table(title="Month-end benchmark")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("unit")
    for key, label, unit in ROWS:
        value = numbers.get(key)
        table.add_row(label, "n/a" if value is None else str(value), unit)
    console.print(table)
