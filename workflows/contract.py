"""The contract workflow: one per contract, id `contract-<id>`, alive from creation to cancellation.

It sleeps on a durable timer until 00:00 local time of the contract's next event date (R3), then
lets `billing.lifecycle` decide what happens — start, invoice, switch or end — and has an activity
write it. Admin commands arrive as updates (validated before they enter history) or as signals on
the same code path; every handler that awaits holds the lock, so commands and invoicing never
interleave. History stays bounded: the workflow continues as new when the server suggests it.
"""

import asyncio
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any, NoReturn, TypeVar

from pydantic import ValidationError
from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from billing import lifecycle, rules
    from billing.calendar import local_date, local_midnight
    from billing.contract import Command, Contract, InvoiceDraft, Plan
    from store.records import IssuedInvoice
    from workflows import requests, visibility
    from workflows.messages import (
        Cancel,
        CancelAtNextInvoice,
        ClearChange,
        CommandResult,
        ContractInput,
        ContractView,
        Freeze,
        InvalidInput,
        NewTerm,
        PlanPrice,
        RefusedCommand,
        ScheduleChange,
        SetPrice,
        Switch,
        Uncancel,
        Unfreeze,
        decide,
        decide_new_term,
        decide_switch,
        parse_command,
    )
    from workflows.requests import (
        DayRecorded,
        RecordCommand,
        RecordNewTerm,
        RecordStep,
        RegisterContract,
    )

WRITE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
"""Database writes retry until the database is back; invalid data fails non-retryably."""
WRITE_TIMEOUT = timedelta(seconds=60)
REFUSALS_KEPT = 20
JOBS_KEPT = 100
"""The bulk jobs a contract remembers having taken (a job run again within them applies
nothing twice)."""

REGISTER_LOCALLY = "register-as-local-activity"
"""Patch: the contract's row is written by a local activity (before: a regular activity)."""

DATES_PER_RUN = 12
"""A run continues as new after this many dates: a year of monthly invoices. A worker that no
longer holds a workflow in its cache (at month-end, every contract beyond the cache) rebuilds it
by replaying its run, about 1.5 ms of CPU per date in the run: short runs keep that small."""
SHORTER_RUNS = "twelve-dates-per-run"
"""Patch: a run continues as new after DATES_PER_RUN dates (before: after 48)."""

DATES_PER_RUN_BEFORE = 48
BOUND_DATES_PER_RUN = "bound-dates-per-run"
"""Patch: a run also continues as new after DATES_PER_RUN_BEFORE dates (before: only when
suggested)."""

RECORD_DAY_LOCALLY = "record-day-as-local-activity"
"""Patch: each date is written by the local activity `record_day` (before: activity
`record_step`), which also gives a successor the next free id if its own was taken."""


REFUSE_MALFORMED_SIGNALS = "refuse-malformed-signals"
"""Patch: a signal that is not a well-formed command is refused, kept and audited (before: the
SDK dropped it, or a signal with no or two inputs failed the workflow task)."""

SIGNALS_IGNORE_UNKNOWN_FIELDS = "signals-ignore-unknown-fields"
"""Patch: a signal's field that this version does not know is ignored, as a newer version may
send it (before: the signal was refused). Updates still refuse it, in their validators."""

COMMANDS_AWAIT_REGISTRATION = "commands-await-registration"
"""Patch: a command that arrives before the contract's row is written waits for it, and is refused
if the row is never written (before: its write retried forever against a missing row, and the
workflow could not fail its registration while that handler ran)."""

BILL_UNDONE_CUT = "bill-days-of-an-undone-cut"
"""Patch: undoing a cancellation whose last invoice was cut with proration invoices the days cut
off (before: they stayed unbilled)."""

LOAD_CURRENT_PLAN = "load-the-current-plan"
"""Patch: a command naming the contract's own plan (a new term on the same plan) reads the plan
as the catalog has it now (before: the contract's copy, with the price it was made at)."""

COMMANDS = (
    "schedule_change",
    "cancel_at_next_invoice",
    "clear_change",
    "cancel",
    "uncancel",
    "new_term",
    "switch",
    "freeze",
    "unfreeze",
    "set_price",
    "plan_price",
)
"""Every admin command, each an update and a signal of the same name."""


