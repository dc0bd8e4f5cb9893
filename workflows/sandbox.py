"""The sandbox contract workflows run in, shared by the worker and the replay tests.

The sandbox loads a workflow's module afresh for every workflow run, so that module state never
leaks between runs. For a contract that meant executing `workflows/` again (the workflow class
and its visibility helpers) each time a contract started or was rebuilt from its history, and
keeping that copy in memory while the workflow is cached. Termshift's own packages keep no module
state (a workflow's state lives in its instance; the rules are pure functions), so they are
passed through: loaded once per worker and shared by every run. The price is that the sandbox no
longer wraps the modules these import (`datetime`, `uuid`, ...) to refuse non-deterministic calls
in them. That net stays in the tests: the workflow tests' workers (`tests/support/temporal.py`) run
the SDK's strict default sandbox, so a non-deterministic call in workflow code fails them;
`tests/replay/` replays recorded histories on this very runner; and workflow code reads time and
randomness only through `temporalio.workflow`.
"""

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

PASSED_THROUGH = ("workflows", "billing", "activities", "store", "termshift")
"""Termshift's packages: deterministic or never called from workflow code, without module state."""


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH)
    )
