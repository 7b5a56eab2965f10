"""Given requireApproval, when the stack synthesizes, then the function is told the alarm topic
and may publish there and nowhere else; without it, neither."""

from __future__ import annotations

from typing import Any

import pytest
from reaper import contracts

from .conftest import Synthesized

pytestmark = pytest.mark.xdist_group("cdk-synth")


def function_env(synth: Synthesized) -> dict[str, Any]:
    (function,) = synth.resources("AWS::Lambda::Function").values()
    return function["Properties"]["Environment"]["Variables"]


def publish_statements(synth: Synthesized) -> list[dict[str, Any]]:
    return [
        statement
        for policy in synth.resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "sns:Publish"
        in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    ]


def test_require_approval_tells_the_function_the_alarm_topic_and_grants_publish_there_only(
    synthesized_with_options: Synthesized,
) -> None:
    (topic_id,) = synthesized_with_options.resources("AWS::SNS::Topic").keys() & {
        k for k in synthesized_with_options.resources("AWS::SNS::Topic") if "Alarm" in k
    }
    env = function_env(synthesized_with_options)
    assert env[contracts.ENV_APPROVAL_TOPIC_ARN] == {"Ref": topic_id}
    statements = [
        s
        for s in publish_statements(synthesized_with_options)
        if s.get("Resource") == {"Ref": topic_id}
    ]
    assert len(statements) == 1 and statements[0]["Effect"] == "Allow"


def test_without_require_approval_the_function_publishes_nowhere(synthesized: Synthesized) -> None:
    assert contracts.ENV_APPROVAL_TOPIC_ARN not in function_env(synthesized)
    assert publish_statements(synthesized) == []