def workflow_id(contract_id: str) -> str:
    return f"contract-{contract_id}"


C = TypeVar("C", bound=Command)

Decide = Callable[[Contract, date], "rules.Decision | rules.Rejection | None"]
"""A rule applied to the contract on a local date: a decision, a rejection, or nothing against."""


@workflow.defn(name="Contract")
class ContractWorkflow:
    @workflow.init
    def __init__(self, input: ContractInput) -> None:
        self._contract = input.contract
        self._created = input.created
        self._registered = input.registered
        self._refused = list(input.refused)
        self._invoices_issued = input.invoices_issued
        self._jobs = list(input.jobs)
        self._lock = asyncio.Lock()
        self._changed = False
        self._registration_error: str | None = None
        self._unknown_fields = False
        """Whether the validators running now ignore unknown fields (for a signal, patched)."""
        self._dates_this_run = 0
        # What the workflow already carries (set at start, or kept by continue-as-new).
        current = workflow.info().typed_search_attributes
        self._published = [
            update
            for update in visibility.search_attribute_updates(self._contract)
            if current.get(update.key) == update.value
        ]

    # -- the contract's life --------------------------------------------------------------

    @workflow.run
    async def run(self, input: ContractInput) -> ContractView:  # noqa: ARG002 (read in __init__)
        await self._register()
        while (day := lifecycle.next_event_date(self._contract)) is not None:
            if workflow.info().is_continue_as_new_suggested() or self._run_is_full():
                await self._continue_as_new()
            self._publish()
            if await self._sleep_until(day):
                async with self._lock:
                    # A command may have moved the date while this waited for the lock.
                    if lifecycle.next_event_date(self._contract) == day:
                        await self._advance()
                self._dates_this_run += 1
        self._publish()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._view()

    def _run_is_full(self) -> bool:
        """Our own bound besides the server's suggestion: dates caught up in one workflow task
        (a backdated start, a worker down for weeks) never let the suggestion be seen, and a
        short run is quick to rebuild from its history."""
        if self._dates_this_run >= DATES_PER_RUN and workflow.patched(SHORTER_RUNS):
            return True
        return self._dates_this_run >= DATES_PER_RUN_BEFORE and workflow.patched(
            BOUND_DATES_PER_RUN
        )

    async def _continue_as_new(self) -> NoReturn:
        """Start a fresh history carrying the whole state, once every handler has finished.

        A message that arrives meanwhile is handled first: the server refuses to continue as new
        while new events are pending, and the state is read only after the handlers drained.
        """
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._input())

    async def _register(self) -> None:
        if self._registered:
            return
        request = RegisterContract(
            contract=self._contract,
            requested=self._created,
            key=workflow.info().workflow_id,
            today=self._today(),
        )
        summary = visibility.registration_summary(self._contract.id)
        try:
            if workflow.patched(REGISTER_LOCALLY):
                # In the first workflow task: `contracts create` returns one round trip sooner.
                await workflow.execute_local_activity(
                    requests.REGISTER_CONTRACT,
                    request,
                    start_to_close_timeout=WRITE_TIMEOUT,
                    retry_policy=WRITE_RETRY,
                    summary=summary,
                )
            else:
                await workflow.execute_activity(
                    requests.REGISTER_CONTRACT,
                    request,
                    start_to_close_timeout=WRITE_TIMEOUT,
                    retry_policy=WRITE_RETRY,
                    summary=summary,
                )
        except (ActivityError, ApplicationError) as error:
            # A local activity that fails after its workflow task was extended arrives as its
            # own ApplicationError, not wrapped in an ActivityError.
            if isinstance(error, ApplicationError) and not workflow.patched(
                COMMANDS_AWAIT_REGISTRATION
            ):
                raise
            cause = error.cause if isinstance(error, ActivityError) else error
            self._registration_error = str(cause or error)
            await workflow.wait_condition(workflow.all_handlers_finished)
            raise ApplicationError(
                f"Contract {self._contract.id} was not created: {self._registration_error}",
                type="registration_failed",
                non_retryable=True,
            ) from None
        self._registered = True

    async def _sleep_until(self, day: date) -> bool:
        """Sleep until 00:00 local on `day`; True when it is time, False when woken earlier."""
        fire_at = local_midnight(day, self._contract.timezone)
        self._changed = False
        remaining = fire_at - workflow.now()
        if remaining <= timedelta(0):
            return True
        try:
            await workflow.wait_condition(
                lambda: self._changed or workflow.info().is_continue_as_new_suggested(),
                timeout=remaining,
                timeout_summary=(
                    f"{self._next_event_words().removesuffix('.')} at 00:00 "
                    f"{self._contract.timezone}"
                ),
            )
        except TimeoutError:
            return True
        return False

    async def _advance(self) -> None:
        step = lifecycle.advance(self._contract)
        key = f"{workflow.info().workflow_id}/{step.day}"
        if step.contract.end == step.contract.start == step.day:
            # A contract that started this day and ends this day has two dates on one day:
            # each keeps its own audit entry.
            key += "/end"
        request = RecordStep(step=step, key=key)
        summary = f"{step.day}: {step.summary}"
        if workflow.patched(RECORD_DAY_LOCALLY):
            # One marker instead of three activity events and a second workflow task per cycle.
            recorded = await workflow.execute_local_activity(
                requests.RECORD_DAY,
                request,
                result_type=DayRecorded,
                start_to_close_timeout=WRITE_TIMEOUT,
                retry_policy=WRITE_RETRY,
                summary=summary,
            )
            invoice, successor = recorded.invoice, recorded.successor
        else:
            invoice = await workflow.execute_activity(
                requests.RECORD_STEP,
                request,
                result_type=IssuedInvoice | None,  # type: ignore[arg-type]
                start_to_close_timeout=WRITE_TIMEOUT,
                retry_policy=WRITE_RETRY,
                summary=summary,
            )
            successor = step.successor
        self._contract = step.contract
        if successor is not None:
            self._contract = step.contract.model_copy(update={"successor_id": successor.id})
        if invoice is not None:
            self._invoices_issued += 1
        if successor is not None:
            await self._start_successor(successor)

    async def _start_successor(self, successor: Contract, created: Command | None = None) -> None:
        """Start the next term's workflow exactly once; it outlives this one (R5, R8)."""
        try:
            await workflow.start_child_workflow(
                ContractWorkflow.run,
                ContractInput(
                    contract=successor, created=created or self._created, registered=True
                ),
                id=workflow_id(successor.id),
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                search_attributes=visibility.initial_search_attributes(successor),
                static_summary=visibility.summary(successor),
                static_details=visibility.static_details(successor),
            )
        except WorkflowAlreadyStartedError:
            # Only when a previous run of this chain started it: it exists, once.
            workflow.logger.info("Successor %s was already started", successor.id)

    def _input(self) -> ContractInput:
        return ContractInput(
            contract=self._contract,
            created=self._created,
            registered=self._registered,
            refused=tuple(self._refused[-REFUSALS_KEPT:]),
            invoices_issued=self._invoices_issued,
            jobs=tuple(self._jobs[-JOBS_KEPT:]),
        )

    # -- what the UI and the CLI see ------------------------------------------------------

    @workflow.query
    def state(self) -> ContractView:
        return self._view()

    @workflow.update
    async def registered(self) -> ContractView:
        """Returns once the contract's row is written (the CLI's create waits on this)."""
        await workflow.wait_condition(
            lambda: self._registered or self._registration_error is not None
        )
        if self._registration_error is not None:
            raise ApplicationError(self._registration_error, type="registration_failed")
        return self._view()

    def _view(self, warnings: tuple[str, ...] = ()) -> ContractView:
        return ContractView(
            contract=self._contract,
            next_event_date=lifecycle.next_event_date(self._contract),
            next_event=self._next_event_words(),
            next_invoice_date=lifecycle.upcoming_invoice_date(self._contract),
            registered=self._registered,
            invoices_issued=self._invoices_issued,
            refused=tuple(self._refused),
            warnings=warnings,
        )

    def _next_event_words(self) -> str:
        return lifecycle.describe_next_event(self._contract)

    def _publish(self) -> None:
        """Keep search attributes and the UI's current details in step with the state."""
        updates = visibility.search_attribute_updates(self._contract)
        changed = [update for update in updates if update not in self._published]
        if changed:
            workflow.upsert_search_attributes(changed)
        self._published = updates
        workflow.set_current_details(visibility.details(self._contract))

    # -- admin commands: updates validated before history, signals on the same path ------
    #
    # Each command is an update whose validator refuses bad input before it enters history, and
    # a signal of the same name that runs that validator and that handler. A signal cannot answer
    # its sender, so its refusal is kept in the state (the `state` query) and the audit log.

    def _today(self) -> date:
        return local_date(workflow.now(), self._contract.timezone)

    def _read(self, model: type[C], payloads: Sequence[Any]) -> C:
        """A validator's command: unknown fields refused, except in a signal (patched); one of a
        bulk job the contract has taken already is refused as such (nothing applied twice)."""
        command = _command(model, payloads, unknown_fields=self._unknown_fields)
        self._refuse_job_taken(command)
        return command

    def _refuse_job_taken(self, command: Command) -> None:
        if command.job is not None and command.job in self._jobs:
            raise ApplicationError(
                f"Contract {self._contract.id} has taken bulk job {command.job}'s command "
                "already; nothing changed.",
                type=rules.RejectionCode.ALREADY_APPLIED.value,
                non_retryable=True,
            )

    def _check(self, decide: Decide) -> None:
        outcome = decide(self._contract, self._today())
        if isinstance(outcome, rules.Rejection):
            raise ApplicationError(outcome.message, type=outcome.code, non_retryable=True)

    async def _refuse(self, name: str, command: Command, rejection: rules.Rejection) -> NoReturn:
        """Audit a refusal decided in a handler (the state moved, or a plan was wrong)."""
        await self._record(name, command, None, f"Refused: {rejection.message}")
        raise _AuditedRefusal(rejection.message, type=rejection.code, non_retryable=True)

    async def _await_registration(self, name: str, command: Command) -> None:
        """A command changes a contract whose row exists: one sent while the row is being written
        waits for it, and is refused (audited) if the row is never written."""
        if self._registered or not workflow.patched(COMMANDS_AWAIT_REGISTRATION):
            return
        await workflow.wait_condition(
            lambda: self._registered or self._registration_error is not None
        )
        if self._registration_error is not None:
            await self._refuse(
                name,
                command,
                rules.Rejection(
                    code="registration_failed",
                    message=f"Contract {self._contract.id} was not created: "
                    f"{self._registration_error}",
                ),
            )

    async def _execute(self, name: str, command: Command, decide: Decide) -> CommandResult:
        """Decide again under the lock (the state may have moved), then record and wake the loop."""
        await self._await_registration(name, command)
        async with self._lock:
            self._refuse_job_taken(command)  # two sends of one job's command raced the validator
            outcome = decide(self._contract, self._today())
            assert outcome is not None
            if isinstance(outcome, rules.Rejection):
                await self._refuse(name, command, outcome)
            await self._record(
                name, command, outcome.contract, outcome.effect, invoice=outcome.invoice
            )
            self._contract = outcome.contract
            if command.job is not None:
                self._jobs.append(command.job)
                del self._jobs[:-JOBS_KEPT]
            if outcome.invoice is not None:
                self._invoices_issued += 1
            self._changed = True
            self._publish()
            return CommandResult(
                effect=outcome.effect, warnings=outcome.warnings, view=self._view(outcome.warnings)
            )

    async def _record(
        self,
        name: str,
        command: Command,
        contract: Contract | None,
        effect: str,
        *,
        invoice: InvoiceDraft | None = None,
    ) -> None:
        """Save the contract after a command with its audit entry, and what it bills at once, in
        one transaction."""
        info = workflow.info()
        await workflow.execute_activity(
            requests.RECORD_COMMAND,
            RecordCommand(
                contract=contract,
                contract_id=self._contract.id,
                command=name,
                requested=Command(actor=command.actor, reason=command.reason, job=command.job),
                effect=effect,
                key=f"{info.workflow_id}/{info.run_id}/{workflow.uuid4()}",
                invoice=invoice,
            ),
            start_to_close_timeout=WRITE_TIMEOUT,
            retry_policy=WRITE_RETRY,
            summary=f"{name} by {command.actor}",
        )

    async def _signal(
        self,
        name: str,
        payloads: tuple[Any, ...],
        model: type[Command],
        validate: Callable[..., None],
        handle: Callable[..., Any],
    ) -> None:
        """Run a command sent as a signal through its update's validator and handler.

        The payloads arrive as plain JSON values, as an update's do, so that a malformed signal
        (wrong types, missing fields, no input, two inputs) is refused where an admin sees it
        instead of being dropped by the SDK or failing the workflow task.
        """
        tolerant = workflow.patched(SIGNALS_IGNORE_UNKNOWN_FIELDS)
        try:
            command = parse_command(model, payloads, unknown_fields=tolerant)
        except InvalidInput as malformed:
            await self._refuse_malformed(name, payloads, str(malformed))
            return
        try:
            self._unknown_fields = tolerant
            try:
                validate(*payloads)
            finally:
                self._unknown_fields = False
            await handle(*payloads)
        except (ApplicationError, ActivityError) as error:
            self._keep_refusal(name, command.actor, error.message)
            if not isinstance(error, _AuditedRefusal):
                await self._record(name, command, None, f"Refused: {error.message}")

    def _keep_refusal(self, name: str, actor: str, message: str) -> None:
        self._refused.append(
            RefusedCommand(at=workflow.now(), command=name, actor=actor, message=message)
        )
        del self._refused[:-REFUSALS_KEPT]

    async def _refuse_malformed(self, name: str, payloads: tuple[Any, ...], message: str) -> None:
        """Keep and audit a signal that is not a command (before the patch: dropped unseen)."""
        if not workflow.patched(REFUSE_MALFORMED_SIGNALS):
            workflow.logger.warning("Dropped malformed signal %s: %s", name, message)
            return
        actor = _claimed_actor(payloads)
        self._keep_refusal(name, actor, message)
        await self._record(name, Command(actor=actor), None, f"Refused: {message}")

    @workflow.signal(dynamic=True)
    async def unknown_signal(self, name: str, payloads: Sequence[RawValue]) -> None:
        """A signal no command has: refused where an admin sees it (before the patch: ignored)."""
        if not workflow.patched(REFUSE_MALFORMED_SIGNALS):
            return
        values = tuple(_json_value(payload) for payload in payloads)
        await self._refuse_malformed(
            name, values, f"Unknown command {name!r}; the commands are {', '.join(COMMANDS)}."
        )

    async def _load_plan(self, code: str) -> Plan:
        """A plan from the database (so in the handler, not the validator): as it is now, even
        the contract's own plan, whose price may have changed since the contract was made
        (patched; before, the contract's copy of its own plan)."""
        if code == self._contract.plan.code and not workflow.patched(LOAD_CURRENT_PLAN):
            return self._contract.plan
        try:
            plan: Plan = await workflow.execute_activity(
                requests.LOAD_PLAN,
                code,
                result_type=Plan,
                start_to_close_timeout=WRITE_TIMEOUT,
                retry_policy=WRITE_RETRY,
                summary=f"Load plan {code}",
            )
            return plan
        except ActivityError as error:
            cause = error.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause)
            raise ApplicationError(message, type="unknown_plan", non_retryable=True) from None

    # R5: schedule a next plan.

    @workflow.update(name="schedule_change")
    async def schedule_change(self, *payloads: Any) -> CommandResult:
        command = _command(ScheduleChange, payloads, unknown_fields=True)
        plan = await self._load_plan(command.next_plan)
        return await self._execute("schedule_change", command, decide(command, plan))

    @schedule_change.validator
    def _validate_schedule_change(self, *payloads: Any) -> None:
        command = self._read(ScheduleChange, payloads)
        self._check(
            lambda contract, today: rules.precheck_schedule_change(
                contract, next_plan_code=command.next_plan, today=today, price=command.price
            )
        )

    @workflow.signal(name="schedule_change")
    async def schedule_change_signal(self, *payloads: Any) -> None:
        await self._signal(
            "schedule_change",
            payloads,
            ScheduleChange,
            self._validate_schedule_change,
            self.schedule_change,
        )

    # R6: cancel at the next invoice date.

    def _cancel_at_next_invoice(self, command: CancelAtNextInvoice) -> Decide:
        return decide(command)

    @workflow.update(name="cancel_at_next_invoice")
    async def cancel_at_next_invoice(self, *payloads: Any) -> CommandResult:
        command = _command(CancelAtNextInvoice, payloads, unknown_fields=True)
        return await self._execute(
            "cancel_at_next_invoice", command, self._cancel_at_next_invoice(command)
        )

    @cancel_at_next_invoice.validator
    def _validate_cancel_at_next_invoice(self, *payloads: Any) -> None:
        self._check(self._cancel_at_next_invoice(self._read(CancelAtNextInvoice, payloads)))

    @workflow.signal(name="cancel_at_next_invoice")
    async def cancel_at_next_invoice_signal(self, *payloads: Any) -> None:
        await self._signal(
            "cancel_at_next_invoice",
            payloads,
            CancelAtNextInvoice,
            self._validate_cancel_at_next_invoice,
            self.cancel_at_next_invoice,
        )

    # Undo a scheduled change or end-of-term cancellation.

    def _clear_change(self, command: ClearChange) -> Decide:
        return decide(command)

    @workflow.update(name="clear_change")
    async def clear_change(self, *payloads: Any) -> CommandResult:
        command = _command(ClearChange, payloads, unknown_fields=True)
        return await self._execute("clear_change", command, self._clear_change(command))

    @clear_change.validator
    def _validate_clear_change(self, *payloads: Any) -> None:
        self._check(self._clear_change(self._read(ClearChange, payloads)))

    @workflow.signal(name="clear_change")
    async def clear_change_signal(self, *payloads: Any) -> None:
        await self._signal(
            "clear_change", payloads, ClearChange, self._validate_clear_change, self.clear_change
        )

    # R7: manual cancellation, and its undo.

    def _cancel(self, command: Cancel) -> Decide:
        return lambda contract, today: rules.cancel(
            contract,
            date=command.date,
            prorate=command.prorate,
            requested=command,
            today=today,
            override_terms=command.override_terms,
            charge_remaining_term=command.charge_remaining_term,
        )

    @workflow.update(name="cancel")
    async def cancel(self, *payloads: Any) -> CommandResult:
        command = _command(Cancel, payloads, unknown_fields=True)
        return await self._execute("cancel", command, self._cancel(command))

    @cancel.validator
    def _validate_cancel(self, *payloads: Any) -> None:
        self._check(self._cancel(self._read(Cancel, payloads)))

    @workflow.signal(name="cancel")
    async def cancel_signal(self, *payloads: Any) -> None:
        await self._signal("cancel", payloads, Cancel, self._validate_cancel, self.cancel)

    def _uncancel(self, command: Uncancel, *, bill_cut_days: bool = True) -> Decide:
        return lambda contract, today: rules.uncancel(
            contract, requested=command, today=today, bill_cut_days=bill_cut_days
        )

    @workflow.update(name="uncancel")
    async def uncancel(self, *payloads: Any) -> CommandResult:
        command = _command(Uncancel, payloads, unknown_fields=True)
        bill_cut_days = workflow.patched(BILL_UNDONE_CUT)
        return await self._execute(
            "uncancel", command, self._uncancel(command, bill_cut_days=bill_cut_days)
        )

    @uncancel.validator
    def _validate_uncancel(self, *payloads: Any) -> None:
        self._check(self._uncancel(self._read(Uncancel, payloads)))

    @workflow.signal(name="uncancel")
    async def uncancel_signal(self, *payloads: Any) -> None:
        await self._signal("uncancel", payloads, Uncancel, self._validate_uncancel, self.uncancel)

    # R17: freeze and unfreeze.

    def _freeze(self, command: Freeze) -> Decide:
        return decide(command)

    @workflow.update(name="freeze")
    async def freeze(self, *payloads: Any) -> CommandResult:
        command = _command(Freeze, payloads, unknown_fields=True)
        return await self._execute("freeze", command, self._freeze(command))

    @freeze.validator
    def _validate_freeze(self, *payloads: Any) -> None:
        self._check(self._freeze(self._read(Freeze, payloads)))

    @workflow.signal(name="freeze")
    async def freeze_signal(self, *payloads: Any) -> None:
        await self._signal("freeze", payloads, Freeze, self._validate_freeze, self.freeze)

    def _unfreeze(self, command: Unfreeze) -> Decide:
        return decide(command)

    @workflow.update(name="unfreeze")
    async def unfreeze(self, *payloads: Any) -> CommandResult:
        command = _command(Unfreeze, payloads, unknown_fields=True)
        return await self._execute("unfreeze", command, self._unfreeze(command))

    @unfreeze.validator
    def _validate_unfreeze(self, *payloads: Any) -> None:
        self._check(self._unfreeze(self._read(Unfreeze, payloads)))

    @workflow.signal(name="unfreeze")
    async def unfreeze_signal(self, *payloads: Any) -> None:
        await self._signal("unfreeze", payloads, Unfreeze, self._validate_unfreeze, self.unfreeze)

    # R18: a scheduled price (`clear_change` undoes it).

    def _set_price(self, command: SetPrice) -> Decide:
        return decide(command)

    @workflow.update(name="set_price")
    async def set_price(self, *payloads: Any) -> CommandResult:
        command = _command(SetPrice, payloads, unknown_fields=True)
        return await self._execute("set_price", command, self._set_price(command))

    @set_price.validator
    def _validate_set_price(self, *payloads: Any) -> None:
        self._check(self._set_price(self._read(SetPrice, payloads)))

    @workflow.signal(name="set_price")
    async def set_price_signal(self, *payloads: Any) -> None:
        await self._signal(
            "set_price", payloads, SetPrice, self._validate_set_price, self.set_price
        )

    # R18: a plan's new price, sent to each of its contracts by a bulk job.

    @workflow.update(name="plan_price")
    async def plan_price(self, *payloads: Any) -> CommandResult:
        command = _command(PlanPrice, payloads, unknown_fields=True)
        return await self._execute("plan_price", command, decide(command))

    @plan_price.validator
    def _validate_plan_price(self, *payloads: Any) -> None:
        self._check(decide(self._read(PlanPrice, payloads)))

    @workflow.signal(name="plan_price")
    async def plan_price_signal(self, *payloads: Any) -> None:
        await self._signal(
            "plan_price", payloads, PlanPrice, self._validate_plan_price, self.plan_price
        )

    # R8: a new term after this contract; and the manual change (cancel + new term) in one step.

    async def _continue_with(
        self, name: str, command: Command, old: Contract, term: rules.Decision, effect: str
    ) -> CommandResult:
        """Record the new term and its link in one transaction, then start its workflow once."""
        successor = term.contract
        old = old.model_copy(update={"successor_id": successor.id})
        info = workflow.info()
        try:
            await self._record_new_term(name, command, old, successor, effect, info)
        except ActivityError as error:
            cause = error.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause)
            await self._refuse(
                name,
                command,
                rules.Rejection(
                    code="conflict", message=f"Cannot create contract {successor.id}: {message}"
                ),
            )
        self._contract = old
        self._changed = True
        self._publish()
        await self._start_successor(
            successor, created=Command(actor=command.actor, reason=command.reason)
        )
        return CommandResult(
            effect=effect,
            warnings=term.warnings,
            view=self._view(term.warnings),
            successor=successor,
        )

    async def _record_new_term(
        self,
        name: str,
        command: Command,
        old: Contract,
        successor: Contract,
        effect: str,
        info: workflow.Info,
    ) -> None:
        await workflow.execute_activity(
            requests.RECORD_NEW_TERM,
            RecordNewTerm(
                old=old,
                successor=successor,
                command=name,
                requested=Command(actor=command.actor, reason=command.reason),
                effect=effect,
                key=f"{info.workflow_id}/{info.run_id}/{workflow.uuid4()}",
            ),
            start_to_close_timeout=WRITE_TIMEOUT,
            retry_policy=WRITE_RETRY,
            summary=f"{name} → contract {successor.id} by {command.actor}",
        )

    @workflow.update(name="new_term")
    async def new_term(self, *payloads: Any) -> CommandResult:
        command = _command(NewTerm, payloads, unknown_fields=True)
        plan = await self._load_plan(command.plan or self._contract.plan.code)
        await self._await_registration("new_term", command)
        async with self._lock:
            outcome = decide_new_term(command, self._contract, plan, self._today())
            if isinstance(outcome, rules.Rejection):
                await self._refuse("new_term", command, outcome)
            return await self._continue_with(
                "new_term", command, self._contract, outcome, outcome.effect
            )

    @new_term.validator
    def _validate_new_term(self, *payloads: Any) -> None:
        # Without the plan (a database read) only the plan-independent checks can run here.
        # A custom price is checked here too: against the contract's currency, not the plan.
        command = self._read(NewTerm, payloads)
        outcome = decide_new_term(
            command.model_copy(update={"prorate_first_invoice": False}),
            self._contract,
            self._contract.plan,
            self._today(),
        )
        if isinstance(outcome, rules.Rejection) and outcome.code not in _PLAN_DEPENDENT:
            raise ApplicationError(outcome.message, type=outcome.code, non_retryable=True)

    @workflow.signal(name="new_term")
    async def new_term_signal(self, *payloads: Any) -> None:
        await self._signal("new_term", payloads, NewTerm, self._validate_new_term, self.new_term)

    @workflow.update(name="switch")
    async def switch(self, *payloads: Any) -> CommandResult:
        command = _command(Switch, payloads, unknown_fields=True)
        plan = await self._load_plan(command.to_plan)
        await self._await_registration("switch", command)
        async with self._lock:
            outcome = decide_switch(command, self._contract, plan, self._today())
            if isinstance(outcome, rules.Rejection):
                await self._refuse("switch", command, outcome)
            cancelled, term = outcome
            return await self._continue_with(
                "switch", command, cancelled.contract, term, f"{cancelled.effect} {term.effect}"
            )

    @switch.validator
    def _validate_switch(self, *payloads: Any) -> None:
        # The whole decision with the current plan; what depends on the new plan is decided in
        # the handler, once it is read.
        command = self._read(Switch, payloads)
        outcome = decide_switch(command, self._contract, self._contract.plan, self._today())
        if isinstance(outcome, rules.Rejection) and outcome.code not in _PLAN_DEPENDENT:
            raise ApplicationError(outcome.message, type=outcome.code, non_retryable=True)

    @workflow.signal(name="switch")
    async def switch_signal(self, *payloads: Any) -> None:
        await self._signal("switch", payloads, Switch, self._validate_switch, self.switch)


