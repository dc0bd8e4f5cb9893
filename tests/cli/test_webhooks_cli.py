"""`webhooks` as a user types it, against the dev server: a secret file is made once and never
overwritten, bad input is refused with exit code 2 and nothing stored, an endpoint is listed
without its secret (and its URL without credentials), tested, and removed.
"""

import uuid
from pathlib import Path

import pytest

from tests.support.cli import Cli
from tests.webhooks.receiver import receiving

pytestmark = pytest.mark.devserver


async def test_bad_input_is_refused_and_nothing_is_stored(cli: Cli, tmp_path: Path) -> None:
    secret = tmp_path / "hook.secret"
    made = await cli("webhooks", "new-secret", str(secret))
    assert made.code == 0, made.err
    assert secret.stat().st_mode & 0o777 == 0o600
    again = await cli("webhooks", "new-secret", str(secret))
    assert again.code == 2
    assert "exists already" in again.err
    not_a_secret = tmp_path / "plain.txt"
    not_a_secret.write_text("hunter2\n")
    cases = [
        (("ftp://example.com/", "--secret-file", str(secret)), "is not an http:// or https://"),
        (("http://127.0.0.1:9/", "--secret-file", str(tmp_path / "none")), "Cannot read the"),
        (("http://127.0.0.1:9/", "--secret-file", str(not_a_secret)), "does not hold a webhook"),
        (
            ("http://127.0.0.1:9/", "--secret-file", str(secret), "--events", "invoice.paid"),
            "Unknown event type 'invoice.paid'",
        ),
        (("http://127.0.0.1:9/", "--secret-file", str(secret), "--after", "-1"), "--after must"),
        (("http://127.0.0.1:9/", "--secret-file", str(secret), "--id", "no spaces"), "not an"),
    ]
    for arguments, said in cases:
        result = await cli("webhooks", "add", *arguments)
        assert result.code == 2, (arguments, result.out, result.err)
        assert said in result.err, (arguments, result.err)
        assert "hunter2" not in result.err
    listed = await cli("webhooks", "list", "--json")
    assert listed.code == 0, listed.err
    assert listed.json() == []


async def test_an_endpoint_is_added_tested_listed_and_removed(cli: Cli, tmp_path: Path) -> None:
    secret = tmp_path / "hook.secret"
    assert (await cli("webhooks", "new-secret", str(secret))).code == 0
    endpoint = f"crm-{uuid.uuid4().hex[:6]}"
    with receiving(secret.read_text().strip()) as receiver:
        url = receiver.url.replace("http://", "http://user:pw@") + "?token=abc"
        added = await cli(
            "webhooks", "add", url, "--id", endpoint, "--secret-file", str(secret),
            "--events", "invoice.issued,contract.ended",
        )  # fmt: skip
        assert added.code == 0, added.err
        taken = await cli("webhooks", "add", url, "--id", endpoint, "--secret-file", str(secret))
        assert taken.code == 2
        tested = await cli("webhooks", "test", endpoint)
        assert tested.code == 0, tested.err
        [message] = receiver.accepted
        assert message["type"] == "webhook.test"
    listed = await cli("webhooks", "list", "--json")
    [shown] = [item for item in listed.json() if item["id"] == endpoint]
    assert shown["event_types"] == ["invoice.issued", "contract.ended"]
    assert "pw" not in shown["url"]
    assert "token" not in shown["url"]
    assert secret.read_text().strip() not in listed.out
    down = await cli("webhooks", "test", endpoint)  # the receiver has stopped
    assert down.code == 1
    assert "could not be reached" in down.out
    removed = await cli("webhooks", "remove", endpoint)
    assert removed.code == 0, removed.err
    listed = await cli("webhooks", "list", "--json")
    assert endpoint not in [item["id"] for item in listed.json()]
    missing = await cli("webhooks", "test", "nope")
    assert missing.code == 2
    assert "There is no webhook endpoint nope" in missing.err
