"""The one module that builds boto3 clients and wires adapters into the service.

The Lambda handler and the CLI both call ``build_reaper``; tests pass their own clients.
Endpoints come only from boto3's standard configuration (AWS_ENDPOINT_URL[_<SERVICE>]).
"""

from __future__ import annotations

import math
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

# Concurrent cancel workers in a sweep, sized from the rate by Little's law: calls in flight
# = calls per second x seconds a call holds a worker (Cloud Control's answer, the claim and a
# share of the audit writes: ~0.25 s allowed). The shared token bucket, not this, sets the rate.
SECONDS_PER_CALL = 0.25
MIN_WORKERS = 4
MAX_WORKERS = 64
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


def workers_for(calls_per_second: float) -> int:
    """4 at the default 5 calls/s per invocation, 7 at 25/s, 50 at 200/s, at most 64."""
    return max(MIN_WORKERS, min(MAX_WORKERS, math.ceil(calls_per_second * SECONDS_PER_CALL)))


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
    workers: int | None = None,
) -> Reaper:
    clients = clients or build_clients()
    config = settings.config
    rate = config.calls_per_second_per_invocation
    return Reaper(
        config=config,
        cloud_control=CloudControlAdapter(clients.cloud_control, TokenBucket(rate)),
        audit=build_audit_table(settings, clients),
        dead_letters=SqsDeadLetters(clients.sqs, settings.dead_letter_queue_url),
        work_queue=SqsWorkQueue(clients.sqs, settings.work_queue_url),
        clock=clock or SystemClock(),
        workers=workers or workers_for(rate),
    )


def build_audit_table(settings: Settings, clients: AwsClients) -> AuditTable:
    """The audit adapter alone, for readers (``cc-reaper audit``)."""
    return AuditTable(
        clients.dynamodb, settings.audit_table_name, settings.config.audit_retention_days
    )
