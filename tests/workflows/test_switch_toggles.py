"""The manual change in one step (`switch`) with the seed's two toggles, each on its own: the old
plan's last invoice (R7) and the new term's first invoice (R8), through the real workflow."""

from decimal import Decimal

from temporalio.testing import WorkflowEnvironment

from store.db import Database
from tests.support.contracts import WHO, scenario
from workflows import ContractWorkflow
from workflows.messages import Switch


async def test_each_toggle_of_a_switch_on_its_own(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        mar_1, mar_10, mar_21, apr_1 = s.day(3, 1), s.day(3, 10), s.day(3, 21), s.day(4, 1)
        for contract_id in ("last", "first", "default"):
            await s.create(contract_id, "HOT", mar_1)
        await s.at(mar_10)

        # Only the last invoice: HOT's unserved days are credited, OFFICE's stub is charged in full.
        last = await s.update(
            "last",
            ContractWorkflow.switch,
            Switch(to_plan="OFFICE", on=mar_21, prorate=True, prorate_first_invoice=False, **WHO),
        )
        # Only the first invoice: nothing credited, OFFICE's stub prorated.
        first = await s.update(
            "first",
            ContractWorkflow.switch,
            Switch(to_plan="OFFICE", on=mar_21, prorate=False, prorate_first_invoice=True, **WHO),
        )
        # Left out, the first invoice follows `prorate` where the plan allows it (as before).
        default = await s.update(
            "default",
            ContractWorkflow.switch,
            Switch(to_plan="OFFICE", on=mar_21, prorate=True, **WHO),
        )
        assert last.successor is not None
        assert first.successor is not None
        assert default.successor is not None
        assert (last.successor.prorate_first_invoice, first.successor.prorate_first_invoice) == (
            False,
            True,
        )
        assert default.successor.prorate_first_invoice is True

        await s.at(s.day(3, 22))
        # By hand: 300.00 × 11/31 = 106.451… → 106.45; 1,500.00 × 11/31 = 532.258… → 532.26.
        credit = (mar_21, "proration_credit", mar_21, apr_1, Decimal("-106.45"))
        assert s.lines("last")[-1] == credit
        assert s.lines("last-t2")[0] == (mar_21, "plan", mar_21, apr_1, Decimal("1500.00"))
        assert all(line[1] != "proration_credit" for line in s.lines("first"))
        assert s.lines("first-t2")[0] == (mar_21, "plan", mar_21, apr_1, Decimal("532.26"))
        assert s.lines("default")[-1] == credit
        assert s.lines("default-t2")[0] == (mar_21, "plan", mar_21, apr_1, Decimal("532.26"))


async def test_a_first_invoice_toggle_the_plan_does_not_allow_is_refused(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    async with scenario(time_env, database) as s:
        await s.create("strict", "HOT", s.day(3, 1))
        await s.at(s.day(3, 10))
        refusal = await s.refuse(
            "strict",
            ContractWorkflow.switch,
            Switch(to_plan="STUDIO", on=s.day(3, 21), prorate_first_invoice=True, **WHO),
        )
        assert refusal.type == "prorate_not_allowed"
        assert "plan STUDIO does not allow it" in refusal.message
