"""The Temporal connection: environment configuration, pydantic converter, search attributes."""

import dataclasses
from datetime import datetime

from temporalio.client import Client
from temporalio.common import (
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
    "connect",
    "data_converter",
    "dev_server_search_attribute_args",
    "register_search_attributes",
]


def dev_server_search_attribute_args() -> list[str]:
    """`--search-attribute NAME=TYPE` arguments for `temporal server start-dev`."""
    args: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        kind = "Datetime" if key.value_type is datetime else "Keyword"
        args += ["--search-attribute", f"{key.name}={kind}"]
    return args


async def register_search_attributes(client: Client) -> None:
    """Register the search attributes on the client's namespace (the test servers need this)."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    kinds = {
        key.name: (
            IndexedValueType.INDEXED_VALUE_TYPE_DATETIME
            if key.value_type is datetime
            else IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        )
        for key in SEARCH_ATTRIBUTES
    }
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


__all__ = [
    "SEARCH_ATTRIBUTES",
    "SearchAttributePair",
    "SearchAttributeUpdate",
    "TypedSearchAttributes",
    "connect",
    "data_converter",
    "dev_server_search_attribute_args",
    "register_search_attributes",
]
