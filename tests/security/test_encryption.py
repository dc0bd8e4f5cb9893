"""Payload encryption: the codec on its own, and a contract's history on the real dev server.

With TERMSHIFT_PAYLOAD_KEY set, the Temporal server stores only ciphertext: a client without the
key reads a history in which no customer data appears, while the workers and CLIs that share the
key query the workflow as before. Histories written before encryption still replay.
"""

import asyncio
import base64
import concurrent.futures
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from billing.contract import Command, Customer, Location, Plan, new_contract
from store.db import Database
from termshift.codec import EncryptionCodec, PayloadKeyError, key_id, load_key
from termshift.services import catalog
from termshift.services.contracts import create_contract
from termshift.settings import Settings
from termshift.temporal import data_converter
from termshift.worker import build_worker
from tests.support.clock import server_clock
from tests.support.databases import sqlite_url
from tests.support.temporal import new_task_queue, start_dev_server
from workflows import ContractWorkflow, workflow_id

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
NAME = "Zoë Secretname"
EMAIL = "zoe.secret@example.com"
SETUP = Command(actor="security-test", reason="encryption test")
HISTORIES = Path(__file__).resolve().parents[1] / "histories"


def encrypting_converter(key: bytes = KEY) -> DataConverter:
    settings = Settings(payload_key=base64.b64encode(key).decode())
    return data_converter(settings)


def payload(data: bytes, encoding: bytes = b"json/plain") -> Payload:
    return Payload(metadata={"encoding": encoding}, data=data)


# --- the codec ----------------------------------------------------------------------------------


async def test_codec_round_trip_with_a_fresh_nonce_each_time() -> None:
    codec = EncryptionCodec(KEY)
    original = [payload(f'"{NAME}"'.encode()), payload(b'{"email":"' + EMAIL.encode() + b'"}')]
    sealed = await codec.encode(original)
    again = await codec.encode(original)
    for item in sealed:
        assert item.metadata["encoding"] == b"binary/encrypted"
        assert item.metadata["encryption-key-id"] == key_id(KEY).encode()
        assert NAME.encode() not in item.SerializeToString()
        assert EMAIL.encode() not in item.SerializeToString()
    assert [a.data for a in sealed] != [b.data for b in again]  # random nonce per payload
    assert await codec.decode(sealed) == original
    assert await codec.decode(again) == original


async def test_codec_rejects_tampered_ciphertext() -> None:
    codec = EncryptionCodec(KEY)
    [sealed] = await codec.encode([payload(b'"hello"')])
    flipped = bytearray(sealed.data)
    flipped[-1] ^= 0x01
    tampered = Payload(metadata=dict(sealed.metadata), data=bytes(flipped))
    with pytest.raises(PayloadKeyError, match="altered"):
        await codec.decode([tampered])
    relabelled = Payload(
        metadata={**sealed.metadata, "encryption-key-id": key_id(OTHER_KEY).encode()},
        data=sealed.data,
    )
    with pytest.raises(PayloadKeyError):
        await EncryptionCodec(OTHER_KEY).decode([relabelled])


async def test_codec_with_the_wrong_key_names_both_key_ids() -> None:
    [sealed] = await EncryptionCodec(KEY).encode([payload(b'"hello"')])
    with pytest.raises(PayloadKeyError) as raised:
        await EncryptionCodec(OTHER_KEY).decode([sealed])
    assert str(raised.value) == (
        f"payload encrypted with key {key_id(KEY)}, this worker has key {key_id(OTHER_KEY)}"
    )
    assert KEY.hex() not in str(raised.value)


async def test_codec_passes_unencrypted_payloads_through() -> None:
    plain = [payload(b'"written before encryption"'), payload(b"", b"binary/null")]
    assert await EncryptionCodec(KEY).decode(plain) == plain


def test_codec_refuses_a_key_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        EncryptionCodec(b"short")


def test_load_key_from_the_variable_or_the_file(tmp_path: Path) -> None:
    encoded = base64.b64encode(KEY).decode()
    assert load_key(Settings(payload_key=encoded)) == KEY
    key_file = tmp_path / "payload.key"
    key_file.write_text(encoded + "\n")
    assert load_key(Settings(payload_key_file=key_file)) == KEY
    assert load_key(Settings()) is None
    assert data_converter(Settings()) is pydantic_data_converter


