"""Root fixtures: moto's server (DynamoDB, SQS, EventBridge) and the Cloud Control emulator,
one of each per test session (per xdist worker), and per test a fresh audit table and queues
with the key schema of docs/DESIGN.md, wired in through the function's own env variables.

Only tests that ask for these fixtures start anything: unit tests stay offline.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from ccapi_emulator import EmulatorConfig, EmulatorServer
from moto.server import ThreadedMotoServer
from reaper.clock import SystemClock
from reaper_local.audit_schema import create_audit_table
from reaper_local.faults.world import drain

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
# The work queue's redrive count in tests (the CDK stack sets its own).
REDRIVE_MAX_RECEIVE_COUNT = 5

# Powertools reads these when reaper.observability is first imported, whichever test does it.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "cloudcontrol-reaper")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "CloudControlReaper")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

# moto's server logs every request through werkzeug: keep failures readable.
logging.getLogger("werkzeug").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[Any]:
    # A manual clock (time moves only when a test says so) and no rate limit unless asked.
    # Cancels complete at once, so following one costs a single poll, not a sleep.
    config = EmulatorConfig(
        manual_clock=True, rate_per_second=None, cancel_complete_after_seconds=0, random_seed=3
    )
    with EmulatorServer(host="127.0.0.1", port=0, config=config) as server:
        yield server


@pytest.fixture
def emulator(emulator_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The emulator's backend, reset for this test.

    The reaper's clock reads the emulator's manual clock, and its sleeps move that clock
    forward: both sides agree on ages whatever earlier tests advanced, and following a
    cancel never sleeps for real.
    """
    backend = emulator_server.backend
    backend.reset()
    monkeypatch.setattr(
        SystemClock, "now", lambda self: datetime.fromtimestamp(backend.clock.now(), UTC)
    )
    monkeypatch.setattr(SystemClock, "sleep", lambda self, seconds: backend.clock.advance(seconds))
    yield backend
    backend.reset()


def aws_client(service: str, endpoint_url: str) -> Any:
    return boto3.session.Session(region_name=REGION, **CREDENTIALS).client(
        service, endpoint_url=endpoint_url
    )


@dataclass
class Stack:
    """One test's AWS resources and the env variables that point the function at them."""

    table_name: str
    work_queue_url: str
    dead_letter_queue_url: str
    dynamodb: Any
    sqs: Any
    env: dict[str, str] = field(default_factory=dict)

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every message in the DLQ, bodies parsed when they are JSON."""
        return [_json_or_text(m["Body"]) for m in drain(self.sqs, self.dead_letter_queue_url)]

    def work_messages(self) -> list[dict[str, Any]]:
        return [_json_or_text(m["Body"]) for m in drain(self.sqs, self.work_queue_url)]

    def audit_items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"TableName": self.table_name}
        while True:
            page = self.dynamodb.scan(**params)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def decisions(self) -> dict[str, dict[str, Any]]:
        """Decision items by token (a plain-value view)."""
        found: dict[str, dict[str, Any]] = {}
        for item in self.audit_items():
            if item["sk"]["S"].startswith("DECISION#"):
                plain = {k: next(iter(v.values())) for k, v in item.items()}
                found.setdefault(plain["token"], plain)
        return found


def _json_or_text(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body


@pytest.fixture
def stack(
    moto_endpoint: str, emulator_server: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    """Fresh table and queues; the env the CDK stack would give the function."""
    suffix = uuid.uuid4().hex[:10]
    dynamodb = aws_client("dynamodb", moto_endpoint)
    sqs = aws_client("sqs", moto_endpoint)
    table = f"audit-{suffix}"
    create_audit_table(dynamodb, table)
    dlq_url = sqs.create_queue(QueueName=f"dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    work_url = sqs.create_queue(
        QueueName=f"work-{suffix}",
        Attributes={
            "VisibilityTimeout": "30",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": REDRIVE_MAX_RECEIVE_COUNT}
            ),
        },
    )["QueueUrl"]
    env = {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
        "AWS_ENDPOINT_URL_DYNAMODB": moto_endpoint,
        "AWS_ENDPOINT_URL_SQS": moto_endpoint,
        "AWS_ENDPOINT_URL_EVENTBRIDGE": moto_endpoint,
        "AWS_ENDPOINT_URL_CLOUDCONTROL": emulator_server.endpoint_url,
        "AUDIT_TABLE_NAME": table,
        "WORK_QUEUE_URL": work_url,
        "DEAD_LETTER_QUEUE_URL": dlq_url,
        "REAPER_CONFIG": json.dumps(
            {"dry_run": False, "calls_per_second": 200, "max_concurrency": 1}
        ),
        "POWERTOOLS_SERVICE_NAME": "cloudcontrol-reaper",
        "POWERTOOLS_METRICS_NAMESPACE": "CloudControlReaper",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # botocore's standard retry backoff sleeps up to a second per retry: two attempts are
    # enough to show a retry without making the suite slow.
    monkeypatch.setattr("reaper.wiring.MAX_ATTEMPTS", 2)
    yield Stack(table, work_url, dlq_url, dynamodb, sqs, env)
    dynamodb.delete_table(TableName=table)
    for url in (work_url, dlq_url):
        sqs.delete_queue(QueueUrl=url)


def set_reaper_config(monkeypatch: pytest.MonkeyPatch, **config: Any) -> None:
    """Change REAPER_CONFIG for this test (on top of the stack fixture's)."""
    base = {"dry_run": False, "calls_per_second": 200, "max_concurrency": 1}
    monkeypatch.setenv("REAPER_CONFIG", json.dumps({**base, **config}))


@dataclass
class FakeLambdaContext:
    """What Powertools and the handler read from Lambda's context."""

    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = "cloudcontrol-reaper"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:cloudcontrol-reaper"
    log_group_name: str = "/aws/lambda/cloudcontrol-reaper"
    log_stream_name: str = "stream"
    remaining_ms: int = 300_000
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        """Counts down from ``remaining_ms`` like Lambda's."""
        return max(0, self.remaining_ms - int((time.monotonic() - self.started) * 1000))


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


def sqs_record(body: str, message_id: str = "m-1") -> dict[str, Any]:
    """One SQS record as Lambda's event source mapping hands it to the function."""
    return {
        "messageId": message_id,
        "receiptHandle": f"receipt-{message_id}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:work",
        "awsRegion": REGION,
    }
