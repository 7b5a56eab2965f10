"""The reaper's domain objects: what a request looks like to us, and what we decided about it.

Plain dataclasses and Enums on purpose: they are on the cold path of every invocation and in the
inner loop of a 10,000-request sweep, and they never carry a ResourceModel.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

# The error code of a decision written ahead of a cancel: its invocation never recorded more.
INTERRUPTED = "Interrupted"
# The error code of a cancel call that failed (a timeout, a 5xx) while the request still read
# active: the cancel may yet land. Like a write-ahead, a redelivery, a replay or the next
# sweep records what it finds.
UNCONFIRMED = "CancelUnconfirmed"
# The error code of a token whose delivery's earlier decision could not be read: it fails
# (retried or dead-lettered) but is never written, lest it replace a write-ahead unseen.
UNREAD = "DecisionUnread"
# The error code of a cancel whose follow-up message (SQS path) could not be sent: recorded
# as cancelled, in its own index partition, which the next sweep follows (reconciling.py).
FOLLOW_NOT_SENT = "FollowUpNotSent"
# The error code of a cancel a sweep handed off: its final state is left to the next sweep's
# one pass over the cancel listings (a follow-up read each would double a hand-off's calls).
FOLLOWED_BY_NEXT_SWEEP = "FollowedByNextSweep"
# Cancels recorded as cancelled whose follow is the next sweep's (the UNFOLLOWED partition).
LEFT_UNFOLLOWED = frozenset({FOLLOW_NOT_SENT, FOLLOWED_BY_NEXT_SWEEP})
# The error code of a sweep's (or an event's) failure whose dead letter the DLQ refused:
# recorded where the next sweep reconciles it (the sweep's retry no longer lists a request
# that finished meanwhile, so nothing else would ever decide it again).
LETTER_NOT_SENT = "DeadLetterNotSent"
# Decisions whose cancel may have reached Cloud Control with no outcome recorded for it, or
# that nothing but the next sweep will decide again: the index's INTERRUPTED partition.
CANCEL_MAY_HAVE_LANDED = frozenset({INTERRUPTED, UNCONFIRMED, LETTER_NOT_SENT})
# Anything that reaches a log line or an audit item is cut to this many characters.
MAX_FIELD_CHARS = 1024


def clip(text: str | None, limit: int = MAX_FIELD_CHARS) -> str | None:
    """Cut untrusted or unbounded text before it is logged or stored."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


class Outcome(StrEnum):
    """What the reaper did with one token: a closed set, each value audited and counted."""

    CANCELLED = "cancelled"
    CANCEL_COMPLETE = "cancel_complete"
    DRY_RUN = "dry_run"
    NOT_STALE = "not_stale"
    TERMINAL = "terminal"
    FILTERED = "filtered"
    NOT_FOUND = "not_found"
    INVALID = "invalid"
    DEFERRED_CAP = "deferred_cap"
    DEFERRED_KILL_SWITCH = "deferred_kill_switch"
    FAILED = "failed"
    WATCHING = "watching"
    # A request blocking a deployment (a call refused with ConcurrentOperationException),
    # not stale yet: recorded with what it blocks, and watched until it is.
    BLOCKING = "blocking"
    # Stale, but requireApproval is on: recorded under a plan until a person approves it.
    AWAITING_APPROVAL = "awaiting_approval"
    # An approval of a plan that is unknown or too old: nothing cancelled.
    APPROVAL_REFUSED = "approval_refused"
    # A CloudTrail record of a call whose request could not be found (no token in the record,
    # none listed that matches it): audited once, never dead-lettered.
    UNMATCHED = "unmatched"


class Source(StrEnum):
    """Where a token came from (kept through queue hand-offs and dead-letter replays)."""

    SQS = "sqs"
    EVENTBRIDGE = "eventbridge"
    CLOUDTRAIL = "cloudtrail"
    SWEEP = "sweep"
    CLI = "cli"
    # A person's approval of a plan (cc-reaper approve), through the work queue.
    APPROVAL = "approval"


class Mode(StrEnum):
    """cancel: decide now. watch: re-check later until terminal or stale (CloudTrail tokens).
    unblock: like watch, for a request that blocks a deployment."""

    CANCEL = "cancel"
    WATCH = "watch"
    # A request blocking a deployment: decided with blocking_threshold_minutes, re-checked
    # like a watch until it is stale or finished.
    UNBLOCK = "unblock"


