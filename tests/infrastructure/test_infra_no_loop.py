"""No loop: the events the reaper puts on the bus never reach the reaper again.

Given every event rule of the synthesized stack created in EventBridge (moto's server) with its
own EventPattern from the template and an SQS queue as its target, when the reaper's events are
put on that bus, then no rule that leads to the function delivers them; and, so that the test
can fail, the events the reaper does consume arrive at exactly the rule meant for them.

moto's server has no TestEventPattern, but it matches rules on PutEvents as EventBridge does
(``exists``, exact values, nested ``detail``). Schedule rules have no pattern (moto would
treat them as matching everything; EventBridge sends them scheduled events only): left out.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from reaper import contracts

from tests.conftest import aws_client, drain

from .conftest import Synthesized

TOKEN = "f1a2b3c4-5d6e-7f80-91a2-b3c4d5e6f708"
BLOCKED_TOKEN = "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"


def reaper_event(detail_type: str) -> dict[str, Any]:
    """One event as the reaper emits it: its source, one of its detail types, a detail that
    names the request (and, for a blocking request, the refused call)."""
    detail: dict[str, Any] = {
        "schemaVersion": contracts.EVENT_SCHEMA_VERSION,
        "requestToken": TOKEN,
        "typeName": "AWS::S3::Bucket",
        "identifier": "my-bucket",
        "operation": "CREATE",
        "operationStatus": "CANCEL_COMPLETE",
        "ageMinutes": 400,
        "thresholdMinutes": 360,
        "dryRun": False,
    }
    if detail_type == contracts.DETAIL_TYPE_BLOCKING:
        # The refused call's own words: the same keys the CloudTrail rules match on.
        detail |= {
            "eventSource": contracts.CLOUDTRAIL_API_EVENT_SOURCE,
            "eventName": "UpdateResource",
            "errorCode": contracts.CONFLICT_ERROR_CODE,
            "blockedRequestToken": BLOCKED_TOKEN,
        }
    if detail_type == contracts.DETAIL_TYPE_CANCEL_FAILED:
        detail |= {"operationStatus": "IN_PROGRESS", "errorCode": "ConcurrentModificationException"}
    return {
        "Source": contracts.REAPER_EVENT_SOURCE,
        "DetailType": detail_type,
        "Detail": json.dumps(detail),
    }


def cancel_event() -> dict[str, Any]:
    return {
        "Source": contracts.CUSTOM_EVENT_SOURCE,
        "DetailType": contracts.CUSTOM_EVENT_DETAIL_TYPE,
        "Detail": json.dumps({"requestTokens": [TOKEN], "reason": "stuck deploy"}),
    }


def cloudtrail_event(error_code: str | None = None) -> dict[str, Any]:
    """A CloudTrail record of UpdateResource: successful, or refused with ``error_code``."""
    detail: dict[str, Any] = {
        "eventVersion": "1.09",
        "eventSource": contracts.CLOUDTRAIL_API_EVENT_SOURCE,
        "eventName": "UpdateResource",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "cloudformation.amazonaws.com",
        "requestParameters": {"typeName": "AWS::S3::Bucket", "identifier": "my-bucket"},
        "eventType": "AwsApiCall",
        "managementEvent": True,
    }
    if error_code is None:
        detail["responseElements"] = {
            "progressEvent": {"requestToken": TOKEN, "operationStatus": "IN_PROGRESS"}
        }
    else:
        detail |= {
            "errorCode": error_code,
            "errorMessage": "Concurrent operation found for resource my-bucket with "
            f"RequestToken {BLOCKED_TOKEN}",
            "responseElements": None,
        }
    return {
        "Source": contracts.CLOUDTRAIL_EVENT_SOURCE,
        "DetailType": contracts.CLOUDTRAIL_DETAIL_TYPE,
        "Detail": json.dumps(detail),
    }


@dataclass
class Bus:
    """A bus holding the template's event rules, each delivering to a queue of its own."""

    name: str
    events: Any
    sqs: Any
    queues: dict[str, str]  # rule logical id -> queue URL

    def put(self, entry: dict[str, Any]) -> dict[str, int]:
        """Put one event; how many messages each rule delivered (rules that delivered only)."""
        response = self.events.put_events(Entries=[{**entry, "EventBusName": self.name}])
        assert response["FailedEntryCount"] == 0, response["Entries"]
        counts = {rule: len(drain(self.sqs, url)) for rule, url in self.queues.items()}
        return {rule: n for rule, n in counts.items() if n}


def event_rules(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        logical_id: rule["Properties"]
        for logical_id, rule in synthesized.resources("AWS::Events::Rule").items()
        if "EventPattern" in rule["Properties"]
    }


