"""The central collector: an SQS-triggered function (ReportBatchItemFailures) whose records
are the members' events as the central bus delivered them. Each lands in the central audit
table (``CentralTable.store``, idempotent); a record whose write fails is reported in
``batchItemFailures`` and comes back; a record that can never be stored (not an EventBridge
event of a member) is logged in one line, counted, and dropped.

Handler: ``reaper.org.collector.handler``. Metrics (EMF) in ORG_METRICS_NAMESPACE.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)

from reaper import contracts
from reaper.observability import logger
from reaper.org.central_table import CentralTable
from reaper.org.messages import BadMessage, parse_member_event

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

metrics = Metrics(namespace=contracts.ORG_METRICS_NAMESPACE, service=contracts.SERVICE_NAME)
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

# Which stored events count in which metric, besides ORG_METRIC_EVENTS_STORED.
KIND_METRICS = {
    contracts.DETAIL_TYPE_CANCELLED: contracts.ORG_METRIC_CANCELS,
    contracts.DETAIL_TYPE_CANCEL_FAILED: contracts.ORG_METRIC_CANCEL_FAILURES,
    contracts.DETAIL_TYPE_BLOCKING: contracts.ORG_METRIC_BLOCKING,
    contracts.DETAIL_TYPE_KILL_SWITCH_CONFIRMED: contracts.ORG_METRIC_KILL_SWITCH_CONFIRMED,
}


@functools.cache
def central_table() -> CentralTable:
    """Settings validated and the client built once per container."""
    from reaper.org.settings import CollectorSettings  # noqa: PLC0415
    from reaper.wiring import build_central_table  # noqa: PLC0415

    return build_central_table(CollectorSettings.from_env())


class Collector:
    """Stores one record; counts what it stored, dropped and failed for the metrics."""

    def __init__(self, table: CentralTable, now: Callable[[], datetime]) -> None:
        self._table = table
        self._now = now
        self.counts: Counter[str] = Counter()

    def record(self, record: SQSRecord) -> None:
        try:
            event = parse_member_event(record.body)
        except BadMessage as exc:
            self.counts[contracts.ORG_METRIC_EVENTS_INVALID] += 1
            logger.error(
                "org event dropped",
                extra={"messageId": record.message_id, "field": exc.field, "rule": exc.rule},
            )
            return
        try:
            self._table.store(event, self._now())
        except Exception:
            self.counts[contracts.ORG_METRIC_EVENTS_NOT_STORED] += 1
            raise  # this record fails alone (batchItemFailures) and comes back
        self.counts[contracts.ORG_METRIC_EVENTS_STORED] += 1
        kind = KIND_METRICS.get(event.detail_type)
        if kind:
            self.counts[kind] += 1

    def publish(self) -> None:
        for name, value in sorted(self.counts.items()):
            if value:
                metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def collect(event: dict[str, Any], context: LambdaContext, table: CentralTable) -> dict[str, Any]:
    """One batch into ``table``: the partial batch response SQS reads."""
    collector = Collector(table, lambda: datetime.now(UTC))
    try:
        response = process_partial_response(
            event=event, record_handler=collector.record, processor=processor, context=context
        )
        return dict(response)
    finally:
        collector.publish()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return collect(event, context, central_table())
