"""What one invocation's pieces share: the ports, the run's identity, deadline and report, and
the few ways a decision is built. Every piece of a run (gate, canceller, follower, ledger,
sweep) takes a ``RunState``; none of them holds state of another."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from reaper.clock import Deadline
from reaper.errors import ReaperError
from reaper.handoff import HandOffRef, Reading
from reaper.inputs import FollowUp
from reaper.models import (
    CANCEL_MAY_HAVE_LANDED,
    INTERRUPTED,
    Decision,
    Delivery,
    Mode,
    OpenRun,
    Outcome,
    RequestStatus,
    Sighting,
    Source,
    Taken,
    clip,
)

__all__ = ["INTERRUPTED", "Audit", "Chosen", "Ports", "RunReport", "RunState"]
from reaper.policy import Assessment
from reaper.ports import (
    AuditStore,
    Clock,
    CloudControl,
    DeadLetters,
    EventBus,
    Notifier,
    WorkQueue,
)

if TYPE_CHECKING:
    from reaper.config import ReaperConfig


class WorkQueueOfFollowUps(WorkQueue, Protocol):
    """The work queue (ports.WorkQueue) that also takes follow-up messages."""

    def send_follow_ups(self, follow_ups: Sequence[tuple[FollowUp, int]]) -> None:
        """(follow-up, delay seconds) pairs. Raises QueueError."""
        ...


class Audit(AuditStore, Protocol):
    """The audit port (ports.AuditStore) and the decision pipeline's own calls: a claim that
    is the decision written ahead, the open-run marks that let the next sweep find what an
    ended sweep wrote ahead, and the cancels whose follow-up message was never sent."""

    def claim_ahead(
        self,
        tokens: Sequence[str],
        owner: str,
        now: datetime,
        until: datetime,
        ahead: Mapping[str, Decision] | None = None,
    ) -> dict[str, Taken]:
        """``claim``, each claim holding the decision written ahead of its cancel; returns
        the tokens now held, each with the ended claim it replaced (owner and write-ahead).
        Raises StoreError."""
        ...

    def open_run(self, run: OpenRun, tokens: Sequence[str]) -> OpenRun:
        """Mark the run open, with the tokens it chose; returns the mark as stored. Raises
        StoreError."""
        ...

    def run_tokens(self, run: OpenRun) -> list[str]:
        """The tokens an open run chose. Raises StoreError."""
        ...

    def close_run(self, run: OpenRun) -> None:
        """Raises StoreError."""
        ...

    def ended_runs(self, now: datetime) -> list[OpenRun]:
        """Open runs whose holder has ended. Raises StoreError."""
        ...

    def written_ahead(self, tokens: Sequence[str], owners: Collection[str]) -> list[Decision]:
        """What ``owners`` wrote ahead for these tokens and never replaced. Raises StoreError."""
        ...

    def unfollowed(self, before: datetime, limit: int) -> list[Decision]:
        """Cancels recorded before ``before`` whose follow-up was never sent."""
        ...

    def store_handoff(
        self, run: str, parts: Sequence[list[Reading]], now: datetime, first: int = 0
    ) -> list[HandOffRef]:
        """What a sweep read of the requests it hands off, an item per message, numbered
        from ``first``. Raises StoreError."""
        ...

    def handoff_readings(self, ref: HandOffRef) -> dict[str, Reading]:
        """The readings of one hand-off message ({}: gone). Raises StoreError."""
        ...


# The error code of a token another live delivery holds the claim of: retried later.
CLAIMED_ELSEWHERE = "ClaimedElsewhere"

# A request chosen for cancelling, with what the decision needs to say about it.
Chosen = tuple[RequestStatus, Sighting | None, Assessment]


@dataclass(frozen=True)
class Ports:
    """The service's outside world, for as long as the container lives."""

    config: ReaperConfig
    cloud_control: CloudControl
    audit: Audit
    dead_letters: DeadLetters
    work_queue: WorkQueueOfFollowUps
    clock: Clock
    # The account's default bus for the reaper's events; None when emit_events is off.
    events: EventBus | None = None
    # Told of each plan awaiting approval (requireApproval); None: no one is told.
    notifier: Notifier | None = None


