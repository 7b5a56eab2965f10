"""Given moto's SQS, dead-letter records and work messages go out in the documented format
and come back in as input the handler accepts (a DLQ redrive replays them); an entry SQS
reports as Failed is sent again, and one that keeps failing is a QueueError that says how many
were not sent (moto never fails an entry: a hook on the real client plays SQS doing so)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from reaper.adapters.queues import SEND_ATTEMPTS, SqsDeadLetters, SqsWorkQueue
from reaper.errors import QueueError
from reaper.models import Decision, Mode, Outcome, Source, Status
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
        "version": 2,
        "requestTokens": ["tokA", "tokB"],
        "mode": "watch",
        "source": "cloudtrail",
        "deliveryId": "ev-1",
        "error": {"code": "ThrottlingException", "message": "Rate exceeded"},
        "original": '{"orig": 1}',
        "failedAt": "2025-01-01T00:00:00+00:00",
    }
    # Its replay continues the delivery it failed in.
    assert parse_body(message["Body"]) == TokenRequest(
        ("tokA", "tokB"), Source.CLOUDTRAIL, Mode.WATCH, delivery_id="ev-1"
    )


def test_a_dead_letter_of_unrecorded_decisions_carries_them_and_replays_them_as_they_were(stack):
    at = datetime(2025, 1, 1, 12, tzinfo=UTC)
    decision = Decision(
        token="tokA",
        source=Source.SWEEP,
        delivery_id="sweep-run-1",
        outcome=Outcome.CANCELLED,
        decided_at=at,
        request_id="sweep-run-1",
        dry_run=False,
        status_seen=Status.IN_PROGRESS,
        status_after=Status.CANCEL_IN_PROGRESS,
        type_name="AWS::S3::Bucket",
        age_seconds=30_000,
        threshold_minutes=360,
    )
    letters = SqsDeadLetters(build_clients().sqs, stack.dead_letter_queue_url)
    letters.send(
        DeadLetter(
            ("tokA",),
            Mode.CANCEL,
            Source.SWEEP,
            "sweep-run-1",
            "Unrecorded",
            "the audit table refused",
            "{}",
            at,
            decisions=(decision,),
        )
    )
    (message,) = drain(stack.sqs, stack.dead_letter_queue_url)
    record = json.loads(message["Body"])
    assert record["decisions"]["tokA"]["outcome"] == "cancelled"
    assert record["decisions"]["tokA"]["statusAfter"] == "CANCEL_IN_PROGRESS"
    parsed = parse_body(message["Body"])
    assert isinstance(parsed, TokenRequest) and parsed.settled == (decision,)


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


class FailEntries:
    """For its first ``times`` SendMessageBatch calls, the entries ``failing`` picks are kept
    from moto and answered as Failed (SenderFault false: SQS's own trouble), the rest go out;
    later calls pass through. ``sent`` holds the bodies each call asked to send."""

    def __init__(self, client: Any, times: int, failing: Any) -> None:
        self.times = times
        self.failing = failing
        self.sent: list[list[str]] = []
        self._failed: list[dict[str, Any]] = []
        self._all_failed = False
        events = client.meta.events
        events.register("provide-client-params.sqs.SendMessageBatch", self._split)
        events.register("before-call.sqs.SendMessageBatch", self._answer_for_moto)
        events.register("after-call.sqs.SendMessageBatch", self._add_failed)

    def _split(self, params: dict[str, Any], **_: Any) -> dict[str, Any] | None:
        entries = params["Entries"]
        self.sent.append([e["MessageBody"] for e in entries])
        self._failed, self._all_failed = [], False
        if len(self.sent) > self.times:
            return None
        failed = [e for e in entries if self.failing(e)]
        self._failed = [
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "try again"}
            for e in failed
        ]
        rest = [e for e in entries if not self.failing(e)]
        self._all_failed = not rest  # SQS refuses an empty batch: answer without moto
        return {**params, "Entries": rest or entries}

    def _answer_for_moto(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if self._all_failed:
            return AWSResponse("http://sqs", 200, {}, None), {"Successful": []}
        return None

    def _add_failed(self, parsed: dict[str, Any], **_: Any) -> None:
        if self._failed:
            parsed["Failed"] = self._failed


def work(*tokens: str) -> list[WorkMessage]:
    return [WorkMessage((t,), Source.SWEEP, Mode.CANCEL) for t in tokens]


def test_an_entry_sqs_fails_is_sent_again_and_arrives_once(stack):
    client = build_clients().sqs
    hook = FailEntries(client, times=1, failing=lambda e: "t1" in e["MessageBody"])

    SqsWorkQueue(client, stack.work_queue_url).send(work("t0", "t1", "t2"))

    assert [len(call) for call in hook.sent] == [3, 1]  # the retry sends the failed one only
    bodies = [parse_body(m["Body"]) for m in drain(stack.sqs, stack.work_queue_url)]
    assert sorted(b.tokens[0] for b in bodies) == ["t0", "t1", "t2"]


def test_entries_failing_every_attempt_are_a_queue_error_naming_how_many(stack):
    client = build_clients().sqs
    failing = {"t1", "t3"}
    hook = FailEntries(
        client,
        times=10**6,
        failing=lambda e: json.loads(e["MessageBody"])["requestTokens"][0] in failing,
    )

    with pytest.raises(QueueError) as raised:
        SqsWorkQueue(client, stack.work_queue_url).send(work("t0", "t1", "t2", "t3"))

    assert raised.value.code == "InternalError"
    assert "2 messages not sent" in raised.value.message
    assert len(hook.sent) == SEND_ATTEMPTS
    assert [len(call) for call in hook.sent] == [4, 2, 2]
    tokens = [parse_body(m["Body"]).tokens[0] for m in drain(stack.sqs, stack.work_queue_url)]
    assert sorted(tokens) == ["t0", "t2"]  # what did go out is not sent twice
