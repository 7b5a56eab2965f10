"""Given fakes of every port, when the service decides, then what a user would see:
what was cancelled, what the audit says, what reached the DLQ."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from reaper.clock import Deadline
from reaper.errors import (
    CloudControlError,
    DeadlineNear,
    QueueError,
    RequestNotFound,
    StoreError,
)
from reaper.models import ACTIVE_STATUSES, KillSwitch, Mode, Outcome, Source, Status
from reaper.parsing import TokenRequest
from reaper.service import INVALID_TOKEN_KEY, RetryLater

from .fakes import World, throttled


def outcome(world: World, token: str) -> Outcome:
    (decision,) = world.audit.of(token)
    return decision.outcome


def message(*tokens: str, **extra: object) -> str:
    return json.dumps({"requestTokens": list(tokens), **extra})


# ---------------------------------------------------------------- deciding one token
def test_a_stale_request_is_cancelled_and_followed_to_cancel_complete():
    world = World()
    token = world.cc.add(age=timedelta(hours=7))
    world.run().process_message(token, "m1")
    assert world.cc.status_of(token) is Status.CANCEL_COMPLETE
    (decision,) = world.audit.of(token)
    assert decision.outcome is Outcome.CANCEL_COMPLETE
    assert (decision.status_seen, decision.status_after) == (
        Status.IN_PROGRESS,
        Status.CANCEL_COMPLETE,
    )
    assert decision.threshold_minutes == 360 and decision.age_seconds == 7 * 3600
    assert decision.source is Source.SQS and decision.delivery_id == "m1"


def test_a_cancel_that_never_completes_is_reported_as_such_after_the_follow_time():
    world = World(cancel_follow_seconds=10)
    world.cc.complete_cancels = False
    token = world.cc.add()
    world.run().process_message(token, "m1")
    (decision,) = world.audit.of(token)
    assert decision.outcome is Outcome.CANCELLED
    assert decision.status_after is Status.CANCEL_IN_PROGRESS
    assert decision.error_code == "CancelNotComplete"
    assert 9 <= world.clock.slept <= 10


def test_a_young_request_is_left_alone():
    world = World()
    token = world.cc.add(age=timedelta(minutes=30))
    world.run().process_message(token, "m1")
    assert world.cc.status_of(token) is Status.IN_PROGRESS
    assert outcome(world, token) is Outcome.NOT_STALE


@pytest.mark.parametrize("status", [Status.SUCCESS, Status.FAILED, Status.CANCEL_COMPLETE])
def test_terminal_requests_are_never_cancelled(status):
    world = World()
    token = world.cc.add(status=status, age=timedelta(days=3))
    world.run().process_message(token, "m1")
    assert world.cc.calls["cancel"] == 0
    assert outcome(world, token) is Outcome.TERMINAL


def test_an_unknown_token_is_recorded_not_found_and_not_retried():
    world = World()
    world.run().process_message("expired-token", "m1")
    assert outcome(world, "expired-token") is Outcome.NOT_FOUND
    assert world.dlq.sent == []


def test_a_request_finishing_between_read_and_cancel_is_terminal_not_failed():
    world = World()
    token = world.cc.add()
    world.cc.finish_before_cancel.add(token)
    world.run().process_message(token, "m1")
    (decision,) = world.audit.of(token)
    assert decision.outcome is Outcome.TERMINAL
    assert (decision.status_seen, decision.status_after) == (Status.IN_PROGRESS, Status.SUCCESS)


def test_a_token_that_expires_between_read_and_cancel_is_not_found():
    world = World()
    token = world.cc.add()
    world.cc.errors[("cancel", token)] = RequestNotFound(token)
    world.run().process_message(token, "m1")
    assert outcome(world, token) is Outcome.NOT_FOUND


def test_filtered_types_are_never_cancelled():
    world = World(exclude_types=["AWS::S3::*"])
    token = world.cc.add()
    world.run().process_message(token, "m1")
    assert world.cc.calls["cancel"] == 0 and outcome(world, token) is Outcome.FILTERED


# ---------------------------------------------------------------- safety switches
def test_dry_run_records_what_it_would_cancel_and_cancels_nothing():
    world = World(dry_run=True)
    token = world.cc.add()
    world.run().process_message(token, "m1")
    assert world.cc.calls["cancel"] == 0 and world.cc.status_of(token) is Status.IN_PROGRESS
    (decision,) = world.audit.of(token)
    assert decision.outcome is Outcome.DRY_RUN and decision.dry_run


def test_the_kill_switch_defers_every_cancel_without_a_redeploy():
    world = World()
    world.audit.switch = KillSwitch(engaged=True, reason="incident")
    tokens = [world.cc.add() for _ in range(3)]
    world.run().process_message(message(*tokens), "m1")
    assert world.cc.calls["cancel"] == 0
    assert {outcome(world, t) for t in tokens} == {Outcome.DEFERRED_KILL_SWITCH}


def test_the_cap_defers_cancels_beyond_it_in_one_run():
    world = World(max_cancellations_per_run=2)
    tokens = [world.cc.add() for _ in range(5)]
    world.run().process_message(message(*tokens), "m1")
    assert world.cc.calls["cancel"] == 2
    outcomes = [outcome(world, t) for t in tokens]
    assert outcomes.count(Outcome.DEFERRED_CAP) == 3


# ---------------------------------------------------------------- failures and retries
def test_a_throttled_token_fails_the_record_while_retries_remain():
    world = World(max_receive_count=3)
    token = world.cc.add()
    world.cc.errors[("get", token)] = throttled()
    with pytest.raises(RetryLater):
        world.run().process_message(token, "m1", receive_count=1)
    assert outcome(world, token) is Outcome.FAILED
    assert world.dlq.sent == []


def test_on_the_last_receive_the_failing_token_is_dead_lettered_with_its_error():
    world = World(max_receive_count=3)
    good, bad = world.cc.add(), world.cc.add()
    world.cc.errors[("cancel", bad)] = throttled()
    body = message(good, bad)
    world.run().process_message(body, "m1", receive_count=3)
    (letter,) = world.dlq.sent
    assert letter.tokens == (bad,) and letter.error_code == "ThrottlingException"
    assert letter.source is Source.SQS and letter.delivery_id == "m1" and letter.original == body
    assert world.cc.status_of(good) is Status.CANCEL_COMPLETE


def test_a_redelivered_message_does_not_cancel_twice_or_write_a_second_outcome():
    world = World()
    done, flaky = world.cc.add(), world.cc.add()
    world.cc.errors[("get", flaky)] = throttled()
    with pytest.raises(RetryLater):
        world.run().process_message(message(done, flaky), "m1")
    del world.cc.errors[("get", flaky)]
    world.run("req-2").process_message(message(done, flaky), "m1", receive_count=2)
    assert world.cc.calls["cancel"] == 2
    # One outcome each (a cancel's decision is also written ahead, as Interrupted).
    outcomes = [d.token for d in world.audit.writes if d.error_code != "Interrupted"]
    assert outcomes.count(done) == 1
    assert outcome(world, flaky) is Outcome.CANCEL_COMPLETE


def test_a_token_claimed_by_another_live_delivery_is_not_cancelled_and_its_record_retries():
    world = World()
    token = world.cc.add()
    world.audit.claims[token] = ("sweep#other-run", world.clock.now() + timedelta(minutes=5))
    run = world.run()
    with pytest.raises(RetryLater):
        run.process_message(token, "m1")
    assert world.cc.calls["cancel"] == 0 and run.report.claimed_elsewhere == 1
    (decision,) = world.audit.of(token)
    assert decision.error_code == "ClaimedElsewhere"


def test_a_claim_ends_with_its_holders_invocation():
    world = World()
    token = world.cc.add()
    # The holder's invocation ended a second ago without recording anything.
    world.audit.claims[token] = ("sweep#dead-run", world.clock.now() - timedelta(seconds=1))
    world.run().process_message(token, "m1")
    assert outcome(world, token) is Outcome.CANCEL_COMPLETE


def test_when_the_audit_table_fails_the_record_is_retried():
    world = World()
    token = world.cc.add()
    world.audit.fail_record = StoreError("ProvisionedThroughputExceededException", "slow down")
    with pytest.raises(StoreError):
        world.run().process_message(token, "m1")


def test_when_the_dlq_fails_the_error_reaches_the_caller_so_nothing_is_dropped():
    world = World()
    world.dlq.fail = QueueError("AWS.SimpleQueueService.NonExistentQueue", "gone")
    with pytest.raises(QueueError):
        world.run().process_message("{broken", "m1")


def test_a_record_started_too_close_to_the_deadline_goes_back_to_the_queue():
    world = World()
    run = world.reaper.run("r", Deadline(lambda: 1000, margin_seconds=5))
    with pytest.raises(DeadlineNear):
        run.process_message(world.cc.add(), "m1")
    assert world.cc.calls["get"] == 0


# ---------------------------------------------------------------- bad input
def test_invalid_input_is_audited_and_dead_lettered_and_never_reaches_cloud_control():
    world = World()
    world.run().process_message('{"requestToken": "no spaces allowed"}', "m1")
    assert sum(world.cc.calls.values()) == 0
    (decision,) = world.audit.of(INVALID_TOKEN_KEY)
    assert decision.outcome is Outcome.INVALID and decision.error_code == "InvalidToken"
    assert decision.error_message == "requestToken: must be 1 to 128 characters of [-A-Za-z0-9+/=]"
    (letter,) = world.dlq.sent
    assert letter.tokens == () and letter.original == '{"requestToken": "no spaces allowed"}'


def test_an_unknown_direct_event_is_invalid_and_dead_lettered():
    world = World()
    result = world.run().process_event({"id": "e9", "foo": 1}, "e9")
    assert result["outcome"] == "invalid"
    assert world.dlq.sent[0].source is Source.EVENTBRIDGE


def test_a_failed_token_in_a_direct_event_goes_straight_to_the_dlq():
    world = World()
    token = world.cc.add()
    world.cc.errors[("cancel", token)] = throttled()
    event = {
        "id": "e1",
        "source": "cloudcontrol-reaper",
        "detail-type": "Cancel Resource Request",
        "detail": {"requestToken": token},
    }
    world.run().process_event(event, "e1")
    (letter,) = world.dlq.sent
    assert letter.tokens == (token,) and letter.source is Source.EVENTBRIDGE
    assert json.loads(letter.original)["detail"]["requestToken"] == token


# ---------------------------------------------------------------- watching (CloudTrail)
def test_a_watched_young_request_is_rechecked_when_it_will_be_stale():
    world = World()
    token = world.cc.add(age=timedelta(minutes=355))
    world.run().decide_tokens(TokenRequest((token,), Source.CLOUDTRAIL, Mode.WATCH), "ev-1")
    assert outcome(world, token) is Outcome.WATCHING
    (recheck,) = world.work.sent
    assert recheck.tokens == (token,) and recheck.mode is Mode.WATCH
    assert recheck.delay_seconds == 301
    assert token in world.audit.seen


def test_a_watched_request_far_from_stale_hops_at_most_fifteen_minutes():
    world = World()
    token = world.cc.add(age=timedelta(minutes=1))
    world.run().decide_tokens(TokenRequest((token,), Source.CLOUDTRAIL, Mode.WATCH), "ev-1")
    assert world.work.sent[0].delay_seconds == 900


def test_a_watched_request_that_became_stale_is_cancelled():
    world = World()
    token = world.cc.add(age=timedelta(hours=6, minutes=1))
    world.run().decide_tokens(TokenRequest((token,), Source.CLOUDTRAIL, Mode.WATCH), "ev-2")
    assert world.cc.status_of(token) is Status.CANCEL_COMPLETE and world.work.sent == []


def test_first_seen_keeps_the_age_when_event_time_moves_forward():
    world = World()
    token = world.cc.add(age=timedelta(minutes=5))
    world.run().decide_tokens(TokenRequest((token,), Source.CLOUDTRAIL, Mode.WATCH), "ev-1")
    world.clock.current += timedelta(hours=7)
    # EventTime moved forward: the request now claims to be 5 minutes old again.
    world.cc.add(age=timedelta(minutes=5), now=world.clock.current, token=token)
    world.run().decide_tokens(TokenRequest((token,), Source.CLOUDTRAIL, Mode.WATCH), "ev-2")
    assert world.cc.status_of(token) is Status.CANCEL_COMPLETE


# ---------------------------------------------------------------- the sweep
def sweep_world(stale: int, healthy: int, **config: object) -> tuple[World, list[str], list[str]]:
    world = World(**config)
    old = [world.cc.add(age=timedelta(hours=8)) for _ in range(stale)]
    young = [world.cc.add(age=timedelta(minutes=10)) for _ in range(healthy)]
    for _ in range(healthy):
        world.cc.add(status=Status.SUCCESS, age=timedelta(days=1))
    return world, old, young


def test_a_sweep_cancels_stale_requests_without_reading_each_one():
    world, old, young = sweep_world(250, 120, max_cancellations_per_run=1000)
    report = world.run().sweep()
    assert {world.cc.status_of(t) for t in old} == {Status.CANCEL_COMPLETE}
    assert {world.cc.status_of(t) for t in young} == {Status.IN_PROGRESS}
    assert world.cc.calls["get"] == 0
    assert world.cc.calls["cancel"] == 250
    # 4 pages of active requests; the follow: one pass over CANCEL_IN_PROGRESS (empty: the
    # fake completes cancels on the next read), then one over CANCEL_COMPLETE (3 pages).
    assert world.cc.calls["list"] <= 4 + 1 + 3
    assert report.listed == 370
    assert {outcome(world, t) for t in old} == {Outcome.CANCEL_COMPLETE}
    assert all(not world.audit.of(t) for t in young)  # counted, not stored


def test_a_sweep_respects_the_cap_and_records_the_rest_as_deferred():
    world, _, _ = sweep_world(10, 0, max_cancellations_per_run=4)
    run = world.run()
    run.sweep()
    assert world.cc.calls["cancel"] == 4
    assert run.report.outcomes[Outcome.DEFERRED_CAP] == 6


def test_a_sweep_in_dry_run_cancels_nothing_and_records_everything_it_would():
    world, old, _ = sweep_world(5, 5, dry_run=True)
    world.run().sweep()
    assert world.cc.calls["cancel"] == 0
    assert {outcome(world, t) for t in old} == {Outcome.DRY_RUN}


def test_two_sweeps_at_once_cancel_each_request_once():
    world, _, _ = sweep_world(30, 0, max_cancellations_per_run=100)
    # Both sweeps listed the same page before either cancelled anything.
    pages = list(world.cc.list_requests(ACTIVE_STATUSES))
    real_list = world.cc.list_requests

    def stale_view(statuses):
        return iter(pages) if statuses == ACTIVE_STATUSES else real_list(statuses)

    world.cc.list_requests = stale_view  # type: ignore[method-assign]
    first, second = world.run("run-a"), world.run("run-b")
    first.sweep()
    second.sweep()
    assert world.cc.calls["cancel"] == 30
    assert second.report.claimed_elsewhere == 30
    assert {d.delivery_id for d in world.audit.writes} == {"run-a"}


def test_a_sweep_near_its_deadline_hands_chosen_tokens_to_the_queue():
    world, old, _ = sweep_world(40, 0, max_cancellations_per_run=100)
    left = iter([60_000] * 3 + [0] * 10_000)
    run = world.reaper.run("r", Deadline(lambda: next(left), margin_seconds=1))
    report = run.sweep()
    handed = [t for m in world.work.sent for t in m.tokens]
    cancelled = [t for t in old if world.cc.status_of(t) is not Status.IN_PROGRESS]
    assert report.stopped_early
    assert sorted(handed + cancelled) == sorted(old)
    assert handed and world.work.sent[0].source is Source.SWEEP


def test_sweep_failures_go_to_the_dlq_grouped_by_error():
    world, old, _ = sweep_world(3, 0)
    world.cc.errors[("cancel", "*")] = throttled()
    world.run().sweep()
    (letter,) = world.dlq.sent
    assert sorted(letter.tokens) == sorted(old) and letter.source is Source.SWEEP


def test_when_listing_fails_midway_the_cancels_already_made_are_recorded():
    world, old, _ = sweep_world(25, 0)
    world.cc.page_size = 10
    real_list = world.cc.list_requests

    def failing_after_one_page(statuses):
        pages = real_list(statuses)
        yield next(pages)
        raise throttled()

    world.cc.list_requests = failing_after_one_page  # type: ignore[method-assign]
    with pytest.raises(CloudControlError):
        world.run().sweep()
    assert world.cc.calls["cancel"] == 10
    assert len([t for t in old if world.audit.of(t)]) == 10


def test_the_follow_stops_paging_the_completed_listing_once_every_cancel_is_found():
    world = World(max_cancellations_per_run=1000)
    world.cc.page_size = 10
    tokens = [world.cc.add(age=timedelta(hours=8)) for _ in range(20)]
    for _ in range(200):  # finished long ago, listed after the sweep's cancels
        world.cc.add(status=Status.CANCEL_COMPLETE, age=timedelta(days=2))
    world.run("sweep-1").sweep()
    assert all(d.outcome is Outcome.CANCEL_COMPLETE for t in tokens for d in world.audit.of(t))
    # 2 pages of active requests, a CANCEL_IN_PROGRESS pass (1 page), 2 of the 22 completed
    assert world.cc.calls["list"] == 5