@dataclass
class RunReport:
    """What one invocation did: the handler turns it into metrics."""

    outcomes: Counter[Outcome] = field(default_factory=Counter)
    claimed_elsewhere: int = 0
    duplicates: int = 0
    handed_off: int = 0
    dead_lettered: int = 0
    reconciled: int = 0
    follow_ups_sent: int = 0
    plans_awaiting: int = 0
    events_sent: int = 0
    events_not_sent: int = 0
    sweep_seconds: float | None = None


class RunState:
    """One invocation's identity, deadline and report; ``count`` is safe from any thread."""

    def __init__(self, ports: Ports, request_id: str, deadline: Deadline) -> None:
        self.ports = ports
        self.config = ports.config
        self.request_id = request_id
        self.deadline = deadline
        self.report = RunReport()
        self._lock = threading.Lock()

    def count(self, outcomes: Iterable[Outcome]) -> None:
        with self._lock:
            self.report.outcomes.update(outcomes)

    def add(self, name: str, n: int = 1) -> None:
        """Add to one of the report's plain counters (claimed_elsewhere, duplicates, ...)."""
        with self._lock:
            setattr(self.report, name, getattr(self.report, name) + n)

    def base(self, token: str, delivery: Delivery) -> Decision:
        """A decision about a token before anything is known of its request."""
        return Decision(
            token=token,
            source=delivery.source,
            delivery_id=delivery.delivery_id,
            outcome=Outcome.FAILED,
            decided_at=self.ports.clock.now(),
            request_id=self.request_id,
            dry_run=self.config.dry_run,
            reason=clip(delivery.reason),
        )

    def seen(
        self,
        delivery: Delivery,
        request: RequestStatus,
        sighting: Sighting | None,
        assessment: Assessment,
    ) -> Decision:
        """A decision about a request read from Cloud Control, with its assessment and what
        is known of who started it."""
        sighting = sighting or Sighting(at=self.ports.clock.now())
        blocked = delivery.reason if delivery.mode is Mode.UNBLOCK else None
        return self.base(request.token, delivery).but(
            outcome=assessment.skip or Outcome.FAILED,
            status_seen=request.status,
            type_name=clip(request.type_name) or None,
            identifier=clip(request.identifier),
            operation=request.operation,
            event_time=request.event_time,
            first_seen=sighting.at,
            age_seconds=assessment.age_seconds,
            threshold_minutes=assessment.threshold_minutes,
            why=clip(assessment.why),
            started_by=clip(sighting.started_by),
            user_agent=clip(sighting.user_agent),
            hooks_token=request.hooks_token,
            hook_status=request.hook_status,
            blocked_call=clip(blocked),
        )


def owner_of(source: Source, delivery_id: str) -> str:
    """The claim owner a delivery writes (and recognises as its own)."""
    return f"{source.value}#{delivery_id}"


def parse_owner(owner: str) -> tuple[Source, str] | None:
    """The delivery (source, id) a claim owner names; None if it is not one of ours."""
    source, _, delivery_id = owner.partition("#")
    try:
        return Source(source), delivery_id
    except ValueError:
        return None


def failed(decision: Decision, error: ReaperError) -> Decision:
    return decision.but(
        outcome=Outcome.FAILED, error_code=error.code, error_message=clip(error.message)
    )


def interrupted(decision: Decision) -> Decision:
    """The form written ahead of a cancel: if the invocation ends before the outcome is
    recorded, the audit still names the token, and the next sweep reconciles it."""
    return decision.but(
        outcome=Outcome.FAILED,
        error_code=INTERRUPTED,
        error_message="the invocation ended between the cancel and its outcome",
    )


def is_interrupted(decision: Decision | None) -> bool:
    """Written ahead and never replaced, or a cancel whose answer was lost: either way the
    cancel may have landed, and what Cloud Control says now tells."""
    return (
        decision is not None
        and decision.outcome is Outcome.FAILED
        and decision.error_code in CANCEL_MAY_HAVE_LANDED
    )
