"""Settings from the environment (prefix `TERMSHIFT_`); secrets never appear in `repr`."""

from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TERMSHIFT_", env_file=None, extra="ignore")

    data_dir: Path = Field(default=PROJECT_ROOT / "data")
    """Where the embedded stack keeps its SQLite files."""
    database_url: SecretStr | None = None
    """SQLAlchemy URL of the billing database; default: a SQLite file in `data_dir`."""
    task_queue: str = "termshift-contracts"
    temporal_profile: str | None = None
    """Profile of Temporal's environment configuration (TEMPORAL_* variables, temporal.toml)."""
    payload_key: SecretStr | None = None
    """Base64 of the 32-byte AES-256 key that encrypts workflow payloads (TERMSHIFT_PAYLOAD_KEY)."""
    payload_key_file: Path | None = None
    """A file holding that base64 key instead (TERMSHIFT_PAYLOAD_KEY_FILE)."""

    workflow_sandbox: bool = False
    """Run contract workflows inside the SDK's workflow sandbox (Termshift's packages passed
    through). Off by default: the sandbox guards determinism while code is written, and the test
    suite runs every workflow under the SDK's strict sandbox; in a worker it costs about a quarter
    of the worker's CPU per invoice date (bench/README.md)."""

    # The worker's capacity. A sleeping contract needs no memory: one that is not cached is
    # rebuilt from its short history when its timer fires. The cache bounds the worker's memory.
    workflow_cache_size: int = Field(default=200, ge=1)
    """Contract workflows kept in memory between tasks, about 130 KB each. At least 1: an invoice
    date's local activity runs inside its workflow task, and a worker that caches nothing evicts
    the workflow while the write runs, so the write is cancelled and retried again and again."""
    max_concurrent_workflow_tasks: int = Field(default=50, ge=2)
    """Workflow tasks the worker takes on at once. A contract's invoice date is one task that
    holds its slot while its local activity writes the day and while the completion goes back
    to the server, so at month-end the slots, not the CPU, bounded a worker that had 10. Python
    runs the tasks' code one at a time: far more only queue inside the worker, where a task
    waiting past its 10 s timeout is lost and retried."""
    activity_threads: int = Field(default=16, ge=1)
    """Threads that run activities, local or not; each holds at most one database connection."""
    max_concurrent_activities: int = Field(default=16, ge=1)
    """Activities (admin commands' writes) running at once; at most `activity_threads`."""
    max_concurrent_local_activities: int = Field(default=16, ge=1)
    """Local activities (a contract's registration and dates) running at once."""
    workflow_task_pollers: int = Field(default=6, ge=2)
    """Concurrent polls for workflow tasks, shared by the task queue and this worker's sticky
    queue; a new contract's first task comes from the task queue."""
    nonsticky_poll_ratio: float = Field(default=0.5, gt=0, le=1)
    """Share of those polls on the task queue rather than the worker's sticky queue."""
    sticky_timeout_seconds: float = Field(default=60.0, gt=0)
    """How long a task waits on this worker's sticky queue before any worker may take it. When
    thousands of invoice dates fire at once they queue there; a short wait (the SDK's 10 s) makes
    the server move each of them to the task queue, one more write per task when it is busiest."""

    # Webhooks (SPEC §7): each endpoint's deliveries run on their own task queue, so that they
    # never take the slots that invoice dates need at month-end.
    webhook_task_queue: str = "termshift-webhooks"
    webhook_concurrency: int = Field(default=16, ge=1, le=100)
    """Contracts whose next event an endpoint receives at once (each contract's in order)."""
    webhook_retry_window: timedelta = Field(default=timedelta(days=3), gt=timedelta(0))
    """How long an event is retried, with backoff, before it is kept as failed (ISO 8601 or
    seconds)."""
    webhook_attempt_timeout: timedelta = Field(default=timedelta(seconds=10), gt=timedelta(0))
    """How long one attempt waits for the receiver's answer."""
    webhook_max_retry_interval: timedelta = Field(default=timedelta(hours=1), gt=timedelta(0))
    max_concurrent_webhook_activities: int = Field(default=100, ge=1)
    """Deliveries the worker runs at once, across endpoints (they wait on the network, not the
    CPU)."""

    # Bulk jobs (SPEC §8): their workflows and pages run on their own task queue too.
    bulk_task_queue: str = "termshift-bulk"
    bulk_concurrency: int = Field(default=64, ge=1, le=500)
    """Commands a bulk job has in flight at once (each contract's update is its own)."""

    def billing_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.data_dir / 'termshift.db'}"


def describe_invalid(error: ValidationError) -> str:
    """Each invalid setting by its environment variable, and what is wrong with it."""
    prefix = Settings.model_config.get("env_prefix", "")
    return "; ".join(
        f"{prefix}{'_'.join(str(part) for part in item['loc']).upper()}: {item['msg']}"
        for item in error.errors()
    )
