"""Options cdk.json leaves off: chat delivery (slackWorkspaceId/slackChannelId) synthesizes only
when asked for, least-privilege and cdk-nag clean; emitEvents off removes what feeds on it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from reaper import contracts

from .conftest import SLACK_CHANNEL_ID, SLACK_WORKSPACE_ID, Synthesized, synthesize

CHAT_TYPES = ("AWS::Chatbot::SlackChannelConfiguration", "AWS::KMS::Key", "AWS::IAM::ManagedPolicy")


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return list(document["Statement"])


def _topic_ids(synthesized: Synthesized) -> tuple[str, str]:
    """(alarm topic, events topic): the events topic is the encrypted one."""
    topics = synthesized.resources("AWS::SNS::Topic")
    encrypted = [k for k, t in topics.items() if "KmsMasterKeyId" in t["Properties"]]
    plain = [k for k, t in topics.items() if "KmsMasterKeyId" not in t["Properties"]]
    assert len(encrypted) == 1 and len(plain) == 1, sorted(topics)
    return plain[0], encrypted[0]


def test_without_slack_ids_nothing_of_the_chat_option_synthesizes(
    synthesized: Synthesized,
) -> None:
    # Given cdk.json as shipped (both Slack ids empty)
    for resource_type in CHAT_TYPES:
        assert not synthesized.resources(resource_type), resource_type
    # Then one topic (the alarms), one role (the function's), no rule on the reaper's events
    assert len(synthesized.resources("AWS::SNS::Topic")) == 1
    assert len(synthesized.resources("AWS::IAM::Role")) == 1
    patterns = [
        r["Properties"].get("EventPattern", {})
        for r in synthesized.resources("AWS::Events::Rule").values()
    ]
    assert not any(p.get("detail-type") == list(contracts.REAPER_DETAIL_TYPES) for p in patterns)


def test_the_channel_gets_the_alarms_and_the_reapers_events(
    synthesized_with_options: Synthesized,
) -> None:
    s = synthesized_with_options
    alarm_topic, events_topic = _topic_ids(s)
    _, channel = s.only("AWS::Chatbot::SlackChannelConfiguration")
    props = channel["Properties"]
    assert props["SlackWorkspaceId"] == SLACK_WORKSPACE_ID
    assert props["SlackChannelId"] == SLACK_CHANNEL_ID
    assert props["SnsTopicArns"] == [{"Ref": alarm_topic}, {"Ref": events_topic}]
    assert props["ConfigurationName"] == "CloudControlReaper-notifications"
    # The rule feeding the events topic matches the reaper's events and nothing else.
    (rule,) = [
        r["Properties"]
        for r in s.resources("AWS::Events::Rule").values()
        if any(t["Arn"] == {"Ref": events_topic} for t in r["Properties"].get("Targets", []))
    ]
    assert rule["EventPattern"] == {
        "source": ["cloudcontrol-reaper"],
        "detail-type": [
            "Resource Request Cancelled",
            "Resource Request Cancel Failed",
            "Resource Request Blocking",
        ],
    }
    (target,) = rule["Targets"]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 86400}


def test_the_events_topic_is_encrypted_and_only_its_rule_may_publish(
    synthesized_with_options: Synthesized,
) -> None:
    s = synthesized_with_options
    _, events_topic = _topic_ids(s)
    key_id, key = s.only("AWS::KMS::Key")
    topic = s.resources("AWS::SNS::Topic")[events_topic]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert key["Properties"]["EnableKeyRotation"] is True
    # The key: the account (CDK's default admin statement) and EventBridge, with exactly
    # the two actions SNS needs to encrypt for a publisher.
    services = [
        st for st in _statements(key["Properties"]["KeyPolicy"]) if "Service" in st["Principal"]
    ]
    assert services == [
        {
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Resource": "*",
        }
    ]
    (rule_id,) = [
        k
        for k, r in s.resources("AWS::Events::Rule").items()
        if any(t["Arn"] == {"Ref": events_topic} for t in r["Properties"].get("Targets", []))
    ]
    (policy,) = [
        p["Properties"]
        for p in s.resources("AWS::SNS::TopicPolicy").values()
        if p["Properties"]["Topics"] == [{"Ref": events_topic}]
    ]
    allows = [st for st in _statements(policy["PolicyDocument"]) if st["Effect"] == "Allow"]
    assert allows == [
        {
            "Action": "sns:Publish",
            "Condition": {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}},
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Resource": {"Ref": events_topic},
            "Sid": "PublishFromTheReapersEventsRule",
        }
    ]
    denies = [st for st in _statements(policy["PolicyDocument"]) if st["Effect"] == "Deny"]
    assert [d["Condition"] for d in denies] == [{"Bool": {"aws:SecureTransport": "false"}}]


def test_the_channel_can_run_nothing(synthesized_with_options: Synthesized) -> None:
    s = synthesized_with_options
    _, channel = s.only("AWS::Chatbot::SlackChannelConfiguration")
    props = channel["Properties"]
    # Its role: trusted by the chat service only, no policy of any kind.
    role_id = props["IamRoleArn"]["Fn::GetAtt"][0]
    role = s.resources("AWS::IAM::Role")[role_id]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "chatbot.amazonaws.com"}
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    assert not [
        p
        for p in s.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    # Its guardrail (the default would be AdministratorAccess): deny everything.
    guardrail_id, guardrail = s.only("AWS::IAM::ManagedPolicy")
    assert props["GuardrailPolicies"] == [{"Ref": guardrail_id}]
    assert _statements(guardrail["Properties"]["PolicyDocument"]) == [
        {"Action": "*", "Effect": "Deny", "Resource": "*", "Sid": "NotificationsOnly"}
    ]
    assert props["UserRoleRequired"] is True
    text = json.dumps(s.template_json)
    assert "AdministratorAccess" not in text and "ReadOnlyAccess" not in text


def test_with_every_option_cdk_nag_passes_and_cfn_lint_finds_nothing(
    synthesized_with_options: Synthesized,
) -> None:
    report = json.loads((synthesized_with_options.outdir / "validation-report.json").read_text())
    (plugin,) = report["pluginReports"]
    assert plugin["conclusion"] == "success"
    acknowledged = {v["ruleName"]: v["reason"] for v in plugin.get("suppressedViolations", [])}
    # The chat resources need no acknowledgment; the leftovers check does (function.py), and
    # the runtime (the tests' Python, not necessarily the newest) as without options.
    assert set(acknowledged) == {
        "AwsSolutions-IAM5[Resource::*]",
        "AwsSolutions-IAM5[Action::ec2:Describe*]",
        "AwsSolutions-L1",
    }
    assert all(
        "verifyLeftovers" in reason
        for rule, reason in acknowledged.items()
        if rule.startswith("AwsSolutions-IAM5")
    )
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--ignore-checks",
            "W3005",
            "--format",
            "parseable",
            "--",
            str(synthesized_with_options.template_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_emitted_events_there_is_no_events_topic_and_no_put_events(
    tmp_path: Path,
) -> None:
    # Given chat delivery asked for, but emitEvents off
    s = synthesize(
        tmp_path,
        {
            "slackWorkspaceId": SLACK_WORKSPACE_ID,
            "slackChannelId": SLACK_CHANNEL_ID,
            "emitEvents": "false",
        },
    )
    # Then the channel gets the alarms only: no events topic, key or rule to feed it
    (topic_id,) = s.resources("AWS::SNS::Topic")
    _, channel = s.only("AWS::Chatbot::SlackChannelConfiguration")
    assert channel["Properties"]["SnsTopicArns"] == [{"Ref": topic_id}]
    assert not s.resources("AWS::KMS::Key")
    # And the function may not put events anywhere
    actions = {
        action
        for p in s.resources("AWS::IAM::Policy").values()
        for st in p["Properties"]["PolicyDocument"]["Statement"]
        for action in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])
    }
    assert not {a for a in actions if a.startswith("events:")}
