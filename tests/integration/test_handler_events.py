"""Given EventBridge invoking the real handler directly (schedule, custom event, CloudTrail),
then the emulator shows what was and was not cancelled, the audit and the DLQ say why."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import reaper.handler as handler
from ccapi_emulator import Lifecycle
from reaper.adapters.audit_table import AuditTable
from reaper.errors import QueueError
from reaper.observability import logger
from reaper.wiring import build_clients

from ..conftest import FakeLambdaContext, set_reaper_config
from .conftest import cloudtrail_event, custom_event, scheduled_event

HOURS = 3600


def test_the_scheduled_sweep_cancels_every_stale_request_and_nothing_else(
    stack, emulator, invoke, monkeypatch
):
    set_reaper_config(monkeypatch, max_cancellations_per_run=500)
    stale = set(emulator.seed(150, age_seconds=7 * HOURS))
    stale_delete = set(
        emulator.seed(30, operation="DELETE", status="PENDING", age_seconds=8 * HOURS)
    )
    young = emulator.seed(40, age_seconds=HOURS)
    db = emulator.seed(10, type_name="AWS::RDS::DBCluster", age_seconds=7 * HOURS)
    finished = emulator.seed(20, status="SUCCESS", age_seconds=9 * HOURS)

    result = invoke(scheduled_event())

    state = emulator.snapshot()
    assert set(state.cancelled) == stale | stale_delete
    assert {state.requests[t].status for t in stale | stale_delete} == {"CANCEL_COMPLETE"}
    assert {state.requests[t].status for t in young + db} == {"IN_PROGRESS"}
    assert {state.requests[t].status for t in finished} == {"SUCCESS"}
    # The List page already holds each ProgressEvent: no Get per request.
    assert state.calls.get("GetResourceRequestStatus", 0) == 0
    assert state.calls["CancelResourceRequest"] == 180
    # 3 pages of active requests; the follow: CANCEL_IN_PROGRESS until none is listed there,
    # then one pass over CANCEL_COMPLETE for positive evidence of completion.
    assert state.calls["ListResourceRequests"] <= 3 + 2 + 2
    assert result == {"listed": 230, "decided": 180, "handedOff": 0, "stoppedEarly": False}
    decisions = stack.decisions()
    assert set(decisions) == stale | stale_delete  # healthy ones are counted, not stored
    assert {d["outcome"] for d in decisions.values()} == {"cancel_complete"}
    assert {d["source"] for d in decisions.values()} == {"sweep"}


def test_each_decision_line_names_its_invocation_not_the_function_again(stack, emulator, invoke):
    (token,) = emulator.seed(1, age_seconds=7 * HOURS)
    out = io.StringIO()  # the lines as Powertools formats them for CloudWatch Logs
    stream = logger.registered_handler.setStream(out)
    try:
        invoke(scheduled_event(), aws_request_id="req-lines")
    finally:
        logger.registered_handler.setStream(stream)
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    (decided,) = [x for x in lines if x.get("message") == "decided"]
    assert decided["token"] == token and decided["function_request_id"] == "req-lines"
    assert "cold_start" in decided
    # The log group and Lambda's REPORT line name the function; no line repeats it.
    static = {"function_name", "function_arn", "function_memory_size"}
    assert lines and not any(static & line.keys() for line in lines)


def test_a_dry_run_sweep_cancels_nothing_and_audits_what_it_would_cancel(
    stack, emulator, invoke, monkeypatch
):
    set_reaper_config(monkeypatch, dry_run=True)
    stale = emulator.seed(12, age_seconds=7 * HOURS)
    invoke(scheduled_event())
    assert emulator.snapshot().cancelled == []
    decisions = stack.decisions()
    assert {decisions[t]["outcome"] for t in stale} == {"dry_run"}
    assert {decisions[t]["dry_run"] for t in stale} == {True}


def test_the_cap_limits_cancels_per_run_and_the_next_run_continues(
    stack, emulator, invoke, monkeypatch
):
    set_reaper_config(monkeypatch, max_cancellations_per_run=5)
    emulator.seed(12, age_seconds=7 * HOURS)
    invoke(scheduled_event())
    assert len(emulator.snapshot().cancelled) == 5
    outcomes = [d["outcome"] for d in stack.decisions().values()]
    assert outcomes.count("deferred_cap") == 7
    invoke(scheduled_event() | {"id": "second-run"})
    assert len(emulator.snapshot().cancelled) == 10


def test_the_kill_switch_stops_every_cancel_without_a_redeploy(stack, emulator, invoke):
    AuditTable(build_clients().dynamodb, stack.table_name).set_kill_switch(
        True, "incident", "ops", datetime.now(UTC)
    )
    stale = emulator.seed(4, age_seconds=7 * HOURS)
    invoke(scheduled_event())
    invoke(custom_event(*stale))
    assert emulator.snapshot().cancelled == []
    assert {d["outcome"] for d in stack.decisions().values()} == {"deferred_kill_switch"}


def test_excluded_types_are_never_cancelled(stack, emulator, invoke, monkeypatch):
    set_reaper_config(monkeypatch, exclude_types=["AWS::S3::*"])
    (bucket,) = emulator.seed(1, age_seconds=7 * HOURS)
    (queue,) = emulator.seed(1, type_name="AWS::SQS::Queue", age_seconds=7 * HOURS)
    invoke(custom_event(bucket, queue))
    assert emulator.snapshot().cancelled == [queue]
    assert stack.decisions()[bucket]["outcome"] == "filtered"


def test_a_custom_event_cancels_its_tokens_with_the_operator_reason(stack, emulator, invoke):
    stale = emulator.seed(2, age_seconds=7 * HOURS)
    (young,) = emulator.seed(1, age_seconds=60)
    result = invoke(custom_event(*stale, young, "gone-token"))
    assert sorted(emulator.snapshot().cancelled) == sorted(stale)
    assert result == {"outcomes": {"cancel_complete": 2, "not_stale": 1, "not_found": 1}}
    decisions = stack.decisions()
    assert decisions[stale[0]]["reason"] == "operator: stuck deploy"
    assert decisions[stale[0]]["source"] == "eventbridge"


def test_a_stuck_request_seen_through_cloudtrail_is_watched_then_cancelled(
    stack, emulator, invoke, sqs_lambda
):
    emulator.set_lifecycle("AWS::S3::*", Lifecycle.stuck("IN_PROGRESS", progress_tick_seconds=60))
    (token,) = emulator.seed(1, age_seconds=30)
    assert invoke(cloudtrail_event(token)) == {"outcomes": {"watching": 1}}
    delayed = stack.sqs.get_queue_attributes(
        QueueUrl=stack.work_queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]["ApproximateNumberOfMessagesDelayed"]
    assert delayed == "1"  # the re-check, due when the request would turn stale
    recheck = {"requestTokens": [token], "mode": "watch", "source": "cloudtrail"}
    assert stack.decisions()[token]["first_seen"]

    # Six hours later, EventTime has kept moving forward: only first_seen shows its true age.
    emulator.clock.advance(6 * HOURS + 60)
    seen_at = AuditTable(build_clients().dynamodb, stack.table_name).first_seen([token])[token].at
    stack.dynamodb.update_item(
        TableName=stack.table_name,
        Key={"pk": {"S": f"TOKEN#{token}"}, "sk": {"S": "SEEN"}},
        UpdateExpression="SET first_seen = :t",
        ExpressionAttributeValues={
            ":t": {"S": (seen_at - timedelta(hours=6, minutes=2)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        },
    )
    sqs_lambda.send(json.dumps(recheck))
    assert sqs_lambda.poll() == {"batchItemFailures": []}
    assert emulator.snapshot().cancelled == [token]


def test_cloudtrail_records_of_failed_calls_or_our_own_cancels_start_nothing(
    stack, emulator, invoke
):
    event = cloudtrail_event("tok-1", name="CancelResourceRequest")
    assert "ignored" in invoke(event)
    assert stack.dead_letters() == [] and stack.decisions() == {}


def test_an_unknown_event_shape_is_invalid_audited_and_dead_lettered(stack, emulator, invoke):
    result = invoke({"id": "weird-1", "hello": "world"})
    assert result["outcome"] == "invalid" and "event:" in result["error"]
    (letter,) = stack.dead_letters()
    assert letter["error"]["code"] == "UnknownEventShape" and letter["deliveryId"] == "weird-1"
    assert sum(emulator.snapshot().calls.values()) == 0


def test_a_direct_event_whose_failure_cannot_reach_the_dlq_raises_for_lambda_to_retry(
    stack, emulator, invoke, monkeypatch
):
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", stack.dead_letter_queue_url + "-missing")
    with pytest.raises(QueueError):
        invoke({"id": "weird-2", "hello": "world"})


def test_failed_cancels_in_a_sweep_reach_the_dlq_with_their_error(stack, emulator, invoke):
    stale = emulator.seed(3, age_seconds=7 * HOURS)
    emulator.configure(concurrent_modification_probability=1.0)
    invoke(scheduled_event())
    (letter,) = stack.dead_letters()
    assert sorted(letter["requestTokens"]) == sorted(stale)
    assert letter["error"]["code"] == "ConcurrentModificationException"
    assert letter["source"] == "sweep" and letter["mode"] == "cancel"
    assert {d["outcome"] for d in stack.decisions().values()} == {"failed"}


@dataclass
class CallPacedContext(FakeLambdaContext):
    """Lambda's remaining time on a fake clock that only Cloud Control calls move: each one
    costs what the rate allows it (1/20 s at 20 calls/s). However fast or slow this machine
    is, the deadline falls after the same amount of work."""

    calls: Callable[[], int] = lambda: 0
    ms_per_call: int = 50

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.remaining_ms - self.ms_per_call * self.calls())


def test_a_sweep_near_its_deadline_hands_the_rest_to_the_work_queue(
    stack, emulator, invoke, recorded_calls, monkeypatch
):
    set_reaper_config(monkeypatch, max_cancellations_per_run=1000, calls_per_second=20)
    stale = set(emulator.seed(300, age_seconds=7 * HOURS))
    invoke(cloudtrail_event("warm-up", name="GetResource"))  # a warm container, as in Lambda

    def cloud_control_calls() -> int:
        return sum(call.service == "cloudcontrol" for call in recorded_calls)

    # 4.5 s left and a 3 s margin: 1.5 s of work, 30 calls at 20 calls/s; all 300 cancels
    # would need 15 s (300 calls).
    context = CallPacedContext(remaining_ms=4_500, calls=cloud_control_calls)
    result = handler.lambda_handler(scheduled_event(), context)

    # It returned before Lambda would have stopped it, and only because it stopped early.
    assert context.get_remaining_time_in_millis() > 0, cloud_control_calls()
    assert result["stoppedEarly"] or result["handedOff"]
    handed = {t for m in stack.work_messages() for t in m["requestTokens"]}
    cancelled = set(emulator.snapshot().cancelled)
    assert 0 < len(cancelled) < len(stale) and not cancelled & handed
    assert result["handedOff"] == len(handed)
    # Nothing listed is lost: cancelled now, handed off, or left for the next run's listing.
    recorded = set(stack.decisions())
    assert cancelled <= recorded and cancelled | handed <= stale


@pytest.mark.parametrize(
    ("follow_seconds", "outcome", "status_after"),
    [(180, "cancel_complete", "CANCEL_COMPLETE"), (60, "cancelled", "CANCEL_IN_PROGRESS")],
)
def test_a_cancel_is_followed_until_complete_or_reported_unfinished(
    stack, emulator, invoke, monkeypatch, follow_seconds, outcome, status_after
):
    set_reaper_config(monkeypatch, cancel_follow_seconds=follow_seconds)
    emulator.configure(cancel_complete_after_seconds=120)
    (token,) = emulator.seed(1, age_seconds=7 * HOURS)
    invoke(custom_event(token))
    decision = stack.decisions()[token]
    assert (decision["outcome"], decision["status_after"]) == (outcome, status_after)
    if outcome == "cancelled":
        assert decision["error_code"] == "CancelNotComplete"
