"""The CLI's own checks of what an admin types, without a server (the bad input that reaches
a server is in `test_bad_input.py`): dates, contract ids and amounts."""

import pytest

from termshift.cli._common import Refused, amount_text
from termshift.cli.contracts import existing_contract_id, required_date

LONG = "x" * 10_000


@pytest.mark.parametrize("text", ["20270115", "2027-W03-5", "2027-01-15T00:00", "２０２７-01-15"])
def test_dates_are_written_yyyy_mm_dd_only(text: str) -> None:
    with pytest.raises(Refused, match="write it as YYYY-MM-DD"):
        required_date(text, "Date")
    assert required_date("2027-01-15", "Date").isoformat() == "2027-01-15"


@pytest.mark.parametrize("text", [LONG, "vertrag-ü", "-leading-dash", ""])
def test_contract_ids_that_cannot_exist_are_refused_briefly(text: str) -> None:
    with pytest.raises(Refused, match="1 to 64") as refused:
        existing_contract_id(text)
    assert len(str(refused.value)) < 300
    assert existing_contract_id("c-1.t2_x") == "c-1.t2_x"


def test_amounts_are_ascii() -> None:
    with pytest.raises(Refused, match="not an amount"):
        amount_text("١٥٠٠")
    assert amount_text("1500.00") == "1500.00"
