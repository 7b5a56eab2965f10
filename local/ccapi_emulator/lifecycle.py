"""Statuses of a resource operation request and the life a request is given when it starts."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

OPERATIONS: tuple[str, ...] = ("CREATE", "DELETE", "UPDATE")

PENDING = "PENDING"
IN_PROGRESS = "IN_PROGRESS"
SUCCESS = "SUCCESS"
FAILED = "FAILED"
CANCEL_IN_PROGRESS = "CANCEL_IN_PROGRESS"
CANCEL_COMPLETE = "CANCEL_COMPLETE"
STATUSES: tuple[str, ...] = (
    PENDING,
    IN_PROGRESS,
    SUCCESS,
    FAILED,
    CANCEL_IN_PROGRESS,
    CANCEL_COMPLETE,
)
CANCELLABLE = frozenset({PENDING, IN_PROGRESS})

# A timeline is the list of (epoch seconds, status) a request passes through, in time order.
Timeline = list[tuple[float, str]]


@dataclass(frozen=True)
class Lifecycle:
    """What a request does after it starts.

    PENDING for ``pending_seconds``, then IN_PROGRESS, then ``final_status`` at
    ``finish_after_seconds`` from the start. ``final_status=None`` means stuck: the request stays
    in ``stuck_status`` for good. While IN_PROGRESS, EventTime moves forward every
    ``progress_tick_seconds`` if set (as AWS's own examples show it doing).
    """

    final_status: str | None = SUCCESS
    finish_after_seconds: float = 5.0
    pending_seconds: float = 0.0
    stuck_status: str = IN_PROGRESS
    error_code: str = "GeneralServiceException"
    status_message: str | None = None
    progress_tick_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.final_status not in (None, SUCCESS, FAILED):
            raise ValueError(
                f"final_status must be SUCCESS, FAILED or None, not {self.final_status}"
            )
        if self.stuck_status not in CANCELLABLE:
            raise ValueError(
                f"stuck_status must be PENDING or IN_PROGRESS, not {self.stuck_status}"
            )
        if self.pending_seconds < 0 or self.finish_after_seconds < self.pending_seconds:
            raise ValueError("need 0 <= pending_seconds <= finish_after_seconds")
        if self.progress_tick_seconds is not None and self.progress_tick_seconds <= 0:
            raise ValueError("progress_tick_seconds must be positive")

    @classmethod
    def succeed(
        cls,
        after_seconds: float = 5.0,
        *,
        pending_seconds: float = 0.0,
        progress_tick_seconds: float | None = None,
    ) -> Lifecycle:
        return cls(
            SUCCESS, after_seconds, pending_seconds, progress_tick_seconds=progress_tick_seconds
        )

    @classmethod
    def fail(
        cls,
        after_seconds: float = 5.0,
        *,
        error_code: str = "GeneralServiceException",
        status_message: str | None = "Resource handler returned message: emulated failure",
        pending_seconds: float = 0.0,
        progress_tick_seconds: float | None = None,
    ) -> Lifecycle:
        return cls(
            FAILED,
            after_seconds,
            pending_seconds,
            error_code=error_code,
            status_message=status_message,
            progress_tick_seconds=progress_tick_seconds,
        )

    @classmethod
    def stuck(
        cls, status: str = IN_PROGRESS, *, progress_tick_seconds: float | None = None
    ) -> Lifecycle:
        return cls(None, 0.0, 0.0, stuck_status=status, progress_tick_seconds=progress_tick_seconds)

    @classmethod
    def parse(cls, spec: str) -> Lifecycle:
        """Read the command-line form: ``succeed:5``, ``fail:30``, ``stuck:PENDING``, ``stuck``."""
        kind, _, arg = spec.partition(":")
        if kind == "succeed":
            return cls.succeed(float(arg or 5.0))
        if kind == "fail":
            return cls.fail(float(arg or 5.0))
        if kind == "stuck":
            return cls.stuck(arg or IN_PROGRESS)
        raise ValueError(
            f"unknown lifecycle {spec!r}: use succeed:SECONDS, fail:SECONDS or stuck:STATUS"
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lifecycle:
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def timeline(self, start: float) -> Timeline:
        """The statuses a request started at ``start`` passes through."""
        if self.final_status is None:
            return [(start, self.stuck_status)]
        phases: Timeline = []
        if self.pending_seconds > 0:
            phases.append((start, PENDING))
        phases.append((start + self.pending_seconds, IN_PROGRESS))
        phases.append((start + self.finish_after_seconds, self.final_status))
        return phases


def status_at(timeline: Timeline, now: float) -> tuple[float, str]:
    """The (time entered, status) of the latest phase reached by ``now``."""
    reached = timeline[0]
    for phase in timeline[1:]:
        if phase[0] > now:
            break
        reached = phase
    return reached


def event_time(entered: float, status: str, now: float, tick: float | None) -> float:
    """EventTime: when the current status was entered, moved forward by whole progress ticks."""
    if tick is None or status != IN_PROGRESS or now <= entered:
        return entered
    return entered + math.floor((now - entered) / tick) * tick
