"""Every status transition, EventTime, cancelling, and forgetting after 7 days, on a moved clock."""

from __future__ import annotations

from typing import Any

import pytest
from ccapi_emulator import Lifecycle

DB = "AWS::RDS::DBInstance"


def _create(client, type_name: str = DB) -> Any:
    return client.create_resource(TypeName=type_name, DesiredState="{}")["ProgressEvent"][
        "RequestToken"
    ]


def _event(client, token: str) -> Any:
    return client.get_resource_request_status(RequestToken=token)["ProgressEvent"]


def test_a_request_goes_pending_then_in_progress_then_success(client, backend):
    # Given requests that wait 10 s to start and finish after 30 s
    backend.set_lifecycle(DB, Lifecycle.succeed(30, pending_seconds=10))
    start = backend.clock.now()
    token = _create(client)

    # When time passes, Then the status follows, and EventTime is when each status was entered
    seen = []
    for seconds in (0, 9, 1, 19, 1, 3600):
        backend.clock.advance(seconds)
        event = _event(client, token)
        seen.append((event["OperationStatus"], round(event["EventTime"].timestamp() - start)))
    assert seen == [
        ("PENDING", 0),
        ("PENDING", 0),
        ("IN_PROGRESS", 10),
        ("IN_PROGRESS", 10),
        ("SUCCESS", 30),
        ("SUCCESS", 30),
    ]


def test_a_failing_request_carries_an_error_code_and_message(client, backend):
    backend.set_lifecycle(DB, Lifecycle.fail(5, error_code="NotStabilized", status_message="boom"))
    token = _create(client)
    assert "ErrorCode" not in _event(client, token)

    backend.clock.advance(5)

    event = _event(client, token)
    assert (event["OperationStatus"], event["ErrorCode"], event["StatusMessage"]) == (
        "FAILED",
        "NotStabilized",
        "boom",
    )


@pytest.mark.parametrize("stuck_status", ["PENDING", "IN_PROGRESS"])
def test_a_stuck_request_stays_stuck_and_keeps_its_event_time(client, backend, stuck_status):
    backend.set_lifecycle("AWS::RDS::*", Lifecycle.stuck(stuck_status))
    token = _create(client)
    started = _event(client, token)["EventTime"]

    backend.clock.advance(6 * 24 * 3600)

    event = _event(client, token)
    assert event["OperationStatus"] == stuck_status
    assert event["EventTime"] == started


def test_event_time_moves_forward_while_in_progress_with_a_progress_tick(client, backend):
    # Given a stuck request whose handler reports progress every 60 s
    backend.set_lifecycle(DB, Lifecycle.stuck("IN_PROGRESS", progress_tick_seconds=60))
    start = backend.clock.now()
    token = _create(client)

    # When 2.5 hours pass
    backend.clock.advance(9000)

    # Then EventTime looks only seconds old although the request is 2.5 hours old
    event = _event(client, token)
    assert event["EventTime"].timestamp() - start == pytest.approx(9000, abs=0.01)
    backend.clock.advance(59)
    assert _event(client, token)["EventTime"] == event["EventTime"]
    assert backend.request(token).created_at.timestamp() == pytest.approx(start, abs=0.01)


def test_the_most_recently_set_matching_pattern_decides_and_none_removes_it(client, backend):
    backend.set_lifecycle("AWS::*", Lifecycle.stuck("PENDING"))
    backend.set_lifecycle("AWS::RDS::*", Lifecycle.fail(0))
    assert _event(client, _create(client, DB))["OperationStatus"] == "FAILED"
    assert _event(client, _create(client, "AWS::S3::Bucket"))["OperationStatus"] == "PENDING"

    backend.set_lifecycle("AWS::RDS::*", None)

    assert _event(client, _create(client, DB))["OperationStatus"] == "PENDING"


