"""The audit table: decisions, first sightings, cancel claims and the kill switch.

Key schema in docs/DESIGN.md. The low-level client is used on purpose (no resource layer on
the cold path); items are mapped here, so the domain never sees DynamoDB's shapes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from reaper import contracts
from reaper.adapters._errors import code_and_message
from reaper.adapters.audit_handoff import HandOffParts
from reaper.adapters.audit_io import BATCH_GET_MAX, store_error
from reaper.adapters.audit_items import (
    CLAIM_SK,
    CLAIM_TTL,
    CONTROL_PK,
    KILL_SWITCH_SK,
    PK,
    PLAN_SK,
    REQUEST_LIFETIME,
    SEEN_SK,
    SK,
    TTL,
    Item,
    ahead_from_claim,
    claim_item,
    decision_from_item,
    decision_item,
    decision_key,
    iso,
    key,
    opt,
    opt_time,
    plan_from_item,
    plan_item,
    sighting_from_item,
    sighting_item,
)
from reaper.adapters.audit_runs import RunMarks
from reaper.adapters.audit_sightings import SightingPacks
from reaper.models import (
    Decision,
    KillSwitch,
    Outcome,
    Plan,
    Sighting,
    Source,
    Taken,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class AuditTable(RunMarks, HandOffParts, SightingPacks):
    """Implements the AuditStore port, and the queries the CLI reads the audit with."""

    def __init__(self, client: DynamoDBClient, table_name: str, retention_days: int = 90) -> None:
        super().__init__(client, table_name)
        self._retention = timedelta(days=retention_days)

    # ------------------------------------------------------------------ first sightings
    def first_seen(self, tokens: Sequence[str]) -> dict[str, Sighting]:
        found: dict[str, Sighting] = {}
        unique = list(dict.fromkeys(tokens))
        for i in range(0, len(unique), BATCH_GET_MAX):
            keys = [key(f"TOKEN#{t}", SEEN_SK) for t in unique[i : i + BATCH_GET_MAX]]
            for item in self._batch_get(keys):
                found[item[PK]["S"].removeprefix("TOKEN#")] = sighting_from_item(item)
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
                ":t": {"S": iso(sighting.at)},
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
                Key=key(f"TOKEN#{token}", SEEN_SK),
                UpdateExpression="SET " + ", ".join(sets),
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
            return {token: sighting_from_item(response["Attributes"])}
        self._put_all(list(sightings.items()), sighting_item)
        return dict(sightings)

    # ------------------------------------------------------------------ claims, kill switch
    def claim(
        self, tokens: Sequence[str], owner: str, now: datetime, until: datetime
    ) -> dict[str, str | None]:
        """A claim with nothing written ahead (ports.AuditStore): ``claim_ahead``."""
        taken = self.claim_ahead(tokens, owner, now, until)
        return {token: t.before for token, t in taken.items()}

    def claim_ahead(
        self,
        tokens: Sequence[str],
        owner: str,
        now: datetime,
        until: datetime,
        ahead: Mapping[str, Decision] | None = None,
    ) -> dict[str, Taken]:
        """One conditional put per token, held until ``until`` (the holder's deadline): a
        claim never outlives the invocation that took it. ``ahead``: the decision written
        ahead of each token's cancel, in the claim item itself (one write claims and writes
        ahead). The put returns the claim it replaced, so taking over an ended holder's
        claim, and what it had written ahead, costs no extra call.
        (TransactWriteItems could claim 100 in a call on AWS, but moto deep-copies the whole
        table per transaction and races under concurrent writes, which the local stack and
        the benchmarks cannot afford.)"""
        ahead = ahead or {}
        claimed: dict[str, Taken] = {}
        for token in dict.fromkeys(tokens):
            try:
                response = self._client.put_item(
                    TableName=self._table,
                    Item=claim_item(token, owner, now, until, ahead.get(token)),
                    # A claim of an older version has no held_until: it ends after CLAIM_TTL.
                    ConditionExpression="attribute_not_exists(pk) OR #owner = :owner "
                    "OR held_until < :now "
                    "OR (attribute_not_exists(held_until) AND claimed_at < :stale)",
                    ExpressionAttributeNames={"#owner": "owner"},
                    ExpressionAttributeValues={
                        ":owner": {"S": owner},
                        ":now": {"S": iso(now)},
                        ":stale": {"S": iso(now - CLAIM_TTL)},
                    },
                    ReturnValues="ALL_OLD",
                )
            except ClientError as exc:
                if code_and_message(exc)[0] != "ConditionalCheckFailedException":
                    raise store_error(exc) from exc
                continue
            except BotoCoreError as exc:
                raise store_error(exc) from exc
            old = response.get("Attributes") or {}
            before = opt(old, "owner")
            if before is None or before == owner:
                claimed[token] = Taken()
            else:
                claimed[token] = Taken(before, ahead_from_claim(old))
        return claimed

    def claim_owner(self, token: str) -> str | None:
        response = self._call(
            self._client.get_item,
            TableName=self._table,
            Key=key(f"TOKEN#{token}", CLAIM_SK),
            ConsistentRead=True,
            ProjectionExpression="#owner",
            ExpressionAttributeNames={"#owner": "owner"},
        )
        return opt(response.get("Item") or {}, "owner")

    def interrupted(self, before: datetime, limit: int) -> list[Decision]:
        """Decisions recorded as failed whose cancel may have landed, never replaced by an
        outcome, oldest first: their own partition of the by-time index (``to_item``)."""
        return self._partition(contracts.GSI_INTERRUPTED_PARTITION, before, limit)

    def _partition(self, partition: str, before: datetime, limit: int) -> list[Decision]:
        items = self._query(
            IndexName=contracts.TABLE_GSI_NAME,
            KeyConditionExpression="gsi1pk = :p AND gsi1sk < :before",
            ExpressionAttributeValues={
                ":p": {"S": partition},
                ":before": {"S": iso(before)},
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
            Key=key(CONTROL_PK, KILL_SWITCH_SK),
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return KillSwitch(engaged=False)
        return KillSwitch(
            engaged=bool(item.get("engaged", {}).get("BOOL", False)),
            reason=opt(item, "reason"),
            set_by=opt(item, "set_by"),
            set_at=opt_time(item, "set_at"),
        )

    def save_plan(self, plan: Plan) -> None:
        self._call(self._client.put_item, TableName=self._table, Item=plan_item(plan))

    def load_plan(self, plan_id: str) -> Plan | None:
        response = self._call(
            self._client.get_item,
            TableName=self._table,
            Key=key(f"PLAN#{plan_id}", PLAN_SK),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return plan_from_item(item) if item else None

    def set_kill_switch(self, engaged: bool, reason: str, set_by: str, now: datetime) -> None:
        self._call(
            self._client.put_item,
            TableName=self._table,
            Item={
                **key(CONTROL_PK, KILL_SWITCH_SK),
                "engaged": {"BOOL": engaged},
                "reason": {"S": reason[:1024] or "-"},
                "set_by": {"S": set_by[:256] or "-"},
                "set_at": {"S": iso(now)},
            },
        )

    # ------------------------------------------------------------------ decisions
    def find_decision(self, token: str, source: Source, delivery_id: str) -> Decision | None:
        """The delivery's recorded decision, or the decision it wrote ahead in its claim and
        never replaced (one read of both keys): a recorded outcome stands; a recorded
        failure is superseded by a later attempt's write-ahead (another invocation)."""
        wanted = decision_key(token, source, delivery_id)
        items = self._batch_get([wanted, key(f"TOKEN#{token}", CLAIM_SK)], None, consistent=True)
        recorded = next((decision_from_item(i) for i in items if i[SK] == wanted[SK]), None)
        claim = next((i for i in items if i[SK]["S"] == CLAIM_SK), {})
        ahead = ahead_from_claim(claim)
        if ahead is None or (ahead.source, ahead.delivery_id) != (source, delivery_id):
            return recorded
        if recorded is None:
            return ahead
        if recorded.outcome is Outcome.FAILED and recorded.request_id != ahead.request_id:
            return ahead
        return recorded

    def recorded_decision(self, token: str, source: Source, delivery_id: str) -> Decision | None:
        response = self._call(
            self._client.get_item,
            TableName=self._table,
            Key=decision_key(token, source, delivery_id),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return decision_from_item(item) if item else None

    def unfollowed(self, before: datetime, limit: int) -> list[Decision]:
        """SQS-path cancels whose follow-up message could not be sent (``decision_item``)."""
        return self._partition(contracts.GSI_UNFOLLOWED_PARTITION, before, limit)

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
        return decision_item(decision, self._retention)

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
                        ":a": {"S": iso(start)},
                        ":b": {"S": iso(end)},
                    },
                )
            )
            day += timedelta(days=1)
