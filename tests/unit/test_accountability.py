"""Every token ends visibly (a recorded decision, a dead letter whose replay records one, or a
record failed for redelivery), and nothing is cancelled against the operator's will.

One test per defect the accountability review found; each failed on the code before the
decision pipeline was split (gate, canceller, follower, ledger, sweep)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from reaper.clock import Deadline
from reaper.dead_letter_format import dead_letter_body
from reaper.errors import CloudControlError, QueueError, StoreError
from reaper.models import KillSwitch, Outcome, RequestStatus, Source, Status
from reaper.run_state import INTERRUPTED
from reaper.service import RetryLater

from .fakes import World


def stale(world: World, n: int, **kwargs: object) -> list[str]:
    return [world.cc.add(age=timedelta(hours=8), **kwargs) for _ in range(n)]  # type: ignore[arg-type]


def outcomes(world: World, token: str) -> set[Outcome]:
    return {d.outcome for d in world.audit.of(token)}


def replay(world: World, request_id: str = "replay") -> None:
    """An operator's redrive: every dead letter's body goes back through the work queue."""
    letters, world.dlq.sent = list(world.dlq.sent), []
    for n, letter in enumerate(letters):
        world.run(f"{request_id}-{n}").process_message(dead_letter_body(letter), f"redriven-{n}")


def cancel_lands_then_invocation_dies(world: World, token: str) -> None:
    """Message m1's first invocation: its cancel lands, then it ends before recording it."""
    real_cancel = world.cc.cancel

    def lands_then_dies(t: str) -> RequestStatus:
        real_cancel(t)
        raise KeyboardInterrupt

    world.cc.cancel = lands_then_dies  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        world.run("a").process_message(token, "m1", receive_count=1)
    world.cc.cancel = real_cancel  # type: ignore[method-assign]


# ---------------------------------------------------------------- 1. sweep tokens through SQS
@pytest.mark.parametrize(
    ("status", "age", "expected"),
    [
        (Status.SUCCESS, timedelta(hours=8), Outcome.TERMINAL),
        (Status.IN_PROGRESS, timedelta(minutes=5), Outcome.NOT_STALE),
    ],
)
def test_a_sweep_token_delivered_through_sqs_is_recorded_whatever_it_became(status, age, expected):
    world = World()
    token = world.cc.add(status=status, age=age)
    body = json.dumps({"requestTokens": [token], "source": "sweep", "mode": "cancel"})
    world.run().process_message(body, "handoff-1")
    assert outcomes(world, token) == {expected}


def test_cancels_whose_record_the_table_refused_are_recorded_as_cancels_by_the_replay():
    world = World(max_cancellations_per_run=1000)
    tokens = stale(world, 120)
    real_record = world.audit.record

    def refuse_outcomes(decisions):
        # The write-aheads go through; the table is down for the sweep's final write.
        if any(d.error_code != INTERRUPTED for d in decisions):
            raise StoreError("ServiceUnavailable", "down")
        real_record(decisions)

    world.audit.record = refuse_outcomes  # type: ignore[method-assign]
    world.run("sweep-1").sweep()
    assert world.dlq.sent and all(letter.decisions for letter in world.dlq.sent)
    world.audit.record = real_record  # type: ignore[method-assign]
    cancels_before = world.cc.calls["cancel"]
    replay(world)
    for token in tokens:
        recorded = world.audit.decisions[(token, "sweep", "sweep-1")]
        assert recorded.outcome in (Outcome.CANCELLED, Outcome.CANCEL_COMPLETE), token
    assert world.cc.calls["cancel"] == cancels_before  # a replay never cancels again
    assert world.dlq.sent == []


def test_a_sweep_failure_replayed_is_decided_again_under_the_sweeps_delivery():
    world = World()
    (token,) = stale(world, 1)
    world.cc.errors[("cancel", "*")] = CloudControlError("ThrottlingException", "slow down")
    world.run("sweep-1").sweep()
    world.cc.errors.clear()
    world.cc.requests[token] = replace(world.cc.requests[token], status=Status.SUCCESS)
    replay(world)
    assert world.audit.decisions[(token, "sweep", "sweep-1")].outcome is Outcome.TERMINAL


