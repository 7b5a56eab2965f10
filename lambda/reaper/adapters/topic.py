"""The SNS topic told of each plan awaiting approval (requireApproval)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from reaper.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

SUBJECT_MAX = 100


class SnsNotifier:
    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self._client = client
        self._topic = topic_arn

    def publish(self, subject: str, message: str) -> bool:
        try:
            self._client.publish(
                TopicArn=self._topic, Subject=subject[:SUBJECT_MAX], Message=message
            )
        except (ClientError, BotoCoreError) as exc:
            logger.warning("approval notice not sent", extra={"error": str(exc)[:300]})
            return False
        return True
