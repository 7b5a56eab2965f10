"""Where the reaper lives: the AWS session (profile, Region, AWS_ENDPOINT_URL_*), the stack's
outputs, and the settings the Lambda would have. boto3 clients come from ``reaper.wiring``'s
client configuration (same retries and timeouts as the function)."""

from __future__ import annotations

import argparse
import getpass
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError, NoCredentialsError
from reaper import contracts
from reaper.config import ReaperConfig
from reaper.settings import Settings
from reaper.wiring import AwsClients, build_clients, client_config

from reaper_cli.errors import USAGE, CliError

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

DEFAULT_STACK_NAME = "CloudControlReaper"


class Need(Enum):
    """A resource a command uses; only missing ones make the CLI read the stack."""

    # The stack output that names it (reaper.contracts) and the flag that skips the stack.
    TABLE = (contracts.OUTPUT_AUDIT_TABLE_NAME, "--table")
    WORK_QUEUE = (contracts.OUTPUT_WORK_QUEUE_URL, "--work-queue-url")
    DEAD_LETTER_QUEUE = (contracts.OUTPUT_DEAD_LETTER_QUEUE_URL, "--dlq-url")

    @property
    def output(self) -> str:
        return self.value[0]

    @property
    def flag(self) -> str:
        return self.value[1]


ALL = (Need.TABLE, Need.WORK_QUEUE, Need.DEAD_LETTER_QUEUE)


def add_account_options(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    """On the top-level parser and on each command, so they go before or after the command.

    Sub-commands default to SUPPRESS: argparse would otherwise overwrite a value given before
    the command with the sub-command's default.
    """

    def default(value: Any) -> Any:
        return value if top_level else argparse.SUPPRESS

    group = parser.add_argument_group("account and output")
    group.add_argument("--profile", default=default(None), help="AWS profile (default: boto3's)")
    group.add_argument("--region", default=default(None), help="AWS Region (default: boto3's)")
    group.add_argument(
        "--stack-name",
        default=default(DEFAULT_STACK_NAME),
        help="CloudFormation stack whose outputs name the table and queues "
        f"(default {DEFAULT_STACK_NAME})",
    )
    group.add_argument("--table", default=default(None), help="audit table name (skips the stack)")
    group.add_argument("--work-queue-url", default=default(None), help="work queue URL")
    group.add_argument("--dlq-url", default=default(None), help="dead-letter queue URL")
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="machine-readable output (JSON lines on stdout)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default(False),
        help="the reaper's own JSON logs, on stderr",
    )


def region_name(flag: str | None, environ: Mapping[str, str] = os.environ) -> str | None:
    """--region, else botocore's own choice, except that AWS_REGION counts too.

    botocore reads AWS_DEFAULT_REGION and the profile's region but not AWS_REGION, which the
    other SDKs, AWS CLI v2, CloudShell and Lambda set: without AWS_DEFAULT_REGION it is
    used, ahead of the profile's region (environment before config file, as in the SDKs).
    """
    if flag:
        return flag
    if environ.get("AWS_DEFAULT_REGION"):
        return None  # botocore reads it
    return environ.get("AWS_REGION") or None


def operator_name() -> str:
    """``user@host``: who ran the command, in reasons and ``blocked_call``."""
    return f"{getpass.getuser()}@{socket.gethostname()}"


@dataclass(frozen=True)
class Resources:
    table: str
    work_queue_url: str
    dead_letter_queue_url: str


class Account:
    """One AWS session for the whole command; clients made once, on first use."""

    def __init__(self, args: argparse.Namespace) -> None:
        self._args = args
        self.session = boto3.session.Session(
            profile_name=args.profile, region_name=region_name(args.region)
        )

    @cached_property
    def clients(self) -> AwsClients:
        self.require_credentials()
        return build_clients(session=self.session)

    def require_credentials(self) -> None:
        """Fail before any work when there are none: the same one line for every command,
        instead of a service step logging the adapter's wrapped error first. The session
        caches what it resolves, so the clients made next do not look again."""
        if self.session.get_credentials() is None:
            raise NoCredentialsError

    def resources(self, *needs: Need) -> Resources:
        """Explicit flags first; the stack's outputs for whatever a command needs and lacks."""
        given = {
            Need.TABLE: self._args.table,
            Need.WORK_QUEUE: self._args.work_queue_url,
            Need.DEAD_LETTER_QUEUE: self._args.dlq_url,
        }
        missing = [need for need in needs if not given[need]]
        if missing:
            outputs = self.stack_outputs()
            for need in missing:
                if need.output not in outputs:
                    raise CliError(
                        f"stack {self._args.stack_name} has no output {need.output}; "
                        f"pass {need.flag}",
                        USAGE,
                    )
                given[need] = outputs[need.output]
        return Resources(
            table=given[Need.TABLE] or "",
            work_queue_url=given[Need.WORK_QUEUE] or "",
            dead_letter_queue_url=given[Need.DEAD_LETTER_QUEUE] or "",
        )

    def stack_outputs(self) -> dict[str, str]:
        name = self._args.stack_name
        self.require_credentials()
        cloudformation: CloudFormationClient = self.session.client(
            "cloudformation", config=client_config()
        )
        try:
            stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ValidationError":
                raise CliError(
                    f"stack {name} not found in {self.session.region_name}: pass --stack-name, "
                    "or --table/--work-queue-url/--dlq-url"
                ) from exc
            raise
        return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}

    def settings(self, config: ReaperConfig, *needs: Need) -> Settings:
        """What the function's environment would hold (URLs a command does not use are "")."""
        found = self.resources(*needs)
        return Settings(
            audit_table_name=found.table,
            work_queue_url=found.work_queue_url,
            dead_letter_queue_url=found.dead_letter_queue_url,
            config=config,
            tracing=False,
        )
