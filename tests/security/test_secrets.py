"""Secrets never reach the output: the database password, the Temporal API key, the payload key.

The worker and the CLI are run as a user runs them, against servers that cannot be reached, so
they fail (or retry) and print what went wrong; none of it may contain a secret.
"""

import base64
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from termshift.settings import Settings
from termshift.stack import redacted_url

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "S3cretPa55"
DATABASE_URL = f"postgresql://termshift:{PASSWORD}@127.0.0.1:1/x"
API_KEY = "tk_secret_value"
PAYLOAD_KEY = base64.b64encode(b"k" * 32).decode()
SECRETS = (PASSWORD, API_KEY, PAYLOAD_KEY)


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TEMPORAL_", "TERMSHIFT_"))
    }
    env.update(
        TERMSHIFT_DATABASE_URL=DATABASE_URL,
        TERMSHIFT_DATA_DIR=str(tmp_path),
        TERMSHIFT_PAYLOAD_KEY=PAYLOAD_KEY,
        TEMPORAL_ADDRESS=f"127.0.0.1:{closed_port()}",
        TEMPORAL_API_KEY=API_KEY,
        COLUMNS="200",
    )
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str], seconds: float = 3.0) -> str:
    """Run for at most `seconds` (then SIGINT, as Ctrl-C); stdout and stderr together."""
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        try:
            out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
    return out.decode(errors="replace") + err.decode(errors="replace")


def assert_no_secret(output: str) -> None:
    for secret in SECRETS:
        assert secret not in output, f"a secret was printed:\n{output}"


def test_the_worker_never_prints_the_database_password_or_api_key(tmp_path: Path) -> None:
    output = run(["worker.py"], environment(tmp_path))
    assert output.strip(), "the worker should have said why it cannot start"
    assert_no_secret(output)


def test_the_worker_failing_to_reach_temporal_prints_no_secret(tmp_path: Path) -> None:
    """The same, past the database (SQLite): the Temporal connection is what fails."""
    env = environment(tmp_path, TERMSHIFT_DATABASE_URL=f"sqlite:///{tmp_path / 'billing.db'}")
    output = run(["worker.py"], env, seconds=5.0)
    assert output.strip()
    assert_no_secret(output)


def test_a_malformed_payload_key_is_named_not_printed(tmp_path: Path) -> None:
    bad_key = "not-a-key-but-secret-anyway"
    env = environment(
        tmp_path,
        TERMSHIFT_DATABASE_URL=f"sqlite:///{tmp_path / 'billing.db'}",
        TERMSHIFT_PAYLOAD_KEY=bad_key,
    )
    output = run(["worker.py"], env, seconds=10.0)
    assert "TERMSHIFT_PAYLOAD_KEY" in output
    assert bad_key not in output
    assert_no_secret(output)


@pytest.mark.parametrize(
    "args",
    [
        ["starter.py", "contracts", "list"],
        ["starter.py", "contracts", "show", "c1"],
    ],
)
def test_the_cli_never_prints_the_database_password_or_api_key(
    tmp_path: Path, args: list[str]
) -> None:
    output = run(args, environment(tmp_path), seconds=30.0)
    assert "Failed" in output
    assert_no_secret(output)


def test_settings_repr_hides_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERMSHIFT_DATABASE_URL", DATABASE_URL)
    monkeypatch.setenv("TERMSHIFT_PAYLOAD_KEY", PAYLOAD_KEY)
    monkeypatch.setenv("TEMPORAL_API_KEY", API_KEY)
    settings = Settings()
    assert settings.billing_database_url() == DATABASE_URL
    assert settings.payload_key is not None
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert_no_secret(text)


def test_the_stack_banner_shows_database_urls_without_password() -> None:
    shown = redacted_url(DATABASE_URL)
    assert PASSWORD not in shown
    assert "127.0.0.1:1/x" in shown
    assert PASSWORD not in redacted_url("postgresql://u:S3cretPa55@[broken")
