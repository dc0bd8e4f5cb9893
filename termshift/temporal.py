"""The Temporal connection: environment configuration, pydantic converter, search attributes."""

import dataclasses
from collections.abc import Sequence
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.client import Client
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from termshift.codec import EncryptionCodec, load_key
from termshift.settings import Settings
from workflows.search_attributes import (
    CANCELLATION_AT,
    CONTRACT_ID,
    CONTRACT_STATUS,
    CUSTOMER_ID,
    LOCATION_ID,
    NEXT_INVOICE_AT,
    NEXT_PLAN_CODE,
    PLAN_CODE,
    SEARCH_ATTRIBUTES,
)

__all__ = [
    "CANCELLATION_AT",
    "CONTRACT_ID",
    "CONTRACT_STATUS",
    "CUSTOMER_ID",
    "LOCATION_ID",
    "NEXT_INVOICE_AT",
    "NEXT_PLAN_CODE",
    "PLAN_CODE",
    "SEARCH_ATTRIBUTES",
    "SearchAttributePair",
    "SearchAttributeUpdate",
    "TypedSearchAttributes",
    "connect",
    "data_converter",
    "dev_server_search_attribute_args",
    "register_search_attributes",
    "search_attribute_type",
]


def _indexed_value_type(key: SearchAttributeKey[Any]) -> IndexedValueType.ValueType:
    return IndexedValueType.ValueType(key.indexed_value_type.value)


def search_attribute_type(key: SearchAttributeKey[Any]) -> str:
    """The type's name as the `temporal` CLI and the UI write it: Keyword, Datetime, Bool …"""
    words = IndexedValueType.Name(_indexed_value_type(key)).removeprefix("INDEXED_VALUE_TYPE_")
    return "".join(word.capitalize() for word in words.split("_"))


def dev_server_search_attribute_args() -> list[str]:
    """`--search-attribute NAME=TYPE` arguments for `temporal server start-dev`."""
    args: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}={search_attribute_type(key)}"]
    return args


async def register_search_attributes(
    client: Client, keys: Sequence[SearchAttributeKey[Any]] = SEARCH_ATTRIBUTES
) -> None:
    """Register search attributes (by default all of them) on the client's namespace: the test
    servers need this, and a dev server whose file predates some of them."""
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    kinds = {key.name: _indexed_value_type(key) for key in keys}
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(namespace=client.namespace, search_attributes=kinds)
    )


def data_converter(settings: Settings | None = None) -> DataConverter:
    """The converter every client, worker and replayer of Termshift uses: pydantic, and payloads
    encrypted with AES-256-GCM when TERMSHIFT_PAYLOAD_KEY (or _FILE) is set."""
    key = load_key(settings if settings is not None else Settings())
    if key is None:
        return pydantic_data_converter
    return dataclasses.replace(pydantic_data_converter, payload_codec=EncryptionCodec(key))


async def connect(
    *,
    address: str | None = None,
    namespace: str | None = None,
    profile: str | None = None,
    runtime: Runtime | None = None,
) -> Client:
    """Connect with Temporal's environment configuration (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
    TEMPORAL_API_KEY, TEMPORAL_TLS_*, a temporal.toml profile); explicit arguments win."""
    config = ClientConfig.load_client_connect_config(profile=profile)
    config.setdefault("target_host", "localhost:7233")
    if address is not None:
        config["target_host"] = address
    if namespace is not None:
        config["namespace"] = namespace
    return await Client.connect(**config, data_converter=data_converter(), runtime=runtime)