class Status(StrEnum):
    """Cloud Control OperationStatus."""

    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCEL_IN_PROGRESS = "CANCEL_IN_PROGRESS"
    CANCEL_COMPLETE = "CANCEL_COMPLETE"

    @property
    def cancellable(self) -> bool:
        return self in (Status.PENDING, Status.IN_PROGRESS)


ACTIVE_STATUSES: tuple[Status, ...] = (Status.PENDING, Status.IN_PROGRESS)
CANCEL_STATUSES: tuple[Status, ...] = (Status.CANCEL_IN_PROGRESS, Status.CANCEL_COMPLETE)
# A request in one of these never changes again.
FINAL_STATUSES: tuple[Status, ...] = (Status.SUCCESS, Status.FAILED, Status.CANCEL_COMPLETE)


@dataclass(frozen=True, slots=True)
class RequestStatus:
    """A ProgressEvent without its ResourceModel (which may hold secrets)."""

    token: str
    type_name: str
    identifier: str | None
    operation: str
    status: Status
    event_time: datetime | None
    status_message: str | None = None
    error_code: str | None = None
    hooks_token: str | None = None
    # The latest HooksProgressEvent status (GetResourceRequestStatus only; None if unread).
    hook_status: str | None = None


@dataclass(frozen=True, slots=True)
class Sighting:
    """When the reaper first saw a token (the one age that never moves forward), and who
    started its request when a CloudTrail record said so."""

    at: datetime
    started_by: str | None = None
    user_agent: str | None = None


def earliest(own: Sighting | None, packed: datetime | None) -> Sighting | None:
    """A token's first sighting from its own item and a sweep's packs: the earlier time, and
    who started the request (only its own item knows)."""
    if packed is None:
        return own
    if own is None:
        return Sighting(packed)
    return own if own.at <= packed else Sighting(packed, own.started_by, own.user_agent)


@dataclass(frozen=True, slots=True)
class Delivery:
    """How tokens reached us: the source and the id a redelivery repeats (message/event/run)."""

    source: Source
    delivery_id: str
    mode: Mode = Mode.CANCEL
    reason: str | None = None
    # Who made the call that started the request, when a CloudTrail record said so.
    started_by: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """One audited decision about one token in one delivery."""

    token: str
    source: Source
    delivery_id: str
    outcome: Outcome
    decided_at: datetime
    request_id: str
    dry_run: bool
    status_seen: Status | None = None
    status_after: Status | None = None
    type_name: str | None = None
    identifier: str | None = None
    operation: str | None = None
    event_time: datetime | None = None
    first_seen: datetime | None = None
    age_seconds: int | None = None
    threshold_minutes: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    reason: str | None = None
    # Why a request was left alone (the policy's one line), e.g. why it was filtered.
    why: str | None = None
    # Who started the request (CloudTrail's principal ARN and user agent, when seen).
    started_by: str | None = None
    user_agent: str | None = None
    # CloudFormation Hooks: the request's hooks token and the latest hook status seen.
    hooks_token: str | None = None
    hook_status: str | None = None
    # The call it blocked: "UpdateResource by <principal> at <time>".
    blocked_call: str | None = None
    # After a cancel completed: "exists", "gone" or "unknown" (verify_leftovers).
    leftover: str | None = None
    # An SQS-path cancel whose follow-up message was sent: that message records the final
    # state, in the by-time index; this record needs no index copy. Never stored.
    follow_up_sent: bool = False

    def but(self, **changes: object) -> Decision:
        """A copy with some fields changed (e.g. the state reached after a cancel)."""
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Plan:
    """What a delivery would have cancelled under requireApproval, awaiting a person."""

    plan_id: str
    source: Source
    tokens: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class KillSwitch:
    engaged: bool
    reason: str | None = None
    set_by: str | None = None
    set_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Taken:
    """A claim a delivery now holds (the claim is its decision written ahead of the cancel):
    the other owner whose ended claim it replaced, and what that owner had written ahead."""

    before: str | None = None
    ahead: Decision | None = None


@dataclass(frozen=True, slots=True)
class OpenRun:
    """A sweep that claims requests marks itself open until its outcomes are recorded: a
    mark whose holder ended (``held_until`` passed) tells the next sweep which requests it
    chose (kept with the mark in ``parts`` small items), whose claims may hold write-aheads
    never replaced."""

    owner: str
    opened_at: datetime
    held_until: datetime
    parts: int = 0
