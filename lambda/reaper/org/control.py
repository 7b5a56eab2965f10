"""The org kill switch in a member: set the local switch, then confirm on the default bus.

SNS invokes the function asynchronously: an exception makes Lambda try the event again
(and SNS redelivers what Lambda refused), so a switch that could not be set raises. Setting
it is idempotent, and a command older than the switch's last change is not applied (SNS
does not keep order: an "on" redelivered after a later "off" must not win), so a redelivery
is harmless. The confirmation names the state actually in force.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from reaper import contracts
from reaper.adapters._errors import code_and_message
from reaper.adapters.audit_items import CONTROL_PK, KILL_SWITCH_SK, iso, key
from reaper.errors import ReaperError, StoreError
from reaper.observability import logger
from reaper.org.messages import BadMessage, OrgCommand, parse_command, sns_records

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient

CONFIRM_ATTEMPTS = 4
CONFIRM_PAUSE_SECONDS = 0.25  # doubled after each failed attempt


class ConfirmationNotSent(ReaperError):
    """The switch is set, but its confirmation could not be put on the default bus."""


class MemberControl:
    """The member's kill switch item (the audit table's CONTROL/KILL_SWITCH, the same item
    ``cc-reaper kill-switch`` and the gate read) and its default event bus."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table_name: str,
        events: EventBridgeClient,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table_name
        self._events = events
        self._sleep = sleep

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """Every record of an SNS event; bad ones are logged once and dropped."""
        applied, dropped = 0, 0
        for record in sns_records(event):
            try:
                command = parse_command(record)
            except BadMessage as exc:
                dropped += 1
                logger.error(
                    "org kill switch message dropped",
                    extra={"messageId": record.message_id, "field": exc.field, "rule": exc.rule},
                )
                continue
            self.apply(command)
            applied += 1
        return {"applied": applied, "dropped": dropped}

    def apply(self, command: OrgCommand) -> bool:
        """Set the switch (unless a newer change is in force), then confirm. Returns the
        state in force."""
        engaged = self._set(command)
        self._confirm(command, engaged)
        logger.info(
            "org kill switch applied",
            extra={"commandId": command.command_id, "engaged": engaged},
        )
        return engaged

    def _set(self, command: OrgCommand) -> bool:
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    **key(CONTROL_PK, KILL_SWITCH_SK),
                    "engaged": {"BOOL": command.engaged},
                    "reason": {"S": command.reason},
                    "set_by": {"S": command.set_by},
                    "set_at": {"S": iso(command.set_at)},
                    "command_id": {"S": command.command_id},
                },
                # iso() is fixed width: strings compare in time order.
                ConditionExpression="attribute_not_exists(set_at) OR set_at <= :at",
                ExpressionAttributeValues={":at": {"S": iso(command.set_at)}},
            )
            return command.engaged
        except ClientError as exc:
            code, message = code_and_message(exc)
            if code != "ConditionalCheckFailedException":
                raise StoreError(code, message) from exc
        except BotoCoreError as exc:
            raise StoreError(*code_and_message(exc)) from exc
        return self._engaged_now(command)

    def _engaged_now(self, command: OrgCommand) -> bool:
        try:
            item = self._dynamodb.get_item(
                TableName=self._table, Key=key(CONTROL_PK, KILL_SWITCH_SK), ConsistentRead=True
            ).get("Item", {})
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(*code_and_message(exc)) from exc
        engaged = bool(item.get("engaged", {}).get("BOOL", False))
        logger.warning(
            "org kill switch command superseded by a newer change",
            extra={"commandId": command.command_id, "engagedNow": engaged},
        )
        return engaged

    def _confirm(self, command: OrgCommand, engaged: bool) -> None:
        entry: Any = {
            "Source": contracts.REAPER_EVENT_SOURCE,
            "DetailType": contracts.DETAIL_TYPE_KILL_SWITCH_CONFIRMED,
            "Detail": json.dumps(
                {
                    "schemaVersion": contracts.ORG_CONFIRMATION_SCHEMA_VERSION,
                    "commandId": command.command_id,
                    "engaged": engaged,
                    "reason": command.reason,
                    "setBy": command.set_by,
                }
            ),
        }
        pause = CONFIRM_PAUSE_SECONDS
        error = "no attempt made"
        for attempt in range(CONFIRM_ATTEMPTS):
            if attempt:
                self._sleep(pause)
                pause *= 2
            try:
                response = self._events.put_events(Entries=[entry])
            except (ClientError, BotoCoreError) as exc:
                error = ": ".join(code_and_message(exc))
                continue
            if not response.get("FailedEntryCount"):
                return
            failed = (response.get("Entries") or [{}])[0]
            error = f"{failed.get('ErrorCode')}: {failed.get('ErrorMessage')}"
        raise ConfirmationNotSent(
            "ConfirmationNotSent", f"after {CONFIRM_ATTEMPTS} attempts: {error}"
        )
