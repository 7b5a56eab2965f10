"""The work queue and the one dead-letter queue every failure path ends in."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import constants as c


class ReaperQueues(Construct):
    """Work queue (sweep hand-off, watch re-checks, events, replays) and its DLQ.

    Both queues: SSE-SQS at rest (EventBridge can send to it without key grants, no key to
    pay for or manage) and a policy denying any request not made over TLS. With ``key`` (the
    kmsKey option, infra/enterprise.py), SSE-KMS with that customer managed key instead.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function_timeout: Duration,
        max_receive_count: int,
        key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        encryption = sqs.QueueEncryption.KMS if key else sqs.QueueEncryption.SQS_MANAGED

        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=encryption,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(c.DEAD_LETTER_RETENTION_DAYS),
        )
        # maxReceiveCount is ReaperConfig.max_receive_count: the reaper dead-letters a record
        # itself (with its error) on that delivery; the redrive is the backstop.
        # Lambda's guidance for SQS sources: visibility at least six times the function
        # timeout, so a batch retried by the poller after a throttle is not handed out twice.
        visibility_seconds = function_timeout.to_seconds() * c.VISIBILITY_TIMEOUT_FACTOR
        self.work_queue = sqs.Queue(
            self,
            "WorkQueue",
            encryption=encryption,
            encryption_master_key=key,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(visibility_seconds),
            retention_period=Duration.days(c.WORK_QUEUE_RETENTION_DAYS),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue,
                max_receive_count=max_receive_count,
            ),
        )
