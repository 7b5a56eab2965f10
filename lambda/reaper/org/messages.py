"""Pure parsing of what organization mode receives: the org kill switch command (an
EventBridge event delivered by SNS) and a member's event as the central bus forwards it.

A message that breaks a rule raises ``BadMessage`` naming the field and the rule: the caller
logs that one line and drops the message (a retry could not make it valid).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reaper import contracts

COMMAND_ID_RULE = "1 to 128 characters of [A-Za-z0-9._:-]"
_COMMAND_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
REASON_MAX = 1024
SET_BY_MAX = 256


class BadMessage(ValueError):
    """The message breaks a rule of its format: never valid, so never retried."""

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")


@dataclass(frozen=True)
class OrgCommand:
    """The org kill switch as the operator set it (``cc-reaper kill-switch on|off --org``)."""

    command_id: str
    engaged: bool
    reason: str
    set_by: str
    set_at: datetime


@dataclass(frozen=True)
class MemberEvent:
    """One event a member put on its default bus, as it reaches the central bus: the
    EventBridge envelope keeps the member's account and Region."""

    event_id: str
    account: str
    region: str
    time: datetime
    detail_type: str
    source: str
    detail: dict[str, Any]


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadMessage(field, "must be a JSON object")
    return value


def _text(body: dict[str, Any], name: str, field: str, limit: int = REASON_MAX) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadMessage(f"{field}.{name}", "must be a non-empty string")
    if len(value) > limit:
        raise BadMessage(f"{field}.{name}", f"must be at most {limit} characters")
    return value


def parse_time(value: Any, field: str) -> datetime:
    """ISO-8601 with a zone (EventBridge's ``time`` is ``2025-01-31T12:00:00Z``)."""
    if not isinstance(value, str):
        raise BadMessage(field, "must be an ISO-8601 time string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadMessage(field, "must be an ISO-8601 time like 2025-01-31T12:00:00Z") from None
    if parsed.tzinfo is None:
        raise BadMessage(field, "must carry a time zone (Z or +00:00)")
    return parsed.astimezone(UTC)


def _json(text: Any, field: str) -> dict[str, Any]:
    if not isinstance(text, str):
        raise BadMessage(field, "must be a string of JSON")
    try:
        value = json.loads(text)
    except ValueError:
        raise BadMessage(field, "must be JSON") from None
    return _object(value, field)


@dataclass(frozen=True)
class SnsRecord:
    message_id: str
    topic_arn: str
    message: Any


def sns_records(event: dict[str, Any]) -> list[SnsRecord]:
    """Each record of an SNS->Lambda event (a record without ``Sns`` keeps its place)."""
    found: list[SnsRecord] = []
    for record in event.get("Records", []):
        sns = record.get("Sns") if isinstance(record, dict) else None
        if not isinstance(sns, dict):
            found.append(SnsRecord("-", "", None))
            continue
        found.append(
            SnsRecord(
                str(sns.get("MessageId") or "-"), str(sns.get("TopicArn") or ""), sns.get("Message")
            )
        )
    return found


def parse_command(record: SnsRecord) -> OrgCommand:
    """The SNS Message: the EventBridge event the CLI put on the central bus, as JSON text.

    Only the account that owns the control topic may set the switch: any member may put
    events on the central bus (its forwarding does), and the event's ``account`` (set by
    EventBridge, not by the sender) says who put it.
    """
    envelope = _json(record.message, "Sns.Message")
    central = _topic_account(record.topic_arn)
    if envelope.get("account") != central:
        raise BadMessage("account", f"must be the control topic's account ({central})")
    if envelope.get("source") != contracts.ORG_EVENT_SOURCE:
        raise BadMessage("source", f"must be {contracts.ORG_EVENT_SOURCE!r}")
    if envelope.get("detail-type") != contracts.DETAIL_TYPE_ORG_KILL_SWITCH:
        raise BadMessage("detail-type", f"must be {contracts.DETAIL_TYPE_ORG_KILL_SWITCH!r}")
    detail = _object(envelope.get("detail"), "detail")
    engaged = detail.get("engaged")
    if not isinstance(engaged, bool):
        raise BadMessage("detail.engaged", "must be true or false")
    command_id = detail.get("commandId")
    if not isinstance(command_id, str) or not _COMMAND_ID.match(command_id):
        raise BadMessage("detail.commandId", f"must be {COMMAND_ID_RULE}")
    return OrgCommand(
        command_id=command_id,
        engaged=engaged,
        reason=_text(detail, "reason", "detail"),
        set_by=_text(detail, "setBy", "detail", SET_BY_MAX),
        set_at=parse_time(detail.get("setAt"), "detail.setAt"),
    )


def _topic_account(topic_arn: str) -> str:
    parts = topic_arn.split(":")
    if len(parts) != 6 or parts[2] != "sns" or not _ACCOUNT.match(parts[4]):
        raise BadMessage("Sns.TopicArn", "must be an SNS topic ARN")
    return parts[4]


def parse_member_event(body: Any) -> MemberEvent:
    """An SQS body: the EventBridge event (account, region, time, id, detail-type, detail)."""
    event = _json(body, "body")
    account = event.get("account")
    if not isinstance(account, str) or not _ACCOUNT.match(account):
        raise BadMessage("account", "must be a 12-digit AWS account id")
    region = event.get("region")
    if not isinstance(region, str) or not _REGION.match(region):
        raise BadMessage("region", "must be an AWS Region name like eu-west-1")
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 256:
        raise BadMessage("id", "must be a non-empty string of at most 256 characters")
    detail_type = event.get("detail-type")
    if not isinstance(detail_type, str) or not detail_type:
        raise BadMessage("detail-type", "must be a non-empty string")
    source = event.get("source")
    if not isinstance(source, str) or not source:
        raise BadMessage("source", "must be a non-empty string")
    return MemberEvent(
        event_id=event_id,
        account=account,
        region=region,
        time=parse_time(event.get("time"), "time"),
        detail_type=detail_type,
        source=source,
        detail=_object(event.get("detail"), "detail"),
    )
