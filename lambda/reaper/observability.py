"""Logger, Metrics and Tracer, made once for the whole package.

Tracer imports aws_xray_sdk (about 0.2 s of cold start measured here), so it is made only
when tracing is on (``enable_tracing`` at the first invocation); ``span`` is free otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from reaper.models import Outcome

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

    from reaper.run_state import RunReport

logger = Logger()
metrics = Metrics()
_tracer: Tracer | None = None

METRIC_NAMES: dict[Outcome, str] = {
    Outcome.CANCELLED: "Cancelled",
    Outcome.CANCEL_COMPLETE: "CancelComplete",
    Outcome.DRY_RUN: "DryRun",
    Outcome.NOT_FOUND: "NotFound",
    Outcome.FAILED: "Failed",
    Outcome.INVALID: "Invalid",
    Outcome.WATCHING: "Watching",
    Outcome.UNMATCHED: "Unmatched",
    Outcome.BLOCKING: "Blocking",
    Outcome.AWAITING_APPROVAL: "AwaitingApproval",
    Outcome.APPROVAL_REFUSED: "ApprovalRefused",
    Outcome.NOT_STALE: "SkippedNotStale",
    Outcome.TERMINAL: "SkippedTerminal",
    Outcome.FILTERED: "SkippedFiltered",
    Outcome.DEFERRED_CAP: "SkippedDeferredCap",
    Outcome.DEFERRED_KILL_SWITCH: "SkippedDeferredKillSwitch",
}


def enable_tracing() -> Tracer:
    global _tracer  # noqa: PLW0603 - one tracer per container, made on demand
    if _tracer is None:
        from aws_lambda_powertools import Tracer  # noqa: PLC0415 - imports aws_xray_sdk

        _tracer = Tracer()
    return _tracer


@contextmanager
def span(name: str) -> Iterator[None]:
    """An X-Ray subsegment when tracing is on, nothing otherwise."""
    if _tracer is None:
        yield
        return
    with _tracer.provider.in_subsegment(f"## {name}"):
        yield


def publish(report: RunReport, throttled_calls: int) -> None:
    """One invocation's counts as metrics (zero counts are left out)."""
    for outcome, count in report.outcomes.items():
        if count:
            metrics.add_metric(name=METRIC_NAMES[outcome], unit=MetricUnit.Count, value=count)
    # Every cancel that reached Cloud Control, whatever state the follow saw it reach.
    cancelled = report.outcomes[Outcome.CANCELLED] + report.outcomes[Outcome.CANCEL_COMPLETE]
    if cancelled:
        metrics.add_metric(name="CancelRequested", unit=MetricUnit.Count, value=cancelled)
    extras = {
        "ClaimedElsewhere": report.claimed_elsewhere,
        "Duplicates": report.duplicates,
        "HandedOff": report.handed_off,
        "DeadLettered": report.dead_lettered,
        "Reconciled": report.reconciled,
        "PlansAwaitingApproval": report.plans_awaiting,
        "EventsSent": report.events_sent,
        "FollowUpsSent": report.follow_ups_sent,
        "EventsNotSent": report.events_not_sent,
        "ThrottledCalls": throttled_calls,
    }
    for name, value in extras.items():
        if value:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if report.sweep_seconds is not None:
        metrics.add_metric(
            name="SweepDuration",
            unit=MetricUnit.Milliseconds,
            value=round(report.sweep_seconds * 1000),
        )
