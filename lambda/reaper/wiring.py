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
from reaper.adapters.queues import SqsDeadLetters, SqsWorkQueue
from reaper.clock import SystemClock
from reaper.ports import Clock
from reaper.ratelimit import TokenBucket
from reaper.service import Reaper
from reaper.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_cloudcontrol import CloudControlApiClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

# Concurrent cancels in a sweep; the shared token bucket, not this, sets the call rate.
WORKERS = 16
CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 10
# botocore's standard mode retries throttling, 5xx (ConcurrentModificationException is a
# 500) and timeouts with jittered backoff; every attempt still waits for the token bucket.
MAX_ATTEMPTS = 5  # in all, the first attempt included


@dataclass(frozen=True)
class AwsClients:
    cloud_control: CloudControlApiClient
    dynamodb: DynamoDBClient
    sqs: SQSClient


def client_config(pool: int = WORKERS + 4) -> Config:
    return Config(
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        max_pool_connections=pool,
    )


def build_clients(
    region_name: str | None = None, session: boto3.session.Session | None = None
) -> AwsClients:
    """Clients are made once per container (each costs ~0.1 s) and passed in.

    ``session`` lets the CLI bring a profile's session; the Lambda uses the default one.
    """
    session = session or boto3.session.Session(region_name=region_name)
    config = client_config()
    return AwsClients(
        cloud_control=session.client("cloudcontrol", config=config),
        dynamodb=session.client("dynamodb", config=config),
        sqs=session.client("sqs", config=config),
    )


def build_reaper(
    settings: Settings,
    clients: AwsClients | None = None,
    clock: Clock | None = None,
    workers: int = WORKERS,
) -> Reaper:
    clients = clients or build_clients()
    config = settings.config
    return Reaper(
        config=config,
        cloud_control=CloudControlAdapter(
            clients.cloud_control, TokenBucket(config.calls_per_second_per_invocation)
        ),
        audit=build_audit_table(settings, clients),
        dead_letters=SqsDeadLetters(clients.sqs, settings.dead_letter_queue_url),
        work_queue=SqsWorkQueue(clients.sqs, settings.work_queue_url),
        clock=clock or SystemClock(),
        workers=workers,
    )


def build_audit_table(settings: Settings, clients: AwsClients) -> AuditTable:
    """The audit adapter alone, for readers (``cc-reaper audit``)."""
    return AuditTable(
        clients.dynamodb, settings.audit_table_name, settings.config.audit_retention_days
    )
