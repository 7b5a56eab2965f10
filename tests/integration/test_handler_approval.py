"""Given requireApproval on the real handler (moto and the emulator), when a sweep finds stale
requests and a person approves its plan through the work queue, then nothing is cancelled
before the approval, the plan is announced on the topic, and the approval cancels exactly the
plan's requests still stale."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
from reaper import contracts

from ..conftest import CREDENTIALS, REGION, set_reaper_config
from .conftest import scheduled_event

HOURS = 3600


def approval(plan_id: str, approved_at: datetime) -> str:
    return json.dumps(
        {
            "kind": contracts.APPROVAL_KIND,
            "version": 1,
            "planId": plan_id,
            "approvedBy": "ana",
            "approvedAt": approved_at.isoformat(),
        }
    )


def topic_with_a_reader(stack: Any) -> tuple[str, str]:
    """An SNS topic (moto) and a queue subscribed to it, to read what the function told."""
    sns = boto3.session.Session(region_name=REGION, **CREDENTIALS).client(
        "sns", endpoint_url=stack.env["AWS_ENDPOINT_URL_SQS"]
    )
    topic = sns.create_topic(Name=f"approvals-{stack.table_name}")["TopicArn"]
    queue = stack.sqs.create_queue(QueueName=f"approvals-{stack.table_name}")["QueueUrl"]
    arn = stack.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
    return topic, queue


def test_a_plan_is_cancelled_only_once_a_person_approves_it(
    stack, emulator, invoke, sqs_lambda, monkeypatch
):
    set_reaper_config(monkeypatch, require_approval=True)
    topic, reader = topic_with_a_reader(stack)
    monkeypatch.setenv(contracts.ENV_APPROVAL_TOPIC_ARN, topic)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", stack.env["AWS_ENDPOINT_URL_SQS"])
    stale = emulator.seed(3, age_seconds=8 * HOURS)
    emulator.seed(1, age_seconds=HOURS)  # young: in no plan

    invoke(scheduled_event(), aws_request_id="sweep-run-1")
    assert emulator.snapshot().cancelled == []
    decisions = stack.decisions()
    assert {decisions[t]["outcome"] for t in stale} == {"awaiting_approval"}
    told = stack.sqs.receive_message(QueueUrl=reader, MaxNumberOfMessages=10)["Messages"]
    assert any("cc-reaper approve sweep-run-1" in m["Body"] for m in told)

    now = datetime.fromtimestamp(emulator.clock.now(), UTC)
    sqs_lambda.send(approval("sweep-run-1", now))
    assert sqs_lambda.poll() == {"batchItemFailures": []}
    assert sorted(emulator.snapshot().cancelled) == sorted(stale)
    approved = [  # decision items (a claim holds its write-ahead's fields too)
        i
        for i in stack.audit_items()
        if i.get("source", {}).get("S") == "approval" and i["sk"]["S"].startswith("DECISION#")
    ]
    assert sorted(i["token"]["S"] for i in approved) == sorted(stale)
    assert all("approved by ana" in i["reason"]["S"] for i in approved)


def test_an_expired_approval_cancels_nothing_and_is_audited(
    stack, emulator, invoke, sqs_lambda, monkeypatch
):
    set_reaper_config(monkeypatch, require_approval=True, approval_expiry_hours=1)
    emulator.seed(2, age_seconds=8 * HOURS)
    invoke(scheduled_event(), aws_request_id="sweep-run-2")
    emulator.clock.advance(2 * HOURS)
    now = datetime.fromtimestamp(emulator.clock.now(), UTC)
    sqs_lambda.send(approval("sweep-run-2", now))
    assert sqs_lambda.poll() == {"batchItemFailures": []}
    assert emulator.snapshot().cancelled == []
    refused = [
        i for i in stack.audit_items() if i.get("outcome", {}).get("S") == "approval_refused"
    ]
    assert len(refused) == 1 and "older than 1 h" in refused[0]["why"]["S"]