@pytest.mark.parametrize("status", ["PENDING", "IN_PROGRESS"])
def test_cancelling_moves_to_cancel_in_progress_then_cancel_complete(client, backend, status):
    # Given a stuck request and cancels that take 20 s to complete
    backend.configure(cancel_complete_after_seconds=20)
    [token] = backend.seed(1, status=status, age_seconds=3600)
    backend.clock.advance(1)

    # When it is cancelled
    answer = client.cancel_resource_request(RequestToken=token)["ProgressEvent"]

    # Then it is CANCEL_IN_PROGRESS from now, and CANCEL_COMPLETE 20 s later
    now = backend.clock.now()
    assert answer["OperationStatus"] == "CANCEL_IN_PROGRESS"
    assert answer["EventTime"].timestamp() == pytest.approx(now, abs=0.01)
    backend.clock.advance(19.9)
    assert _event(client, token)["OperationStatus"] == "CANCEL_IN_PROGRESS"
    backend.clock.advance(0.1)
    event = _event(client, token)
    assert event["OperationStatus"] == "CANCEL_COMPLETE"
    assert event["EventTime"].timestamp() == pytest.approx(now + 20, abs=0.01)
    snapshot = backend.snapshot()
    assert snapshot.cancelled == [token]
    assert snapshot.requests[token].cancelled_at.timestamp() == pytest.approx(now, abs=0.01)


def test_with_no_cancel_delay_the_answer_still_says_cancel_in_progress(client, backend):
    # Given cancels that complete at once
    backend.configure(cancel_complete_after_seconds=0)
    [token] = backend.seed(1, status="IN_PROGRESS")

    # When it is cancelled, Then the answer is CANCEL_IN_PROGRESS, as AWS answers a cancel
    answer = client.cancel_resource_request(RequestToken=token)["ProgressEvent"]
    assert answer["OperationStatus"] == "CANCEL_IN_PROGRESS"
    # And the next look finds it complete
    assert _event(client, token)["OperationStatus"] == "CANCEL_COMPLETE"


def test_a_cancelled_request_never_finishes_its_old_lifecycle(client, backend):
    backend.set_lifecycle(DB, Lifecycle.succeed(10))
    token = _create(client)
    client.cancel_resource_request(RequestToken=token)

    backend.clock.advance(3600)

    assert _event(client, token)["OperationStatus"] == "CANCEL_COMPLETE"


@pytest.mark.parametrize("status", ["SUCCESS", "FAILED", "CANCEL_IN_PROGRESS", "CANCEL_COMPLETE"])
def test_cancelling_a_request_that_cannot_be_cancelled_answers_it_unchanged(
    client, backend, status
):
    # Given a request that is no longer cancellable
    [token] = backend.seed(1, status=status, age_seconds=60)
    before = _event(client, token)

    # When it is cancelled
    answer = client.cancel_resource_request(RequestToken=token)

    # Then the call succeeds (HTTP 200) with the ProgressEvent unchanged, and nothing changed
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["ProgressEvent"] == before
    assert _event(client, token) == before
    snapshot = backend.snapshot()
    assert snapshot.cancelled == []
    assert snapshot.cancel_noops == [token]


def test_a_seeded_request_with_a_lifecycle_is_where_that_lifecycle_puts_it(client, backend):
    # Given a request seeded one hour old that succeeds after two hours
    [token] = backend.seed(1, age_seconds=3600, lifecycle=Lifecycle.succeed(7200))
    assert _event(client, token)["OperationStatus"] == "IN_PROGRESS"

    # When another hour passes, Then it has succeeded
    backend.clock.advance(3600)
    assert _event(client, token)["OperationStatus"] == "SUCCESS"


def test_seed_refuses_a_status_and_a_lifecycle_together(backend):
    with pytest.raises(ValueError, match="not both"):
        backend.seed(1, status="PENDING", lifecycle=Lifecycle.stuck())


def test_requests_older_than_seven_days_are_forgotten(client, backend):
    # Given one request just under 7 days old and one newer
    [old] = backend.seed(1, age_seconds=7 * 24 * 3600 - 10)
    [young] = backend.seed(1, age_seconds=3600)

    # When 11 more seconds pass
    backend.clock.advance(11)

    # Then the old one is unknown to every call, and the young one is still there
    for call in (client.get_resource_request_status, client.cancel_resource_request):
        with pytest.raises(client.exceptions.RequestTokenNotFoundException):
            call(RequestToken=old)
    listed = client.list_resource_requests()["ResourceRequestStatusSummaries"]
    assert [e["RequestToken"] for e in listed] == [young]
    assert set(backend.snapshot().requests) == {young}
    assert backend.request(old) is None
