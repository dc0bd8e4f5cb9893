"""The real worker, except that it dies (SIGKILL) the first time a workflow is about to start a
next term's workflow: after `record_new_term` committed, before the successor's workflow exists.

    TERMSHIFT_CRASH_MARKER=/tmp/x python tests/faults/crash_before_successor.py

It crashes once: the marker file, written just before the kill, disarms it for later workers.
"""

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from temporalio import workflow
from temporalio.worker import (
    Interceptor,
    StartChildWorkflowInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from termshift import worker

MARKER = Path(os.environ["TERMSHIFT_CRASH_MARKER"])


class _Outbound(WorkflowOutboundInterceptor):
    def start_child_workflow(self, input: StartChildWorkflowInput) -> Any:
        if not workflow.unsafe.is_replaying() and not MARKER.exists():
            MARKER.write_text(input.id)
            os.kill(os.getpid(), signal.SIGKILL)
        return super().start_child_workflow(input)


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_Outbound(outbound))


class CrashBeforeSuccessor(Interceptor):
    def workflow_interceptor_class(
        self,
        input: WorkflowInterceptorClassInput,  # noqa: ARG002 (the same for every workflow)
    ) -> type[WorkflowInboundInterceptor] | None:
        return _Inbound


if __name__ == "__main__":
    asyncio.run(worker.main(interceptors=[CrashBeforeSuccessor()]))
