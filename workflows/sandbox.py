"""How contract workflows run in a worker, shared by the worker, the benchmark and the replay tests.

Workflow code is deterministic on its own: it reads time and randomness only through
`temporalio.workflow`, keeps its state in its instance, and calls only the pure rules. Two nets
check that, whichever runner a worker uses: the workflow tests' workers
(`tests/support/temporal.py`) run the SDK's strict default sandbox, which refuses a
non-deterministic call anywhere in the workflow's modules, and `tests/replay/` replays recorded
histories on both runners below.

- Unsandboxed (the default, TERMSHIFT_WORKFLOW_SANDBOX=false): workflow code runs as it is. Every
  activation and every payload otherwise passes through the sandbox's restricted importer, which
  made up about a quarter of a worker's CPU per invoice date in the month-end benchmark.
- Sandboxed (TERMSHIFT_WORKFLOW_SANDBOX=true): the SDK's sandbox, with Termshift's packages passed
  through so that they load once per worker rather than once per workflow run (they keep no
  module state). The sandbox then isolates module state and wraps the standard library's
  non-deterministic calls at run time too.
"""

from temporalio.worker import UnsandboxedWorkflowRunner, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

PASSED_THROUGH = ("workflows", "billing", "activities", "store", "termshift")
"""Termshift's packages: deterministic or never called from workflow code, without module state."""


def workflow_runner(
    *, sandboxed: bool, also_passed_through: tuple[str, ...] = ()
) -> WorkflowRunner:
    """A worker's runner for contract workflows (TERMSHIFT_WORKFLOW_SANDBOX); the benchmark's
    workflows pass their own package through as well."""
    if not sandboxed:
        return UnsandboxedWorkflowRunner()
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            *PASSED_THROUGH, *also_passed_through
        )
    )
