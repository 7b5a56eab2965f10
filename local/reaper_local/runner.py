"""Play Lambda locally: a context object, and the SQS poller of an event source mapping.

The handler is the real one (``reaper.handler.lambda_handler``); what Lambda adds around it
(the context, receiving a batch, deleting what succeeded, returning the failed records to the
queue) is done here, as Lambda documents it for partial batch responses.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reaper.drain import sqs_record

Handler = Callable[[Any, Any], dict[str, Any]]

SQS_BATCH_SIZE = 10


@dataclass
class LocalContext:
    """What Powertools and the handler read from Lambda's context."""

    function_name: str = "cloudcontrol-reaper"
    timeout_seconds: int = 300
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:local"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        """Counts down from the timeout, like Lambda's."""
        elapsed = time.monotonic() - self.started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


@dataclass(frozen=True)
class PolledBatch:
    """One batch the poller handed to the function, and what became of each message."""

    messages: tuple[dict[str, Any], ...]
    response: dict[str, Any]
    failed_ids: frozenset[str]


class SqsPoller:
    """Receive up to ten messages, invoke with them, delete the successes and make the
    failures visible again (so SQS counts the receive and redrives at maxReceiveCount)."""

    def __init__(self, sqs: Any, queue_url: str, handler: Handler, function_name: str) -> None:
        self._sqs = sqs
        self._url = queue_url
        self._handler = handler
        self._function_name = function_name
        self._arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    def receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self._sqs.receive_message(
            QueueUrl=self._url,
            MaxNumberOfMessages=SQS_BATCH_SIZE,
            AttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        return messages

    def invoke(self, messages: list[dict[str, Any]]) -> PolledBatch:
        event = {"Records": [sqs_record(m, self._arn) for m in messages]}
        response = self._handler(event, LocalContext(function_name=self._function_name))
        failed = frozenset(f["itemIdentifier"] for f in response.get("batchItemFailures", []))
        for message in messages:
            if message["MessageId"] in failed:
                self._sqs.change_message_visibility(
                    QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])
        return PolledBatch(tuple(messages), response, failed)
