"""The TERMSHIFT_* settings of the worker, `scripts/up` and the CLI: a bad value stops them at once
with a sentence that names the variable, before anything touches the database or Temporal."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from termshift import stack
from termshift.cli.app import app
from termshift.settings import Settings, describe_invalid

ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_caches_at_least_one_workflow() -> None:
    # A cache of 0 evicts a contract while its invoice date's local activity runs.
    with pytest.raises(ValidationError):
        Settings(workflow_cache_size=0)
    assert Settings(workflow_cache_size=1).workflow_cache_size == 1


def test_invalid_settings_are_named_by_their_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERMSHIFT_WORKFLOW_CACHE_SIZE", "many")
    monkeypatch.setenv("TERMSHIFT_ACTIVITY_THREADS", "0")
    with pytest.raises(ValidationError) as caught:
        Settings()
    described = describe_invalid(caught.value)
    assert "TERMSHIFT_WORKFLOW_CACHE_SIZE: Input should be a valid integer" in described
    assert "TERMSHIFT_ACTIVITY_THREADS: Input should be greater than or equal to 1" in described


def test_the_worker_refuses_bad_settings_without_a_traceback(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TERMSHIFT_WORKFLOW_CACHE_SIZE": "0",
        "TERMSHIFT_DATABASE_URL": f"sqlite:///{tmp_path / 'billing.db'}",
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
    }
    done = subprocess.run(
        [sys.executable, "worker.py"],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "Invalid worker settings — TERMSHIFT_WORKFLOW_CACHE_SIZE: "
        "Input should be greater than or equal to 1."
    )
    assert not (tmp_path / "billing.db").exists()  # refused before the database was touched


def test_the_stack_refuses_bad_settings_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("TERMSHIFT_WORKFLOW_CACHE_SIZE", "0")
    with pytest.raises(SystemExit) as exited:
        stack.parse_args(["--data-dir", str(tmp_path / "data")])
    assert exited.value.code == 1
    assert capsys.readouterr().err == (
        "Invalid settings — TERMSHIFT_WORKFLOW_CACHE_SIZE: "
        "Input should be greater than or equal to 1.\n"
    )
    assert not (tmp_path / "data").exists()


def test_the_cli_names_a_bad_setting_as_a_failure_not_a_refusal(tmp_path: Path) -> None:
    env = {
        "TERMSHIFT_WORKFLOW_CACHE_SIZE": "0",
        "TERMSHIFT_DATABASE_URL": f"sqlite:///{tmp_path / 'billing.db'}",
    }
    result = CliRunner().invoke(app, ["locations", "list"], env=env)
    assert result.exit_code == 1  # the environment is wrong, not the command's input (2)
    assert "Failed: Invalid settings — TERMSHIFT_WORKFLOW_CACHE_SIZE: Input should be greater" in (
        " ".join(result.output.split())
    )
    assert not (tmp_path / "billing.db").exists()
