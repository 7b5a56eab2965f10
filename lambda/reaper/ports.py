"""What the service needs from the outside world. Adapters implement these with boto3; unit
tests implement them in memory."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from reaper.handoff import HandOffRef
from reaper.models import (
    Decision,
    KillSwitch,
    Mode,
    Plan,
    RequestStatus,
    Sighting,
    Source,
    Status,
)


@dataclass(frozen=True, slots=True)
class WorkMessage:
    """A message for the work queue: tokens handed off by a sweep, or a watch re-check."""

    tokens: tuple[str, ...]
    source: Source
    mode: Mode
    reason: str | None = None
    delay_seconds: int = 0
    # A sweep's hand-off: the audit item holding what the sweep read of these requests.
    handoff: HandOffRef | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A token (or an input without one) that could not be decided: enough to replay it."""

    tokens: tuple[str, ...]
    mode: Mode
    source: Source
    delivery_id: str
    error_code: str
    error_message: str
    original: str
    failed_at: datetime
    # Decisions made but refused by the audit table: a replay records these as they are.
    decisions: tuple[Decision, ...] = ()


class CloudControl(Protocol):
    def get_status(self, token: str) -> RequestStatus:
        """Raises RequestNotFound or CloudControlError."""
        ...

    def cancel(self, token: str) -> RequestStatus:
        """Raises RequestNotFound or CloudControlError."""
        ...

    def resource_exists(self, type_name: str, identifier: str) -> bool | None:
        """Whether the resource exists (GetResource); None when it cannot be told."""
        ...

    def list_requests(self, statuses: Sequence[Status]) -> Iterator[list[RequestStatus]]:
        """Pages of requests in these statuses. Raises CloudControlError."""
        ...

    def throttled_calls(self) -> int:
        """How many responses so far were throttling errors (retried or not)."""
        ...


class AuditStore(Protocol):
    def first_seen(self, tokens: Sequence[str]) -> dict[str, Sighting]:
        """First sightings already stored for these tokens (absent ones are left out)."""
        ...

    def remember_first_seen(self, sightings: Mapping[str, Sighting]) -> dict[str, Sighting]:
        """Store each sighting unless one exists (who started it is added if it was not
        known); returns the first sighting of each token."""
        ...

    def pack_first_seen(self, sightings: Mapping[str, Sighting], now: datetime) -> int:
        """Store these first sightings many to an item (who started a request is not kept):
        a sweep's healthy requests. Returns the items written. Raises StoreError."""
        ...

    def packed_first_seen(self) -> dict[str, datetime]:
        """Every packed first sighting (the earliest of a token's). Raises StoreError."""
        ...

    def claim(
        self, tokens: Sequence[str], owner: str, now: datetime, until: datetime
    ) -> dict[str, str | None]:
        """Take the right to cancel these tokens until ``until`` (the holder's deadline);
        returns the tokens now held by ``owner`` (the first owner, the same owner again, or
        any owner once the holder's claim has expired), each with the other owner whose
        expired claim this one replaced (None: no one else ever held it)."""
        ...

    def claim_owner(self, token: str) -> str | None:
        """Who last claimed the token (None: no one)."""
        ...

    def interrupted(self, before: datetime, limit: int) -> list[Decision]:
        """Decisions written ahead of a cancel before ``before`` and never replaced by an
        outcome (their invocation ended): oldest first, at most ``limit``."""
        ...

    def kill_switch(self) -> KillSwitch: ...

    def save_plan(self, plan: Plan) -> None:
        """Keep a plan awaiting approval (replaces one of the same id). Raises StoreError."""
        ...

    def load_plan(self, plan_id: str) -> Plan | None:
        """Raises StoreError."""
        ...

    def find_decision(self, token: str, source: Source, delivery_id: str) -> Decision | None: ...

    def recorded_decision(self, token: str, source: Source, delivery_id: str) -> Decision | None:
        """The delivery's recorded decision alone (no write-ahead): one strongly consistent
        read. Raises StoreError."""
        ...

    def record(self, decisions: Sequence[Decision]) -> None:
        """Write decisions (the key is per token and delivery: a rewrite replaces)."""
        ...


class DeadLetters(Protocol):
    def send(self, letter: DeadLetter) -> None:
        """Raises QueueError."""
        ...


class WorkQueue(Protocol):
    def send(self, messages: Sequence[WorkMessage]) -> None:
        """Raises QueueError."""
        ...


class Notifier(Protocol):
    def publish(self, subject: str, message: str) -> bool:
        """Best effort: False when the message could not be sent."""
        ...


class EventBus(Protocol):
    def put(self, entries: Sequence[tuple[str, str]]) -> int:
        """(detail type, detail JSON) pairs; best effort: returns how many were not put."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...