def test_load_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERMSHIFT_PAYLOAD_KEY", base64.b64encode(KEY).decode())
    converter = data_converter()
    assert isinstance(converter.payload_codec, EncryptionCodec)
    assert converter.payload_codec.key_id == key_id(KEY)
    assert converter.payload_converter_class is pydantic_data_converter.payload_converter_class


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not base64 at all: hunter2-secret", "not valid base64"),
        (base64.b64encode(b"sixteen-byte-key").decode(), "32 bytes"),
    ],
)
def test_a_malformed_key_names_the_variable_never_the_key(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        load_key(Settings(payload_key=value))
    assert "TERMSHIFT_PAYLOAD_KEY" in str(raised.value)
    assert value not in str(raised.value)


def test_a_malformed_key_file_names_the_file_variable(tmp_path: Path) -> None:
    key_file = tmp_path / "payload.key"
    key_file.write_text("c2VjcmV0")  # "secret": 6 bytes
    with pytest.raises(ValueError, match="TERMSHIFT_PAYLOAD_KEY_FILE") as raised:
        load_key(Settings(payload_key_file=key_file))
    assert "c2VjcmV0" not in str(raised.value)
    with pytest.raises(ValueError, match="cannot read"):
        load_key(Settings(payload_key_file=tmp_path / "missing.key"))
    with pytest.raises(ValueError, match="not both"):
        load_key(Settings(payload_key=base64.b64encode(KEY).decode(), payload_key_file=key_file))


def test_the_converter_repr_shows_the_key_id_not_the_key() -> None:
    text = repr(encrypting_converter())
    assert key_id(KEY) in text
    assert KEY.hex() not in text
    assert base64.b64encode(KEY).decode() not in text


async def test_histories_recorded_before_encryption_still_replay() -> None:
    """An encrypting worker reads the unencrypted payloads of older histories unchanged."""
    path = sorted((HISTORIES / "v1").glob("*.json"))[0]
    document = json.loads(path.read_text())
    history = WorkflowHistory.from_json(document["workflow_id"], document["history"])
    replayer = Replayer(workflows=[ContractWorkflow], data_converter=encrypting_converter())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


# --- a contract on the real dev server ---------------------------------------------------------


@pytest.fixture(scope="module")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_server()
    yield env
    await env.shutdown()


def _payloads(message: Any) -> list[Payload]:
    """Every Payload inside a protobuf message, however deep."""
    found: list[Payload] = []
    if isinstance(message, Payload):
        return [message]
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            values = list(value.values())
        elif field.is_repeated:
            values = list(value)
        else:
            values = [value]
        for item in values:
            if hasattr(item, "ListFields"):
                found += _payloads(item)
    return found


def _without_search_attributes(history: History) -> History:
    copy = History()
    copy.CopyFrom(history)
    for event in copy.events:
        for attributes in (
            event.workflow_execution_started_event_attributes,
            event.upsert_workflow_search_attributes_event_attributes,
            event.workflow_execution_continued_as_new_event_attributes,
        ):
            attributes.ClearField("search_attributes")
    return copy


async def test_a_contract_history_holds_no_customer_data_in_clear(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    customer_id = f"cust-zoe-{suffix}"
    contract_id = f"enc-{suffix}"
    database = Database(sqlite_url(tmp_path))
    database.migrate()
    location = Location(id="ber", name="Berlin Mitte", timezone="Europe/Berlin", currency="EUR")
    plan = Plan(code="HOT", name="Hot Desk", location_id="ber", price="300.00")
    catalog.add_location(database, location, SETUP)
    catalog.add_plan(database, plan, SETUP)
    catalog.add_customer(
        database,
        Customer(id=customer_id, name=NAME, email=EMAIL, location_id="ber"),
        SETUP,
    )

    target = dev_env.client.service_client.config.target_host
    sealed = await Client.connect(target, data_converter=encrypting_converter())
    plain = await Client.connect(target, data_converter=pydantic_data_converter)
    task_queue = new_task_queue()
    start = (await server_clock(dev_env, location.timezone)).today - timedelta(days=10)
    contract = new_contract(
        id=contract_id, customer_id=customer_id, location=location, plan=plan, start=start
    )
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
        async with build_worker(sealed, database, task_queue=task_queue, executor=executor):
            created = await create_contract(sealed, contract, SETUP, task_queue=task_queue)
            assert created.contract.customer_id == customer_id
            handle = sealed.get_workflow_handle(workflow_id(contract_id))
            for _ in range(200):  # the start is past: the first invoice is issued at once
                view = await handle.query(ContractWorkflow.state)
                if view.invoices_issued >= 1:
                    break
                await asyncio.sleep(0.1)
            assert view.invoices_issued >= 1
            assert view.contract.customer_id == customer_id
            assert view.contract.status.value == "active"

            # Without the key, the answer cannot be read.
            with pytest.raises(Exception, match=r"(?i)encoding|encrypted|decode"):
                await plain.get_workflow_handle(workflow_id(contract_id)).query(
                    ContractWorkflow.state
                )

    history = await plain.get_workflow_handle(workflow_id(contract_id)).fetch_history()
    raw = History(events=history.events)
    as_json = history.to_json()
    as_bytes = raw.SerializeToString()
    for secret in (NAME, EMAIL):
        assert secret not in as_json
        assert secret.encode() not in as_bytes

    # The customer id is readable only where the server must index it: the CustomerId search
    # attribute (search attributes are never payload-encoded). Everything else is ciphertext.
    stripped = _without_search_attributes(raw)
    payloads = _payloads(stripped)
    assert payloads
    assert {p.metadata["encoding"] for p in payloads} == {b"binary/encrypted"}
    assert customer_id.encode() not in stripped.SerializeToString()
    assert customer_id not in WorkflowHistory(history.workflow_id, list(stripped.events)).to_json()

    # ... and the ciphertext does hold it: decrypted, the workflow input names the customer.
    opened = await EncryptionCodec(KEY).decode(payloads)
    assert any(customer_id.encode() in p.data for p in opened)
    database.dispose()
