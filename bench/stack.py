"""The benchmarks' local stack: the emulator and moto's server, each in its own process.

The reaper under test always runs in a third, fresh process (``bench.handler_child``), so its
time and peak memory are its own. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from reaper import contracts

# The audit table's schema outside the CDK stack: one definition, shared with the tests.
from reaper_local.audit_schema import create_audit_table
from reaper_local.cfn_deploy import DEFAULT_REGION as REGION
from reaper_local.localstack import CREDENTIALS

START_TIMEOUT_SECONDS = 30
HTTP_TIMEOUT_SECONDS = 120


@contextmanager
def _process(command: list[str], ready: str) -> Iterator[tuple[str, int]]:
    """Start ``command``, wait for its "<ready> listening on <url>" line, yield the URL
    and the process id."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        began = time.monotonic()
        line = process.stdout.readline() if process.stdout else ""
        if ready not in line or time.monotonic() - began > START_TIMEOUT_SECONDS:
            raise RuntimeError(f"{command[2]} did not start: {line!r}")
        yield line.rsplit(" ", 1)[1].strip(), process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Emulator:
    """The standalone emulator, driven through its HTTP control plane."""

    endpoint_url: str

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            self.endpoint_url + path, data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            return json.loads(response.read())

    def reset(self, **config: Any) -> None:
        """No requests, counters at zero, then these knobs (latency_ms, account rate ...)."""
        self._post("/_emulator/reset", {})
        if config:
            self._post("/_emulator/config", config)

    def account(self, latency_ms: float, quota: float, knobs: dict[str, Any] | None = None) -> None:
        """A fresh, empty account: ``quota`` calls/s for all calls together (no per-family
        buckets), ``latency_ms`` on every call, plus any other ``knobs``."""
        self.reset(
            latency_ms=latency_ms,
            rate_per_second=None,
            account_rate_per_second=quota,
            **(knobs or {}),
        )

    def seed(self, count: int, **params: Any) -> list[str]:
        if count <= 0:
            return []
        tokens: list[str] = self._post("/_emulator/seed", {"count": count, **params})["tokens"]
        return tokens

    def state(self, requests: bool = True) -> dict[str, Any]:
        query = "" if requests else "?requests=false"
        url = f"{self.endpoint_url}/_emulator/state{query}"
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_SECONDS) as response:
            state: dict[str, Any] = json.loads(response.read())
        return state


@dataclass
class Services:
    emulator: Emulator
    moto_url: str
    pids: dict[str, int]  # "emulator", "moto": their CPU time is part of what a run costs


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def services(latency_ms: float, quota: float) -> Iterator[Services]:
    """The emulator (one account-wide bucket of ``quota`` calls/s, no per-family buckets,
    ``latency_ms`` per call) and moto, each in its own process."""
    emulator_command = [
        sys.executable, "-m", "ccapi_emulator", "--host", "127.0.0.1", "--port", "0",
        "--latency-ms", str(latency_ms), "--rate", "none", "--account-rate", str(quota),
    ]  # fmt: skip
    with (
        _process(emulator_command, "ccapi-emulator listening on") as (emulator_url, emulator),
        _process([sys.executable, "-m", "bench.moto_runner"], "moto listening on") as (
            moto_url,
            moto,
        ),
    ):
        yield Services(Emulator(emulator_url), moto_url, {"emulator": emulator, "moto": moto})


def aws_client(service: str, endpoint_url: str) -> Any:
    session = boto3.session.Session(
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=CREDENTIALS["aws_secret_access_key"],
    )
    return session.client(service, endpoint_url=endpoint_url)  # type: ignore[call-overload]


