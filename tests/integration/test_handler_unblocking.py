"""Given the real handler on moto and the emulator, when a deployment is refused because an old
request still holds its resource, when hooks run, when cancels complete, then the reaper
unblocks the deployment, leaves running hooks alone, records what a cancel left behind, says
who started each request, and puts its events on the default bus."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from ccapi_emulator.cloudtrail import accepted_call_event, refused_call_event

from ..conftest import CREDENTIALS, REGION, set_reaper_config
from .conftest import scheduled_event

HOURS = 3600
PRINCIPAL = "arn:aws:sts::123456789012:assumed-role/deployer/ci"
AGENT = "terraform-provider-awscc/1.20.0"


def cloudcontrol(emulator_server: Any) -> Any:
    return boto3.session.Session(region_name=REGION, **CREDENTIALS).client(
        "cloudcontrol", endpoint_url=emulator_server.endpoint_url
    )


def now_of(emulator: Any) -> datetime:
    return datetime.fromtimestamp(emulator.clock.now(), UTC)


def test_a_deployment_refused_by_a_stuck_request_is_unblocked_through_its_cloudtrail_record(
    stack, emulator, emulator_server, sqs_lambda
):
    (stuck,) = emulator.seed(1, operation="UPDATE", age_seconds=8 * HOURS)
    identifier = emulator.request(stuck).identifier
    client = cloudcontrol(emulator_server)
    patch = json.dumps([{"op": "add", "path": "/Tags", "value": []}])
    with pytest.raises(ClientError) as refused:
        client.update_resource(
            TypeName="AWS::S3::Bucket", Identifier=identifier, PatchDocument=patch
        )
    error = refused.value.response["Error"]
    assert error["Code"] == "ConcurrentOperationException"
    record = refused_call_event(
        "UpdateResource",
        "AWS::S3::Bucket",
        identifier,
        error["Message"],
        PRINCIPAL,
        AGENT,
        now_of(emulator),
    )
    # The stack's conflict rule delivers the record to the work queue.
    sqs_lambda.send(json.dumps(record))
    assert sqs_lambda.poll() == {"batchItemFailures": []}
    assert emulator.snapshot().cancelled == [stuck]
    decision = stack.decisions()[stuck]
    assert decision["outcome"] in ("cancelled", "cancel_complete")
    assert "UpdateResource" in decision["blocked_call"] and PRINCIPAL in decision["blocked_call"]
    # The deployment, retried, now goes through.
    client.update_resource(TypeName="AWS::S3::Bucket", Identifier=identifier, PatchDocument=patch)


def test_a_young_blocking_request_is_left_running_and_recorded_blocking(
    stack, emulator, emulator_server, sqs_lambda
):
    (young,) = emulator.seed(1, operation="UPDATE", age_seconds=600)
    identifier = emulator.request(young).identifier
    record = refused_call_event(
        "DeleteResource",
        "AWS::S3::Bucket",
        identifier,
        "Concurrent operation found",
        PRINCIPAL,
        AGENT,
        now_of(emulator),
    )
    sqs_lambda.send(json.dumps(record))
    assert sqs_lambda.poll() == {"batchItemFailures": []}
    assert emulator.snapshot().cancelled == []
    assert stack.decisions()[young]["outcome"] == "blocking"
    delayed = stack.sqs.get_queue_attributes(
        QueueUrl=stack.work_queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]["ApproximateNumberOfMessagesDelayed"]
    assert delayed == "1"  # the re-check, in unblock mode, due when it would turn stale


def test_a_stale_request_whose_hook_still_runs_is_left_alone(stack, emulator, invoke):
    emulator.configure(hooks={"AWS::S3::*": {"status": "HOOK_IN_PROGRESS"}})
    hooked = emulator.seed(2, age_seconds=8 * HOURS)
    plain = emulator.seed(1, type_name="AWS::Logs::LogGroup", age_seconds=8 * HOURS)
    invoke(scheduled_event())
    assert emulator.snapshot().cancelled == plain
    for token in hooked:
        decision = stack.decisions()[token]
        assert decision["outcome"] == "not_stale" and "HOOK_IN_PROGRESS" in decision["why"]
        assert decision["hook_status"] == "HOOK_IN_PROGRESS" and decision["hooks_token"]


def test_what_a_cancelled_create_left_behind_is_recorded(stack, emulator, invoke, monkeypatch):
    set_reaper_config(monkeypatch, verify_leftovers=["s3:GetBucketLocation"])
    emulator.configure(cancelled_create_leaves={"AWS::S3::*": "resource"})
    (left,) = emulator.seed(1, age_seconds=8 * HOURS)
    (gone,) = emulator.seed(1, type_name="AWS::Logs::LogGroup", age_seconds=8 * HOURS)
    invoke(scheduled_event())
    decisions = stack.decisions()
    assert decisions[left]["outcome"] == "cancel_complete"
    assert (decisions[left]["leftover"], decisions[gone]["leftover"]) == ("exists", "gone")


def test_who_started_a_request_follows_it_from_cloudtrail_into_the_sweeps_decision(
    stack, emulator, sqs_lambda, invoke
):
    (token,) = emulator.seed(1, age_seconds=60)
    progress = {
        "RequestToken": token,
        "TypeName": "AWS::S3::Bucket",
        "Operation": "CREATE",
        "OperationStatus": "IN_PROGRESS",
    }
    record = accepted_call_event(
        "CreateResource", "AWS::S3::Bucket", None, progress, PRINCIPAL, AGENT, now_of(emulator)
    )
    sqs_lambda.send(json.dumps(record))
    assert sqs_lambda.poll() == {"batchItemFailures": []}
    emulator.clock.advance(7 * HOURS)
    invoke(scheduled_event())
    sweep = [
        i
        for i in stack.audit_items()
        if i.get("token", {}).get("S") == token
        and i["source"]["S"] == "sweep"
        and i["sk"]["S"].startswith("DECISION#")  # not the claim, which holds the write-ahead
    ]
    assert [i["started_by"]["S"] for i in sweep] == [PRINCIPAL]
    assert sweep[0]["user_agent"]["S"] == AGENT


def test_the_reaper_events_reach_a_rule_on_the_default_bus(stack, emulator, invoke):
    events = boto3.session.Session(region_name=REGION, **CREDENTIALS).client(
        "events", endpoint_url=stack.env["AWS_ENDPOINT_URL_EVENTBRIDGE"]
    )
    queue = stack.sqs.create_queue(QueueName=f"told-{stack.table_name}")["QueueUrl"]
    arn = stack.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    rule = f"told-{stack.table_name}"
    events.put_rule(
        Name=rule, EventPattern=json.dumps({"source": ["cloudcontrol-reaper"]}), State="ENABLED"
    )
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn["Attributes"]["QueueArn"]}])
    try:
        stale = emulator.seed(2, age_seconds=8 * HOURS)
        emulator.seed(1, age_seconds=60)  # young: no event
        invoke(scheduled_event())
        received = stack.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
        bodies = [json.loads(m["Body"]) for m in received.get("Messages", [])]
        assert sorted(b["detail"]["requestToken"] for b in bodies) == sorted(stale)
        assert {b["detail-type"] for b in bodies} == {"Resource Request Cancelled"}
        assert all(b["detail"]["schemaVersion"] == "1" for b in bodies)
    finally:
        events.remove_targets(Rule=rule, Ids=["q"])
        events.delete_rule(Name=rule)
        stack.sqs.delete_queue(QueueUrl=queue)
