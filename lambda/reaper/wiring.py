"""The one module that builds boto3 clients and wires adapters into the service.

The Lambda handler and the CLI both call ``build_reaper``; tests pass their own clients.
Endpoints come only from boto3's standard configuration (AWS_ENDPOINT_URL[_<SERVICE>]).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from reaper.adapters.audit_table import AuditTable
from reaper.adapters.cloud_control import CloudControlAdapter
from reaper.adapters.event_bus import DefaultBus
from reaper.adapters.queues import SqsDeadLetters, SqsWorkQueue
from reaper.adapters.topic import SnsNotifier
from reaper.clock import SystemClock
from reaper.ports import Clock, CloudControl
from reaper.ratelimit import TokenBucket
from reaper.service import Reaper
from reaper.settings import Settings
from reaper.sizing import (
    CONNECT_TIMEOUT_SECONDS,
    MAX_ATTEMPTS,
    MAX_WORKERS,
    READ_TIMEOUT_SECONDS,
    workers_for,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudcontrol import CloudControlApiClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

    from reaper.org.central_table import CentralTable
    from reaper.org.control import MemberControl
    from reaper.org.settings import CollectorSettings


@dataclass(frozen=True)
class AwsClients:
    cloud_control: CloudControlApiClient
    dynamodb: DynamoDBClient
    sqs: SQSClient
    # The default event bus (the reaper's events); None: no events are put.
    events: EventBridgeClient | None = None
    sns: SNSClient | None = None


def client_config(pool: int = MAX_WORKERS + 4) -> Config:
    """``pool`` caps the connections kept open per client (idle ones cost nothing): every
    worker, the listing thread and the audit writers get one."""
    return Config(
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        # Every request is built here from validated input; client-side validation of each
        # call's parameters cost ~0.5 ms of CPU per PutItem and ~6 ms per 25-item batch
        # (measured against moto), which a sweep of thousands is bound by. AWS still
        # validates every request.
        parameter_validation=False,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        max_pool_connections=pool,
    )


def build_clients(
    region_name: str | None = None,
    session: boto3.session.Session | None = None,
    *,
    events: bool = True,
    sns: bool = False,
) -> AwsClients:
    """Clients are made once per container (each costs ~0.1 s) and passed in: the events and
    SNS clients only when asked for (the function asks for what its config uses).

    ``session`` lets the CLI bring a profile's session; the Lambda uses the default one.
    """
    session = session or boto3.session.Session(region_name=region_name)
    config = client_config()
    return AwsClients(
        cloud_control=session.client("cloudcontrol", config=config),
        dynamodb=session.client("dynamodb", config=config),
        sqs=session.client("sqs", config=config),
        events=session.client("events", config=config) if events else None,
        sns=session.client("sns", config=config) if sns else None,
    )


def build_cloud_control(settings: Settings, clients: AwsClients) -> CloudControlAdapter:
    """Cloud Control behind the one shared rate of this invocation."""
    rate = settings.config.calls_per_second_per_invocation
    return CloudControlAdapter(clients.cloud_control, TokenBucket(rate))


def build_reaper(
    settings: Settings,
    clients: AwsClients | None = None,
    clock: Clock | None = None,
    workers: int | None = None,
    cloud_control: CloudControl | None = None,
) -> Reaper:
    """``cloud_control``: an adapter the caller already built (the handler reads its
    throttle count; the CLI wraps it to show progress); else one is built here."""
    clients = clients or build_clients()
    config = settings.config
    return Reaper(
        config=config,
        cloud_control=cloud_control or build_cloud_control(settings, clients),
        audit=build_audit_table(settings, clients),
        dead_letters=SqsDeadLetters(clients.sqs, settings.dead_letter_queue_url),
        work_queue=SqsWorkQueue(clients.sqs, settings.work_queue_url),
        clock=clock or SystemClock(),
        events=DefaultBus(clients.events) if config.emit_events and clients.events else None,
        notifier=(
            SnsNotifier(clients.sns, settings.approval_topic_arn)
            if settings.approval_topic_arn and clients.sns
            else None
        ),
        workers=workers or workers_for(config.calls_per_second_per_invocation),
    )


def build_audit_table(settings: Settings, clients: AwsClients) -> AuditTable:
    """The audit adapter alone, for readers (``cc-reaper audit``)."""
    return AuditTable(
        clients.dynamodb, settings.audit_table_name, settings.config.audit_retention_days
    )


def build_central_table(
    settings: CollectorSettings, session: boto3.session.Session | None = None
) -> CentralTable:
    """The central collector's table (organization mode): one DynamoDB client."""
    from reaper.org.central_table import CentralTable  # noqa: PLC0415

    session = session or boto3.session.Session()
    return CentralTable(
        session.client("dynamodb", config=client_config()),
        settings.table_name,
        settings.retention_days,
    )


def build_member_control(
    settings: Settings, session: boto3.session.Session | None = None
) -> MemberControl:
    """The org kill switch in a member: its audit table and default bus, two clients only
    (an SNS delivery needs no Cloud Control client, nor SQS)."""
    from reaper.org.control import MemberControl  # noqa: PLC0415

    session = session or boto3.session.Session()
    return MemberControl(
        session.client("dynamodb", config=client_config()),
        settings.audit_table_name,
        session.client("events", config=client_config()),
    )


def build_readers(
    settings: Settings, session: boto3.session.Session
) -> tuple[CloudControlAdapter, AuditTable]:
    """Cloud Control and the audit table, two clients only: what the CLI reads a member with
    (a dry-run sweep, status) through a read-only role."""
    config = client_config()
    clients = (
        session.client("cloudcontrol", config=config),
        session.client("dynamodb", config=config),
    )
    rate = settings.config.calls_per_second_per_invocation
    return (
        CloudControlAdapter(clients[0], TokenBucket(rate)),
        AuditTable(clients[1], settings.audit_table_name, settings.config.audit_retention_days),
    )
