"""The one place that decides whether a request is stale. Pure: no I/O, no clock of its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from reaper.models import Outcome, RequestStatus

if TYPE_CHECKING:  # pydantic is not needed to apply a config, only to validate one
    from reaper.config import ReaperConfig


@dataclass(frozen=True, slots=True)
class Assessment:
    """``skip`` is the outcome when the request must be left alone; None means stale.

    ``why`` says in one line why a request was skipped, for the audit and the CLI.
    """

    skip: Outcome | None
    age_seconds: int | None
    threshold_minutes: int
    stale_at: datetime | None
    why: str | None = None
    # Stale by age, left alone because its CloudFormation Hook still runs (audited).
    waiting_for_hook: bool = False

    @property
    def stale(self) -> bool:
        return self.skip is None


def started_at(event_time: datetime | None, first_seen: datetime | None) -> datetime | None:
    """The older of EventTime and our first sighting: EventTime moves forward between polls."""
    known = [t for t in (event_time, first_seen) if t is not None]
    return min(known) if known else None


def assess(
    request: RequestStatus,
    first_seen: datetime | None,
    now: datetime,
    config: ReaperConfig,
    *,
    blocking: bool = False,
) -> Assessment:
    """Terminal, then filtered by type, then young, then a hook still running: each is left
    alone; else stale. ``blocking``: the request blocks a deployment, so the configured
    blocking threshold (if any) replaces the usual one.

    Fails closed: a request whose TypeName is unknown is filtered, because no type rule
    (an exclusion, a long-running type's day) could be applied to it.
    """
    type_name = request.type_name or ""  # None from a caller that did not check
    threshold = config.threshold_minutes(type_name, request.operation)
    if blocking and config.blocking_threshold_minutes is not None:
        threshold = config.blocking_threshold_minutes
    start = started_at(request.event_time, first_seen)
    age = max(0, int((now - start).total_seconds())) if start else None
    stale_at = start + timedelta(minutes=threshold) if start else None
    skip, why = _by_status_and_type(request, type_name, config)
    waiting = False
    if skip is None:
        if stale_at is None:
            # No time at all is "not stale": we start the clock at first sight, not guess.
            skip, why = Outcome.NOT_STALE, "no start time yet"
        elif now < stale_at:
            skip, why = Outcome.NOT_STALE, f"age {age} s < threshold {threshold} min"
        elif start and hook_running(request) and config.hooks_in_progress == "wait":
            hook_due = start + timedelta(minutes=config.hook_threshold_minutes)
            if now < hook_due:
                skip, stale_at, waiting = Outcome.NOT_STALE, hook_due, True
                why = (
                    f"hook {request.hook_status}: waiting until age "
                    f"{config.hook_threshold_minutes} min (hooksInProgress wait)"
                )
    return Assessment(
        skip=skip,
        age_seconds=age,
        threshold_minutes=threshold,
        stale_at=stale_at,
        why=why,
        waiting_for_hook=waiting,
    )


HOOK_RUNNING = frozenset({"HOOK_PENDING", "HOOK_IN_PROGRESS"})


def hook_running(request: RequestStatus) -> bool:
    return request.hook_status in HOOK_RUNNING


def _by_status_and_type(
    request: RequestStatus, type_name: str, config: ReaperConfig
) -> tuple[Outcome | None, str | None]:
    """Left alone whatever its age (the outcome and why), else (None, None)."""
    if not request.status.cancellable:
        return Outcome.TERMINAL, f"status {request.status.value}"
    if not type_name.strip():
        return Outcome.FILTERED, "TypeName unknown: a type rule cannot apply"
    glob = config.excluding_glob(type_name)
    if glob is not None:
        return Outcome.FILTERED, f"excluded by excludeTypes {glob!r}"
    if not config.type_allowed(type_name):
        return Outcome.FILTERED, "not matched by includeTypes"
    return None, None
