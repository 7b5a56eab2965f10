"""Given members' events arriving at the central collector in SQS batches, when some are
redelivered, malformed, or their write fails, then each valid event is one item with its
account and Region (a confirmation also its CONTROL item), only the failed writes come back
(batchItemFailures), and the metrics count what happened."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from reaper import contracts
from reaper.org import collector
from reaper.org.central_table import CentralTable
from reaper.org.settings import CollectorSettings
from reaper.settings import SettingsError
from reaper_local.org_shapes import FakeContext, sqs_event

MEMBER = "222222222222"


def member_event(event_id: str, kind: str = contracts.DETAIL_TYPE_CANCELLED, **detail: Any) -> str:
    return json.dumps(
        {
            "version": "0",
            "id": event_id,
            "source": contracts.REAPER_EVENT_SOURCE,
            "detail-type": kind,
            "account": MEMBER,
            "region": "eu-west-1",
            "time": "2026-01-05T12:00:00Z",
            "resources": [],
            "detail": {"requestToken": f"tok-{event_id}", "outcome": "cancelled", **detail},
        }
    )


class FakeDynamo:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.refuse_ids: set[str] = set()

    def put_item(self, TableName: str, Item: dict[str, Any]) -> dict[str, Any]:
        if Item["eventId"]["S"] in self.refuse_ids:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "PutItem")
        self.items[(Item["pk"]["S"], Item["sk"]["S"])] = Item
        return {}


def batch(*bodies: str) -> dict[str, Any]:
    messages = [
        {"MessageId": f"m{i}", "ReceiptHandle": f"r{i}", "Body": body}
        for i, body in enumerate(bodies)
    ]
    return sqs_event(messages, "arn:aws:sqs:eu-west-1:123456789012:collector")


@pytest.fixture
def metrics(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    added: dict[str, float] = {}

    def add_metric(name: str, unit: Any, value: float) -> None:
        added[name] = added.get(name, 0) + value

    monkeypatch.setattr(collector.metrics, "add_metric", add_metric)
    return added


def collect(dynamo: FakeDynamo, event: dict[str, Any]) -> dict[str, Any]:
    table = CentralTable(dynamo, "central", retention_days=30)  # type: ignore[arg-type]
    return collector.collect(event, FakeContext(), table)  # type: ignore[arg-type]


def test_each_event_is_one_item_with_account_region_token_and_outcome(metrics):
    dynamo = FakeDynamo()

    response = collect(dynamo, batch(member_event("e1")))

    assert response == {"batchItemFailures": []}
    ((pk, sk), item) = next(iter(dynamo.items.items()))
    assert pk == "DAY#2026-01-05"
    assert sk == f"2026-01-05T12:00:00.000000Z#{MEMBER}#eu-west-1#e1"
    assert item["account"] == {"S": MEMBER} and item["region"] == {"S": "eu-west-1"}
    assert item["token"] == {"S": "tok-e1"} and item["outcome"] == {"S": "cancelled"}
    assert item["detailType"] == {"S": contracts.DETAIL_TYPE_CANCELLED}
    assert json.loads(item["detail"]["S"])["requestToken"] == "tok-e1"
    expires = int(item[contracts.TABLE_TTL_ATTRIBUTE]["N"])
    days = (datetime.fromtimestamp(expires, UTC) - datetime.now(UTC)).days
    assert 29 <= days <= 30
    assert metrics == {contracts.ORG_METRIC_EVENTS_STORED: 1, contracts.ORG_METRIC_CANCELS: 1}


def test_a_redelivered_event_overwrites_its_own_item():
    dynamo = FakeDynamo()

    collect(dynamo, batch(member_event("e1")))
    collect(dynamo, batch(member_event("e1"), member_event("e1")))

    assert len(dynamo.items) == 1


def test_a_confirmation_also_lands_in_its_command_partition(metrics):
    dynamo = FakeDynamo()
    body = member_event(
        "c1", contracts.DETAIL_TYPE_KILL_SWITCH_CONFIRMED, commandId="cmd-9", engaged=True
    )

    collect(dynamo, batch(body))

    control = dynamo.items[(f"{contracts.ORG_CONTROL_PREFIX}cmd-9", f"{MEMBER}#eu-west-1")]
    assert control["engaged"] == {"BOOL": True} and control["account"] == {"S": MEMBER}
    assert metrics[contracts.ORG_METRIC_KILL_SWITCH_CONFIRMED] == 1


def test_only_the_records_whose_write_failed_come_back_and_bad_ones_are_dropped(metrics, caplog):
    dynamo = FakeDynamo()
    dynamo.refuse_ids = {"e2"}
    no_account = json.loads(member_event("e3"))
    del no_account["account"]

    response = collect(
        dynamo,
        batch(
            member_event("e1"),
            member_event("e2", contracts.DETAIL_TYPE_CANCEL_FAILED),
            json.dumps(no_account),
            "not json",
        ),
    )

    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert [k[1].split("#")[-1] for k in dynamo.items] == ["e1"]
    assert metrics == {
        contracts.ORG_METRIC_EVENTS_STORED: 1,
        contracts.ORG_METRIC_CANCELS: 1,
        contracts.ORG_METRIC_EVENTS_NOT_STORED: 1,
        contracts.ORG_METRIC_EVENTS_INVALID: 2,
    }
    dropped = [r for r in caplog.records if r.getMessage() == "org event dropped"]
    assert sorted(r.field for r in dropped) == ["account", "body"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "missing environment variables: ORG_AUDIT_TABLE_NAME"),
        (
            {contracts.ENV_ORG_AUDIT_TABLE_NAME: "t", contracts.ENV_ORG_RETENTION_DAYS: "0"},
            "ORG_RETENTION_DAYS must be a whole number of days from 1 to 3650 (got '0')",
        ),
    ],
)
def test_the_collector_refuses_to_start_on_a_bad_environment(env, message):
    with pytest.raises(SettingsError) as raised:
        CollectorSettings.from_env(env)

    assert str(raised.value) == message


def test_the_retention_defaults_to_ninety_days():
    settings = CollectorSettings.from_env({contracts.ENV_ORG_AUDIT_TABLE_NAME: "t"})

    assert settings == CollectorSettings("t", 90)
