"""Given a deployment blocked by an old request, hooks, CloudTrail callers and completed
cancels, when the reaper decides, then it unblocks what is stale, waits for running hooks,
says who started each request, tells the world, and records what a cancel left behind."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from reaper import contracts
from reaper.errors import CloudControlError
from reaper.models import Mode, Outcome, Status
from reaper.parsing import BlockedCall, parse_event

from .fakes import T0, World

PRINCIPAL = "arn:aws:sts::111122223333:assumed-role/deployer/ci"
AGENT = "terraform-provider-awscc/1.20.0"


def refused(
    type_name: str, identifier: str, message: str, event_name: str = "UpdateResource"
) -> dict:
    return {
        "id": "ev-conflict",
        "source": "aws.cloudcontrolapi",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {
            "eventSource": "cloudcontrolapi.amazonaws.com",
            "eventName": event_name,
            "eventTime": T0.isoformat().replace("+00:00", "Z"),
            "userIdentity": {"type": "AssumedRole", "arn": PRINCIPAL},
            "userAgent": AGENT,
            "sourceIPAddress": "203.0.113.10",
            "errorCode": "ConcurrentOperationException",
            "errorMessage": message,
            "requestParameters": {
                "typeName": type_name,
                "identifier": identifier,
                "patchDocument": "HIDDEN_DUE_TO_SECURITY_REASONS",
            },
            "responseElements": None,
        },
    }


class EventsSeen:
    def __init__(self, lose: int = 0) -> None:
        self.entries: list[tuple[str, dict]] = []
        self.lose = lose

    def put(self, entries):
        self.entries += [(kind, json.loads(detail)) for kind, detail in entries]
        return min(self.lose, len(entries))


def with_events(world: World, bus: EventsSeen) -> World:
    world.reaper.ports = replace(world.reaper.ports, events=bus)
    return world


# ---------------------------------------------------------------- parsing a refused call
def test_a_refused_call_names_the_resource_the_caller_and_a_token_hint():
    parsed = parse_event(
        refused(
            "AWS::S3::Bucket",
            "b1",
            "Concurrent operation found for "
            "resource b1 of type AWS::S3::Bucket with RequestToken abc-123",
        )
    )
    assert isinstance(parsed, BlockedCall)
    assert (parsed.type_name, parsed.identifier, parsed.message_token) == (
        "AWS::S3::Bucket",
        "b1",
        "abc-123",
    )
    assert parsed.caller is not None and parsed.caller.principal == PRINCIPAL
    assert parsed.operation == "UPDATE" and PRINCIPAL in parsed.describe()


def test_a_refused_call_without_a_token_in_its_message_has_no_hint():
    parsed = parse_event(refused("AWS::S3::Bucket", "b1", "Resource is being modified"))
    assert isinstance(parsed, BlockedCall) and parsed.message_token is None


# ---------------------------------------------------------------- unblocking
def blocked_world(age: timedelta, **config: object) -> tuple[World, str]:
    world = World(**config)
    token = world.cc.add(age=age, type_name="AWS::S3::Bucket", operation="UPDATE")
    world.cc.requests[token] = replace(world.cc.requests[token], identifier="b1")
    # Another request, on another resource, must be left alone.
    other = world.cc.add(age=age, type_name="AWS::S3::Bucket", operation="UPDATE")
    world.cc.requests[other] = replace(world.cc.requests[other], identifier="b2")
    return world, token


@pytest.mark.parametrize("message_has_token", [True, False])
def test_a_stale_request_blocking_a_deployment_is_cancelled_with_what_it_blocked(
    message_has_token,
):
    world, token = blocked_world(timedelta(hours=8))
    message = f"Concurrent operation found with RequestToken {token}" if message_has_token else "x"
    world.run().process_event(refused("AWS::S3::Bucket", "b1", message), "ev-conflict")
    assert world.cc.status_of(token) is Status.CANCEL_COMPLETE
    assert world.cc.calls["cancel"] == 1  # the request on b2 is untouched
    (decision,) = world.audit.of(token)
    assert decision.outcome is Outcome.CANCEL_COMPLETE
    assert decision.blocked_call and "UpdateResource" in decision.blocked_call
    assert PRINCIPAL in decision.blocked_call
    # The refused call's caller did not start the blocking request.
    # Cancelled at first sight: no sighting kept, and the blocked caller is named nowhere.
    assert decision.started_by is None and token not in world.audit.seen


def test_a_token_in_the_message_is_never_trusted_blindly():
    world, token = blocked_world(timedelta(hours=8))
    other = next(t for t in world.cc.requests if t != token)
    # The message names the request on b2; only the one on b1 blocks b1.
    world.run().process_event(
        refused("AWS::S3::Bucket", "b1", f"... with RequestToken {other}"), "ev-conflict"
    )
    assert world.cc.status_of(other) is Status.IN_PROGRESS
    assert world.cc.status_of(token) is Status.CANCEL_COMPLETE


def test_a_young_blocking_request_is_recorded_blocking_and_checked_again_later():
    world, token = blocked_world(timedelta(minutes=30))
    world.run().process_event(refused("AWS::S3::Bucket", "b1", "busy"), "ev-conflict")
    (decision,) = world.audit.of(token)
    assert decision.outcome is Outcome.BLOCKING and world.cc.calls["cancel"] == 0
    (message,) = world.work.sent
    assert message.mode is Mode.UNBLOCK and message.tokens == (token,)


def test_the_blocking_threshold_replaces_the_usual_one_for_blocking_requests_only():
    world, token = blocked_world(timedelta(minutes=30), blocking_threshold_minutes=20)
    world.run().process_event(refused("AWS::S3::Bucket", "b1", "busy"), "ev-conflict")
    assert world.audit.of(token)[0].outcome is Outcome.CANCEL_COMPLETE
    other = next(t for t in world.cc.requests if t != token)
    world.run("sweep").sweep()  # 30 minutes old, 6 hours threshold: not stale in a sweep
    assert world.cc.status_of(other) is Status.IN_PROGRESS


def test_a_refused_call_with_nothing_blocking_is_one_unmatched_item():
    world, _ = blocked_world(timedelta(hours=8))
    world.run().process_event(refused("AWS::S3::Bucket", "b9", "busy"), "ev-conflict")
    (decision,) = world.audit.decisions.values()
    assert decision.outcome is Outcome.UNMATCHED and decision.started_by == PRINCIPAL
    assert world.cc.calls["cancel"] == 0 and world.dlq.sent == []


def test_an_operator_unblocks_a_resource_from_the_cli_path():
    world, token = blocked_world(timedelta(hours=8), dry_run=True)
    decisions = world.run().unblock(
        "AWS::S3::Bucket", "b1", blocked_call="cc-reaper unblock by me", delivery_id="cli-1"
    )
    assert [(d.token, d.outcome) for d in decisions] == [(token, Outcome.DRY_RUN)]
    assert decisions[0].blocked_call == "cc-reaper unblock by me"
    assert world.cc.calls["cancel"] == 0
    assert world.run().unblock("AWS::S3::Bucket", "b9", blocked_call="x", delivery_id="c") == []


# ---------------------------------------------------------------- hooks
def hooked(world: World, status: str, age: timedelta) -> str:
    token = world.cc.add(age=age)
    world.cc.requests[token] = replace(
        world.cc.requests[token], hooks_token="hook-" + token, hook_status=status
    )
    return token


def list_without_hook_status(world: World) -> None:
    """Listings carry a HooksRequestToken but never the hook's status (only a Get does)."""
    real_list = world.cc.list_requests

    def listing(statuses):
        for page in real_list(statuses):
            yield [replace(r, hook_status=None) for r in page]

    world.cc.list_requests = listing  # type: ignore[method-assign]


