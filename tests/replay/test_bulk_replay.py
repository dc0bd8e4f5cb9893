"""Determinism guard for a bulk job's workflow (SPEC §8): today's code replays its recorded runs
in tests/histories/bulk/ (`scripts/record_histories.py bulk bulk-job`): five contracts frozen,
two a page, two pages a run — the first run continues as new, the second finishes the job."""

import json
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.bulk import BulkJobWorkflow
from workflows.sandbox import workflow_runner

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "histories" / "bulk").glob("*.json"))


def history(path: Path) -> WorkflowHistory:
    document = json.loads(path.read_text())
    return WorkflowHistory.from_json(document["workflow_id"], document["history"])


def test_the_recorded_runs_are_there() -> None:
    assert [path.stem for path in HISTORIES] == ["bulk-job-run1", "bulk-job-run2"]
    first, last = history(HISTORIES[0]), history(HISTORIES[1])
    assert first.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    assert last.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED


@pytest.mark.parametrize("sandboxed", [False, True], ids=["unsandboxed", "sandboxed"])
@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_history_replays(path: Path, sandboxed: bool) -> None:
    replayer = Replayer(
        workflows=[BulkJobWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(sandboxed=sandboxed),
    )
    result = await replayer.replay_workflow(history(path), raise_on_replay_failure=True)
    assert result.replay_failure is None
