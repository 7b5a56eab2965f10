"""Which account-Regions a command acts on (``--accounts ID,ID | --org``, ``--regions``), and
a boto3 Session in each, through STS AssumeRole into ``--role-name``.

A member's resources have fixed names (reaper.contracts ORG_MEMBER_*): the CLI finds them in
any account without reading a stack. Roles: a read-only one (DynamoDB reads, Cloud Control
List/Get, SQS GetQueueUrl) is enough for ``sweep`` (dry run), ``status`` and ``kill-switch
status``; cancelling (``sweep --no-dry-run``) and setting members' switches directly need the
operator's own role in each account.
"""

from __future__ import annotations

import argparse
import getpass
import re
import threading
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError
from reaper.wiring import client_config

from reaper_cli.errors import USAGE, CliError

DEFAULT_MAX_PARALLEL = 8
MAX_PARALLEL_LIMIT = 64
ROLE_SESSION_SECONDS = 3600
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_ROLE = re.compile(r"^[\w+=,.@/-]{1,64}$")


@dataclass(frozen=True, order=True)
class Target:
    account: str
    region: str


def accounts_list(text: str) -> list[str]:
    found = [a.strip() for a in text.split(",") if a.strip()]
    bad = [a for a in found if not _ACCOUNT.match(a)]
    if not found or bad:
        raise argparse.ArgumentTypeError(f"12-digit account ids separated by commas (got {text!r})")
    return list(dict.fromkeys(found))


def regions_list(text: str) -> list[str]:
    found = [r.strip() for r in text.split(",") if r.strip()]
    bad = [r for r in found if not _REGION.match(r)]
    if not found or bad:
        raise argparse.ArgumentTypeError(
            f"Region names separated by commas, like eu-west-1,us-east-1 (got {text!r})"
        )
    return list(dict.fromkeys(found))


def _parallel(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_PARALLEL_LIMIT:
        raise argparse.ArgumentTypeError(
            f"a whole number from 1 to {MAX_PARALLEL_LIMIT} (got {text!r})"
        )
    return int(text)


def add_target_options(parser: argparse.ArgumentParser, *, role: bool = True) -> None:
    group = parser.add_argument_group("organization targets (docs/cli.md, 'Organization')")
    which = group.add_mutually_exclusive_group()
    which.add_argument("--accounts", type=accounts_list, metavar="ID,ID", help="these accounts")
    which.add_argument(
        "--org",
        action="store_true",
        help="every ACTIVE account of the organization but the management account "
        "(organizations:ListAccounts)",
    )
    group.add_argument(
        "--regions", type=regions_list, metavar="R1,R2", help="Regions of each account (required)"
    )
    if role:
        group.add_argument(
            "--role-name",
            type=_role,
            metavar="NAME",
            help="role assumed in each account (STS AssumeRole): read-only for dry runs and "
            "reads, the operator's own for cancels",
        )
        group.add_argument(
            "--max-parallel",
            type=_parallel,
            default=DEFAULT_MAX_PARALLEL,
            help=f"account-Regions worked on at once (default {DEFAULT_MAX_PARALLEL})",
        )


def _role(text: str) -> str:
    if not _ROLE.match(text):
        raise argparse.ArgumentTypeError(
            f"an IAM role name, 1 to 64 of [A-Za-z0-9+=,.@_/-] (got {text!r})"
        )
    return text


def wants_targets(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "accounts", None) or getattr(args, "org", False))


def require_regions(args: argparse.Namespace) -> list[str]:
    if not args.regions:
        flag = "--org" if args.org else "--accounts"
        raise CliError(f"{flag} needs --regions (the Regions the members run in)", USAGE)
    regions: list[str] = args.regions
    return regions


def require_role(args: argparse.Namespace) -> str:
    if not args.role_name:
        raise CliError(
            "--accounts/--org need --role-name (the role assumed in each account)", USAGE
        )
    role: str = args.role_name
    return role


def org_accounts(session: boto3.session.Session) -> list[str]:
    """ACTIVE accounts of the organization, management account left out: a StackSet with
    service-managed permissions never deploys to it."""
    # No mypy_boto3 stubs for Organizations and STS here: these two clients are untyped.
    client: Any = session.client("organizations", config=client_config())
    management = client.describe_organization()["Organization"].get("MasterAccountId")
    found: list[str] = []
    for page in client.get_paginator("list_accounts").paginate():
        for account in page["Accounts"]:
            # ``State`` is the newer field, ``Status`` the one it replaces: either says ACTIVE.
            state = account.get("State") or account.get("Status")
            if state == "ACTIVE" and account["Id"] != management:
                found.append(account["Id"])
    return sorted(found)


def resolve(args: argparse.Namespace, session: boto3.session.Session) -> list[Target]:
    regions = require_regions(args)
    accounts: list[str] = args.accounts or org_accounts(session)
    if not accounts:
        raise CliError("the organization has no ACTIVE member account")
    return [Target(a, r) for a in accounts for r in regions]


class TargetSessions:
    """One AssumeRole per account (shared by its Regions), a Session per target."""

    def __init__(self, base: boto3.session.Session, role_name: str) -> None:
        self._base = base
        self._role = role_name
        self._lock = threading.Lock()
        self._credentials: dict[str, dict[str, Any]] = {}
        self._sts: Any = base.client("sts", config=client_config())
        self._name = re.sub(r"[^\w+=,.@-]", "-", f"cc-reaper-{getpass.getuser()}")[:64]

    def role_arn(self, target: Target) -> str:
        partition = self._base.get_partition_for_region(target.region)
        return f"arn:{partition}:iam::{target.account}:role/{self._role}"

    def session(self, target: Target) -> boto3.session.Session:
        with self._lock:
            credentials = self._credentials.get(target.account)
        if credentials is None:
            try:
                credentials = self._sts.assume_role(
                    RoleArn=self.role_arn(target),
                    RoleSessionName=self._name,
                    DurationSeconds=ROLE_SESSION_SECONDS,
                )["Credentials"]
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "Unknown")
                raise CliError(f"cannot assume {self.role_arn(target)}: {code}") from exc
            with self._lock:
                self._credentials[target.account] = credentials
        assert credentials is not None
        return boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=target.region,
        )
