"""Given a request and the config, when assessed, then terminal/filtered/young/stale."""

from __future__ import annotations

from datetime import timedelta

from reaper.config import ReaperConfig
from reaper.models import Outcome, RequestStatus, Status
from reaper.policy import assess, started_at

from .fakes import T0


def request(
    status=Status.IN_PROGRESS, age=timedelta(hours=7), type_name="AWS::S3::Bucket", op="CREATE"
) -> RequestStatus:
    return RequestStatus("t", type_name, "i", op, status, T0 - age if age is not None else None)


CONFIG = ReaperConfig(dry_run=False)


def test_an_in_progress_request_older_than_six_hours_is_stale_by_default():
    result = assess(request(), None, T0, CONFIG)
    assert result.stale and result.threshold_minutes == 360 and result.age_seconds == 7 * 3600


def test_a_young_request_is_not_stale_and_says_when_it_will_be():
    result = assess(request(age=timedelta(hours=1)), None, T0, CONFIG)
    assert result.skip is Outcome.NOT_STALE
    assert result.stale_at == T0 + timedelta(hours=5)


def test_terminal_requests_are_never_stale_however_old():
    for status in (
        Status.SUCCESS,
        Status.FAILED,
        Status.CANCEL_IN_PROGRESS,
        Status.CANCEL_COMPLETE,
    ):
        assert (
            assess(request(status, age=timedelta(days=6)), None, T0, CONFIG).skip
            is Outcome.TERMINAL
        )


def test_age_comes_from_the_older_of_event_time_and_first_seen():
    # EventTime moved forward to 1 h ago, but we first saw the token 8 h ago.
    result = assess(request(age=timedelta(hours=1)), T0 - timedelta(hours=8), T0, CONFIG)
    assert result.stale and result.age_seconds == 8 * 3600
    assert started_at(None, None) is None


def test_databases_get_a_day_by_default():
    rds = request(type_name="AWS::RDS::DBCluster", age=timedelta(hours=23))
    result = assess(rds, None, T0, CONFIG)
    assert result.skip is Outcome.NOT_STALE and result.threshold_minutes == 1440


def test_rules_by_type_and_operation_first_match_wins():
    config = ReaperConfig(
        threshold_rules=[
            {"type": "AWS::Lambda::*", "operation": "DELETE", "minutes": 30},
            {"type": "AWS::Lambda::*", "minutes": 120},
        ]
    )
    assert (
        assess(
            request(type_name="AWS::Lambda::Function", op="DELETE"), None, T0, config
        ).threshold_minutes
        == 30
    )
    assert (
        assess(request(type_name="AWS::Lambda::Function"), None, T0, config).threshold_minutes
        == 120
    )
    assert assess(request(), None, T0, config).threshold_minutes == 360


def test_exclusions_win_over_inclusions():
    config = ReaperConfig(
        include_types=["AWS::S3::*", "AWS::SQS::*"], exclude_types=["AWS::S3::Bucket"]
    )
    assert assess(request(), None, T0, config).skip is Outcome.FILTERED
    assert assess(request(type_name="AWS::SQS::Queue"), None, T0, config).stale
    assert assess(request(type_name="AWS::SNS::Topic"), None, T0, config).skip is Outcome.FILTERED


def test_a_request_with_no_time_at_all_is_not_stale():
    assert assess(request(age=None), None, T0, CONFIG).skip is Outcome.NOT_STALE
