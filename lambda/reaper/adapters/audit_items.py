"""How the audit table's items look (docs/DESIGN.md): keys, and each item mapped to and from the
domain's values. DynamoDB's shapes stop here; ``audit_table`` makes the calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from reaper import contracts
from reaper.models import (
    CANCEL_MAY_HAVE_LANDED,
    LEFT_UNFOLLOWED,
    Decision,
    OpenRun,
    Outcome,
    Plan,
    Sighting,
    Source,
    Status,
)

Item = dict[str, Any]

PK, SK, TTL = contracts.TABLE_PARTITION_KEY, contracts.TABLE_SORT_KEY, contracts.TABLE_TTL_ATTRIBUTE
SEEN_SK = "SEEN"
PLAN_SK = "PLAN"
CLAIM_SK = "CLAIM"
CONTROL_PK = "CONTROL"
KILL_SWITCH_SK = "KILL_SWITCH"
# Sweeps that claimed requests and have not recorded every outcome yet (``run_item``).
RUNS_PK = "RUNS"
# Cloud Control forgets a request after 7 days: a sighting or claim is useless after that.
REQUEST_LIFETIME = timedelta(days=8)
CLAIM_TTL = timedelta(minutes=16)


def decision_key(token: str, source: Source | str, delivery_id: str) -> Item:
    return {
        PK: {"S": f"TOKEN#{token}"},
        SK: {"S": f"DECISION#{Source(source).value}#{delivery_id}"},
    }


def decision_item(decision: Decision, retention: timedelta) -> Item:
    """The stored form. Never the ResourceModel: the Decision does not carry one."""
    at = decision.decided_at.astimezone(UTC)
    # A decision whose cancel may have landed unrecorded sits in its own partition of the
    # index until its outcome replaces it; a cancel whose follow-up message could not be
    # sent, in another (the next sweep follows it); the rest by day.
    day = f"DAY#{at.date().isoformat()}"
    waiting = decision.outcome is Outcome.FAILED and decision.error_code in CANCEL_MAY_HAVE_LANDED
    unfollowed = decision.outcome is Outcome.CANCELLED and decision.error_code in LEFT_UNFOLLOWED
    partition = (
        contracts.GSI_INTERRUPTED_PARTITION
        if waiting
        else contracts.GSI_UNFOLLOWED_PARTITION
        if unfollowed
        else day
    )
    item: Item = {
        **decision_key(decision.token, decision.source, decision.delivery_id),
        **decision_attributes(decision, int((at + retention).timestamp())),
    }
    if not awaits_follow_up(decision):
        item[contracts.TABLE_GSI_PARTITION_KEY] = {"S": partition}
        item[contracts.TABLE_GSI_SORT_KEY] = {"S": f"{iso(at)}#{decision.token}"}
    return item


def awaits_follow_up(decision: Decision) -> bool:
    """A cancel whose follow-up message was sent: found by its key until that message writes
    its final state (to the index): no index copy written twice (1 write unit, not 2)."""
    return (
        decision.follow_up_sent
        and decision.outcome is Outcome.CANCELLED
        and decision.error_code is None
    )


def claim_item(
    token: str, owner: str, now: datetime, until: datetime, ahead: Decision | None
) -> Item:
    """A claim: who may cancel the token, until when, and (when given) the decision written
    ahead of that cancel, in the same item: one conditional write claims and writes ahead.
    No index key: the claim is found by its key (a redelivery) or through its holder's open
    run (``run_item``), never by time."""
    expires = int((now + REQUEST_LIFETIME).timestamp())
    item: Item = {
        **key(f"TOKEN#{token}", CLAIM_SK),
        "owner": {"S": owner},
        "claimed_at": {"S": iso(now)},
        "held_until": {"S": iso(until)},
        TTL: {"N": str(expires)},
    }
    if ahead is not None:
        item.update(decision_attributes(ahead, expires))
        item["kind"] = {"S": "claim"}
    return item


def run_item(run: OpenRun) -> Item:
    """An open run (models.OpenRun): one small item, in the index's RUNS partition while
    open (sparse: closing removes its index key)."""
    return {
        **run_key(run),
        contracts.TABLE_GSI_PARTITION_KEY: {"S": contracts.GSI_RUNS_PARTITION},
        contracts.TABLE_GSI_SORT_KEY: {"S": f"{iso(run.opened_at)}#{run.owner}"},
        "owner": {"S": run.owner},
        "opened_at": {"S": iso(run.opened_at)},
        "held_until": {"S": iso(run.held_until)},
        "parts": {"N": str(run.parts)},
        TTL: {"N": str(int((run.opened_at + REQUEST_LIFETIME).timestamp()))},
    }


# The tokens a run chose are kept in items of at most this many characters (a write unit is
# 1 KB with the keys: about 23 tokens of 36 characters an item).
RUN_TOKENS_CHARS = 850


def run_token_parts(tokens: Sequence[str]) -> list[str]:
    """The tokens, newline-joined, in parts of at most RUN_TOKENS_CHARS (a token is at most
    128 characters, so each part holds at least one)."""
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for token in tokens:
        if current and size + len(token) + 1 > RUN_TOKENS_CHARS:
            parts.append("\n".join(current))
            current, size = [], 0
        current.append(token)
        size += len(token) + 1
    if current:
        parts.append("\n".join(current))
    return parts


def run_tokens_item(run: OpenRun, n: int, part: str) -> Item:
    return {
        **run_tokens_key(run, n),
        "tokens": {"S": part},
        TTL: {"N": str(int((run.opened_at + REQUEST_LIFETIME).timestamp()))},
    }


def run_tokens_key(run: OpenRun, n: int) -> Item:
    return key(f"RUN#{iso(run.opened_at)}#{run.owner}", f"TOKENS#{n}")


def run_key(run: OpenRun) -> Item:
    return key(RUNS_PK, f"{iso(run.opened_at)}#{run.owner}")


def run_from_item(item: Item) -> OpenRun:
    return OpenRun(
        owner=item["owner"]["S"],
        opened_at=parse_time(item["opened_at"]["S"]),
        held_until=parse_time(item["held_until"]["S"]),
        parts=int(item.get("parts", {}).get("N", "0")),
    )


def ahead_from_claim(item: Item) -> Decision | None:
    """The decision a claim holds written ahead of its cancel (None: an older claim, or no
    item)."""
    return decision_from_item(item) if item and "outcome" in item else None


def decision_attributes(decision: Decision, expires_at: int) -> Item:
    """A decision's attributes (its keys apart): None values are left out. Built directly,
    every type known from the field (a sweep builds two of these per cancelled request)."""
    item: Item = {
        "kind": {"S": "decision"},
        "token": {"S": decision.token},
        "source": {"S": decision.source.value},
        "delivery_id": {"S": decision.delivery_id},
        "outcome": {"S": decision.outcome.value},
        "decided_at": {"S": iso(decision.decided_at)},
        "request_id": {"S": decision.request_id},
        "dry_run": {"BOOL": decision.dry_run},
    }
    if decision.status_seen is not None:
        item["status_seen"] = {"S": decision.status_seen.value}
    if decision.status_after is not None:
        item["status_after"] = {"S": decision.status_after.value}
    for name, text in (
        ("type_name", decision.type_name),
        ("identifier", decision.identifier),
        ("operation", decision.operation),
    ):
        if text is not None:
            item[name] = {"S": text}
    if decision.event_time is not None:
        item["event_time"] = {"S": iso(decision.event_time)}
    if decision.first_seen is not None:
        item["first_seen"] = {"S": iso(decision.first_seen)}
    if decision.age_seconds is not None:
        item["age_seconds"] = {"N": str(decision.age_seconds)}
    if decision.threshold_minutes is not None:
        item["threshold_minutes"] = {"N": str(decision.threshold_minutes)}
    for name, text in (
        ("error_code", decision.error_code),
        ("error_message", decision.error_message),
        ("reason", decision.reason),
        ("why", decision.why),
        ("started_by", decision.started_by),
        ("user_agent", decision.user_agent),
        ("hooks_token", decision.hooks_token),
        ("hook_status", decision.hook_status),
        ("blocked_call", decision.blocked_call),
        ("leftover", decision.leftover),
    ):
        if text is not None:
            item[name] = {"S": text}
    item[TTL] = {"N": str(expires_at)}
    return item


def decision_from_item(item: Item) -> Decision:
    def opt_int(name: str) -> int | None:
        value = item.get(name, {}).get("N")
        return None if value is None else int(value)

    def opt_status(name: str) -> Status | None:
        value = opt(item, name)
        return None if value is None else Status(value)

    return Decision(
        token=item["token"]["S"],
        source=Source(item["source"]["S"]),
        delivery_id=item["delivery_id"]["S"],
        outcome=Outcome(item["outcome"]["S"]),
        decided_at=parse_time(item["decided_at"]["S"]),
        request_id=item["request_id"]["S"],
        dry_run=bool(item.get("dry_run", {}).get("BOOL", False)),
        status_seen=opt_status("status_seen"),
        status_after=opt_status("status_after"),
        type_name=opt(item, "type_name"),
        identifier=opt(item, "identifier"),
        operation=opt(item, "operation"),
        event_time=opt_time(item, "event_time"),
        first_seen=opt_time(item, "first_seen"),
        age_seconds=opt_int("age_seconds"),
        threshold_minutes=opt_int("threshold_minutes"),
        error_code=opt(item, "error_code"),
        error_message=opt(item, "error_message"),
        reason=opt(item, "reason"),
        why=opt(item, "why"),
        started_by=opt(item, "started_by"),
        user_agent=opt(item, "user_agent"),
        hooks_token=opt(item, "hooks_token"),
        hook_status=opt(item, "hook_status"),
        blocked_call=opt(item, "blocked_call"),
        leftover=opt(item, "leftover"),
    )


def sighting_item(row: tuple[str, Sighting]) -> Item:
    token, sighting = row
    item: Item = {
        **key(f"TOKEN#{token}", SEEN_SK),
        "first_seen": {"S": iso(sighting.at)},
        TTL: {"N": str(int((sighting.at + REQUEST_LIFETIME).timestamp()))},
    }
    if sighting.started_by:
        item["started_by"] = {"S": sighting.started_by[:1024]}
    if sighting.user_agent:
        item["user_agent"] = {"S": sighting.user_agent[:1024]}
    return item


def sighting_from_item(item: Item) -> Sighting:
    return Sighting(
        at=parse_time(item["first_seen"]["S"]),
        started_by=opt(item, "started_by"),
        user_agent=opt(item, "user_agent"),
    )


def key(pk: str, sk: str) -> Item:
    return {PK: {"S": pk}, SK: {"S": sk}}


def iso(at: datetime) -> str:
    """UTC, fixed width to the microsecond, so strings sort in time order:
    "2026-12-02T14:50:08.123456Z" (isoformat is C, a third cheaper than strftime's "%f")."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def opt(item: Item, name: str) -> str | None:
    value = item.get(name, {}).get("S")
    return None if value is None else str(value)


def opt_time(item: Item, name: str) -> datetime | None:
    value = opt(item, name)
    return None if value is None else parse_time(value)


def plan_item(plan: Plan) -> Item:
    """A plan awaiting approval (its tokens, at most a few thousand: well under 400 KB)."""
    return {
        **key(f"PLAN#{plan.plan_id}", PLAN_SK),
        "source": {"S": plan.source.value},
        "tokens": {"L": [{"S": t} for t in plan.tokens]},
        "created_at": {"S": iso(plan.created_at)},
        TTL: {"N": str(int((plan.created_at + REQUEST_LIFETIME).timestamp()))},
    }


def plan_from_item(item: Item) -> Plan:
    return Plan(
        plan_id=item[PK]["S"].removeprefix("PLAN#"),
        source=Source(item["source"]["S"]),
        tokens=tuple(t["S"] for t in item.get("tokens", {}).get("L", [])),
        created_at=parse_time(item["created_at"]["S"]),
    )
