"""Context: what a user types with -c or in cdk.json, validated at synth with clear errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Match, Template
from reaper.config import ReaperConfig

from infra.application import build_app
from infra.config import CONTEXT_KEYS, ConfigError, settings_from_context

from .conftest import REPO_ROOT, cdk_json_context


@pytest.mark.parametrize(
    ("key", "value", "rule"),
    [
        ("maxConcurrency", "99", "less than or equal to 50"),
        ("maxConcurrency", "1", "at least 2 for the deployed stack"),
        ("dryRun", "maybe", "valid boolean"),
        ("schedule", "every 5 minutes", "EventBridge schedule expression"),
        ("schedule", "rate(1 minutes)", "EventBridge schedule expression"),
        ("thresholdRules", "{not json", "not valid JSON"),
        ("thresholdRules", '{"AWS::RDS::*": 2}', "greater than or equal to 5"),
        ("builtinRules", "perhaps", "valid boolean"),
        ("builtinRules", "[]", "valid boolean"),
        ("includeTypes", "[]", "at least 1 item"),
        ("excludeTypes", "AWS::S3::Bucket,bad type!", "should match pattern"),
        ("logRetentionDays", "31", "values CloudWatch Logs accepts"),
        ("functionTimeoutSeconds", "901", "less than or equal to 900"),
        ("cancelFollowSeconds", "600", "must leave 60 s of functionTimeoutSeconds"),
        ("alarmEmail", "ops-at-example.com", "e-mail address"),
        ("environments", "123/eu-west-1", "12-digit AWS account id"),
        ("environments", "123456789012", '"account/region,..."'),
        ("callsPerSecond", "0", "greater than 0"),
        ("retainAuditTable", "sometimes", "valid boolean"),
        ("blockingThresholdMinutes", "2", "greater than or equal to 5"),
        ("blockingThresholdMinutes", "soon", "valid integer"),
        ("hooksInProgress", "kill", "'wait' or 'cancel'"),
        ("hookThresholdMinutes", "20000", "less than or equal to 10080"),
        ("verifyLeftovers", "s3:GetBucketLocation,read everything", "should match pattern"),
        ("verifyLeftovers", '["s3:GetBucketLocation", "s3:*"]', "not a whole service"),
        ("emitEvents", "loudly", "valid boolean"),
        ("slackWorkspaceId", "my-team.slack.com", "must be a Slack id"),
        ("slackChannelId", "#ops", "must be a Slack id"),
    ],
)
def test_bad_context_fails_with_a_message_naming_the_key(key: str, value: str, rule: str) -> None:
    # Given the shipped cdk.json with one value overridden as `-c key=value` would
    context = {**cdk_json_context(), key: value}
    # When the app is built, Then it refuses, naming the key and the rule broken
    with pytest.raises(ConfigError) as raised:
        build_app(App(context=context))
    message = str(raised.value)
    assert f"- {key}" in message
    assert rule in message


@pytest.mark.parametrize(
    "given", [{"slackWorkspaceId": "T0123ABCD"}, {"slackChannelId": "C0123ABCD"}]
)
def test_slack_ids_come_together_or_not_at_all(given: dict[str, str]) -> None:
    # Given one of the two Slack ids only, When the app is built
    with pytest.raises(ConfigError) as raised:
        build_app(App(context={**cdk_json_context(), **given}))
    # Then one line names both keys
    (problem,) = raised.value.problems
    assert problem.startswith("slackWorkspaceId/slackChannelId: ")
    assert "set together or not at all" in problem


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from_context({"dryRun": "nah", "maxConcurrency": "0", "schedule": "hourly"})
    assert len(raised.value.problems) == 3


def test_a_rule_across_keys_names_both_keys() -> None:
    with pytest.raises(ConfigError, match=r"callsPerSecond/maxConcurrency"):
        settings_from_context({"callsPerSecond": "0.5", "maxConcurrency": "10"})


def test_a_key_in_the_wrong_case_is_a_typo_not_silence() -> None:
    with pytest.raises(ConfigError, match=r"dryrun: unknown key, did you mean 'dryRun'"):
        settings_from_context({"dryrun": "false"})


def test_cli_strings_are_parsed_like_cdk_json_values() -> None:
    settings = settings_from_context(
        {
            "dryRun": "false",
            "maxConcurrency": "4",
            "callsPerSecond": "12.5",
            "includeTypes": "AWS::S3::*, AWS::SQS::*",
            "thresholdRules": '[{"type": "AWS::EKS::*", "operation": "CREATE", "minutes": 90}]',
            "environments": "111111111111/eu-west-1,222222222222/us-east-2",
            "alarmEmail": "",
            "verifyLeftovers": "s3:GetBucketLocation, ec2:Describe*",
            "hooksInProgress": "cancel",
            "blockingThresholdMinutes": "30",
            "emitEvents": "false",
            "slackWorkspaceId": "",
            "slackChannelId": "",
        }
    )
    assert settings.reaper.dry_run is False
    assert settings.reaper.max_concurrency == 4
    assert settings.reaper.calls_per_second == 12.5
    assert settings.reaper.include_types == ("AWS::S3::*", "AWS::SQS::*")
    assert settings.reaper.threshold_rules[0].minutes == 90
    assert [e.region for e in settings.infra.environments] == ["eu-west-1", "us-east-2"]
    assert settings.infra.alarm_email is None
    assert settings.reaper.verify_leftovers == ("s3:GetBucketLocation", "ec2:Describe*")
    assert settings.reaper.hooks_in_progress == "cancel"
    assert settings.reaper.blocking_threshold_minutes == 30
    assert settings.reaper.emit_events is False
    assert settings.infra.slack_workspace_id is None and settings.infra.slack_channel_id is None


def test_cdk_json_documents_every_context_key_with_the_model_defaults() -> None:
    context = cdk_json_context()
    assert {key.name for key in CONTEXT_KEYS} <= set(context)
    assert settings_from_context(context).reaper == ReaperConfig()
    docs = (REPO_ROOT / "docs" / "infrastructure.md").read_text()
    for key in CONTEXT_KEYS:
        assert f"`{key.name}`" in docs, f"{key.name} is not documented"


def test_cdk_json_holds_no_copy_of_the_builtin_rules() -> None:
    # Given the shipped cdk.json
    context = cdk_json_context()
    # Then it leaves the long-running types to the built-in rules instead of copying them
    # (a copy would drift, and editing it used to drop the protections of the others)
    assert context["thresholdRules"] == []
    assert context["builtinRules"] is True
    # And a user rule added there keeps the built-in day for the other long-running types
    settings = settings_from_context({**context, "thresholdRules": '{"AWS::S3::*": 60}'})
    assert settings.reaper.threshold_minutes("AWS::S3::Bucket", "CREATE") == 60
    assert settings.reaper.threshold_minutes("AWS::RDS::DBInstance", "CREATE") == 1440


def test_builtin_rules_can_be_turned_off_from_the_command_line() -> None:
    # Given `-c builtinRules=false`
    settings = settings_from_context({**cdk_json_context(), "builtinRules": "false"})
    # Then databases get the default threshold, as the user asked
    assert settings.reaper.builtin_rules is False
    assert settings.reaper.threshold_minutes("AWS::RDS::DBInstance", "CREATE") == 360


def test_one_stack_per_environment_with_account_and_region_in_the_name() -> None:
    context = {
        **cdk_json_context(),
        "environments": json.dumps(
            [
                {"account": "111111111111", "region": "eu-west-1"},
                {"account": "222222222222", "region": "us-east-2"},
            ]
        ),
    }
    stacks = build_app(App(context=context))
    assert [(s.stack_name, s.account, s.region) for s in stacks] == [
        ("CloudControlReaper-111111111111-eu-west-1", "111111111111", "eu-west-1"),
        ("CloudControlReaper-222222222222-us-east-2", "222222222222", "us-east-2"),
    ]


def test_context_overrides_reach_the_template() -> None:
    # Given a user who tuned concurrency, schedule, e-mail, retention and table removal
    context: dict[str, Any] = {
        **cdk_json_context(),
        "maxConcurrency": "4",
        "schedule": "cron(0/30 * * * ? *)",
        "alarmEmail": "ops@example.com",
        "retainAuditTable": "false",
        "logRetentionDays": "90",
        "functionTimeoutSeconds": "600",
        "dryRun": "false",
        "maxReceiveCount": "7",
    }
    (stack,) = build_app(App(context=context))
    # When synthesized (cdk-nag included)
    template = Template.from_stack(stack)
    # Then every value lands where it acts
    template.has_resource_properties(
        "AWS::Lambda::Function", {"ReservedConcurrentExecutions": 4, "Timeout": 600}
    )
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping", {"ScalingConfig": {"MaximumConcurrency": 3}}
    )
    template.has_resource_properties(
        "AWS::Events::Rule", {"ScheduleExpression": "cron(0/30 * * * ? *)"}
    )
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 90})
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "VisibilityTimeout": 6 * 600,
            "RedrivePolicy": {"maxReceiveCount": 7, "deadLetterTargetArn": Match.any_value()},
        },
    )
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Delete",
            "Properties": Match.object_like({"DeletionProtectionEnabled": False}),
        },
    )
    (function,) = template.find_resources("AWS::Lambda::Function").values()
    config = ReaperConfig.model_validate_json(
        function["Properties"]["Environment"]["Variables"]["REAPER_CONFIG"]
    )
    assert config.dry_run is False and config.max_concurrency == 4
