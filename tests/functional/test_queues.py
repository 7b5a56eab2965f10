"""Given moto's SQS, dead-letter records and work messages go out in the documented format
and come back in as input the handler accepts (a DLQ redrive replays them)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from reaper.adapters.queues import SqsDeadLetters, SqsWorkQueue
from reaper.errors import QueueError
from reaper.models import Mode, Source
from reaper.parsing import TokenRequest, parse_body
from reaper.ports import DeadLetter, WorkMessage
from reaper.wiring import build_clients

from ..conftest import drain


def test_a_dead_letter_record_has_the_documented_fields_and_replays(stack):
    letters = SqsDeadLetters(build_clients().sqs, stack.dead_letter_queue_url)
    letters.send(
        DeadLetter(
            ("tokA", "tokB"),
            Mode.WATCH,
            Source.CLOUDTRAIL,
            "ev-1",
            "ThrottlingException",
            "Rate exceeded",
            '{"orig": 1}',
            datetime(2025, 1, 1, tzinfo=UTC),
        )
    )
    (message,) = drain(stack.sqs, stack.dead_letter_queue_url)
    record = json.loads(message["Body"])
    assert record == {
        "kind": "reaper.dead-letter",
        "version": 1,
        "requestTokens": ["tokA", "tokB"],
        "mode": "watch",
        "source": "cloudtrail",
        "deliveryId": "ev-1",
        "error": {"code": "ThrottlingException", "message": "Rate exceeded"},
        "original": '{"orig": 1}',
        "failedAt": "2025-01-01T00:00:00+00:00",
    }
    assert parse_body(message["Body"]) == TokenRequest(
        ("tokA", "tokB"), Source.CLOUDTRAIL, Mode.WATCH
    )


def test_work_messages_are_sent_in_batches_with_their_delay(stack):
    queue = SqsWorkQueue(build_clients().sqs, stack.work_queue_url)
    queue.send([WorkMessage((f"t{i}",), Source.SWEEP, Mode.CANCEL) for i in range(23)])
    queue.send([WorkMessage(("late",), Source.CLOUDTRAIL, Mode.WATCH, delay_seconds=600)])
    bodies = [parse_body(m["Body"]) for m in drain(stack.sqs, stack.work_queue_url)]
    assert sorted(b.tokens[0] for b in bodies) == sorted(f"t{i}" for i in range(23))
    delayed = stack.sqs.get_queue_attributes(
        QueueUrl=stack.work_queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]["ApproximateNumberOfMessagesDelayed"]
    assert delayed == "1"


def test_a_missing_queue_is_a_queue_error(stack):
    queue = SqsWorkQueue(build_clients().sqs, stack.work_queue_url + "-gone")
    with pytest.raises(QueueError):
        queue.send([WorkMessage(("t",), Source.SWEEP, Mode.CANCEL)])