class _AuditedRefusal(ApplicationError):
    """A refusal already written to the audit log."""


_PLAN_DEPENDENT = frozenset({"prorate_not_allowed", "other_location", "same_plan"})
"""Rejections of a new term that depend on the chosen plan, decided in the handler."""


def _command(model: type[C], payloads: Sequence[Any], *, unknown_fields: bool) -> C:
    """The command an update's input describes; malformed input is refused before it enters
    history, with the sentence the CLI prints, and is not worth retrying. A field the command
    does not have is refused unless `unknown_fields` (see `parse_command`)."""
    try:
        return parse_command(model, payloads, unknown_fields=unknown_fields)
    except InvalidInput as malformed:
        raise ApplicationError(str(malformed), type="invalid_input", non_retryable=True) from None


def _claimed_actor(payloads: tuple[Any, ...]) -> str:
    """The actor a malformed signal names, if it names a valid one (for the audit log)."""
    claimed = (
        payloads[0].get("actor") if len(payloads) == 1 and isinstance(payloads[0], dict) else None
    )
    try:
        return Command(actor=claimed).actor
    except ValidationError:
        return "unknown"


def _json_value(payload: RawValue) -> Any:
    try:
        return workflow.payload_converter().from_payload(payload.payload)
    except Exception:  # undecodable input is still refused, as no input
        return None