@dataclass
class AuditStack:
    """One run's audit table and queues, and the function's environment pointing at them."""

    table_name: str
    work_queue_url: str
    dead_letter_queue_url: str
    dynamodb: Any
    sqs: Any
    env: dict[str, str] = field(default_factory=dict)

    def get_items(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Items by (pk, sk), 100 keys a BatchGetItem: moto's Scan re-reads the whole table
        for every page, which takes minutes at 40,000 items."""
        pk_name, sk_name = contracts.TABLE_PARTITION_KEY, contracts.TABLE_SORT_KEY
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for i in range(0, len(keys), 100):
            chunk = [{pk_name: {"S": pk}, sk_name: {"S": sk}} for pk, sk in keys[i : i + 100]]
            request: dict[str, Any] = {self.table_name: {"Keys": chunk}}
            while request:
                response = self.dynamodb.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self.table_name, []):
                    found[(item[pk_name]["S"], item[sk_name]["S"])] = item
                request = response.get("UnprocessedKeys") or {}
        return found

    def decision_outcomes(self) -> dict[str, str]:
        """Token to outcome of every decision item (a Scan: for small tables only)."""
        found: dict[str, str] = {}
        params: dict[str, Any] = {
            "TableName": self.table_name,
            "FilterExpression": "begins_with(#sk, :d)",
            "ExpressionAttributeValues": {":d": {"S": "DECISION#"}},
            "ProjectionExpression": "#t, outcome",
            "ExpressionAttributeNames": {"#t": "token", "#sk": contracts.TABLE_SORT_KEY},
        }
        while True:
            page = self.dynamodb.scan(**params)
            for item in page["Items"]:
                found[item["token"]["S"]] = item["outcome"]["S"]
            if "LastEvaluatedKey" not in page:
                return found
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def queue_depths(self) -> dict[str, int]:
        depths: dict[str, int] = {}
        queues = (("work", self.work_queue_url), ("dead_letter", self.dead_letter_queue_url))
        for name, url in queues:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            depths[name] = int(attributes["ApproximateNumberOfMessages"])
        return depths

    def delete(self) -> None:
        self.dynamodb.delete_table(TableName=self.table_name)
        for url in (self.work_queue_url, self.dead_letter_queue_url):
            self.sqs.delete_queue(QueueUrl=url)


def create_audit_stack(
    services: Services, reaper_config: dict[str, Any], log_level: str = "INFO"
) -> AuditStack:
    """A fresh table (DESIGN.md schema) and work queue + DLQ, and the env the CDK stack sets
    (log level INFO as deployed: the reaper's logging is part of what is measured)."""
    suffix = uuid.uuid4().hex[:10]
    dynamodb = aws_client("dynamodb", services.moto_url)
    sqs = aws_client("sqs", services.moto_url)
    table = f"bench-audit-{suffix}"
    create_audit_table(dynamodb, table)
    dlq_url = sqs.create_queue(QueueName=f"bench-dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}
    work_url = sqs.create_queue(
        QueueName=f"bench-work-{suffix}",
        Attributes={"VisibilityTimeout": "5400", "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]
    env = function_env(services, table, work_url, dlq_url, reaper_config, log_level)
    return AuditStack(table, work_url, dlq_url, dynamodb, sqs, env)


def function_env(
    services: Services | None,
    table: str,
    work_url: str,
    dlq_url: str,
    reaper_config: dict[str, Any],
    log_level: str = "INFO",
) -> dict[str, str]:
    """The process environment of the function: os.environ without AWS profile settings,
    plus what the CDK stack sets and boto3's endpoint variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "POWERTOOLS_")) and k != contracts.ENV_REAPER_CONFIG
    }
    env.update(
        {
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
            contracts.ENV_AUDIT_TABLE_NAME: table,
            contracts.ENV_WORK_QUEUE_URL: work_url,
            contracts.ENV_DEAD_LETTER_QUEUE_URL: dlq_url,
            contracts.ENV_REAPER_CONFIG: json.dumps(reaper_config),
            contracts.ENV_POWERTOOLS_SERVICE_NAME: "cloudcontrol-reaper",
            contracts.ENV_POWERTOOLS_METRICS_NAMESPACE: "CloudControlReaper",
            contracts.ENV_POWERTOOLS_LOG_LEVEL: log_level,
            contracts.ENV_TRACE_DISABLED: "true",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    if services is not None:
        env.update(
            AWS_ENDPOINT_URL_CLOUDCONTROL=services.emulator.endpoint_url,
            AWS_ENDPOINT_URL_DYNAMODB=services.moto_url,
            AWS_ENDPOINT_URL_SQS=services.moto_url,
            AWS_ENDPOINT_URL_EVENTBRIDGE=services.moto_url,
        )
    return env
