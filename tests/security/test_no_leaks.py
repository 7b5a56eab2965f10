"""Given a secret in a request's ResourceModel and huge fields in the input, when the real handler
sweeps, decides and cancels (emulator and moto), then the secret appears in no log line, audit
item or queue message, and no log line or audit value grows with the input."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
import reaper.handler as handler
from ccapi_emulator import Lifecycle
from reaper.models import MAX_FIELD_CHARS
from reaper.observability import logger

from tests.conftest import CREDENTIALS, REGION, FakeLambdaContext, Stack

SECRET = "s3cr3t-Pa55w0rd-7f1e9c"
HOURS = 3600
MAX_LOG_LINE_CHARS = 8 * 1024


@dataclass
class Output:
    """Everything the function wrote: its log lines (Powertools Logger) and metrics (EMF)."""

    logs: io.StringIO = field(default_factory=io.StringIO)
    printed: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        text = self.logs.getvalue() + "\n".join(self.printed)
        return [line for line in text.splitlines() if line.strip()]

    def text(self) -> str:
        return "\n".join(self.lines())


@pytest.fixture
def output(capsys: pytest.CaptureFixture[str]) -> Iterator[Output]:
    """The logger's handler writes to the stream it was made with: point it here, at DEBUG."""
    captured = Output()
    stream_handler = logger.registered_handler
    assert isinstance(stream_handler, logging.StreamHandler)
    saved_stream = stream_handler.setStream(captured.logs)
    saved_level = logger.log_level
    logger.setLevel("DEBUG")  # every line the function can write
    yield captured
    logger.setLevel(saved_level)
    stream_handler.setStream(saved_stream)


@pytest.fixture
def invoke(
    stack: Stack, output: Output, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[[Any], Any]]:
    handler.container.cache_clear()

    def call(event: Any) -> Any:
        try:
            return handler.lambda_handler(event, FakeLambdaContext())
        finally:
            output.printed.append(capsys.readouterr().out)  # the metrics Powertools prints

    yield call
    handler.container.cache_clear()


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m-{n}",
                "receiptHandle": f"r-{n}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "5"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:work",
                "awsRegion": REGION,
            }
            for n, body in enumerate(bodies)
        ]
    }


def custom_event(tokens: list[str], reason: str, event_id: str = "evt-1") -> dict[str, Any]:
    return {
        "id": event_id,
        "source": "cloudcontrol-reaper",
        "detail-type": "Cancel Resource Request",
        "detail": {"requestTokens": tokens, "reason": reason},
    }


SCHEDULE = {"id": "sched-1", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}


def everything_stored(stack: Stack) -> str:
    return json.dumps(
        {
            "audit": stack.audit_items(),
            "dlq": stack.dead_letters(),
            "work": stack.work_messages(),
        }
    )


def test_a_secret_in_the_resource_model_reaches_no_log_audit_item_or_message(
    stack: Stack, emulator: Any, invoke: Callable[[Any], Any], output: Output
) -> None:
    # Given requests whose DesiredState holds a secret: made through the real API, so every
    # ProgressEvent (Get, List, Cancel) carries it back as ResourceModel.
    emulator.set_lifecycle("AWS::RDS::DBCluster", Lifecycle.stuck("IN_PROGRESS"))
    emulator.set_lifecycle("AWS::RDS::DBInstance", Lifecycle.stuck("PENDING"))
    client = boto3.session.Session(region_name=REGION, **CREDENTIALS).client(
        "cloudcontrol", endpoint_url=stack.env["AWS_ENDPOINT_URL_CLOUDCONTROL"]
    )
    state = json.dumps({"MasterUserPassword": SECRET, "DBClusterIdentifier": "db"})

    def create(type_name: str) -> str:
        event = client.create_resource(TypeName=type_name, DesiredState=state)["ProgressEvent"]
        return str(event["RequestToken"])

    stale = [create("AWS::RDS::DBCluster") for _ in range(3)]
    failing = create("AWS::RDS::DBInstance")
    emulator.clock.advance(30 * HOURS)
    young = create("AWS::RDS::DBCluster")
    (seeded,) = emulator.seed(1, age_seconds=30 * HOURS, resource_model=state)

    # When the reaper sweeps, decides tokens from SQS and an event, and some calls fail.
    invoke(SCHEDULE)
    invoke(sqs_event(young, json.dumps({"requestTokens": [*stale, seeded]})))
    emulator.configure(throttle_probability=1.0)
    invoke(sqs_event(failing))  # the last receive: dead-lettered with its error
    invoke(custom_event([failing, young], reason="please"))
    emulator.configure(throttle_probability=0.0)

    # Then it cancelled what it should, and the secret is nowhere.
    assert set(emulator.snapshot().cancelled) >= {*stale, seeded}
    logs = output.text()
    stored = everything_stored(stack)
    assert failing in stored and "ThrottlingException" in stored  # the failure was recorded
    assert '"outcome":"cancel' in logs and "DEBUG" in logs  # it did log, at every level
    assert SECRET not in logs
    assert SECRET not in stored


@pytest.mark.parametrize(
    "shape",
    [
        "huge reason",
        "huge unknown key",
        "huge invalid token",
        "huge identifier",
        "huge detail-type",
    ],
)
def test_huge_input_never_reaches_a_log_line_or_audit_item_unbounded(
    stack: Stack,
    emulator: Any,
    invoke: Callable[[Any], Any],
    output: Output,
    shape: str,
) -> None:
    huge = "Z" * 100_000
    (token,) = emulator.seed(1, age_seconds=30 * HOURS, identifier_prefix=huge)
    if shape == "huge reason":
        invoke(custom_event([token], reason=huge))
    elif shape == "huge unknown key":
        invoke(sqs_event(json.dumps({huge: 1})))
    elif shape == "huge invalid token":
        invoke(sqs_event(json.dumps({"requestToken": huge})))
    elif shape == "huge identifier":
        invoke(sqs_event(token))
    else:
        invoke({"id": "e", "source": "x", "detail-type": huge, "detail": {}})

    lines = output.lines()
    assert any('"level"' in line for line in lines)
    longest = max(lines, key=len)
    assert len(longest) <= MAX_LOG_LINE_CHARS, longest[:300]
    for item in stack.audit_items():
        for name, value in item.items():
            text = next(iter(value.values()))
            if isinstance(text, str):
                assert len(text) <= MAX_FIELD_CHARS + 200, (name, len(text))
