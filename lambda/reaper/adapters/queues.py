"""The work queue (hand-offs, watch re-checks) and the dead-letter queue (failures)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from reaper import contracts
from reaper.adapters._errors import code_and_message
from reaper.errors import QueueError
from reaper.models import Decision
from reaper.parsing import MAX_BODY_BYTES
from reaper.ports import DeadLetter, WorkMessage

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

SEND_BATCH_MAX = 10
SEND_ATTEMPTS = 3


def dead_letter_body(letter: DeadLetter) -> str:
    """The record in docs/DESIGN.md: the work queue accepts it back as is (a redrive), so it
    must be a body the reaper accepts. JSON escapes a character of ``original`` into as many
    as 6 bytes (``\\u00e9``): it is cut until the encoded record fits ``MAX_BODY_BYTES``."""
    record: dict[str, Any] = {
        "kind": contracts.DEAD_LETTER_KIND,
        "version": contracts.DEAD_LETTER_VERSION,
        "requestTokens": list(letter.tokens),
        "mode": letter.mode.value,
        "source": letter.source.value,
        "deliveryId": letter.delivery_id,
        "error": {"code": letter.error_code, "message": letter.error_message},
        "original": letter.original,
        "failedAt": letter.failed_at.astimezone(UTC).isoformat(),
    }
    if letter.decisions:
        record["decisions"] = {d.token: decision_fields(d) for d in letter.decisions}
    body = json.dumps(record)  # ASCII only: its length is its size in bytes
    original = letter.original
    while len(body) > MAX_BODY_BYTES and original:
        bytes_per_char = len(json.dumps(original)) / len(original)
        keep = int(len(original) - (len(body) - MAX_BODY_BYTES) / bytes_per_char) - 64
        original = record["original"] = original[: max(0, keep)]
        body = json.dumps(record)
    return body


def decision_fields(decision: Decision) -> dict[str, Any]:
    """A decision as a dead letter carries it (docs/DESIGN.md): what its replay records."""
    fields: dict[str, Any] = {
        "outcome": decision.outcome.value,
        "decidedAt": decision.decided_at.astimezone(UTC).isoformat(),
        "requestId": decision.request_id,
        "dryRun": decision.dry_run,
        "statusSeen": decision.status_seen,
        "statusAfter": decision.status_after,
        "typeName": decision.type_name,
        "identifier": decision.identifier,
        "operation": decision.operation,
        "eventTime": decision.event_time.astimezone(UTC).isoformat()
        if decision.event_time
        else None,
        "firstSeen": decision.first_seen.astimezone(UTC).isoformat()
        if decision.first_seen
        else None,
        "ageSeconds": decision.age_seconds,
        "thresholdMinutes": decision.threshold_minutes,
        "errorCode": decision.error_code,
        "errorMessage": decision.error_message,
        "reason": decision.reason,
        "why": decision.why,
    }
    return {k: (v.value if hasattr(v, "value") else v) for k, v in fields.items() if v is not None}


def work_message_body(message: WorkMessage) -> str:
    body: dict[str, Any] = {
        "requestTokens": list(message.tokens),
        "mode": message.mode.value,
        "source": message.source.value,
    }
    if message.reason:
        body["reason"] = message.reason
    return json.dumps(body)


class SqsQueue:
    """Sends bodies in batches of ten; a send that still fails after retries is a QueueError."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def send_bodies(self, bodies: Sequence[tuple[str, int]]) -> None:
        """(body, delay seconds) pairs."""
        for i in range(0, len(bodies), SEND_BATCH_MAX):
            pending = {
                str(n): {"Id": str(n), "MessageBody": body, "DelaySeconds": delay}
                for n, (body, delay) in enumerate(bodies[i : i + SEND_BATCH_MAX])
            }
            failure = ("Unknown", "")
            for _ in range(SEND_ATTEMPTS):
                try:
                    response = self._client.send_message_batch(
                        QueueUrl=self._url,
                        Entries=list(pending.values()),  # type: ignore[arg-type]
                    )
                except (ClientError, BotoCoreError) as exc:
                    raise QueueError(*code_and_message(exc)) from exc
                for ok in response.get("Successful", []):
                    pending.pop(ok["Id"], None)
                for failed in response.get("Failed", []):
                    failure = (failed.get("Code", "Unknown"), failed.get("Message", ""))
                if not pending:
                    break
            else:
                raise QueueError(failure[0], f"{len(pending)} messages not sent: {failure[1]}")


class SqsWorkQueue(SqsQueue):
    def send(self, messages: Sequence[WorkMessage]) -> None:
        self.send_bodies([(work_message_body(m), m.delay_seconds) for m in messages])


class SqsDeadLetters(SqsQueue):
    def send(self, letter: DeadLetter) -> None:
        self.send_bodies([(dead_letter_body(letter), 0)])
