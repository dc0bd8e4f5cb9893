"""Bulk jobs (SPEC §8) and a plan's new price (R18 `plan_price`) through the real workflows on
the time-skipping server: what each contract invoices after the price date, the job id each
contract remembers, and a job that continues as new."""

from decimal import Decimal

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from store.db import Database
from store.repository import bulk as store
from termshift.services import bulk
from termshift.settings import Settings
from termshift.worker import build_bulk_worker
from tests.support.contracts import WHO, scenario
from workflows import ContractWorkflow
from workflows.bulk import BulkJobWorkflow
from workflows.bulk_requests import BulkRun, workflow_id
from workflows.messages import Freeze, PlanPrice

D = Decimal


async def test_a_plan_price_invoices_the_new_price_from_its_date_and_grandfathers_on_request(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        await s.create("plain", "FIXED", s.day(1, 1))
        await s.create("kept", "FIXED", s.day(1, 1))
        await s.create("custom", "FIXED", s.day(1, 1), price="900.00")
        await s.at(s.day(1, 10))
        new = {"plan": "FIXED", "price": "1100.00", "from": s.day(2, 15).isoformat(), **WHO}
        applied = await s.update("plain", ContractWorkflow.plan_price, PlanPrice(**new))
        assert applied.effect == (
            f"Contract plain is invoiced at 1,100.00 EUR (plan FIXED's new price) from its invoice "
            f"date {s.day(3, 1)} on, instead of 1,000.00 EUR; nothing is prorated."
        )
        kept = await s.update(
            "kept", ContractWorkflow.plan_price, PlanPrice(**new, grandfather=True)
        )
        assert "keeps its price of 1,000.00 EUR, now a custom price" in kept.effect
        refusal = await s.refuse("custom", ContractWorkflow.plan_price, PlanPrice(**new))
        assert refusal.type == "unaffected"
        other = await s.refuse(
            "plain", ContractWorkflow.plan_price, PlanPrice(**{**new, "plan": "HOT"})
        )
        assert other.type == "not_on_plan"

        await s.at(s.day(4, 2))
        amounts = {
            cid: [line[4] for line in s.plan_lines(cid, since=s.day(2, 1))]
            for cid in ("plain", "kept", "custom")
        }
        assert amounts == {
            "plain": [D("1000.00"), D("1100.00"), D("1100.00")],
            "kept": [D("1000.00")] * 3,
            "custom": [D("900.00")] * 3,
        }
        plain = (await s.state("plain")).contract
        assert (plain.price, plain.plan.price, plain.custom_price) == (
            D("1100.00"),
            D("1100.00"),
            False,
        )
        kept_now = (await s.state("kept")).contract
        assert (kept_now.price, kept_now.plan.price, kept_now.custom_price) == (
            D("1000.00"), D("1100.00"), True,
        )  # fmt: skip


async def test_a_contract_takes_a_jobs_command_once(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        await s.create("c1", "FIXED", s.day(1, 1))
        await s.at(s.day(1, 10))
        freeze = Freeze(cycles=1, job="job-7", **WHO)
        await s.update("c1", ContractWorkflow.freeze, freeze)
        again = await s.refuse("c1", ContractWorkflow.freeze, freeze)
        assert again.type == "already_applied"
        assert (
            again.message
            == "Contract c1 has taken bulk job job-7's command already; nothing changed."
        )
        [entry] = [e for e in s.audit("c1") if e.command == "freeze"]
        assert (entry.job_id, entry.actor, entry.reason) == ("job-7", WHO["actor"], WHO["reason"])


async def test_a_job_continues_as_new_and_every_contract_answers_once(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        ids = [f"c{index}" for index in range(7)]
        for cid in ids:
            await s.create(cid, "FIXED", s.day(3, 1))
        command = bulk.build_command("set_price", {"price": "1200.00", "actor": "ops"})
        job = bulk.create_job(
            database, "j1", "set_price", command, bulk.Selection(plan="FIXED"), ids
        )
        queue = f"{s.task_queue}-bulk"
        async with build_bulk_worker(
            s.client, database, settings=Settings(bulk_task_queue=queue), strict_sandbox=True
        ):
            handle = await s.client.start_workflow(
                BulkJobWorkflow.run,
                BulkRun(job_id=job.id, total=len(ids), page_size=2, pages_per_run=2),
                id=workflow_id(job.id),
                task_queue=queue,
            )
            report = await handle.result()
        assert report.status == "done"
        assert (report.tally.applied, report.tally.refused, report.tally.skipped) == (7, 0, 0)
        first = s.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
        events = (await first.fetch_history()).events
        # 7 contracts, 2 a page, 2 pages a run: the first run continued as new after 4 contracts.
        assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        with database.session() as session:
            assert store.get_job(session, "j1").status == "done"
            answers = store.items(session, "j1")
        assert [item.outcome for item in answers] == ["applied"] * 7
        for cid in ids:
            assert [e.job_id for e in s.audit(cid) if e.command == "set_price"] == ["j1"]
            assert s.contract(cid).scheduled_price is not None
        assert {e.actor for cid in ids for e in s.audit(cid) if e.job_id == "j1"} == {"ops"}