def rules_into_the_reaper(synthesized: Synthesized) -> set[str]:
    """Rules whose target is the function or its work queue (a loop would go through them)."""
    (function_id,) = synthesized.resources("AWS::Lambda::Function")
    into = {function_id, *synthesized.resources("AWS::SQS::Queue")}
    return {
        logical_id
        for logical_id, props in event_rules(synthesized).items()
        if any(t["Arn"].get("Fn::GetAtt", [None])[0] in into for t in props["Targets"])
    }


@pytest.fixture
def bus_of(moto_endpoint: str) -> Iterator[Any]:
    made: list[Bus] = []
    events, sqs = aws_client("events", moto_endpoint), aws_client("sqs", moto_endpoint)

    def make(synthesized: Synthesized) -> Bus:
        name = f"no-loop-{uuid.uuid4().hex[:8]}"
        events.create_event_bus(Name=name)
        bus = Bus(name, events, sqs, {})
        made.append(bus)
        for logical_id, props in event_rules(synthesized).items():
            url = sqs.create_queue(QueueName=f"{name}-{logical_id}"[:80])["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            events.put_rule(
                Name=logical_id, EventBusName=name, EventPattern=json.dumps(props["EventPattern"])
            )
            events.put_targets(
                Rule=logical_id,
                EventBusName=name,
                Targets=[{"Id": "queue", "Arn": arn["Attributes"]["QueueArn"]}],
            )
            bus.queues[logical_id] = url
        return bus

    yield make
    for bus in made:
        for rule, url in bus.queues.items():
            events.remove_targets(Rule=rule, EventBusName=bus.name, Ids=["queue"])
            events.delete_rule(Name=rule, EventBusName=bus.name)
            sqs.delete_queue(QueueUrl=url)
        events.delete_event_bus(Name=bus.name)


def _rule_id(synthesized: Synthesized, output: str) -> str:
    return str(synthesized.template_json["Outputs"][output]["Value"]["Ref"])


def test_the_reapers_own_events_reach_no_rule_of_the_stack(
    synthesized: Synthesized, bus_of: Any
) -> None:
    # Given the stack's event rules as cdk.json deploys them (cancel, CloudTrail, conflict)
    bus = bus_of(synthesized)
    assert len(bus.queues) == 3
    # When the reaper emits each of its events, Then no rule delivers any of them
    for detail_type in contracts.REAPER_DETAIL_TYPES:
        assert bus.put(reaper_event(detail_type)) == {}, detail_type


def test_the_events_the_reaper_consumes_reach_exactly_their_rule(
    synthesized: Synthesized, bus_of: Any
) -> None:
    bus = bus_of(synthesized)
    cancel = _rule_id(synthesized, contracts.OUTPUT_CANCEL_RULE_NAME)
    cloudtrail = _rule_id(synthesized, contracts.OUTPUT_CLOUDTRAIL_RULE_NAME)
    conflict = _rule_id(synthesized, contracts.OUTPUT_CONFLICT_RULE_NAME)
    # A custom cancel event: the cancel rule only
    assert bus.put(cancel_event()) == {cancel: 1}
    # A successful call: the CloudTrail rule only (a request to watch)
    assert bus.put(cloudtrail_event()) == {cloudtrail: 1}
    # A call refused for a concurrent operation: the conflict rule only, not both
    assert bus.put(cloudtrail_event(contracts.CONFLICT_ERROR_CODE)) == {conflict: 1}
    # Any other refusal started nothing and blocks nothing: no rule
    assert bus.put(cloudtrail_event("AccessDeniedException")) == {}


def test_with_chat_delivery_the_reapers_events_reach_the_chat_topic_only(
    synthesized_with_options: Synthesized, bus_of: Any
) -> None:
    # Given the stack with chat delivery: one more rule, on the reaper's own events
    s = synthesized_with_options
    bus = bus_of(s)
    into_reaper = rules_into_the_reaper(s)
    (chat_rule,) = set(bus.queues) - into_reaper
    assert len(into_reaper) == 3
    # When the reaper emits each of its events, Then only the chat rule delivers it, and that
    # rule targets a topic, not the function or its queue
    for detail_type in contracts.REAPER_DETAIL_TYPES:
        assert bus.put(reaper_event(detail_type)) == {chat_rule: 1}, detail_type
    (target,) = event_rules(s)[chat_rule]["Targets"]
    assert target["Arn"]["Ref"] in s.resources("AWS::SNS::Topic")
    # And a custom cancel event is not mistaken for one of the reaper's events
    assert bus.put(cancel_event()) == {_rule_id(s, contracts.OUTPUT_CANCEL_RULE_NAME): 1}
