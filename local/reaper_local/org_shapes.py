"""The shapes AWS hands a function, as the organization's play builds them: the SNS->Lambda
event (one record, EventBridge's event as the message), the SQS event source mapping's batch,
and the Lambda context Powertools reads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reaper import contracts
from reaper.drain import sqs_record

MANAGEMENT_ACCOUNT = "123456789012"  # moto's default account: the caller of every setup call


@dataclass(frozen=True)
class FakeContext:
    """What Powertools reads from Lambda's context."""

    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = "cc-reaper-org-collector"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = (
        f"arn:aws:lambda:us-east-1:{MANAGEMENT_ACCOUNT}:function:cc-reaper-org-collector"
    )
    log_group_name: str = "/aws/lambda/cc-reaper-org-collector"
    log_stream_name: str = "stream"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def sns_event(message: str, topic_region: str, account: str = MANAGEMENT_ACCOUNT) -> dict[str, Any]:
    """The event SNS gives a subscribed function (one record)."""
    topic = f"arn:aws:sns:{topic_region}:{account}:{contracts.ORG_CONTROL_TOPIC_NAME}"
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic}:{uuid.uuid4()}",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": str(uuid.uuid4()),
                    "TopicArn": topic,
                    "Subject": None,
                    "Message": message,
                    "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "EXAMPLE",
                    "UnsubscribeUrl": "EXAMPLE",
                    "MessageAttributes": {},
                },
            }
        ]
    }


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event an SQS event source mapping gives a function."""
    return {"Records": [sqs_record(m, queue_arn) for m in messages]}
