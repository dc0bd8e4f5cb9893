import pytest
from temporalio.testing import WorkflowEnvironment
from store.db import Database
from tests.support.contracts import WHO, scenario
from workflows import ContractWorkflow
from workflows.messages import Cancel, ScheduleChange, Uncancel


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_probe(time_env: WorkflowEnvironment, database: Database) -> None:
    async with scenario(time_env, database) as s:
        await s.create("c1", "HOT", s.day(3, 1))
        await s.at(s.day(3, 10))
        r = await s.update(
            "c1", ContractWorkflow.schedule_change, ScheduleChange(next_plan="OFFICE", **WHO)
        )
        print(r.effect)
        await s.at(s.day(4, 2))
        print(s.lines("c1"), s.lines("c1-t2"))
        print(await s.state("c1-t2"))
        try:
            await s.update("c1", ContractWorkflow.uncancel, Uncancel(**WHO))
        except Exception as e:
            print("ERR", type(e), e, getattr(e, "cause", None), getattr(e, "status", None))
        try:
            await s.handle("c1").signal(ContractWorkflow.uncancel_signal, Uncancel(**WHO))
        except Exception as e:
            print("ERR", type(e), e, getattr(e, "status", None))
        print(await s.state("c1"))
