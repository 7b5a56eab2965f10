"""The audit table's key schema (``reaper.contracts``, docs/DESIGN.md), for the tests and
benchmarks that create the table directly instead of deploying the CDK stack (which creates
the same from the same names)."""

from __future__ import annotations

from typing import Any

from reaper import contracts


def audit_table_definition() -> dict[str, Any]:
    """Keys, the by-time index and billing: the same properties in a CreateTable call and in
    an ``AWS::DynamoDB::Table`` of a hand-written template (TTL is a separate call in both)."""
    keys = (
        contracts.TABLE_PARTITION_KEY,
        contracts.TABLE_SORT_KEY,
        contracts.TABLE_GSI_PARTITION_KEY,
        contracts.TABLE_GSI_SORT_KEY,
    )
    return {
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in keys],
        "KeySchema": [
            {"AttributeName": contracts.TABLE_PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": contracts.TABLE_SORT_KEY, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": contracts.TABLE_GSI_NAME,
                "KeySchema": [
                    {"AttributeName": contracts.TABLE_GSI_PARTITION_KEY, "KeyType": "HASH"},
                    {"AttributeName": contracts.TABLE_GSI_SORT_KEY, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }


def create_audit_table(dynamodb: Any, name: str) -> None:
    """The table ``infra/audit_table.py`` creates: keys, the by-time index, TTL."""
    dynamodb.create_table(TableName=name, **audit_table_definition())
    dynamodb.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": contracts.TABLE_TTL_ATTRIBUTE},
    )
