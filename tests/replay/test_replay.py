"""Determinism guard: today's workflow code must replay every recorded history exactly.

The histories under tests/histories/<version>/ were recorded by scripts/record_histories.py from
each lifecycle: v1 before the patches in workflows/contract.py, v2 after them. A change to the
workflow that would break a running contract fails here; guard it with `workflow.patched` (see
docs/WORKFLOW_CHANGES.md) instead of re-recording. Each history replays on both runners a worker
may use (TERMSHIFT_WORKFLOW_SANDBOX).
"""

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows import ContractWorkflow
from workflows.sandbox import workflow_runner

ROOT = Path(__file__).resolve().parents[1] / "histories"
VERSIONS = sorted(folder for folder in ROOT.glob("v*") if folder.is_dir())
"""The contracts' histories by version (tests/histories/webhooks/ holds the delivery workflow's:
tests/replay/test_webhook_replay.py)."""
HISTORIES = sorted(path for folder in VERSIONS for path in folder.glob("*.json"))
LIFECYCLES = {"plain-billing", "automated-switch", "manual-change", "cancellation"}


@pytest.mark.parametrize("version", VERSIONS, ids=[folder.name for folder in VERSIONS])
def test_every_lifecycle_has_a_recorded_history(version: Path) -> None:
    names = {path.stem for path in version.glob("*.json")}
    assert names >= LIFECYCLES
    assert any(name.startswith("continue-as-new") for name in names)


@pytest.mark.parametrize("sandboxed", [False, True], ids=["unsandboxed", "sandboxed"])
@pytest.mark.parametrize(
    "path", HISTORIES, ids=[f"{path.parent.name}/{path.stem}" for path in HISTORIES]
)
async def test_history_replays(path: Path, sandboxed: bool) -> None:
    document = json.loads(path.read_text())
    history = WorkflowHistory.from_json(document["workflow_id"], document["history"])
    replayer = Replayer(
        workflows=[ContractWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(sandboxed=sandboxed),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


def test_histories_from_other_versions_are_kept() -> None:
    """What a newer version writes (fields this one does not know, in the input and in a signal)
    and what an older one accepted (a currency ISO 4217 withdrew since) replay like the rest:
    `test_history_replays` runs them; this keeps them from being dropped."""
    names = {path.stem for path in HISTORIES}
    assert {"newer-fields", "withdrawn-currency"} <= names


def test_contract_terms_are_in_the_recorded_histories() -> None:
    """Freezes, an unfreeze sent as a signal, a scheduled price, renewal notice and renewal, early
    termination, a change with a price and an end of term: what contracts with terms look like."""
    names = {path.stem for path in HISTORIES}
    assert {"terms", "early-termination", "priced-change", "end-of-term"} <= names


def test_a_plan_price_and_a_bulk_jobs_command_are_in_the_recorded_histories() -> None:
    """A plan's new price taken from a bulk job, the same job's command again as a signal
    (refused: taken), and a grandfathered one (tests/histories/bulk/ holds the job's own)."""
    names = {path.stem for path in HISTORIES}
    assert {"plan-price", "grandfathered"} <= names
