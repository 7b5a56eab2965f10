"""In-memory fakes of the ports: the unit tests' whole world (no network)."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from reaper.config import ReaperConfig
from reaper.errors import CloudControlError, QueueError, RequestNotFound, StoreError
from reaper.handoff import HandOffRef, Reading
from reaper.inputs import FollowUp
from reaper.models import (
    CANCEL_MAY_HAVE_LANDED,
    LEFT_UNFOLLOWED,
    Decision,
    KillSwitch,
    OpenRun,
    Outcome,
    Plan,
    RequestStatus,
    Sighting,
    Source,
    Status,
    Taken,
)
from reaper.ports import DeadLetter, WorkMessage
from reaper.service import Reaper

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
_ids = itertools.count(1)


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.current = now
        self.slept = 0.0
        self.on_sleep: list = []

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.current += timedelta(seconds=seconds)
        for hook in self.on_sleep:
            hook(self.current)


class FakeCloudControl:
    """Requests by token; cancel moves a cancellable one to CANCEL_IN_PROGRESS, and each
    later read completes it (so a follow sees CANCEL_COMPLETE at its first poll)."""

    def __init__(self, page_size: int = 100) -> None:
        self.requests: dict[str, RequestStatus] = {}
        self.calls: Counter[str] = Counter()
        self.errors: dict[tuple[str, str], Exception] = {}
        self.page_size = page_size
        self.finish_before_cancel: set[str] = set()
        self.complete_cancels = True
        self.resources: dict[str, bool | None] = {}

    def add(
        self,
        status: Status = Status.IN_PROGRESS,
        age: timedelta = timedelta(hours=12),
        type_name: str = "AWS::S3::Bucket",
        operation: str = "CREATE",
        now: datetime = T0,
        token: str | None = None,
    ) -> str:
        token = token or f"tok{next(_ids)}"
        self.requests[token] = RequestStatus(
            token=token,
            type_name=type_name,
            identifier=f"id-{token}",
            operation=operation,
            status=status,
            event_time=now - age,
        )
        return token

    def status_of(self, token: str) -> Status:
        return self.requests[token].status

    def _fail(self, operation: str, token: str) -> None:
        self.calls[operation] += 1
        error = self.errors.get((operation, token)) or self.errors.get((operation, "*"))
        if error is not None:
            raise error
        if operation != "list" and token not in self.requests:
            raise RequestNotFound(token)

    def get_status(self, token: str) -> RequestStatus:
        self._fail("get", token)
        self._advance(token)
        return self.requests[token]

    def cancel(self, token: str) -> RequestStatus:
        self._fail("cancel", token)
        request = self.requests[token]
        if token in self.finish_before_cancel:
            request = self.requests[token] = replace(request, status=Status.SUCCESS)
        if request.status.cancellable:
            request = self.requests[token] = replace(request, status=Status.CANCEL_IN_PROGRESS)
        return request

    def list_requests(self, statuses: Sequence[Status]) -> Iterator[list[RequestStatus]]:
        self._fail("list", "")
        for token in list(self.requests):
            self._advance(token)
        matching = [r for r in self.requests.values() if r.status in statuses]
        for i in range(0, max(1, len(matching)), self.page_size):
            if i:
                self._fail("list", "")
            yield matching[i : i + self.page_size]

    def _advance(self, token: str) -> None:
        request = self.requests.get(token)
        if self.complete_cancels and request and request.status is Status.CANCEL_IN_PROGRESS:
            self.requests[token] = replace(request, status=Status.CANCEL_COMPLETE)

    def throttled_calls(self) -> int:
        return 0

    def resource_exists(self, type_name: str, identifier: str) -> bool | None:
        self.calls["get_resource"] += 1
        return self.resources.get(identifier)


class FakeAudit:
    def __init__(self) -> None:
        self.decisions: dict[tuple[str, str, str], Decision] = {}
        self.writes: list[Decision] = []
        self.seen: dict[str, Sighting] = {}
        # First sightings a sweep packed (adapters/audit_sightings.py): token -> time.
        self.packed: dict[str, datetime] = {}
        self.fail_packs: StoreError | None = None
        self.claims: dict[str, tuple[str, datetime]] = {}
        # What each claim holds written ahead of its cancel (the claim is the write-ahead).
        self.aheads: dict[str, Decision] = {}
        self.runs: dict[tuple[datetime, str], OpenRun] = {}
        self.run_chosen: dict[tuple[datetime, str], list[str]] = {}
        self.fail_claim: StoreError | None = None
        self.fail_runs: StoreError | None = None
        self.switch = KillSwitch(engaged=False)
        self.plans: dict[str, Plan] = {}
        self.fail_record: StoreError | None = None
        # A sweep's hand-off items (reaper.handoff), by reference.
        self.handoffs: dict[HandOffRef, list[Reading]] = {}
        self.fail_handoff: StoreError | None = None

    def first_seen(self, tokens: Sequence[str]) -> dict[str, Sighting]:
        return {t: self.seen[t] for t in tokens if t in self.seen}

    def remember_first_seen(self, sightings: Mapping[str, Sighting]) -> dict[str, Sighting]:
        for token, sighting in sightings.items():
            old = self.seen.setdefault(token, sighting)
            if old.started_by is None and sighting.started_by is not None:
                self.seen[token] = replace(
                    old, started_by=sighting.started_by, user_agent=sighting.user_agent
                )
        return {t: self.seen[t] for t in sightings}

    def pack_first_seen(self, sightings: Mapping[str, Sighting], now: datetime) -> int:
        if self.fail_packs is not None:
            raise self.fail_packs
        for token, sighting in sightings.items():
            old = self.packed.get(token)
            self.packed[token] = sighting.at if old is None else min(old, sighting.at)
        return 1 if sightings else 0

    def packed_first_seen(self) -> dict[str, datetime]:
        if self.fail_packs is not None:
            raise self.fail_packs
        return dict(self.packed)

    def claim(
        self, tokens: Sequence[str], owner: str, now: datetime, until: datetime | None = None
    ) -> dict[str, str | None]:
        taken = self.claim_ahead(tokens, owner, now, until or now + timedelta(minutes=16))
        return {t: held.before for t, held in taken.items()}

    def claim_ahead(
        self,
        tokens: Sequence[str],
        owner: str,
        now: datetime,
        until: datetime,
        ahead: Mapping[str, Decision] | None = None,
    ) -> dict[str, Taken]:
        if self.fail_claim is not None:
            raise self.fail_claim
        held: dict[str, Taken] = {}
        for token in tokens:
            holder = self.claims.get(token)
            if holder is None or holder[0] == owner or holder[1] < now:
                before, before_ahead = (holder[0] if holder else None), self.aheads.get(token)
                self.claims[token] = (owner, until)
                self.aheads.pop(token, None)
                if ahead and token in ahead:
                    self.aheads[token] = ahead[token]
                    self.writes.append(ahead[token])
                if before is None or before == owner:
                    held[token] = Taken()
                else:
                    held[token] = Taken(before, before_ahead)
        return held

    def store_handoff(
        self, run: str, parts: Sequence[list[Reading]], now: datetime, first: int = 0
    ) -> list[HandOffRef]:
        if self.fail_handoff is not None:
            raise self.fail_handoff
        refs = [HandOffRef(run, first + n) for n in range(len(parts))]
        self.handoffs.update(zip(refs, parts, strict=True))
        return refs

    def handoff_readings(self, ref: HandOffRef) -> dict[str, Reading]:
        if self.fail_handoff is not None:
            raise self.fail_handoff
        return {r.request.token: r for r in self.handoffs.get(ref, [])}

    def open_run(self, run: OpenRun, tokens: Sequence[str]) -> OpenRun:
        if self.fail_runs is not None:
            raise self.fail_runs
        opened = replace(run, parts=1)
        self.runs[(run.opened_at, run.owner)] = opened
        self.run_chosen[(run.opened_at, run.owner)] = list(tokens)
        return opened

    def run_tokens(self, run: OpenRun) -> list[str]:
        return self.run_chosen.get((run.opened_at, run.owner), [])

    def close_run(self, run: OpenRun) -> None:
        self.runs.pop((run.opened_at, run.owner), None)

    def ended_runs(self, now: datetime) -> list[OpenRun]:
        return [r for r in self.runs.values() if r.held_until < now]

    def written_ahead(self, tokens: Sequence[str], owners: Collection[str]) -> list[Decision]:
        found: list[Decision] = []
        for token in dict.fromkeys(tokens):
            ahead, holder = self.aheads.get(token), self.claims.get(token)
            if ahead is None or holder is None or holder[0] not in owners:
                continue
            recorded = self.decisions.get((token, ahead.source.value, ahead.delivery_id))
            if recorded is None or recorded.outcome is Outcome.FAILED:
                found.append(ahead)
        return found

    def unfollowed(self, before: datetime, limit: int) -> list[Decision]:
        waiting = [
            d
            for d in self.decisions.values()
            if d.outcome is Outcome.CANCELLED
            and d.error_code in LEFT_UNFOLLOWED
            and d.decided_at < before
        ]
        return sorted(waiting, key=lambda d: d.decided_at)[:limit]

    def claim_owner(self, token: str) -> str | None:
        holder = self.claims.get(token)
        return holder[0] if holder else None

    def interrupted(self, before: datetime, limit: int) -> list[Decision]:
        waiting = [
            d
            for d in self.decisions.values()
            if d.error_code in CANCEL_MAY_HAVE_LANDED and d.decided_at < before
        ]
        return sorted(waiting, key=lambda d: d.decided_at)[:limit]

    def kill_switch(self) -> KillSwitch:
        return self.switch

    def save_plan(self, plan: Plan) -> None:
        self.plans[plan.plan_id] = plan

    def load_plan(self, plan_id: str) -> Plan | None:
        return self.plans.get(plan_id)

    def recorded_decision(self, token: str, source: Source, delivery_id: str) -> Decision | None:
        return self.decisions.get((token, source.value, delivery_id))

    def find_decision(self, token: str, source: Source, delivery_id: str) -> Decision | None:
        """As the table does: the recorded decision, or the claim's write-ahead of this
        delivery when nothing (or a failure of another invocation) is recorded."""
        recorded = self.decisions.get((token, source.value, delivery_id))
        ahead = self.aheads.get(token)
        if ahead is None or (ahead.source, ahead.delivery_id) != (source, delivery_id):
            return recorded
        if recorded is None:
            return ahead
        if recorded.outcome is Outcome.FAILED and recorded.request_id != ahead.request_id:
            return ahead
        return recorded

    def record(self, decisions: Sequence[Decision]) -> None:
        if self.fail_record is not None:
            raise self.fail_record
        for d in decisions:
            self.writes.append(d)  # as written: follow_up_sent says if it had an index copy
            stored = d.but(follow_up_sent=False)  # the flag is never stored
            self.decisions[(d.token, d.source.value, d.delivery_id)] = stored

    def of(self, token: str) -> list[Decision]:
        return [d for (t, _, _), d in self.decisions.items() if t == token]


class FakeQueue:
    def __init__(self) -> None:
        self.sent: list = []
        self.follow_ups: list[tuple[FollowUp, int]] = []
        self.fail: QueueError | None = None

    def send(self, item: DeadLetter | Sequence[WorkMessage]) -> None:
        if self.fail is not None:
            raise self.fail
        if isinstance(item, DeadLetter):
            self.sent.append(item)
        else:
            self.sent.extend(item)

    def send_follow_ups(self, follow_ups: Sequence[tuple[FollowUp, int]]) -> None:
        if self.fail is not None:
            raise self.fail
        self.follow_ups.extend(follow_ups)


class World:
    """A reaper over fakes, and the fakes to look at."""

    def __init__(self, **config: object) -> None:
        defaults: dict[str, object] = {"dry_run": False, "max_cancellations_per_run": 50}
        self.config = ReaperConfig.model_validate({**defaults, **config})
        self.clock = FakeClock()
        self.cc = FakeCloudControl()
        self.audit = FakeAudit()
        self.dlq = FakeQueue()
        self.work = FakeQueue()
        self.reaper = Reaper(
            config=self.config,
            cloud_control=self.cc,
            audit=self.audit,
            dead_letters=self.dlq,
            work_queue=self.work,
            clock=self.clock,
            workers=4,
            follow_poll_seconds=1.0,
        )

    def run(self, request_id: str = "req-1"):
        return self.reaper.run(request_id)


def throttled() -> CloudControlError:
    return CloudControlError("ThrottlingException", "Rate exceeded")
