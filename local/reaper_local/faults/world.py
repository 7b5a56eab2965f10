"""Where a fault scenario runs: moto's server and the emulator, a fresh audit table and queues,
the credentials and Region they take, and the small readers the accounting needs.

Nothing here imports ``tests/``: the bench and the tests both build on this package.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3

from reaper_local.audit_schema import create_audit_table

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
MAX_RECEIVE_COUNT = 5
ACCOUNT = "123456789012"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:cloudcontrol-reaper"


@dataclass
class LambdaContext:
    """What Powertools and the handler read from Lambda's context; ``remaining`` can be
    replaced to make the deadline pass."""

    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = "cloudcontrol-reaper"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = FUNCTION_ARN
    log_group_name: str = "/aws/lambda/cloudcontrol-reaper"
    log_stream_name: str = "stream"
    remaining_ms: int = 300_000
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.remaining_ms - int((time.monotonic() - self.started) * 1000))


class EmulatorClock:
    """The reaper's clock is the emulator's manual clock; its sleeps move that clock on."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._backend.clock.now(), UTC)

    def sleep(self, seconds: float) -> None:
        self._backend.clock.advance(max(0.0, seconds))


def session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=CREDENTIALS["aws_secret_access_key"],
        region_name=REGION,
    )


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Receive and delete every message of a queue."""
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)
            ],
        )


def scan(dynamodb: Any, table: str) -> Iterator[dict[str, Any]]:
    params: dict[str, Any] = {"TableName": table}
    while True:
        page = dynamodb.scan(**params)
        yield from page["Items"]
        if "LastEvaluatedKey" not in page:
            return
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@dataclass
class World:
    """moto's server, the emulator, and this run's table and queues."""

    moto_endpoint: str
    emulator_url: str
    backend: Any
    table: str = ""
    work_url: str = ""
    dlq_url: str = ""
    dynamodb: Any = None
    sqs: Any = None

    def __post_init__(self) -> None:
        self.dynamodb = session().client("dynamodb", endpoint_url=self.moto_endpoint)
        self.sqs = session().client("sqs", endpoint_url=self.moto_endpoint)

    def create(self) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.table = f"rel-audit-{suffix}"
        create_audit_table(self.dynamodb, self.table)
        self.dlq_url = self.sqs.create_queue(QueueName=f"rel-dlq-{suffix}")["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.work_url = self.sqs.create_queue(
            QueueName=f"rel-work-{suffix}",
            Attributes={
                "VisibilityTimeout": "60",
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
                ),
            },
        )["QueueUrl"]

    def send(self, url: str, bodies: list[str]) -> list[str]:
        """Send bodies ten at a time; their message ids, in order."""
        ids: list[str] = []
        for i in range(0, len(bodies), 10):
            entries = [{"Id": str(n), "MessageBody": b} for n, b in enumerate(bodies[i : i + 10])]
            sent = self.sqs.send_message_batch(QueueUrl=url, Entries=entries)
            assert not sent.get("Failed"), f"moto refused a send: {sent['Failed']}"
            by_id = {ok["Id"]: ok["MessageId"] for ok in sent["Successful"]}
            ids += [by_id[e["Id"]] for e in entries]
        return ids

    def delete(self) -> None:
        with contextlib.suppress(Exception):
            self.dynamodb.delete_table(TableName=self.table)
        for url in (self.work_url, self.dlq_url):
            with contextlib.suppress(Exception):
                self.sqs.delete_queue(QueueUrl=url)


def schedule_event() -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-01-01T00:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {},
    }


def on_failure_record(event: Any, error: BaseException | None, attempts: int) -> str:
    """What Lambda's on-failure destination sends when an async invocation's retries are
    spent (an error, or a timeout when ``error`` is None)."""
    payload = (
        {"errorMessage": "Task timed out", "errorType": "Sandbox.Timedout"}
        if error is None
        else {"errorMessage": str(error)[:1000], "errorType": type(error).__name__}
    )
    return json.dumps(
        {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{FUNCTION_ARN}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": payload,
        }
    )


def sqs_record(message: dict[str, Any]) -> dict[str, Any]:
    """The record Lambda's SQS poller hands the function for a received message."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["MessageId"],
        "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": message["Attributes"]["ApproximateReceiveCount"]},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:work",
        "awsRegion": REGION,
    }
