"""Determinism guard for the webhook endpoints' delivery workflow: today's code replays every
recorded history in tests/histories/webhooks/ (recorded by scripts/record_webhook_history.py).

- `before-bursts`: a run of the first version, which delivered one event per activity;
- `bursts-continue-as-new`: each contract's pending events in one activity, the run continuing as
  new after three deliveries.

Both include a receiver answering 500 at first (retried activities).
"""

import json
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.sandbox import workflow_runner
from workflows.webhooks import WebhookEndpointWorkflow

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "histories" / "webhooks").glob("*.json"))


def history(path: Path) -> WorkflowHistory:
    document = json.loads(path.read_text())
    return WorkflowHistory.from_json(document["workflow_id"], document["history"])


def test_the_recorded_histories_are_there() -> None:
    assert {path.stem for path in HISTORIES} >= {"before-bursts", "bursts-continue-as-new"}
    last = history(HISTORIES[[p.stem for p in HISTORIES].index("bursts-continue-as-new")])
    assert last.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW


@pytest.mark.parametrize("sandboxed", [False, True], ids=["unsandboxed", "sandboxed"])
@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_history_replays(path: Path, sandboxed: bool) -> None:
    replayer = Replayer(
        workflows=[WebhookEndpointWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(sandboxed=sandboxed),
    )
    result = await replayer.replay_workflow(history(path), raise_on_replay_failure=True)
    assert result.replay_failure is None
