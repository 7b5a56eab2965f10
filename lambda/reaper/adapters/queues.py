"""The work queue (hand-offs, watch re-checks) and the dead-letter queue (failures)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from reaper.adapters._errors import code_and_message
from reaper.dead_letter_format import dead_letter_body, follow_up_body
from reaper.errors import QueueError
from reaper.inputs import FollowUp
from reaper.ports import DeadLetter, WorkMessage

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

SEND_BATCH_MAX = 10
SEND_ATTEMPTS = 3


def work_message_body(message: WorkMessage) -> str:
    body: dict[str, Any] = {
        "requestTokens": list(message.tokens),
        "mode": message.mode.value,
        "source": message.source.value,
    }
    if message.reason:
        body["reason"] = message.reason
    if message.handoff is not None:
        body["handoff"] = {"run": message.handoff.run, "part": message.handoff.part}
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

    def send_follow_ups(self, follow_ups: Sequence[tuple[FollowUp, int]]) -> None:
        """(follow-up, delay seconds) pairs; the delay is SQS's DelaySeconds (0 to 900)."""
        self.send_bodies([(follow_up_body(f), delay) for f, delay in follow_ups])


class SqsDeadLetters(SqsQueue):
    def send(self, letter: DeadLetter) -> None:
        self.send_bodies([(dead_letter_body(letter), 0)])
