"""The CLI against a local account: moto's server (CloudFormation, DynamoDB, SQS) and the Cloud
Control emulator, started once per session. Each test gets its own stack in moto's
CloudFormation (audit table with the key schema of ``reaper.contracts``, work queue and DLQ, and
the outputs the CDK stack has), so ``--stack-name`` is resolved by a real DescribeStacks.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from ccapi_emulator import EmulatorConfig
from reaper import contracts
from reaper_cli.main import main
from reaper_local.audit_schema import audit_table_definition
from reaper_local.localstack import LocalAccount

# The outputs and key schema of the CDK stack (infra/), in a template moto creates at once.
TEMPLATE: dict[str, Any] = {
    "Resources": {
        "AuditTable": {"Type": "AWS::DynamoDB::Table", "Properties": audit_table_definition()},
        "DeadLetterQueue": {"Type": "AWS::SQS::Queue"},
        "WorkQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
                    "maxReceiveCount": 5,
                }
            },
        },
    },
    "Outputs": {
        contracts.OUTPUT_AUDIT_TABLE_NAME: {"Value": {"Ref": "AuditTable"}},
        contracts.OUTPUT_WORK_QUEUE_URL: {"Value": {"Ref": "WorkQueue"}},
        contracts.OUTPUT_DEAD_LETTER_QUEUE_URL: {"Value": {"Ref": "DeadLetterQueue"}},
    },
}


@pytest.fixture(autouse=True)
def _pipe_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as a pipe gets them: xdist's workers inherit COLUMNS=80, which the CLI honours."""
    monkeypatch.delenv("COLUMNS", raising=False)


@pytest.fixture(scope="session")
def local() -> Iterator[LocalAccount]:
    # Manual clock at "now": the CLI's reaper reads the real clock; seeded ages are relative.
    # Cancels complete at once, so following one costs one poll, not a sleep.
    config = EmulatorConfig(
        manual_clock=True, rate_per_second=None, cancel_complete_after_seconds=0
    )
    with LocalAccount(config) as account:
        yield account


@pytest.fixture
def emulator(local: LocalAccount) -> Iterator[Any]:
    backend = local.emulator.backend
    backend.reset()
    yield backend
    backend.reset()


@dataclass
class ReaperStack:
    name: str
    outputs: dict[str, str]
    dynamodb: Any
    sqs: Any

    @property
    def table(self) -> str:
        return self.outputs[contracts.OUTPUT_AUDIT_TABLE_NAME]

    @property
    def work_queue_url(self) -> str:
        return self.outputs[contracts.OUTPUT_WORK_QUEUE_URL]

    @property
    def dlq_url(self) -> str:
        return self.outputs[contracts.OUTPUT_DEAD_LETTER_QUEUE_URL]

    def decisions(self) -> list[dict[str, Any]]:
        items = self.dynamodb.scan(TableName=self.table)["Items"]
        return [
            {k: next(iter(v.values())) for k, v in item.items()}
            for item in items
            if item[contracts.TABLE_SORT_KEY]["S"].startswith("DECISION#")
        ]

    def bodies(self, url: str) -> list[str]:
        """Every message in a queue (received and deleted)."""
        found: list[str] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                found.append(message["Body"])
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def aws_env(local: LocalAccount, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """boto3's standard configuration pointing at the local account (no profile, no IMDS)."""
    env = {**local.endpoint_env(), "AWS_EC2_METADATA_DISABLED": "true"}
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # botocore's standard retries back off up to seconds: two attempts show a retry, no more.
    monkeypatch.setattr("reaper.wiring.MAX_ATTEMPTS", 2)
    return env


@pytest.fixture
def stack(local: LocalAccount, aws_env: dict[str, str]) -> Iterator[ReaperStack]:
    cloudformation = local.client("cloudformation")
    name = f"Reaper-{uuid.uuid4().hex[:10]}"
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(TEMPLATE))
    described = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    yield ReaperStack(name, outputs, local.client("dynamodb"), local.client("sqs"))
    cloudformation.delete_stack(StackName=name)


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


Cli = Callable[..., Result]


@pytest.fixture
def cli(stack: ReaperStack, capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cc-reaper --stack-name <this test's stack> ARGS`` in-process."""

    def run(*argv: str, stack_name: str | None = stack.name) -> Result:
        capsys.readouterr()
        prefix = ["--stack-name", stack_name] if stack_name else []
        code = main([*prefix, *argv])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def console_script() -> str:
    """The installed ``cc-reaper`` next to the interpreter running the tests."""
    path = os.path.join(os.path.dirname(sys.executable), "cc-reaper")
    assert os.path.exists(path), "run `pip install -e . --no-deps` to install the console script"
    return path
