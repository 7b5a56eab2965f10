"""The work queue drained by the schedule, for a member that has no event source mapping.

Organization mode (docs/infrastructure.md, "Organization"): a Lambda event source mapping
long-polls its queue all month, idle or not (five pollers: about $0.26 a month per account
and Region at list prices), which is most of what an idle member would cost. A member whose
``organization.workQueue`` is ``schedule`` has no mapping: each scheduled sweep, once done,
receives what waits on the work queue and hands it to the same SQS batch path the mapping
would have invoked, with the same semantics: a message whose record fails stays on the
queue (it comes back after its visibility timeout, and the queue's redrive policy moves it to
the dead-letter queue after maxReceiveCount receives); the others are deleted. Cancel events,
CloudTrail records and hand-offs wait for the next sweep (the schedule's period) instead of
seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reaper import contracts

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

RECEIVE_MAX = 10  # SQS's largest ReceiveMessage batch, the mapping's batch size too
# Leave the batch at least this long to run: a batch needs its decisions and its write.
MIN_SECONDS_FOR_A_BATCH = 30.0

# An SQS event (the mapping's shape) -> the ids of the records that failed.
HandleBatch = Callable[[dict[str, Any]], list[str]]


@dataclass(frozen=True, slots=True)
class Drained:
    batches: int = 0
    received: int = 0
    deleted: int = 0
    failed: int = 0


class QueueDrain:
    def __init__(self, sqs: SQSClient, queue_url: str, queue_arn: str) -> None:
        self._sqs = sqs
        self._url = queue_url
        self._arn = queue_arn

    def drain(self, handle: HandleBatch, seconds_left: Callable[[], float]) -> Drained:
        """Receive and hand over batches until the queue answers empty or time runs short."""
        batches = received = deleted = failed = 0
        while seconds_left() > MIN_SECONDS_FOR_A_BATCH:
            messages = self._sqs.receive_message(
                QueueUrl=self._url,
                MaxNumberOfMessages=RECEIVE_MAX,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                break
            batches += 1
            received += len(messages)
            failures = set(handle({"Records": [sqs_record(m, self._arn) for m in messages]}))
            done = [m for m in messages if m["MessageId"] not in failures]
            failed += len(messages) - len(done)
            deleted += self._delete(done)
        return Drained(batches, received, deleted, failed)

    def _delete(self, messages: list[Any]) -> int:
        """Delete what was handled; a message not deleted is received again (idempotent:
        every decision is keyed by its delivery, and the ledger settles repeats)."""
        if not messages:
            return 0
        answer = self._sqs.delete_message_batch(
            QueueUrl=self._url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)
            ],
        )
        return len(answer.get("Successful", []))


def sqs_record(message: Any, queue_arn: str) -> dict[str, Any]:
    """A received SQS message as the record Lambda's event source mapping delivers it (AWS
    Lambda Developer Guide, "Using Lambda with Amazon SQS", example event). The one place
    this shape is built: the drain, the local runner, the organization's relay, the bench."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": dict(message.get("MessageAttributes", {})),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }


def queue_arn_of(queue_url: str, region: str, partition: str = "aws") -> str:
    """``https://sqs.<region>.amazonaws.com/<account>/<name>`` -> the queue's ARN, with no
    call (the URL's last two parts are the account and the name)."""
    account, name = queue_url.rstrip("/").split("/")[-2:]
    return f"arn:{partition}:sqs:{region}:{account}:{name}"


def is_schedule(event: Any) -> bool:
    return (
        isinstance(event, dict)
        and event.get("source") == contracts.SCHEDULE_EVENT_SOURCE
        and event.get("detail-type") == contracts.SCHEDULE_DETAIL_TYPE
    )
