"""The one Lambda entry point: parse the shape, call the service, return.

SQS batches go through Powertools' BatchProcessor with partial batch responses; SNS
deliveries are the org kill switch (organization mode, ``reaper.org.control``); every other
event is a direct invocation (EventBridge rule or schedule). The service and its boto3
clients are built once per container, at the first invocation (the import stays cheap), and
the batch utility (~100-150 ms of imports) at the first SQS batch: a scheduled sweep, most
often a cold start, never loads it.
"""

from __future__ import annotations

import functools
import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from reaper.clock import Deadline
from reaper.drain import QueueDrain, is_schedule, queue_arn_of
from reaper.observability import enable_tracing, logger, metrics, publish, span
from reaper.service import Reaper, Run
from reaper.sizing import deadline_margin

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from reaper.adapters.cloud_control import CloudControlAdapter
    from reaper.org.control import MemberControl
    from reaper.settings import Settings


@functools.cache
def processor() -> BatchProcessor:
    """Made at the first SQS batch. A whole failed batch is reported record by record too,
    so SQS retries each one the same way."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType  # noqa: PLC0415

    return BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@dataclass(frozen=True)
class Container:
    settings: Settings
    reaper: Reaper
    # The adapter itself, for its throttle count: not read through the service.
    cloud_control: CloudControlAdapter
    # Organization mode without an event source mapping: the schedule drains the queue.
    drain: QueueDrain | None = None


@functools.cache
def container() -> Container:
    """Settings validated and clients built once per container."""
    # Validated settings (pydantic) and boto3 clients: the first invocation pays, not import.
    from reaper.settings import Settings  # noqa: PLC0415
    from reaper.wiring import build_clients, build_cloud_control, build_reaper  # noqa: PLC0415

    settings = Settings.from_env()
    if settings.tracing:
        enable_tracing()
    clients = build_clients(
        events=settings.config.emit_events, sns=settings.approval_topic_arn is not None
    )
    cloud_control = build_cloud_control(settings, clients)
    reaper = build_reaper(settings, clients, cloud_control=cloud_control)
    drain = None
    if settings.drain_work_queue:
        arn = queue_arn_of(settings.work_queue_url, os.environ.get("AWS_REGION", ""))
        drain = QueueDrain(clients.sqs, settings.work_queue_url, arn)
    return Container(settings, reaper, cloud_control, drain)


def deadline_of(context: LambdaContext) -> Deadline:
    """Keep a share of the time (sizing.py) to follow cancels, hand off and record."""
    margin = deadline_margin(context.get_remaining_time_in_millis() / 1000)
    return Deadline(context.get_remaining_time_in_millis, margin)


def is_sqs_batch(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        bool(records)
        and isinstance(records, list)
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)
    )


def is_sns_delivery(event: Any) -> bool:
    """Organization mode: the org kill switch, delivered by the central SNS topic."""
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        bool(records)
        and isinstance(records, list)
        and all(isinstance(r, dict) and r.get("EventSource") == "aws:sns" for r in records)
    )


@functools.cache
def member_control() -> MemberControl:
    """Two clients (DynamoDB, EventBridge), built at the first SNS delivery only."""
    from reaper.settings import Settings  # noqa: PLC0415
    from reaper.wiring import build_member_control  # noqa: PLC0415

    return build_member_control(Settings.from_env())


# What the log group and Lambda's REPORT line already say of every line: kept off each line
# (~200 of a "decided" line's ~700 bytes, and logs are billed by the byte). Each line keeps
# function_request_id and cold_start.
STATIC_CONTEXT_KEYS = ("function_name", "function_arn", "function_memory_size")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    logger.remove_keys(STATIC_CONTEXT_KEYS)
    if is_sns_delivery(event):
        # Set the switch or raise (Lambda retries the async invocation); no sweep state.
        return member_control().handle(event)
    wired = container()
    run = wired.reaper.run(context.aws_request_id, deadline_of(context))
    throttled_before = wired.cloud_control.throttled_calls()
    try:
        with span("handler"):
            if is_sqs_batch(event):
                return _sqs_batch(run, event, context)
            event_id = event.get("id") if isinstance(event, dict) else None
            result = run.process_event(event, str(event_id or context.aws_request_id))
            if wired.drain is not None and is_schedule(event):
                result["drained"] = _drain(wired, wired.drain, context)
            return result
    finally:
        publish(run.report, wired.cloud_control.throttled_calls() - throttled_before)


def _sqs_batch(run: Run, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Parse record by record, then decide the batch's records together (sqs_batch.py):
    cancels are followed up by delayed work-queue messages, nothing waits here; a record
    whose decisions could not be recorded fails too."""
    from aws_lambda_powertools.utilities.batch import process_partial_response  # noqa: PLC0415

    try:
        response = process_partial_response(
            event, functools.partial(_record, run), processor(), context
        )
    finally:
        unrecorded = run.finish_messages()
    failures = list(response["batchItemFailures"])
    known = {failure["itemIdentifier"] for failure in failures}
    failures += [{"itemIdentifier": m} for m in unrecorded if m not in known]
    return {"batchItemFailures": failures}


def _drain(wired: Container, drain: QueueDrain, context: LambdaContext) -> dict[str, int]:
    """After the sweep: what waits on the work queue, batch by batch, as the event source
    mapping would have delivered it (reaper.drain). Each batch is a run of its own."""
    batches = 0

    def handle(event: dict[str, Any]) -> list[str]:
        nonlocal batches
        batches += 1
        run = wired.reaper.run(f"{context.aws_request_id}#{batches}", deadline_of(context))
        try:
            answer = _sqs_batch(run, event, context)
        finally:
            publish(run.report, 0)
        return [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]

    drained = drain.drain(handle, lambda: context.get_remaining_time_in_millis() / 1000)
    return asdict(drained)


def _record(run: Run, record: SQSRecord) -> None:
    """One record; an exception fails only this record (it returns to the queue)."""
    count = record.attributes.approximate_receive_count
    run.process_message(record.body, record.message_id, int(count) if count else 1, later=True)
