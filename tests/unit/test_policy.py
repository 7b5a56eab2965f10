"""Given a request and the config, when assessed, then terminal/filtered/young/stale."""

from __future__ import annotations

from datetime import timedelta

import pytest
from reaper.config import LONG_RUNNING_TYPES, ReaperConfig
from reaper.models import Outcome, RequestStatus, Sighting, Status, earliest
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
    result = assess(request(age=None), None, T0, CONFIG)
    assert result.skip is Outcome.NOT_STALE and result.why == "no start time yet"


# Built-in rules: a user's rule adds to them, it does not replace them.

DB_ALMOST_A_DAY_OLD = request(type_name="AWS::RDS::DBInstance", age=timedelta(hours=23))


def test_one_user_rule_keeps_the_builtin_day_for_databases():
    # Given a user rule for S3 only
    config = ReaperConfig(dry_run=False, threshold_rules={"AWS::S3::*": 60})
    # When a 23-hour-old RDS instance creation and a 2-hour-old bucket are assessed
    db = assess(DB_ALMOST_A_DAY_OLD, None, T0, config)
    bucket = assess(request(age=timedelta(hours=2)), None, T0, config)
    # Then the database still has its day and is left alone; the bucket follows the user rule
    assert db.skip is Outcome.NOT_STALE and db.threshold_minutes == 1440
    assert bucket.stale and bucket.threshold_minutes == 60


@pytest.mark.parametrize("glob", LONG_RUNNING_TYPES)
def test_every_long_running_type_keeps_its_day_next_to_a_user_rule(glob: str):
    config = ReaperConfig(threshold_rules={"AWS::Lambda::*": 30})
    type_name = glob.replace("*", "Thing")
    assert config.threshold_minutes(type_name, "CREATE") == 1440


def test_builtin_rules_off_gives_databases_the_default_threshold():
    # Given a user who turned the built-in rules off on purpose
    config = ReaperConfig(dry_run=False, threshold_rules={"AWS::S3::*": 60}, builtin_rules=False)
    # When the 23-hour-old RDS instance is assessed
    result = assess(DB_ALMOST_A_DAY_OLD, None, T0, config)
    # Then it is stale after the default six hours
    assert result.stale and result.threshold_minutes == 360


def test_a_user_rule_for_a_long_running_type_wins_over_the_builtin_one():
    # Given a user who gives RDS twelve hours and EKS two days
    config = ReaperConfig(
        dry_run=False, threshold_rules={"AWS::RDS::*": 12 * 60, "AWS::EKS::*": 2 * 1440}
    )
    # When assessed, Then the user's rules apply, before the built-in day
    assert assess(DB_ALMOST_A_DAY_OLD, None, T0, config).stale
    assert config.threshold_minutes("AWS::EKS::Cluster", "CREATE") == 2 * 1440


def test_by_default_there_are_no_user_rules_and_the_builtin_ones_apply():
    config = ReaperConfig()
    assert config.threshold_rules == () and config.builtin_rules is True
    assert config.threshold_minutes("AWS::OpenSearchService::Domain", "UPDATE") == 1440


# Unknown TypeName: fail closed.


@pytest.mark.parametrize("type_name", ["", "   ", None])
@pytest.mark.parametrize("include", [("*",), ("*", "AWS::*"), ("?*",)])
def test_a_request_of_unknown_type_is_never_stale(type_name, include):
    # Given a six-day-old request whose TypeName is unknown, and includeTypes that match all
    config = ReaperConfig(dry_run=False, include_types=include, exclude_types=["AWS::IAM::*"])
    old = request(type_name=type_name, age=timedelta(days=6))
    # When assessed
    result = assess(old, None, T0, config)
    # Then it is filtered, with the reason, and never stale
    assert result.skip is Outcome.FILTERED and not result.stale
    assert result.why == "TypeName unknown: a type rule cannot apply"
    assert not config.type_allowed(type_name or "")


def test_a_terminal_request_of_unknown_type_is_still_terminal():
    result = assess(request(Status.SUCCESS, type_name=""), None, T0, CONFIG)
    assert result.skip is Outcome.TERMINAL


# Every skip says why.


@pytest.mark.parametrize(
    ("given", "config", "skip", "why"),
    [
        (request(Status.SUCCESS), CONFIG, Outcome.TERMINAL, "status SUCCESS"),
        (request(Status.CANCEL_COMPLETE), CONFIG, Outcome.TERMINAL, "status CANCEL_COMPLETE"),
        (
            request(type_name="AWS::IAM::Role"),
            ReaperConfig(exclude_types=["AWS::S3::*", "AWS::IAM::*"]),
            Outcome.FILTERED,
            "excluded by excludeTypes 'AWS::IAM::*'",
        ),
        (
            request(type_name="AWS::SNS::Topic"),
            ReaperConfig(include_types=["AWS::S3::*"]),
            Outcome.FILTERED,
            "not matched by includeTypes",
        ),
        (
            request(age=timedelta(hours=1)),
            CONFIG,
            Outcome.NOT_STALE,
            "age 3600 s < threshold 360 min",
        ),
        (request(age=None), CONFIG, Outcome.NOT_STALE, "no start time yet"),
    ],
)
def test_every_skip_says_why_in_one_line(given, config, skip, why):
    result = assess(given, None, T0, config)
    assert result.skip is skip
    assert result.why == why


def test_a_stale_request_needs_no_why():
    result = assess(request(), None, T0, CONFIG)
    assert result.stale and result.why is None


def test_a_first_sighting_is_the_earlier_of_its_own_and_a_packed_one():
    own = Sighting(T0, "arn:aws:iam::1:role/ci", "terraform/1.9")
    hour = timedelta(hours=1)
    assert earliest(None, None) is None
    assert earliest(own, None) == own
    assert earliest(None, T0) == Sighting(T0)
    assert earliest(own, T0 + hour) == own
    # Packed earlier: its time, and who started the request from the token's own item.
    assert earliest(own, T0 - hour) == Sighting(T0 - hour, own.started_by, own.user_agent)