def test_a_request_whose_hook_still_runs_is_left_alone_with_why():
    world = World()
    token = hooked(world, "HOOK_IN_PROGRESS", timedelta(hours=8))
    world.run().process_message(token, "m1")
    (decision,) = world.audit.of(token)
    assert decision.outcome is Outcome.NOT_STALE and world.cc.calls["cancel"] == 0
    assert decision.why and "HOOK_IN_PROGRESS" in decision.why
    assert (decision.hooks_token, decision.hook_status) == ("hook-" + token, "HOOK_IN_PROGRESS")


@pytest.mark.parametrize(
    ("policy", "age", "cancelled"),
    [
        ("cancel", timedelta(hours=8), True),
        ("wait", timedelta(hours=25), True),  # past hookThresholdMinutes (a day)
        ("wait", timedelta(hours=8), False),
    ],
)
def test_hooks_in_progress_wait_or_cancel(policy, age, cancelled):
    world = World(hooks_in_progress=policy)
    token = hooked(world, "HOOK_PENDING", age)
    world.run().process_message(token, "m1")
    assert (world.cc.calls["cancel"] == 1) is cancelled


def test_a_sweep_reads_the_hook_status_of_a_stale_hooked_request_before_cancelling():
    world = World()
    token = hooked(world, "HOOK_IN_PROGRESS", timedelta(hours=8))
    list_without_hook_status(world)
    world.run().sweep()
    assert world.cc.calls["get"] == 1 and world.cc.calls["cancel"] == 0
    assert world.cc.status_of(token) is Status.IN_PROGRESS
    (decision,) = world.audit.of(token)  # audited with why, unlike a healthy request
    assert decision.outcome is Outcome.NOT_STALE and "HOOK_IN_PROGRESS" in (decision.why or "")


