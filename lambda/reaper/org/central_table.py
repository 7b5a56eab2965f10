"""The central audit table (ORG_AUDIT_TABLE_NAME): every member's events, account and Region
on every item. Written by the collector, read by ``cc-reaper audit --org`` and the org kill
switch's read-back. Key schema in reaper.contracts ("organization mode").

Idempotent by construction: an item's key is made of the event's own time, account, Region
and id, so a redelivered event overwrites the item it wrote the first time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from reaper import contracts
from reaper.adapters.audit_io import TableClient
from reaper.adapters.audit_items import PK, SK, TTL, iso, opt
from reaper.org.messages import MemberEvent

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Item = dict[str, Any]


@dataclass(frozen=True)
class StoredEvent:
    """One row of the central audit view."""

    account: str
    region: str
    time: datetime
    detail_type: str
    detail: dict[str, Any]
    token: str | None = None
    outcome: str | None = None


@dataclass(frozen=True)
class Confirmation:
    """A member's answer to one org kill switch command."""

    account: str
    region: str
    time: datetime
    engaged: bool


def day_key(at: datetime) -> str:
    return f"{contracts.ORG_DAY_PREFIX}{at.astimezone(UTC):%Y-%m-%d}"


def event_sort_key(event: MemberEvent) -> str:
    return f"{iso(event.time)}#{event.account}#{event.region}#{event.event_id}"


class CentralTable(TableClient):
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str = contracts.ORG_AUDIT_TABLE_NAME,
        retention_days: int = contracts.ORG_DEFAULT_RETENTION_DAYS,
    ) -> None:
        super().__init__(client, table_name)
        self._retention = timedelta(days=retention_days)

    # ------------------------------------------------------------------ the collector
    def store(self, event: MemberEvent, now: datetime) -> None:
        """The event's day item and, for a kill switch confirmation, its CONTROL item."""
        common: Item = {
            "account": {"S": event.account},
            "region": {"S": event.region},
            "time": {"S": iso(event.time)},
            "detailType": {"S": event.detail_type},
            "source": {"S": event.source},
            "eventId": {"S": event.event_id},
            "detail": {"S": json.dumps(event.detail, sort_keys=True)},
            TTL: {"N": str(int((now + self._retention).timestamp()))},
        }
        for name, field in (("token", "requestToken"), ("outcome", "outcome")):
            value = event.detail.get(field)
            if isinstance(value, str) and value:
                common[name] = {"S": value}
        day: Item = {PK: {"S": day_key(event.time)}, SK: {"S": event_sort_key(event)}}
        self._call(self._client.put_item, TableName=self._table, Item={**day, **common})
        command_id = confirmation_command(event)
        if command_id is not None:
            control: Item = {
                PK: {"S": f"{contracts.ORG_CONTROL_PREFIX}{command_id}"},
                SK: {"S": f"{event.account}#{event.region}"},
                "engaged": {"BOOL": bool(event.detail.get("engaged"))},
                "commandId": {"S": command_id},
            }
            self._call(self._client.put_item, TableName=self._table, Item={**common, **control})

    # ------------------------------------------------------------------ readers
    def events(self, since: datetime, until: datetime) -> Iterator[StoredEvent]:
        """Newest first: one Query per day partition, from ``until``'s day back."""
        day = until.astimezone(UTC).date()
        first = since.astimezone(UTC).date()
        while day >= first:
            items = self._query(
                KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
                ExpressionAttributeValues={
                    ":p": {"S": f"{contracts.ORG_DAY_PREFIX}{day:%Y-%m-%d}"},
                    ":a": {"S": iso(since)},
                    # "~" sorts after every character of the key's tail ("#<account>...").
                    ":b": {"S": iso(until) + "~"},
                },
                ScanIndexForward=False,
            )
            for item in items:
                yield stored_event(item)
            day -= timedelta(days=1)

    def confirmations(self, command_id: str) -> list[Confirmation]:
        items = self._query(
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": f"{contracts.ORG_CONTROL_PREFIX}{command_id}"}},
            ConsistentRead=True,
        )
        return [
            Confirmation(
                account=item["account"]["S"],
                region=item["region"]["S"],
                time=_time(item["time"]["S"]),
                engaged=bool(item.get("engaged", {}).get("BOOL", False)),
            )
            for item in items
        ]


def confirmation_command(event: MemberEvent) -> str | None:
    if event.detail_type != contracts.DETAIL_TYPE_KILL_SWITCH_CONFIRMED:
        return None
    command_id = event.detail.get("commandId")
    return command_id if isinstance(command_id, str) and command_id else None


def stored_event(item: Item) -> StoredEvent:
    try:
        detail = json.loads(item.get("detail", {}).get("S", "{}"))
    except ValueError:
        detail = {}
    return StoredEvent(
        account=item["account"]["S"],
        region=item["region"]["S"],
        time=_time(item["time"]["S"]),
        detail_type=item["detailType"]["S"],
        detail=detail if isinstance(detail, dict) else {},
        token=opt(item, "token"),
        outcome=opt(item, "outcome"),
    )


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
