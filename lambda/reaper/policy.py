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
    """``skip`` is the outcome when the request must be left alone; None means stale."""

    skip: Outcome | None
    age_seconds: int | None
    threshold_minutes: int
    stale_at: datetime | None

    @property
    def stale(self) -> bool:
        return self.skip is None


def started_at(event_time: datetime | None, first_seen: datetime | None) -> datetime | None:
    """The older of EventTime and our first sighting: EventTime moves forward between polls."""
    known = [t for t in (event_time, first_seen) if t is not None]
    return min(known) if known else None


def assess(
    request: RequestStatus, first_seen: datetime | None, now: datetime, config: ReaperConfig
) -> Assessment:
    """Terminal, then filtered by type, then young: each is left alone; else stale."""
    threshold = config.threshold_minutes(request.type_name, request.operation)
    start = started_at(request.event_time, first_seen)
    age = max(0, int((now - start).total_seconds())) if start else None
    stale_at = start + timedelta(minutes=threshold) if start else None
    if not request.status.cancellable:
        skip: Outcome | None = Outcome.TERMINAL
    elif not config.type_allowed(request.type_name):
        skip = Outcome.FILTERED
    elif stale_at is None or now < stale_at:
        # No time at all is "not stale": we start the clock at first sight instead of guessing.
        skip = Outcome.NOT_STALE
    else:
        skip = None
    return Assessment(skip=skip, age_seconds=age, threshold_minutes=threshold, stale_at=stale_at)
