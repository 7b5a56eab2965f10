"""The organization context key: each bad field is one line naming it and its rule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import ConfigError, settings_from_context

from .conftest import cdk_json_context

GOOD: dict[str, Any] = {
    "orgId": "o-a1b2c3d4e5",
    "ous": ["ou-ab12-cdef3456"],
    "regions": ["eu-west-1"],
}


def _problems(organization: Any, **context: Any) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        settings_from_context({**cdk_json_context(), "organization": organization, **context})
    return raised.value.problems


def test_absent_or_null_is_the_single_account_app() -> None:
    assert settings_from_context(cdk_json_context()).infra.organization is None
    context = {**cdk_json_context(), "organization": None}
    assert settings_from_context(context).infra.organization is None


def test_defaults_and_the_json_string_that_dash_c_gives() -> None:
    settings = settings_from_context({**cdk_json_context(), "organization": json.dumps(GOOD)})
    org = settings.infra.organization
    assert org is not None
    assert org.call_as.value == "SELF"
    assert (org.failure_tolerance_percentage, org.max_concurrent_percentage) == (10, 25)
    assert org.code_bucket_name("eu-west-1") == "cc-reaper-code-o-a1b2c3d4e5-eu-west-1"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("orgId", "123", "organization.orgId: must be an organization id"),
        ("ous", ["ou-bad"], "organization.ous: 'ou-bad' is not an OU id"),
        ("ous", [], "organization.ous: Tuple should have at least 1 item"),
        ("regions", ["eu-west-1", "eu-west-1"], "organization.regions: lists eu-west-1 more"),
        ("regions", ["Ireland"], "organization.regions: 'Ireland' is not a Region name"),
        ("callAs", "ADMIN", "organization.callAs: Input should be 'SELF' or 'DELEGATED_ADMIN'"),
        ("failureTolerancePercentage", 101, "organization.failureTolerancePercentage: "),
        ("maxConcurrentPercentage", 0, "organization.maxConcurrentPercentage: "),
        ("archiveRetentionDays", -1, "organization.archiveRetentionDays: "),
        ("codeBucketPrefix", "My_Bucket", "organization.codeBucketPrefix: must be lower-case"),
        ("codeBucketPrefix", "x" * 60, "codeBucketPrefix: bucket name 'xxx"),
        ("regionz", ["eu-west-1"], "organization.regionz: Extra inputs are not permitted"),
    ],
)
def test_each_bad_field_is_one_line_naming_it(field: str, value: Any, expected: str) -> None:
    problems = _problems({**GOOD, field: value})
    assert len(problems) == 1, problems
    assert expected in problems[0], problems[0]


def test_two_bad_fields_are_two_lines() -> None:
    problems = _problems({**GOOD, "orgId": "x", "regions": ["nowhere"]})
    assert len(problems) == 2, problems


def test_not_json_is_one_line() -> None:
    (problem,) = _problems("{orgId: o-1}")
    assert problem.startswith("organization: is not valid JSON")


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"requireApproval": True}, "requireApproval: not available with organization"),
        (
            {"slackWorkspaceId": "T0123ABCD", "slackChannelId": "C0123ABCD"},
            "slackWorkspaceId/slackChannelId: not available with organization",
        ),
        ({"environments": "111111111111/eu-west-1"}, "environments: leave empty with organization"),
    ],
)
def test_what_a_member_cannot_do_is_refused(context: dict[str, Any], expected: str) -> None:
    problems = _problems(GOOD, **context)
    assert len(problems) == 1 and problems[0].startswith(expected), problems


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (
            {
                "kmsKey": "arn:aws:kms:eu-west-1:111111111111:key/"
                "1234abcd-12ab-34cd-56ef-1234567890ab"
            },
            'kmsKey: use "create" with organization',
        ),
        (
            {
                "vpc": {
                    "vpcId": "vpc-0123456789abcdef0",
                    "subnetIds": ["subnet-0123456789abcdef0"],
                    "routeTableIds": ["rtb-0123456789abcdef0"],
                }
            },
            'vpc: use "create" with organization',
        ),
        (
            {"permissionsBoundaryArn": "arn:aws:iam::111111111111:policy/Boundary"},
            "permissionsBoundaryArn: with organization write the account as ${AWS::AccountId}",
        ),
    ],
)
def test_a_member_option_naming_one_account_is_refused(
    context: dict[str, Any], expected: str
) -> None:
    # One member template serves every account: an id of one account cannot be in it.
    problems = _problems(GOOD, **context)
    assert [p for p in problems if p.startswith(expected)], problems


def test_a_member_boundary_with_the_account_substituted_is_accepted() -> None:
    arn = "arn:aws:iam::${AWS::AccountId}:policy/Boundary"
    settings = settings_from_context(
        {
            **cdk_json_context(),
            "organization": GOOD,
            "permissionsBoundaryArn": arn,
            "kmsKey": "create",
        }
    )
    assert settings.infra.enterprise.permissions_boundary_arn == arn
