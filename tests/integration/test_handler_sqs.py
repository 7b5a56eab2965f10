"""Given the work queue feeding the real handler (moto SQS, DynamoDB, the emulator), when a
batch arrives, then only stale requests are cancelled, every token is audited or
dead-lettered, and one bad record never fails its neighbours."""

from __future__ import annotations

import json
import time

from ccapi_emulator import Lifecycle
from reaper import sizing
from reaper.drain import sqs_record

from ..conftest import set_reaper_config
from .conftest import cloudtrail_event, dumps

HOURS = 3600


def follow_up_after_a_second(monkeypatch) -> None:
    """The follow-up's first hop, 5 s in the function, is 1 s here (moto keeps SQS delays)."""
    monkeypatch.setattr(sizing, "FOLLOW_UP_FIRST_DELAY_SECONDS", 1)


def deliver_follow_ups(sqs_lambda) -> dict | None:
    time.sleep(1.2)
    return sqs_lambda.poll()


def test_a_mixed_batch_cancels_only_the_stale_and_records_everything(
    stack, emulator, sqs_lambda, monkeypatch
):
    follow_up_after_a_second(monkeypatch)
    (stale,) = emulator.seed(1, age_seconds=7 * HOURS)
    (young,) = emulator.seed(1, age_seconds=600)
    (done,) = emulator.seed(1, status="SUCCESS", age_seconds=9 * HOURS)
    (db,) = emulator.seed(1, type_name="AWS::RDS::DBInstance", age_seconds=7 * HOURS)
    sqs_lambda.send(
        stale,
        dumps({"requestTokens": [young, done]}),
        dumps({"requestToken": db, "reason": "ticket 7"}),
        "expired-token-123",
        "{not json",
        dumps({"requestToken": "bad token!"}),
    )
    response = sqs_lambda.poll()
    assert response == {"batchItemFailures": []}
    # Nothing waited for the cancel: it is recorded at once, and followed up later.
    assert stack.decisions()[stale]["outcome"] in ("cancelled", "cancel_complete")
    assert deliver_follow_ups(sqs_lambda) == {"batchItemFailures": []}
    assert sqs_lambda.poll() is None

    state = emulator.snapshot()
    assert state.cancelled == [stale]
    assert state.requests[stale].status == "CANCEL_COMPLETE"
    assert {state.requests[t].status for t in (young, db)} == {"IN_PROGRESS"}

    decisions = stack.decisions()
    assert {t: decisions[t]["outcome"] for t in (stale, young, done, db, "expired-token-123")} == {
        stale: "cancel_complete",
        young: "not_stale",
        done: "terminal",
        db: "not_stale",
        "expired-token-123": "not_found",
    }
    assert decisions[db]["threshold_minutes"] == "1440" and decisions[db]["reason"] == "ticket 7"
    assert decisions[stale]["status_seen"] == "IN_PROGRESS"
    assert decisions[stale]["status_after"] == "CANCEL_COMPLETE"

    letters = stack.dead_letters()
    assert sorted(letter["error"]["code"] for letter in letters) == [
        "InvalidToken",
        "MalformedJson",
    ]
    assert {letter["original"] for letter in letters} == {
        "{not json",
        '{"requestToken": "bad token!"}',
    }
    invalid = [i for i in stack.audit_items() if i.get("outcome", {}).get("S") == "invalid"]
    assert len(invalid) == 2
    # Invalid input never reaches Cloud Control: a Get per valid token, one by the follow-up.
    assert state.calls["GetResourceRequestStatus"] == 5 + 1
    assert state.calls["CancelResourceRequest"] == 1


def test_the_resource_model_is_never_stored(stack, emulator, sqs_lambda):
    (token,) = emulator.seed(
        1, age_seconds=7 * HOURS, resource_model='{"MasterUserPassword": "s3cr3t"}'
    )
    sqs_lambda.send(token)
    sqs_lambda.poll()
    assert "s3cr3t" not in json.dumps(stack.audit_items())


