"""The audit table: decisions, first sightings, cancel claims and the kill switch.

Key schema in docs/DESIGN.md. The low-level client is used on purpose (no resource layer on
the cold path); items are mapped here, so the domain never sees DynamoDB's shapes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from reaper import contracts
from reaper.adapters._errors import code_and_message
from reaper.errors import StoreError
from reaper.models import (
    CANCEL_MAY_HAVE_LANDED,
    Decision,
    KillSwitch,
    Outcome,
    Sighting,
    Source,
    Status,
)
from reaper.sizing import AUDIT_WRITERS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Item = dict[str, Any]
Row = TypeVar("Row")

PK, SK, TTL = contracts.TABLE_PARTITION_KEY, contracts.TABLE_SORT_KEY, contracts.TABLE_TTL_ATTRIBUTE
SEEN_SK = "SEEN"
CLAIM_SK = "CLAIM"
CONTROL_PK = "CONTROL"
KILL_SWITCH_SK = "KILL_SWITCH"
# Cloud Control forgets a request after 7 days: a sighting or claim is useless after that.
REQUEST_LIFETIME = timedelta(days=8)
CLAIM_TTL = timedelta(minutes=16)
BATCH_GET_MAX = 100
BATCH_WRITE_MAX = 25
UNPROCESSED_ATTEMPTS = 8


def decision_key(token: str, source: Source | str, delivery_id: str) -> Item:
    return {
        PK: {"S": f"TOKEN#{token}"},
        SK: {"S": f"DECISION#{Source(source).value}#{delivery_id}"},
    }


class AuditTable:
    """Implements the AuditStore port, and the queries the CLI reads the audit with."""

    def __init__(self, client: DynamoDBClient, table_name: str, retention_days: int = 90) -> None:
        self._client = client
        self._table = table_name
        self._retention = timedelta(days=retention_days)

    # ------------------------------------------------------------------ first sightings
    def first_seen(self, tokens: Sequence[str]) -> dict[str, Sighting]:
        found: dict[str, Sighting] = {}
        unique = list(dict.fromkeys(tokens))
        for i in range(0, len(unique), BATCH_GET_MAX):
            keys = [_key(f"TOKEN#{t}", SEEN_SK) for t in unique[i : i + BATCH_GET_MAX]]
            for item in self._batch_get(keys):
                found[item[PK]["S"].removeprefix("TOKEN#")] = _sighting(item)
        return found

    def remember_first_seen(self, sightings: Mapping[str, Sighting]) -> dict[str, Sighting]:
        """One token: a conditional update that keeps an older sighting (and who started the
        request, once known) and returns it. Several (a sweep page, after ``first_seen``
        showed them new): one batch write; two sweeps racing on a new token both write
        "now", which differ by seconds at most."""
        if len(sightings) == 1:
            ((token, sighting),) = sightings.items()
            sets = [
                "first_seen = if_not_exists(first_seen, :t)",
                f"{TTL} = if_not_exists({TTL}, :e)",
            ]
            values: Item = {
                ":t": {"S": _iso(sighting.at)},
                ":e": {"N": str(int((sighting.at + REQUEST_LIFETIME).timestamp()))},
            }
            for name, value in (
                ("started_by", sighting.started_by),
                ("user_agent", sighting.user_agent),
            ):
                if value:
                    sets.append(f"{name} = if_not_exists({name}, :{name})")
                    values[f":{name}"] = {"S": value[:1024]}
            response = self._call(
                self._client.update_item,
                TableName=self._table,
                Key=_key(f"TOKEN#{token}", SEEN_SK),
                UpdateExpression="SET " + ", ".join(sets),
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
            return {token: _sighting(response["Attributes"])}
        self._put_all(list(sightings.items()), _sighting_item)
        return dict(sightings)

    # ------------------------------------------------------------------ claims, kill switch
    def claim(
        self, tokens: Sequence[str], owner: str, now: datetime, until: datetime
    ) -> dict[str, str | None]:
        """One conditional put per token, held until ``until`` (the holder's deadline): a
        claim never outlives the invocation that took it. The put returns the claim it
        replaced, so taking over an ended holder's claim costs no extra call.
        (TransactWriteItems could claim 100 in a call on AWS, but moto deep-copies the whole
        table per transaction and races under concurrent writes, which the local stack and
        the benchmarks cannot afford.)"""
        expires = {"N": str(int((now + REQUEST_LIFETIME).timestamp()))}
        claimed: dict[str, str | None] = {}
        for token in dict.fromkeys(tokens):
            try:
                response = self._client.put_item(
                    TableName=self._table,
                    Item={
                        **_key(f"TOKEN#{token}", CLAIM_SK),
                        "owner": {"S": owner},
                        "claimed_at": {"S": _iso(now)},
                        "held_until": {"S": _iso(until)},
                        TTL: expires,
                    },
                    # A claim of an older version has no held_until: it ends after CLAIM_TTL.
                    ConditionExpression="attribute_not_exists(pk) OR #owner = :owner "
                    "OR held_until < :now "
                    "OR (attribute_not_exists(held_until) AND claimed_at < :stale)",
                    ExpressionAttributeNames={"#owner": "owner"},
                    ExpressionAttributeValues={
                        ":owner": {"S": owner},
                        ":now": {"S": _iso(now)},
                        ":stale": {"S": _iso(now - CLAIM_TTL)},
                    },
                    ReturnValues="ALL_OLD",
                )
            except ClientError as exc:
                if code_and_message(exc)[0] != "ConditionalCheckFailedException":
                    raise _store_error(exc) from exc
                continue
            except BotoCoreError as exc:
                raise _store_error(exc) from exc
            before = _opt(response.get("Attributes") or {}, "owner")
            claimed[token] = before if before != owner else None
        return claimed

    def claim_owner(self, token: str) -> str | None:
        response = self._call(
            self._client.get_item,
            TableName=self._table,
            Key=_key(f"TOKEN#{token}", CLAIM_SK),
            ConsistentRead=True,
            ProjectionExpression="#owner",
            ExpressionAttributeNames={"#owner": "owner"},
        )
        return _opt(response.get("Item") or {}, "owner")

    def interrupted(self, before: datetime, limit: int) -> list[Decision]:
        """Write-aheads never replaced by an outcome, oldest first: their own partition of
        the by-time index (``to_item``), so this reads nothing else."""
        items = self._query(
            IndexName=contracts.TABLE_GSI_NAME,
            KeyConditionExpression="gsi1pk = :p AND gsi1sk < :before",
            ExpressionAttributeValues={
                ":p": {"S": contracts.GSI_INTERRUPTED_PARTITION},
                ":before": {"S": _iso(before)},
            },
            Limit=limit,
        )
        found: list[Decision] = []
        for item in items:
            found.append(decision_from_item(item))
            if len(found) >= limit:
                break
        return found

    def kill_switch(self) -> KillSwitch:
        response = self._call(
            self._client.get_item,
            TableName=self._table,
            Key=_key(CONTROL_PK, KILL_SWITCH_SK),
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return KillSwitch(engaged=False)
        return KillSwitch(
            engaged=bool(item.get("engaged", {}).get("BOOL", False)),
            reason=_opt(item, "reason"),
            set_by=_opt(item, "set_by"),
            set_at=_opt_time(item, "set_at"),
        )

    def set_kill_switch(self, engaged: bool, reason: str, set_by: str, now: datetime) -> None:
        self._call(
            self._client.put_item,
            TableName=self._table,
            Item={
                **_key(CONTROL_PK, KILL_SWITCH_SK),
                "engaged": {"BOOL": engaged},
                "reason": {"S": reason[:1024] or "-"},
                "set_by": {"S": set_by[:256] or "-"},
                "set_at": {"S": _iso(now)},
            },
        )

    # ------------------------------------------------------------------ decisions
    def find_decision(self, token: str, source: Source, delivery_id: str) -> Decision | None:
        response = self._call(
            self._client.get_item,
            TableName=self._table,
            Key=decision_key(token, source, delivery_id),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return None if not item else decision_from_item(item)

    def record(self, decisions: Sequence[Decision]) -> None:
        if len(decisions) == 1:
            self._call(
                self._client.put_item, TableName=self._table, Item=self.to_item(decisions[0])
            )
        elif decisions:
            # DynamoDB refuses a key twice in one call: the last decision for a key wins.
            last = {(d.token, d.source, d.delivery_id): d for d in decisions}
            self._put_all(list(last.values()), self.to_item)

    def to_item(self, decision: Decision) -> Item:
        """The stored form. Never the ResourceModel: the Decision does not carry one."""
        at = decision.decided_at.astimezone(UTC)
        values: dict[str, str | int | bool | None] = {
            "kind": "decision",
            "token": decision.token,
            "source": decision.source.value,
            "delivery_id": decision.delivery_id,
            "outcome": decision.outcome.value,
            "decided_at": _iso(at),
            "request_id": decision.request_id,
            "dry_run": decision.dry_run,
            "status_seen": decision.status_seen.value if decision.status_seen else None,
            "status_after": decision.status_after.value if decision.status_after else None,
            "type_name": decision.type_name,
            "identifier": decision.identifier,
            "operation": decision.operation,
            "event_time": _iso(decision.event_time) if decision.event_time else None,
            "first_seen": _iso(decision.first_seen) if decision.first_seen else None,
            "age_seconds": decision.age_seconds,
            "threshold_minutes": decision.threshold_minutes,
            "error_code": decision.error_code,
            "error_message": decision.error_message,
            "reason": decision.reason,
            "why": decision.why,
            "started_by": decision.started_by,
            "user_agent": decision.user_agent,
            "hooks_token": decision.hooks_token,
            "hook_status": decision.hook_status,
            "blocked_call": decision.blocked_call,
            "leftover": decision.leftover,
            TTL: int((at + self._retention).timestamp()),
        }
        # A write-ahead sits in its own partition of the index until its outcome replaces it.
        day = f"DAY#{at.date().isoformat()}"
        waiting = (
            decision.outcome is Outcome.FAILED and decision.error_code in CANCEL_MAY_HAVE_LANDED
        )
        item: Item = {
            **decision_key(decision.token, decision.source, decision.delivery_id),
            contracts.TABLE_GSI_PARTITION_KEY: {
                "S": contracts.GSI_INTERRUPTED_PARTITION if waiting else day
            },
            contracts.TABLE_GSI_SORT_KEY: {"S": f"{_iso(at)}#{decision.token}"},
        }
        for name, value in values.items():
            if isinstance(value, bool):
                item[name] = {"BOOL": value}
            elif isinstance(value, int):
                item[name] = {"N": str(value)}
            elif value is not None:
                item[name] = {"S": value}
        return item

    # ------------------------------------------------------------------ queries (the CLI)
    def by_token(self, token: str) -> list[Decision]:
        """Every decision about one token, oldest delivery key first."""
        return [
            decision_from_item(item)
            for item in self._query(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :d)",
                ExpressionAttributeValues={
                    ":pk": {"S": f"TOKEN#{token}"},
                    ":d": {"S": "DECISION#"},
                },
            )
        ]

    def by_time(self, start: datetime, end: datetime) -> Iterator[Decision]:
        """Decisions made in [start, end), in time order: one GSI query per UTC day."""
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        day: date = start.date()
        while day <= end.date():
            yield from (
                decision_from_item(item)
                for item in self._query(
                    IndexName=contracts.TABLE_GSI_NAME,
                    KeyConditionExpression="gsi1pk = :day AND gsi1sk BETWEEN :a AND :b",
                    ExpressionAttributeValues={
                        ":day": {"S": f"DAY#{day.isoformat()}"},
                        ":a": {"S": _iso(start)},
                        ":b": {"S": _iso(end)},
                    },
                )
            )
            day += timedelta(days=1)

    # ------------------------------------------------------------------ plumbing
    def _query(self, **params: Any) -> Iterator[Item]:
        params = {"TableName": self._table, **params}
        while True:
            response = self._call(self._client.query, **params)
            yield from response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            params["ExclusiveStartKey"] = last

    def _batch_get(self, keys: list[Item]) -> list[Item]:
        items: list[Item] = []
        request: dict[str, Any] = {
            self._table: {
                "Keys": keys,
                "ProjectionExpression": f"{PK}, first_seen, started_by, user_agent",
            }
        }
        for attempt in range(UNPROCESSED_ATTEMPTS):
            response = self._call(self._client.batch_get_item, RequestItems=request)
            items.extend(response.get("Responses", {}).get(self._table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return items
            time.sleep(min(1.0, 0.05 * 2**attempt))
        raise StoreError("UnprocessedKeys", "BatchGetItem left keys unprocessed after retries")

    def _put_all(self, rows: Sequence[Row], to_item: Callable[[Row], Item]) -> None:
        """Rows of distinct keys, 25 a BatchWriteItem, from up to ``WRITERS`` threads. Items
        are built only when their call goes out, so a 10,000-decision sweep never holds all
        of them at once. Raises the first StoreError (other calls may have been written)."""
        chunks = [rows[i : i + BATCH_WRITE_MAX] for i in range(0, len(rows), BATCH_WRITE_MAX)]

        def write(chunk: Sequence[Row]) -> None:
            self._batch_write([{"PutRequest": {"Item": to_item(row)}} for row in chunk])

        if len(chunks) == 1:
            write(chunks[0])
            return
        with ThreadPoolExecutor(
            min(AUDIT_WRITERS, len(chunks)), thread_name_prefix="audit"
        ) as pool:
            for done in pool.map(write, chunks):
                del done

    def _batch_write(self, puts: list[Item]) -> None:
        """One BatchWriteItem, its unprocessed items retried with backoff."""
        pending: dict[str, Any] = {self._table: puts}
        for attempt in range(UNPROCESSED_ATTEMPTS):
            response = self._call(self._client.batch_write_item, RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
            time.sleep(min(1.0, 0.05 * 2**attempt))
        raise StoreError("UnprocessedItems", "BatchWriteItem left items unprocessed after retries")

    @staticmethod
    def _call(method: Any, **params: Any) -> Any:
        try:
            return method(**params)
        except (ClientError, BotoCoreError) as exc:
            raise _store_error(exc) from exc


def decision_from_item(item: Item) -> Decision:
    def opt_int(name: str) -> int | None:
        value = item.get(name, {}).get("N")
        return None if value is None else int(value)

    def opt_status(name: str) -> Status | None:
        value = _opt(item, name)
        return None if value is None else Status(value)

    return Decision(
        token=item["token"]["S"],
        source=Source(item["source"]["S"]),
        delivery_id=item["delivery_id"]["S"],
        outcome=Outcome(item["outcome"]["S"]),
        decided_at=_time(item["decided_at"]["S"]),
        request_id=item["request_id"]["S"],
        dry_run=bool(item.get("dry_run", {}).get("BOOL", False)),
        status_seen=opt_status("status_seen"),
        status_after=opt_status("status_after"),
        type_name=_opt(item, "type_name"),
        identifier=_opt(item, "identifier"),
        operation=_opt(item, "operation"),
        event_time=_opt_time(item, "event_time"),
        first_seen=_opt_time(item, "first_seen"),
        age_seconds=opt_int("age_seconds"),
        threshold_minutes=opt_int("threshold_minutes"),
        error_code=_opt(item, "error_code"),
        error_message=_opt(item, "error_message"),
        reason=_opt(item, "reason"),
        why=_opt(item, "why"),
        started_by=_opt(item, "started_by"),
        user_agent=_opt(item, "user_agent"),
        hooks_token=_opt(item, "hooks_token"),
        hook_status=_opt(item, "hook_status"),
        blocked_call=_opt(item, "blocked_call"),
        leftover=_opt(item, "leftover"),
    )


def _sighting_item(row: tuple[str, Sighting]) -> Item:
    token, sighting = row
    item: Item = {
        **_key(f"TOKEN#{token}", SEEN_SK),
        "first_seen": {"S": _iso(sighting.at)},
        TTL: {"N": str(int((sighting.at + REQUEST_LIFETIME).timestamp()))},
    }
    if sighting.started_by:
        item["started_by"] = {"S": sighting.started_by[:1024]}
    if sighting.user_agent:
        item["user_agent"] = {"S": sighting.user_agent[:1024]}
    return item


def _sighting(item: Item) -> Sighting:
    return Sighting(
        at=_time(item["first_seen"]["S"]),
        started_by=_opt(item, "started_by"),
        user_agent=_opt(item, "user_agent"),
    )


def _key(pk: str, sk: str) -> Item:
    return {PK: {"S": pk}, SK: {"S": sk}}


def _iso(at: datetime) -> str:
    """UTC, fixed width to the microsecond, so strings sort in time order."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _opt(item: Item, name: str) -> str | None:
    value = item.get(name, {}).get("S")
    return None if value is None else str(value)


def _opt_time(item: Item, name: str) -> datetime | None:
    value = _opt(item, name)
    return None if value is None else _time(value)


def _store_error(error: ClientError | BotoCoreError) -> StoreError:
    return StoreError(*code_and_message(error))
