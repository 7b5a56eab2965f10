"""Given the org kill switch delivered by SNS to a member's function, when it arrives once,
twice, out of order, malformed, or while DynamoDB or EventBridge fail, then the member's
switch ends in the operator's latest state and a confirmation is put, or the invocation
raises so that Lambda and SNS deliver it again."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from reaper import contracts, handler
from reaper.errors import StoreError
from reaper.org.control import CONFIRM_ATTEMPTS, ConfirmationNotSent, MemberControl
from reaper_local.org_shapes import MANAGEMENT_ACCOUNT as CENTRAL
from reaper_local.org_shapes import sns_event

TABLE = contracts.ORG_MEMBER_AUDIT_TABLE
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def command(engaged: bool = True, at: datetime = T0, **detail: Any) -> str:
    body = {
        "engaged": engaged,
        "reason": "incident 7",
        "setBy": "ops@laptop",
        "setAt": at.isoformat(),
        "commandId": "cmd-1",
        **detail,
    }
    return json.dumps(
        {
            "version": "0",
            "id": "e-1",
            "source": contracts.ORG_EVENT_SOURCE,
            "detail-type": contracts.DETAIL_TYPE_ORG_KILL_SWITCH,
            "account": CENTRAL,
            "region": "eu-west-1",
            "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "resources": [],
            "detail": body,
        }
    )


class FakeTable:
    """put_item with the one condition the control uses; get_item; failures on demand."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.fail: Exception | None = None

    def put_item(self, **params: Any) -> dict[str, Any]:
        if self.fail:
            raise self.fail
        item = params["Item"]
        key = (item["pk"]["S"], item["sk"]["S"])
        old = self.items.get(key)
        at = params["ExpressionAttributeValues"][":at"]["S"]
        if old is not None and "set_at" in old and not old["set_at"]["S"] <= at:
            raise ClientError(
                {"Error": {"Code": "ConditionalCheckFailedException", "Message": "no"}}, "PutItem"
            )
        self.items[key] = item
        return {}

    def get_item(self, **params: Any) -> dict[str, Any]:
        key = (params["Key"]["pk"]["S"], params["Key"]["sk"]["S"])
        return {"Item": self.items[key]} if key in self.items else {}

    def switch(self) -> dict[str, Any]:
        return self.items[("CONTROL", "KILL_SWITCH")]


class FakeBus:
    def __init__(self, failures: int = 0, refused: bool = False) -> None:
        self.failures = failures
        self.refused = refused
        self.calls = 0
        self.put: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise EndpointConnectionError(endpoint_url="https://events.example")
        if self.refused:
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]}
        self.put.extend(Entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "x"}]}


def control(table: FakeTable, bus: FakeBus) -> tuple[MemberControl, list[float]]:
    pauses: list[float] = []
    return MemberControl(table, TABLE, bus, sleep=pauses.append), pauses  # type: ignore[arg-type]


def test_the_switch_is_set_then_confirmed_on_the_default_bus():
    table, bus = FakeTable(), FakeBus()
    member, _ = control(table, bus)

    result = member.handle(sns_event(command(), "eu-west-1"))

    assert result == {"applied": 1, "dropped": 0}
    switch = table.switch()
    assert switch["engaged"] == {"BOOL": True}
    assert switch["reason"] == {"S": "incident 7"} and switch["set_by"] == {"S": "ops@laptop"}
    (entry,) = bus.put
    assert entry["Source"] == contracts.REAPER_EVENT_SOURCE
    assert entry["DetailType"] == contracts.DETAIL_TYPE_KILL_SWITCH_CONFIRMED
    assert "EventBusName" not in entry  # the default bus; the forwarding rule takes it on
    assert json.loads(entry["Detail"]) == {
        "schemaVersion": contracts.ORG_CONFIRMATION_SCHEMA_VERSION,
        "commandId": "cmd-1",
        "engaged": True,
        "reason": "incident 7",
        "setBy": "ops@laptop",
    }


def test_a_redelivery_sets_the_same_state_and_confirms_again():
    table, bus = FakeTable(), FakeBus()
    member, _ = control(table, bus)

    member.handle(sns_event(command(), "eu-west-1"))
    first = dict(table.switch())
    member.handle(sns_event(command(), "eu-west-1"))

    assert table.switch() == first
    assert [json.loads(e["Detail"])["engaged"] for e in bus.put] == [True, True]


