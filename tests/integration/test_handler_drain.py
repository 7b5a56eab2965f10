"""Organization mode's ``workQueue: schedule``: a member has no event source mapping, and its
scheduled sweep drains the work queue through the same SQS batch path the mapping would have
invoked. What was handled is deleted; a record that fails stays for the queue's redrive."""

from __future__ import annotations

import json
from typing import Any

import pytest
from reaper import contracts
from reaper.adapters.audit_table import AuditTable
from reaper.drain import QueueDrain, queue_arn_of

from .conftest import custom_event, scheduled_event

HOURS = 3600


@pytest.fixture
def draining(stack: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv(contracts.ENV_WORK_QUEUE_DRAIN, contracts.WORK_QUEUE_DRAIN_SCHEDULE)
    return stack


def test_the_schedule_decides_what_waits_on_the_work_queue_and_deletes_it(
    draining, emulator, invoke
):
    # Given a young request (the sweep leaves it) named by a cancel event, which the cancel
    # rule put on the work queue while nothing polled it
    (token,) = emulator.seed(1, age_seconds=HOURS)
    draining.sqs.send_message(
        QueueUrl=draining.work_queue_url, MessageBody=json.dumps(custom_event(token))
    )

    # When the schedule invokes the function
    result = invoke(scheduled_event())

    # Then the sweep ran, and the queue was drained: the message decided, recorded, deleted
    assert result["drained"] == {"batches": 1, "received": 1, "deleted": 1, "failed": 0}
    assert draining.work_messages() == []
    audit = AuditTable(draining.dynamodb, draining.table_name)
    from_the_event = [d for d in audit.by_token(token) if d.source.value != "sweep"]
    assert [d.delivery_id for d in from_the_event] != [], audit.by_token(token)
    assert emulator.snapshot().cancelled == []  # young: its threshold holds on every path


def test_without_the_setting_the_schedule_leaves_the_queue_to_the_mapping(stack, emulator, invoke):
    stack.sqs.send_message(QueueUrl=stack.work_queue_url, MessageBody=json.dumps(custom_event()))

    result = invoke(scheduled_event())

    assert "drained" not in result
    assert len(stack.work_messages()) == 1


def test_a_failed_record_stays_on_the_queue_and_the_rest_is_deleted(stack):
    for n in range(3):
        stack.sqs.send_message(QueueUrl=stack.work_queue_url, MessageBody=f"body-{n}")
    region = "us-east-1"
    drain = QueueDrain(stack.sqs, stack.work_queue_url, queue_arn_of(stack.work_queue_url, region))
    seen: list[dict[str, Any]] = []

    def handle(event: dict[str, Any]) -> list[str]:
        seen.extend(event["Records"])
        return [r["messageId"] for r in event["Records"] if r["body"] == "body-1"]

    drained = drain.drain(handle, lambda: 300.0)

    assert drained.received == 3 and drained.deleted == 2 and drained.failed == 1
    record = seen[0]
    assert record["eventSource"] == "aws:sqs" and record["awsRegion"] == region
    assert record["eventSourceARN"].endswith(stack.work_queue_url.rsplit("/", 1)[1])
    assert int(record["attributes"]["ApproximateReceiveCount"]) == 1
    # The failed one comes back after its visibility timeout, not before
    stack.sqs.change_message_visibility(
        QueueUrl=stack.work_queue_url,
        ReceiptHandle=next(r["receiptHandle"] for r in seen if r["body"] == "body-1"),
        VisibilityTimeout=0,
    )
    assert stack.work_messages() == ["body-1"]


def test_the_drain_stops_when_the_invocation_runs_short(stack):
    stack.sqs.send_message(QueueUrl=stack.work_queue_url, MessageBody="waits")
    drain = QueueDrain(stack.sqs, stack.work_queue_url, "arn:aws:sqs:us-east-1:1:q")

    drained = drain.drain(lambda event: [], lambda: 10.0)

    assert drained.received == 0
    assert len(stack.work_messages()) == 1
