"""The real handler, invoked the way Lambda would, against the emulator and moto."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import reaper.handler as handler
import reaper.wiring as wiring
from reaper.drain import sqs_record

from ..conftest import FakeLambdaContext, Stack


@pytest.fixture
def invoke(stack: Stack) -> Iterator[Callable[..., dict[str, Any]]]:
    """Calls reaper.handler.lambda_handler with a fresh container (settings read again)."""
    handler.container.cache_clear()

    def call(event: Any, **context: Any) -> dict[str, Any]:
        return handler.lambda_handler(event, FakeLambdaContext(**context))

    yield call
    handler.container.cache_clear()


@dataclass(frozen=True)
class ApiCall:
    """One call the function's own boto3 clients made: the service's name in botocore
    (cloudcontrol, dynamodb, sqs), the operation, and what it named (tables and their index,
    queue URLs)."""

    service: str
    operation: str
    table: str | None = None
    index: str | None = None
    queue_url: str | None = None


def _record_call(calls: list[ApiCall], params: dict[str, Any], model: Any, **_: Any) -> None:
    service = model.service_model.service_name
    tables = [params["TableName"]] if "TableName" in params else [*params.get("RequestItems", {})]
    for table in tables or [None]:
        calls.append(
            ApiCall(service, model.name, table, params.get("IndexName"), params.get("QueueUrl"))
        )


@pytest.fixture
def recorded_calls(monkeypatch: pytest.MonkeyPatch) -> list[ApiCall]:
    """Every call the handler's clients make, in order (request it before ``invoke`` runs).

    The hook sits on the clients wiring builds for the container, so the test's own setup and
    checks (``stack.sqs``, ``stack.dynamodb``) are not recorded. ``before-parameter-build``
    fires once per API call (retries are not calls) and carries the caller's parameters."""
    calls: list[ApiCall] = []
    build = wiring.build_clients

    def recording(*args: Any, **kwargs: Any) -> wiring.AwsClients:
        clients = build(*args, **kwargs)
        for client in (clients.cloud_control, clients.dynamodb, clients.sqs, clients.events):
            if client is None:
                continue
            client.meta.events.register(
                "before-parameter-build", functools.partial(_record_call, calls)
            )
        return clients

    monkeypatch.setattr(wiring, "build_clients", recording)
    return calls


class EventSourceMapping:
    """What Lambda's SQS poller does: receive, invoke with the batch, delete what succeeded,
    make the failed records visible again (so SQS counts receives and redrives)."""

    def __init__(self, stack: Stack, invoke: Callable[..., dict[str, Any]]) -> None:
        self.stack = stack
        self.invoke = invoke
        self.arn = stack.sqs.get_queue_attributes(
            QueueUrl=stack.work_queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]

    def send(self, *bodies: str) -> None:
        for body in bodies:
            self.stack.sqs.send_message(QueueUrl=self.stack.work_queue_url, MessageBody=body)

    def poll(self, **context: Any) -> dict[str, Any] | None:
        """One batch (up to 10); None when the queue is empty."""
        received = self.stack.sqs.receive_message(
            QueueUrl=self.stack.work_queue_url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not received:
            return None
        event = {"Records": [sqs_record(m, self.arn) for m in received]}
        response = self.invoke(event, **context)
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        for message in received:
            if message["MessageId"] in failed:
                self.stack.sqs.change_message_visibility(
                    QueueUrl=self.stack.work_queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=0,
                )
            else:
                self.stack.sqs.delete_message(
                    QueueUrl=self.stack.work_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return response


@pytest.fixture
def sqs_lambda(stack: Stack, invoke: Callable[..., dict[str, Any]]) -> EventSourceMapping:
    return EventSourceMapping(stack, invoke)


def scheduled_event() -> dict[str, Any]:
    return {
        "version": "0",
        "id": "5f3c1a6e-0000-4000-8000-000000000001",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2025-01-01T12:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/reaper-sweep"],
        "detail": {},
    }


def custom_event(*tokens: str, event_id: str = "c0ffee00-0000-4000-8000-000000000002") -> dict:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Cancel Resource Request",
        "source": "cloudcontrol-reaper",
        "account": "123456789012",
        "time": "2025-01-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"requestTokens": list(tokens), "reason": "operator: stuck deploy"},
    }


def cloudtrail_event(token: str, name: str = "CreateResource") -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"ct-{token[:8]}",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.cloudcontrolapi",
        "account": "123456789012",
        "time": "2025-01-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "eventTime": "2025-01-01T12:00:00Z",
            "eventSource": "cloudcontrolapi.amazonaws.com",
            "eventName": name,
            "awsRegion": "us-east-1",
            "requestParameters": {"typeName": "AWS::S3::Bucket", "desiredState": "HIDDEN"},
            "responseElements": {
                "progressEvent": {
                    "typeName": "AWS::S3::Bucket",
                    "requestToken": token,
                    "operation": "CREATE",
                    "operationStatus": "IN_PROGRESS",
                    "eventTime": "Jan 1, 2025, 12:00:00 PM",
                }
            },
            "eventType": "AwsApiCall",
            "managementEvent": True,
        },
    }


def dumps(value: Any) -> str:
    return json.dumps(value)