def test_an_older_command_delivered_late_does_not_undo_a_newer_one():
    table, bus = FakeTable(), FakeBus()
    member, _ = control(table, bus)

    member.handle(sns_event(command(False, T0 + timedelta(minutes=5)), "eu-west-1"))
    member.handle(sns_event(command(True, T0), "eu-west-1"))

    assert table.switch()["engaged"] == {"BOOL": False}
    # The late command is confirmed with the state in force, not the one it asked for.
    assert [json.loads(e["Detail"])["engaged"] for e in bus.put] == [False, False]


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ("not json", "Sns.Message"),
        (json.dumps(["a list"]), "Sns.Message"),
        (command().replace(contracts.ORG_EVENT_SOURCE, "someone.else"), "source"),
        (command(engaged="yes"), "detail.engaged"),  # type: ignore[arg-type]
        (command(commandId="bad id with spaces"), "detail.commandId"),
        (command(reason=""), "detail.reason"),
        (command(setAt="2026-01-05T12:00:00"), "detail.setAt"),
        (command(setAt="yesterday"), "detail.setAt"),
        # Put on the central bus by a member (its forwarding may put events there).
        (command().replace(CENTRAL, "999999999999"), "account"),
    ],
)
def test_a_bad_message_is_one_log_line_naming_the_field_and_never_retried(message, field, caplog):
    table, bus = FakeTable(), FakeBus()
    member, _ = control(table, bus)

    with caplog.at_level(logging.ERROR):
        result = member.handle(sns_event(message, "eu-west-1"))

    assert result == {"applied": 0, "dropped": 1}
    assert table.items == {} and bus.put == []
    (line,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert line.getMessage() == "org kill switch message dropped"
    assert line.field == field and line.rule  # type: ignore[attr-defined]
    assert line.exc_info is None


def test_a_record_without_a_topic_arn_is_dropped(caplog):
    table, bus = FakeTable(), FakeBus()
    member, _ = control(table, bus)
    event = sns_event(command(), "eu-west-1")
    event["Records"][0]["Sns"]["TopicArn"] = "not-an-arn"

    result = member.handle(event)

    assert result == {"applied": 0, "dropped": 1}
    assert [r.field for r in caplog.records if r.levelno >= logging.ERROR] == ["Sns.TopicArn"]  # type: ignore[attr-defined]


def test_a_switch_that_cannot_be_set_raises_and_confirms_nothing():
    table, bus = FakeTable(), FakeBus()
    table.fail = ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
        "PutItem",
    )
    member, _ = control(table, bus)

    with pytest.raises(StoreError) as raised:
        member.handle(sns_event(command(), "eu-west-1"))

    assert raised.value.code == "ProvisionedThroughputExceededException"
    assert bus.calls == 0


def test_a_confirmation_is_retried_with_backoff_until_it_is_put():
    table, bus = FakeTable(), FakeBus(failures=2)
    member, pauses = control(table, bus)

    member.handle(sns_event(command(), "eu-west-1"))

    assert bus.calls == 3 and len(bus.put) == 1
    assert pauses == [0.25, 0.5]


@pytest.mark.parametrize("bus", [FakeBus(failures=99), FakeBus(refused=True)])
def test_a_confirmation_never_put_raises_after_the_switch_is_set(bus):
    table = FakeTable()
    member, _ = control(table, bus)

    with pytest.raises(ConfirmationNotSent):
        member.handle(sns_event(command(), "eu-west-1"))

    assert bus.calls == CONFIRM_ATTEMPTS
    assert table.switch()["engaged"] == {"BOOL": True}  # a redelivery sets it again


def test_the_handler_sends_sns_deliveries_to_the_org_control_only(monkeypatch, lambda_context):
    table, bus = FakeTable(), FakeBus()
    member, _ = control(table, bus)
    monkeypatch.setattr(handler, "member_control", lambda: member)

    def no_sweep() -> None:
        raise AssertionError("an SNS delivery must not build the sweep's container")

    monkeypatch.setattr(handler, "container", no_sweep)

    result = handler.lambda_handler(sns_event(command(), "eu-west-1"), lambda_context)

    assert result == {"applied": 1, "dropped": 0}
    assert table.switch()["engaged"] == {"BOOL": True}