# ---------------------------------------------------------------- who started it
def test_who_started_a_request_is_kept_from_cloudtrail_and_copied_into_later_decisions():
    world = World()
    token = world.cc.add(age=timedelta(minutes=1))
    event = {
        "id": "ct-1",
        "source": "aws.cloudcontrolapi",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {
            "eventSource": "cloudcontrolapi.amazonaws.com",
            "eventName": "CreateResource",
            "userIdentity": {"arn": PRINCIPAL},
            "userAgent": AGENT,
            "responseElements": {"progressEvent": {"requestToken": token}},
        },
    }
    world.run().process_event(event, "ct-1")
    assert world.audit.seen[token].started_by == PRINCIPAL
    world.clock.current += timedelta(hours=7)
    world.run("sweep").sweep()
    decision = world.audit.decisions[(token, "sweep", "sweep")]
    assert (decision.started_by, decision.user_agent) == (PRINCIPAL, AGENT)


# ---------------------------------------------------------------- events
def test_each_cancel_failure_and_blocking_request_is_told_once_on_the_default_bus():
    bus = EventsSeen()
    world = with_events(World(max_cancellations_per_run=100), bus)
    stale = [world.cc.add(age=timedelta(hours=8)) for _ in range(3)]
    failing = world.cc.add(age=timedelta(hours=8))
    world.cc.add(age=timedelta(minutes=5))  # young: no event
    world.cc.errors[("cancel", failing)] = CloudControlError("ThrottlingException", "slow down")
    unconfirmed = world.cc.add(age=timedelta(hours=8))  # its answer lost: no event yet
    world.cc.errors[("cancel", unconfirmed)] = CloudControlError("InternalFailure", "boom")
    world.run("sweep-1").sweep()
    kinds = sorted(kind for kind, _ in bus.entries)
    assert kinds == [contracts.DETAIL_TYPE_CANCEL_FAILED] + [contracts.DETAIL_TYPE_CANCELLED] * 3
    details = {d["requestToken"]: d for _, d in bus.entries}
    assert set(details) == {*stale, failing}
    assert details[stale[0]]["schemaVersion"] == "1" and details[stale[0]]["runId"] == "sweep-1"
    assert "resourceModel" not in json.dumps(bus.entries).lower()


def test_events_that_cannot_be_put_are_counted_and_never_lose_a_decision():
    bus = EventsSeen(lose=10)
    world = with_events(World(), bus)
    token = world.cc.add(age=timedelta(hours=8))
    run = world.run()
    run.process_message(token, "m1")
    assert world.audit.of(token)[0].outcome is Outcome.CANCEL_COMPLETE
    assert run.report.events_not_sent == 1 and run.report.events_sent == 0


def test_a_dry_run_tells_nothing():
    bus = EventsSeen()
    world = with_events(World(dry_run=True), bus)
    world.cc.add(age=timedelta(hours=8))
    world.run().sweep()
    assert bus.entries == []


# ---------------------------------------------------------------- leftovers
@pytest.mark.parametrize(
    ("exists", "leftover"), [(True, "exists"), (False, "gone"), (None, "unknown")]
)
def test_what_a_completed_cancel_left_behind_is_recorded_when_asked(exists, leftover):
    world = World(verify_leftovers=["s3:GetBucketLocation"])
    token = world.cc.add(age=timedelta(hours=8), operation="CREATE")
    world.cc.resources[f"id-{token}"] = exists
    world.run().process_message(token, "m1")
    (decision,) = world.audit.of(token)
    assert decision.outcome is Outcome.CANCEL_COMPLETE and decision.leftover == leftover


def test_leftovers_are_not_looked_for_unless_the_role_was_given_read_actions():
    world = World()
    token = world.cc.add(age=timedelta(hours=8), operation="CREATE")
    world.run().process_message(token, "m1")
    assert world.cc.calls["get_resource"] == 0
    assert world.audit.of(token)[0].leftover is None


def test_a_hooked_request_whose_hook_status_cannot_be_read_is_never_cancelled_blind():
    world = World()
    token = hooked(world, "HOOK_IN_PROGRESS", timedelta(hours=8))
    list_without_hook_status(world)
    world.cc.errors[("get", token)] = CloudControlError("ThrottlingException", "slow down")
    world.run().sweep()
    assert world.cc.calls["cancel"] == 0
    assert world.audit.of(token)[0].outcome is Outcome.FAILED  # dead-lettered, decided again