def test_the_same_message_delivered_twice_cancels_once_and_records_once(
    stack, emulator, sqs_lambda, invoke, monkeypatch
):
    follow_up_after_a_second(monkeypatch)
    (token,) = emulator.seed(1, age_seconds=7 * HOURS)
    sqs_lambda.send(token)
    message = sqs_lambda.stack.sqs.receive_message(
        QueueUrl=stack.work_queue_url, AttributeNames=["All"]
    )["Messages"][0]
    event = {"Records": [sqs_record(message, sqs_lambda.arn)]}
    invoke(event)
    invoke(event)  # SQS delivers at least once
    sqs_lambda.stack.sqs.delete_message(
        QueueUrl=stack.work_queue_url, ReceiptHandle=message["ReceiptHandle"]
    )
    deliver_follow_ups(sqs_lambda)
    assert emulator.snapshot().calls["CancelResourceRequest"] == 1
    decisions = [i for i in stack.audit_items() if i["sk"]["S"].startswith("DECISION#")]
    assert [d["outcome"]["S"] for d in decisions] == ["cancel_complete"]


def test_a_throttled_record_fails_alone_and_is_dead_lettered_with_its_error_on_the_last_receive(
    stack, emulator, sqs_lambda, monkeypatch
):
    set_reaper_config(monkeypatch, max_receive_count=3)
    (flaky,) = emulator.seed(1, type_name="AWS::Flaky::Thing", age_seconds=7 * HOURS)
    (fine,) = emulator.seed(1, age_seconds=7 * HOURS)
    sqs_lambda.send(flaky)
    first = sqs_lambda.poll()
    assert first == {"batchItemFailures": []}  # warm the container: cancelled
    emulator.configure(throttle_probability=1.0)
    sqs_lambda.send(fine)
    for attempt in (1, 2):
        response = sqs_lambda.poll()
        assert len(response["batchItemFailures"]) == 1, attempt
    assert stack.dead_letters() == []
    response = sqs_lambda.poll()  # the third receive: the reaper dead-letters it itself
    assert response == {"batchItemFailures": []}
    (letter,) = stack.dead_letters()
    assert letter["requestTokens"] == [fine] and letter["error"]["code"] == "ThrottlingException"
    assert letter["source"] == "sqs" and letter["original"] == fine
    assert stack.decisions()[fine]["outcome"] == "failed"
    assert sqs_lambda.poll() is None


def test_the_redrive_policy_is_the_backstop_when_the_reaper_cannot_dead_letter(
    stack, emulator, sqs_lambda, monkeypatch
):
    # The reaper would wait for 50 receives; the queue's redrive policy moves it after 5.
    set_reaper_config(monkeypatch, max_receive_count=50)
    emulator.configure(throttle_probability=1.0)
    sqs_lambda.send("tok-redriven")
    polls = 0
    while sqs_lambda.poll() is not None:
        polls += 1
    assert polls == 5
    (original,) = stack.dead_letters()
    assert original == "tok-redriven"  # the original body: replayable as is


def test_when_the_dlq_itself_fails_the_record_stays_in_the_queue(
    stack, emulator, sqs_lambda, monkeypatch
):
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", stack.dead_letter_queue_url + "-missing")
    sqs_lambda.send("{broken json")
    response = sqs_lambda.poll()
    assert len(response["batchItemFailures"]) == 1
    assert sum(emulator.snapshot().calls.values()) == 0


def test_records_left_when_the_deadline_nears_go_back_to_the_queue(stack, emulator, sqs_lambda):
    tokens = emulator.seed(3, age_seconds=7 * HOURS)
    sqs_lambda.send(*tokens)
    response = sqs_lambda.poll(remaining_ms=2_000)  # less than the safety margin
    assert len(response["batchItemFailures"]) == 3
    assert sum(emulator.snapshot().calls.values()) == 0


def test_a_cloudtrail_event_routed_through_the_queue_is_watched(stack, emulator, sqs_lambda):
    emulator.set_lifecycle("AWS::S3::*", Lifecycle.stuck("IN_PROGRESS"))
    (token,) = emulator.seed(1, age_seconds=60)
    sqs_lambda.send(dumps(cloudtrail_event(token)))
    assert sqs_lambda.poll() == {"batchItemFailures": []}
    assert stack.decisions()[token]["outcome"] == "watching"
    assert stack.decisions()[token]["source"] == "cloudtrail"
    delayed = stack.sqs.get_queue_attributes(
        QueueUrl=stack.work_queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]["ApproximateNumberOfMessagesDelayed"]
    assert delayed == "1"