# ---------------------------------------------------------------- 2. the kill switch
def test_engaging_the_kill_switch_stops_a_running_sweep_within_the_cache_time(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr("reaper.gate.time.monotonic", lambda: clock[0])
    world = World(max_cancellations_per_run=1000)
    tokens = stale(world, 60)
    real_cancel = world.cc.cancel

    def cancel(token: str) -> RequestStatus:
        if world.cc.calls["cancel"] == 5:
            world.audit.switch = KillSwitch(engaged=True, reason="incident")
            clock[0] += 5.0  # the cached read is now as old as the cache allows
        return real_cancel(token)

    world.cc.cancel = cancel  # type: ignore[method-assign]
    run = world.run()
    run.sweep()
    # The workers that had passed the gate may finish their one call; nothing after that.
    assert world.cc.calls["cancel"] <= 5 + world.reaper.workers
    stopped = [t for t in tokens if outcomes(world, t) == {Outcome.DEFERRED_KILL_SWITCH}]
    assert len(stopped) >= len(tokens) - 5 - world.reaper.workers
    assert all(world.audit.of(t) for t in tokens)  # every one of them is recorded


# ---------------------------------------------------------------- 3. claims
def test_in_a_sweep_a_token_held_by_a_live_delivery_is_left_to_it():
    world = World()
    (token,) = stale(world, 1)
    world.audit.claims[token] = ("sqs#m9", world.clock.now() + timedelta(minutes=3))
    run = world.run()
    run.sweep()
    assert world.cc.calls["cancel"] == 0 and run.report.claimed_elsewhere == 1
    assert world.dlq.sent == []


def test_a_token_claimed_elsewhere_is_dead_lettered_on_the_last_receive_then_replays():
    world = World(max_receive_count=2)
    (token,) = stale(world, 1)
    world.audit.claims[token] = ("eventbridge#e1", world.clock.now() + timedelta(minutes=3))
    with pytest.raises(RetryLater):
        world.run("a").process_message(token, "m1", receive_count=1)
    world.run("b").process_message(token, "m1", receive_count=2)
    (letter,) = world.dlq.sent
    assert letter.error_code == "ClaimedElsewhere"
    world.clock.current += timedelta(minutes=5)  # the holder's invocation is over
    replay(world)
    assert world.audit.decisions[(token, "sqs", "m1")].outcome is Outcome.CANCEL_COMPLETE


# ---------------------------------------------------------------- 4. the follow
def test_a_cancel_missing_from_a_lagging_listing_is_not_recorded_complete():
    world = World(max_cancellations_per_run=1000, cancel_follow_seconds=6)
    world.cc.complete_cancels = False
    tokens = stale(world, 12)
    real_list = world.cc.list_requests

    def lagging(statuses):
        # The listing still shows the cancelled requests as they were before the cancel.
        if set(statuses) & {Status.CANCEL_IN_PROGRESS, Status.CANCEL_COMPLETE}:
            return iter([[]])
        return real_list(statuses)

    world.cc.list_requests = lagging  # type: ignore[method-assign]
    world.run().sweep()
    for token in tokens:
        (decision,) = world.audit.of(token)
        assert decision.outcome is Outcome.CANCELLED
        assert decision.status_after is Status.CANCEL_IN_PROGRESS  # read with a Get


# ---------------------------------------------------------------- 5. what a cancel answers
def test_a_cancel_answered_pending_is_a_cancel_and_is_followed():
    world = World()
    (token,) = stale(world, 1)
    real_cancel = world.cc.cancel

    def cancel_answered_pending(t: str) -> RequestStatus:
        answered = real_cancel(t)  # accepted: the request moves to CANCEL_IN_PROGRESS
        return replace(answered, status=Status.PENDING)  # but the answer says PENDING

    world.cc.cancel = cancel_answered_pending  # type: ignore[method-assign]
    world.run().process_message(token, "m1")
    (decision,) = world.audit.of(token)
    assert decision.outcome is Outcome.CANCEL_COMPLETE  # followed, not taken as terminal
    assert world.cc.calls["get"] >= 2  # the status read, then the follow


@pytest.mark.parametrize("finished", [Status.SUCCESS, Status.FAILED])
def test_a_cancel_error_on_a_request_that_had_finished_is_terminal_not_failed(finished):
    world = World()
    (token,) = stale(world, 1)
    real_cancel = world.cc.cancel

    def cancel(t: str) -> RequestStatus:
        world.cc.requests[t] = replace(world.cc.requests[t], status=finished)
        real_cancel(t)
        raise CloudControlError("InvalidRequestException", "only PENDING or IN_PROGRESS")

    world.cc.cancel = cancel  # type: ignore[method-assign]
    world.run("sweep-1").sweep()
    (decision,) = world.audit.of(token)
    assert decision.outcome is Outcome.TERMINAL and decision.status_after is finished
    assert world.dlq.sent == []


# ---------------------------------------------------------------- 7. every step of a sweep's end
def test_a_failed_dead_letter_send_skips_neither_the_sightings_nor_the_hand_off():
    world = World(max_cancellations_per_run=2)
    young = world.cc.add(age=timedelta(minutes=5))
    stale(world, 3)  # two to cancel (no time left: handed off), one deferred by the cap
    world.audit.fail_record = StoreError("ServiceUnavailable", "table down")
    world.dlq.fail = QueueError("ServiceUnavailable", "dlq down")
    left = iter([60_000] + [0] * 1000)
    with pytest.raises(QueueError):
        world.reaper.run("r", Deadline(lambda: next(left), margin_seconds=1)).sweep()
    assert young in world.audit.packed  # the first sighting was still stored
    assert sum(len(m.tokens) for m in world.work.sent) == 2  # and the hand-off still made


def test_a_failed_hand_off_dead_letters_the_tokens_it_could_not_hand_off():
    world = World(max_cancellations_per_run=1000)
    tokens = stale(world, 3)
    world.work.fail = QueueError("ServiceUnavailable", "queue down")
    # Time runs out right after the listing: every chosen request is to be handed off.
    left = iter([60_000] + [0] * 1000)
    world.reaper.run("r", Deadline(lambda: next(left), margin_seconds=1)).sweep()
    assert world.cc.calls["cancel"] == 0
    assert {t for letter in world.dlq.sent for t in letter.tokens} == set(tokens)
    assert all(outcomes(world, t) == {Outcome.FAILED} for t in tokens)


@pytest.mark.parametrize(
    ("status_now", "expected"),
    [
        (Status.CANCEL_COMPLETE, Outcome.CANCEL_COMPLETE),
        (Status.CANCEL_IN_PROGRESS, Outcome.CANCELLED),
        (Status.SUCCESS, Outcome.TERMINAL),
    ],
)
def test_the_next_sweep_reconciles_what_an_ended_sweep_wrote_ahead(status_now, expected):
    world = World()
    (token,) = stale(world, 1)
    real_cancel = world.cc.cancel

    def lambda_ends(t: str) -> RequestStatus:
        real_cancel(t)
        raise KeyboardInterrupt  # the invocation ends between the cancel and its record

    world.cc.cancel = lambda_ends  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        world.run("sweep-a").sweep()
    # Nothing recorded: the write-ahead is in the claim, the run's mark is still open.
    assert (token, "sweep", "sweep-a") not in world.audit.decisions
    assert world.audit.aheads[token].error_code == INTERRUPTED and world.audit.runs
    world.cc.cancel = real_cancel  # type: ignore[method-assign]
    world.cc.requests[token] = replace(world.cc.requests[token], status=status_now)
    world.cc.complete_cancels = False
    world.clock.current += timedelta(minutes=17)
    run = world.run("next-sweep")
    run.sweep()
    # Found through the ended run's mark, which names the requests it chose: the cancel
    # listings say which were cancelled, a Get tells the rest (here: it finished first).
    reconciled = world.audit.decisions[(token, "sweep", "sweep-a")]
    assert reconciled.outcome is expected and reconciled.error_code != INTERRUPTED
    assert run.report.reconciled == 1
    assert not world.audit.runs  # the ended run's mark is closed once settled


@pytest.mark.parametrize(
    ("status_now", "expected"),
    [
        (Status.CANCEL_COMPLETE, Outcome.CANCEL_COMPLETE),
        (Status.CANCEL_IN_PROGRESS, Outcome.CANCELLED),
    ],
)
def test_the_redelivery_records_what_an_ended_sqs_invocation_wrote_ahead(status_now, expected):
    world = World()
    (token,) = stale(world, 1)
    real_cancel = world.cc.cancel

    def lambda_ends(t: str) -> RequestStatus:
        real_cancel(t)
        raise KeyboardInterrupt  # the invocation ends between the cancel and its record

    world.cc.cancel = lambda_ends  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        world.run("sqs-run").process_message(token, "m1")
    assert world.audit.find_decision(token, Source.SQS, "m1").error_code == INTERRUPTED
    world.cc.cancel = real_cancel  # type: ignore[method-assign]
    world.cc.requests[token] = replace(world.cc.requests[token], status=status_now)
    world.cc.complete_cancels = False
    world.run("sqs-run-2").process_message(token, "m1", receive_count=2)
    recorded = world.audit.decisions[(token, "sqs", "m1")]
    assert recorded.outcome is expected and world.cc.calls["cancel"] == 1


def test_a_write_ahead_whose_cancel_never_left_is_replaced_by_whoever_cancels():
    world = World()
    (token,) = stale(world, 1)
    real_cancel = world.cc.cancel

    def dies_before_cancelling(t: str) -> RequestStatus:
        raise KeyboardInterrupt

    world.cc.cancel = dies_before_cancelling  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        world.run("sqs-run").process_message(token, "m1")
    world.cc.cancel = real_cancel  # type: ignore[method-assign]
    world.clock.current += timedelta(minutes=17)
    world.run("sweep-1").sweep()  # still active: the sweep cancels it under its own claim
    assert world.audit.decisions[(token, "sweep", "sweep-1")].outcome is Outcome.CANCEL_COMPLETE
    # The message comes back: its write-ahead was taken over, the cancel is not its own.
    world.run("sqs-run-2").process_message(token, "m1", receive_count=2)
    closed = world.audit.decisions[(token, "sqs", "m1")]
    assert closed.outcome is Outcome.TERMINAL
    assert world.cc.calls["cancel"] == 1


def test_reconciling_settles_many_write_aheads_from_the_listings_not_a_get_each():
    world = World(max_cancellations_per_run=1000)
    tokens = stale(world, 150)
    real_cancel = world.cc.cancel
    landed = 0

    def cancel_then_die_at_the_end(t: str) -> RequestStatus:
        nonlocal landed
        answer = real_cancel(t)
        landed += 1
        if landed == len(tokens):
            raise KeyboardInterrupt  # every cancel landed; none of them recorded
        return answer

    world.cc.cancel = cancel_then_die_at_the_end  # type: ignore[method-assign]
    world.audit.fail_record = None
    real_record = world.audit.record

    def write_aheads_only(decisions):
        if all(d.error_code == INTERRUPTED for d in decisions):
            real_record(decisions)
        else:
            raise KeyboardInterrupt  # the invocation ended before its final write

    world.audit.record = write_aheads_only  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        world.run("sweep-a").sweep()
    world.audit.record = real_record  # type: ignore[method-assign]
    world.cc.cancel = real_cancel  # type: ignore[method-assign]
    world.clock.current += timedelta(minutes=17)
    gets = world.cc.calls["get"]
    run = world.run("sweep-b")
    run.sweep()
    outcomes_a = {world.audit.decisions[(t, "sweep", "sweep-a")].outcome for t in tokens}
    assert outcomes_a <= {Outcome.CANCELLED, Outcome.CANCEL_COMPLETE}
    assert run.report.reconciled == len(tokens)
    assert world.cc.calls["get"] == gets  # settled from the listings, not one Get each


# ---------------------------------------------------------------- 8. a positional cursor
def test_a_sweep_misses_nothing_when_the_listing_cursor_is_positional():
    world = World(max_cancellations_per_run=1000)
    tokens = stale(world, 250)

    def positional(statuses):
        offset = 0
        while True:
            # Each page is cut from the listing as it is now, at an offset.
            now = [r for r in world.cc.requests.values() if r.status in statuses]
            page = now[offset : offset + 100]
            yield page
            offset += 100
            if offset >= len(now):
                return

    world.cc.list_requests = positional  # type: ignore[method-assign]
    world.run().sweep()
    assert {world.cc.status_of(t) for t in tokens} <= {
        Status.CANCEL_IN_PROGRESS,
        Status.CANCEL_COMPLETE,
    }


# ---------------------------------------------------------------- 9. CloudTrail without a token
def cloudtrail_without_token(type_name: str, identifier: str | None) -> dict:
    params = {"typeName": type_name} | ({"identifier": identifier} if identifier else {})
    return {
        "id": "ct-1",
        "source": "aws.cloudcontrolapi",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {
            "eventSource": "cloudcontrolapi.amazonaws.com",
            "eventName": "UpdateResource",
            "eventTime": "2025-01-01T11:59:00Z",
            "requestParameters": params,
            "responseElements": None,
        },
    }


def test_a_cloudtrail_record_without_a_token_watches_the_request_it_matches():
    world = World()
    token = world.cc.add(type_name="AWS::S3::Bucket", operation="UPDATE", age=timedelta(seconds=30))
    world.cc.add(type_name="AWS::SQS::Queue", operation="UPDATE", age=timedelta(seconds=30))
    identifier = world.cc.requests[token].identifier
    result = world.run().process_event(
        cloudtrail_without_token("AWS::S3::Bucket", identifier), "ct-1"
    )
    assert result == {"outcomes": {"watching": 1}}
    assert [m.tokens for m in world.work.sent] == [(token,)]
    assert world.dlq.sent == []


def test_a_cloudtrail_record_matching_nothing_is_one_audit_item_and_no_dead_letter():
    world = World()
    world.cc.add(type_name="AWS::SQS::Queue", operation="CREATE")
    run = world.run()
    run.process_event(cloudtrail_without_token("AWS::S3::Bucket", "b1"), "ct-1")
    (decision,) = world.audit.decisions.values()
    assert decision.outcome is Outcome.UNMATCHED and decision.source is Source.CLOUDTRAIL
    assert decision.why and "UpdateResource" in decision.why
    assert world.dlq.sent == [] and run.report.outcomes[Outcome.UNMATCHED] == 1


# ---------------------------------------------------------------- a cancel whose answer was lost
def test_a_cancel_that_lands_after_its_answer_was_lost_is_recorded_as_the_cancel_it_was():
    world = World(max_receive_count=2)
    (token,) = stale(world, 1)
    real_cancel = world.cc.cancel

    def times_out(t: str) -> RequestStatus:
        raise CloudControlError("ReadTimeoutError", "Read timeout on endpoint URL")

    world.cc.cancel = times_out  # type: ignore[method-assign]
    with pytest.raises(RetryLater):
        world.run("a").process_message(token, "m1", receive_count=1)
    assert world.audit.decisions[(token, "sqs", "m1")].error_code == "CancelUnconfirmed"
    real_cancel(token)  # the lost cancel lands now
    world.cc.cancel = real_cancel  # type: ignore[method-assign]
    cancels = world.cc.calls["cancel"]
    world.run("b").process_message(token, "m1", receive_count=2)
    recorded = world.audit.decisions[(token, "sqs", "m1")]
    assert recorded.outcome in (Outcome.CANCELLED, Outcome.CANCEL_COMPLETE)
    assert world.cc.calls["cancel"] == cancels  # the redelivery did not cancel again


def test_a_throttled_cancel_is_a_plain_failure_it_never_landed():
    world = World()
    (token,) = stale(world, 1)
    world.cc.errors[("cancel", "*")] = CloudControlError("ThrottlingException", "Rate exceeded")
    with pytest.raises(RetryLater):
        world.run().process_message(token, "m1")
    assert world.audit.decisions[(token, "sqs", "m1")].error_code == "ThrottlingException"


# ---------------------------------------------------------------- one cancel, one cancel outcome
def test_a_lagging_listing_never_makes_a_second_delivery_record_the_same_cancel():
    world = World()
    (token,) = stale(world, 1)
    world.run("sweep-1").sweep()
    assert world.audit.decisions[(token, "sweep", "sweep-1")].outcome is Outcome.CANCEL_COMPLETE
    real_list = world.cc.list_requests
    lagged = replace(world.cc.requests[token], status=Status.IN_PROGRESS)
    world.cc.list_requests = lambda statuses: iter([[lagged]])  # type: ignore[method-assign]
    world.clock.current += timedelta(minutes=16)  # sweep-1's claim ended with it
    cancels = world.cc.calls["cancel"]
    world.run("sweep-2").sweep()
    world.cc.list_requests = real_list  # type: ignore[method-assign]
    second = world.audit.decisions[(token, "sweep", "sweep-2")]
    assert second.outcome is Outcome.TERMINAL and "sweep#sweep-1" in (second.why or "")
    assert world.cc.calls["cancel"] == cancels


def test_reconciling_a_write_ahead_never_credits_it_with_another_deliverys_cancel():
    world = World()
    (token,) = stale(world, 1)
    real_cancel = world.cc.cancel

    def dies_before_cancelling(t: str) -> RequestStatus:
        raise KeyboardInterrupt

    world.cc.cancel = dies_before_cancelling  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        world.run("sweep-a").sweep()
    world.cc.cancel = real_cancel  # type: ignore[method-assign]
    world.clock.current += timedelta(minutes=15, seconds=1)  # sweep-a's claim ended with it
    world.run("sweep-b").sweep()  # cancels it, under its own claim
    world.clock.current += timedelta(minutes=17)
    world.run("sweep-c").sweep()  # reconciles sweep-a's ended run
    a = world.audit.decisions.get((token, "sweep", "sweep-a"))
    b = world.audit.decisions[(token, "sweep", "sweep-b")]
    assert b.outcome is Outcome.CANCEL_COMPLETE
    # sweep-b's claim replaced sweep-a's write-ahead: sweep-a is credited with nothing.
    assert a is None or a.outcome not in (Outcome.CANCELLED, Outcome.CANCEL_COMPLETE)
    assert not world.audit.runs


def test_a_cancel_whose_holder_died_unrecorded_is_recorded_by_whoever_takes_its_claim_over():
    world = World()
    (token,) = stale(world, 1)
    real_cancel = world.cc.cancel

    def lands_then_dies(t: str) -> RequestStatus:
        real_cancel(t)
        raise KeyboardInterrupt  # the cancel landed; the invocation ended before recording

    world.cc.cancel = lands_then_dies  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        world.run("sweep-a").sweep()
    world.cc.cancel = real_cancel  # type: ignore[method-assign]
    lagged = replace(world.cc.requests[token], status=Status.IN_PROGRESS)
    world.cc.list_requests = lambda statuses: iter([[lagged]])  # type: ignore[method-assign]
    world.clock.current += timedelta(minutes=15, seconds=1)  # sweep-a's claim ended with it
    world.run("sweep-b").sweep()
    a = world.audit.decisions[(token, "sweep", "sweep-a")]
    b = world.audit.decisions[(token, "sweep", "sweep-b")]
    assert a.outcome in (Outcome.CANCELLED, Outcome.CANCEL_COMPLETE)  # its own cancel
    assert b.outcome is Outcome.TERMINAL


def test_a_redelivery_that_fails_keeps_the_write_ahead_so_its_cancel_is_never_lost():
    world = World(max_receive_count=3)
    (token,) = stale(world, 1)
    cancel_lands_then_invocation_dies(world, token)
    real_remember = world.audit.first_seen
    world.audit.first_seen = lambda s: (_ for _ in ()).throw(  # type: ignore[method-assign]
        StoreError("ProvisionedThroughputExceededException", "throttled")
    )
    with pytest.raises(RetryLater):
        world.run("b").process_message(token, "m1", receive_count=2)
    kept = world.audit.decisions[(token, "sqs", "m1")]
    assert kept.error_code == INTERRUPTED and "throttled" in (kept.why or "")
    world.audit.first_seen = real_remember  # type: ignore[method-assign]
    world.run("c").process_message(token, "m1", receive_count=3)
    recorded = world.audit.decisions[(token, "sqs", "m1")]
    assert recorded.outcome in (Outcome.CANCELLED, Outcome.CANCEL_COMPLETE)


def test_a_delivery_that_cannot_read_its_earlier_decision_writes_nothing_over_it():
    world = World(max_receive_count=3)
    (token,) = stale(world, 1)
    cancel_lands_then_invocation_dies(world, token)
    real_find = world.audit.find_decision
    world.audit.find_decision = lambda *a: (_ for _ in ()).throw(  # type: ignore[method-assign]
        StoreError("ProvisionedThroughputExceededException", "throttled")
    )
    with pytest.raises(RetryLater):
        world.run("b").process_message(token, "m1", receive_count=2)
    # Untouched: still only the write-ahead its claim holds, nothing written over it.
    assert (token, "sqs", "m1") not in world.audit.decisions
    assert world.audit.aheads[token].error_code == INTERRUPTED
    world.audit.find_decision = real_find  # type: ignore[method-assign]
    world.run("c").process_message(token, "m1", receive_count=3)
    recorded = world.audit.decisions[(token, "sqs", "m1")]
    assert recorded.outcome in (Outcome.CANCELLED, Outcome.CANCEL_COMPLETE)


def test_a_sweep_failure_whose_dead_letter_was_refused_is_decided_by_the_next_sweep():
    world = World()
    (token,) = stale(world, 1)
    world.cc.errors[("cancel", token)] = CloudControlError("AccessDeniedException", "no")
    world.dlq.fail = QueueError("InternalError", "the DLQ is down")
    with pytest.raises(QueueError):
        world.run("sweep-a").sweep()
    # Meanwhile the request finished: no later listing shows it, and no letter exists.
    world.cc.errors.clear()
    world.cc.requests[token] = replace(world.cc.requests[token], status=Status.SUCCESS)
    world.dlq.fail = None
    world.clock.current += timedelta(minutes=17)
    world.run("sweep-b").sweep()
    decided = world.audit.decisions[(token, "sweep", "sweep-a")]
    assert decided.outcome is Outcome.TERMINAL and world.cc.calls["cancel"] == 1
