"""Given the targeting flags, when the CLI lists the organization's accounts and assumes the
role in each, then it pages through ListAccounts, keeps ACTIVE members only (never the
management account), builds role ARNs in the target Region's partition, and assumes the role
once per account whatever the number of Regions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from reaper_cli.targets import Target, TargetSessions, org_accounts

MANAGEMENT = "111111111111"


def session_with(client: Any) -> boto3.session.Session:
    session = boto3.session.Session(
        aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
    )
    session.client = lambda *args, **kwargs: client  # type: ignore[method-assign]
    return session


def account(account_id: str, **state: str) -> dict[str, Any]:
    return {
        "Id": account_id,
        "Arn": f"arn:aws:organizations::{MANAGEMENT}:account/o-x/{account_id}",
        "Email": f"{account_id}@example.com",
        "Name": account_id,
        **state,
    }


def test_org_accounts_pages_and_keeps_active_members_only():
    client = boto3.client(
        "organizations", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    with Stubber(client) as stub:
        stub.add_response(
            "describe_organization",
            {"Organization": {"Id": "o-abcdefghij", "MasterAccountId": MANAGEMENT}},
        )
        stub.add_response(
            "list_accounts",
            {
                "Accounts": [
                    account(MANAGEMENT, Status="ACTIVE"),
                    account("333333333333", Status="SUSPENDED"),
                    account("222222222222", Status="ACTIVE"),
                ],
                "NextToken": "page-2",
            },
        )
        stub.add_response(
            "list_accounts",
            {
                "Accounts": [
                    account("444444444444", State="ACTIVE"),
                    account("555555555555", State="CLOSED"),
                ]
            },
            {"NextToken": "page-2"},
        )

        found = org_accounts(session_with(client))

    assert found == ["222222222222", "444444444444"]


@pytest.mark.parametrize(
    ("region", "partition"),
    [("eu-west-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")],
)
def test_the_role_arn_is_in_the_target_regions_partition(region, partition):
    sessions = TargetSessions(session_with(object()), "cc-reaper-readonly")

    arn = sessions.role_arn(Target("222222222222", region))

    assert arn == f"arn:{partition}:iam::222222222222:role/cc-reaper-readonly"


def test_the_role_is_assumed_once_per_account_and_each_target_gets_its_region():
    sts = boto3.client(
        "sts", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    credentials = {
        "AccessKeyId": "ASIAEXAMPLEEXAMPLE12",
        "SecretAccessKey": "secret",
        "SessionToken": "token",
        "Expiration": datetime.now(UTC) + timedelta(hours=1),
    }
    with Stubber(sts) as stub:
        stub.add_response(
            "assume_role",
            {"Credentials": credentials},
            {
                "RoleArn": "arn:aws:iam::222222222222:role/ops",
                "RoleSessionName": ANY,
                "DurationSeconds": 3600,
            },
        )
        sessions = TargetSessions(session_with(sts), "ops")
        first = sessions.session(Target("222222222222", "eu-west-1"))
        second = sessions.session(Target("222222222222", "us-east-1"))

    assert (first.region_name, second.region_name) == ("eu-west-1", "us-east-1")
    assert first.get_credentials().access_key == "ASIAEXAMPLEEXAMPLE12"  # type: ignore[union-attr]
