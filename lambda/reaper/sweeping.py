"""How a scheduled sweep runs: reconcile what an ended invocation left written ahead, list every
PENDING/IN_PROGRESS request first, then cancel the stale ones from a pool, a chunk at a time,
and end every step whatever the step before it did.

Listing completes before the first cancel: ListResourceRequests' NextToken is not documented
as stable, and if it is positional, cancelling entries of the listing being paged through
would shift later pages and skip stale requests until the next run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from reaper.cancelling import Cancelled, Canceller
from reaper.errors import CloudControlError, QueueError, RequestNotFound, StoreError
from reaper.following import Follower
from reaper.gate import Gate
from reaper.handoff import HandOffRef, Reading
from reaper.ledger import Ledger, dump
from reaper.models import (
    ACTIVE_STATUSES,
    CANCEL_STATUSES,
    Decision,
    Delivery,
    Mode,
    OpenRun,
    Outcome,
    RequestStatus,
    Sighting,
    Source,
    earliest,
)
from reaper.observability import logger, span
from reaper.policy import assess
from reaper.ports import WorkMessage
from reaper.reconciling import Reconciler
from reaper.run_state import CLAIMED_ELSEWHERE, Chosen, RunState, failed, owner_of
from reaper.sizing import (
    HANDOFF_CALLS_PER_TOKEN,
    HANDOFF_READ_CALLS_PER_TOKEN,
    OWN_TIME_SHARE,
    chunk_for,
    handoff_batch,
)

NOT_SENT = "CancelNotSent"


@dataclass(frozen=True, slots=True)
class SweepReport:
    listed: int
    decisions: tuple[Decision, ...]
    handed_off: int
    stopped_early: bool


@dataclass
class _Plan:
    """What the listing chose: decisions already made, requests to cancel, sightings."""

    decisions: list[Decision] = field(default_factory=list)
    to_cancel: list[Chosen] = field(default_factory=list)
    # First seen now: stored at the end, except for requests that are gone by then.
    unsighted: dict[str, Sighting] = field(default_factory=dict)
    listed: int = 0
    stopped_early: bool = False
    # Every token listed PENDING/IN_PROGRESS (reconciling leaves those to decide themselves).
    active: set[str] = field(default_factory=set)
    # First sightings of the chosen requests handed off right after listing.
    handed: dict[str, Sighting | None] = field(default_factory=dict)
    # First sightings earlier sweeps packed (adapters/audit_sightings.py), read once.
    packed: dict[str, datetime] = field(default_factory=dict)


class Sweep:
    def __init__(
        self,
        run: RunState,
        *,
        gate: Gate,
        ledger: Ledger,
        canceller: Canceller,
        follower: Follower,
        workers: int,
    ) -> None:
        self._run = run
        self._gate = gate
        self._ledger = ledger
        self._canceller = canceller
        self._follower = follower
        self._reconciler = Reconciler(run, ledger)
        self._workers = workers
        self._delivery = Delivery(Source.SWEEP, run.request_id)
        rate = run.config.calls_per_second_per_invocation
        self._chunk = chunk_for(rate, workers, run.deadline.margin_seconds)
        self._parts = 0  # hand-off items stored so far (their numbers go on)

    def run(self) -> SweepReport:
        started = time.monotonic()
        plan = _Plan()
        handoff: list[RequestStatus] = []
        opened: list[OpenRun] = []
        decisions = plan.decisions
        with span("sweep"), ThreadPoolExecutor(self._workers, thread_name_prefix="cancel") as pool:
            steps: list[Callable[[], None]] = [
                lambda: self._list(plan),
                lambda: self._reconciler.reconcile(pool, plan.active),
                lambda: decisions.extend(self._hand_off(self._beyond_own_time(plan), plan)),
                lambda: handoff.extend(self._cancel(plan, pool, opened)),
            ]
            errors = [_run_step(step) for step in steps]
        plan.stopped_early |= bool(handoff) or self._run.report.handed_off > 0
        errors.append(_run_step(lambda: decisions.extend(self._hand_off(handoff, plan))))
        recorded: list[Decision] = []
        settled = _run_step(lambda: recorded.extend(self._settle(decisions)))
        errors.append(settled)
        if settled is None:
            # Every outcome recorded or carried by a dead letter: nothing left to reconcile.
            self._close(opened)
        errors.append(_run_step(lambda: self._remember(plan, recorded)))
        self._run.report.sweep_seconds = time.monotonic() - started
        logger.info(
            "sweep finished",
            extra={
                "listed": plan.listed,
                "recorded": len(recorded),
                "handed_off": self._run.report.handed_off,
                "stopped_early": plan.stopped_early,
                "outcomes": {k.value: v for k, v in self._run.report.outcomes.items()},
            },
        )
        error = next((e for e in errors if e is not None), None)
        if error is not None:
            raise error
        return SweepReport(
            plan.listed, tuple(recorded), self._run.report.handed_off, plan.stopped_early
        )

    # ------------------------------------------------------------------ steps
    def _list(self, plan: _Plan) -> None:
        """Every PENDING/IN_PROGRESS page, assessed and gated as it comes; nothing cancelled."""
        try:
            plan.packed = self._run.ports.audit.packed_first_seen()
        except StoreError as exc:
            # Requests only look younger (never older) than they are: nothing is cancelled
            # early, some later.
            logger.warning("packed first sightings not read", extra={"error": exc.message})
        for page in self._run.ports.cloud_control.list_requests(ACTIVE_STATUSES):
            plan.listed += len(page)
            plan.active.update(r.token for r in page)
            self._plan_page(page, plan)
            if self._run.deadline.near():
                plan.stopped_early = True
                return

    def _plan_page(self, page: Sequence[RequestStatus], plan: _Plan) -> None:
        run = self._run
        now = run.ports.clock.now()
        seen = run.ports.audit.first_seen([r.token for r in page])
        for listed in page:
            request = self._with_type(listed)
            sighting = earliest(seen.get(request.token), plan.packed.get(request.token))
            if sighting is None:
                sighting = plan.unsighted[request.token] = Sighting(now)
            assessment = assess(request, sighting.at, now, run.config)
            if assessment.stale and request.hooks_token and request.hook_status is None:
                # Stale, with a hook: only a status read tells whether the hook still runs
                # (one that cannot be read fails this request; it is never cancelled blind).
                try:
                    request = run.ports.cloud_control.get_status(request.token)
                except (CloudControlError, RequestNotFound) as exc:
                    decision = run.seen(self._delivery, request, sighting, assessment)
                    plan.decisions.append(failed(decision, exc))
                    continue
                assessment = assess(request, sighting.at, now, run.config)
            if not assessment.stale:
                unknown_type = assessment.skip is Outcome.FILTERED and not request.type_name
                if unknown_type or assessment.waiting_for_hook:
                    # Never cancelled for want of a type, or left alone for its running hook:
                    # audited, with why (a healthy request is only counted).
                    plan.decisions.append(run.seen(self._delivery, request, sighting, assessment))
                else:  # healthy requests are counted, not stored
                    run.count([assessment.skip or Outcome.NOT_STALE])
                continue
            try:
                stopped = self._gate.admit()
            except StoreError as exc:
                decision = run.seen(self._delivery, request, sighting, assessment)
                plan.decisions.append(failed(decision, exc))
                continue
            if stopped is None:
                plan.to_cancel.append((request, sighting, assessment))
            else:
                decision = run.seen(self._delivery, request, sighting, assessment)
                plan.decisions.append(decision.but(outcome=stopped))

    def _with_type(self, request: RequestStatus) -> RequestStatus:
        """A listed request without a TypeName: its status read may tell the type."""
        if request.type_name or not request.status.cancellable:
            return request
        try:
            return self._run.ports.cloud_control.get_status(request.token)
        except (CloudControlError, RequestNotFound):
            return request

    def _cancel(
        self, plan: _Plan, pool: ThreadPoolExecutor, opened: list[OpenRun]
    ) -> list[RequestStatus]:
        """The chosen requests in chunks from the pool; returns those not started in time.
        The run is marked open first (``opened``): if this invocation ends before its
        outcomes are recorded, the next sweep finds its claims' write-aheads through the
        mark. No mark, no cancel: the chosen requests fail (and are dead-lettered)."""
        if not plan.to_cancel:
            return []
        now = self._run.ports.clock.now()
        until = now + self._canceller.claim_time()
        mark = OpenRun(owner_of(self._delivery.source, self._delivery.delivery_id), now, until)
        try:
            chosen = [request.token for request, _, _ in plan.to_cancel]
            mark = self._run.ports.audit.open_run(mark, chosen)
        except StoreError as exc:
            for request, sighting, assessment in plan.to_cancel:
                decision = self._run.seen(self._delivery, request, sighting, assessment)
                plan.decisions.append(failed(decision, exc))
            return []
        opened.append(mark)
        chunk = self._chunk
        futures: list[Future[list[Cancelled]]] = [
            pool.submit(
                self._canceller.claim_and_cancel, plan.to_cancel[i : i + chunk], self._delivery
            )
            for i in range(0, len(plan.to_cancel), chunk)
        ]
        later: list[RequestStatus] = []
        errors: list[BaseException] = []
        for future in futures:
            try:
                results = future.result()
            except Exception as exc:
                errors.append(exc)
                continue
            for result in results:
                if isinstance(result, RequestStatus):
                    later.append(result)
                elif result.error_code != CLAIMED_ELSEWHERE:
                    # Claimed elsewhere: its holder, a live invocation, records it.
                    plan.decisions.append(result)
        if errors:
            raise errors[0]
        return later

    def _beyond_own_time(self, plan: _Plan) -> list[RequestStatus]:
        """Right after listing, the chosen requests this invocation's own time cannot hold
        (a cancel each at its share of the rate, OWN_TIME_SHARE of the time left) leave
        ``plan.to_cancel`` to be handed off at once: their receivers cancel beside this
        sweep from the start, not after it. The rest is the sweep's."""
        run = self._run
        rate = run.config.calls_per_second_per_invocation
        own = max(1, int(rate * run.deadline.seconds_left() * OWN_TIME_SHARE))
        beyond = plan.to_cancel[own:]
        if beyond:
            del plan.to_cancel[own:]
            plan.handed = {request.token: sighting for request, sighting, _ in beyond}
        return [request for request, _, _ in beyond]

    def _hand_off(self, requests: list[RequestStatus], plan: _Plan) -> list[Decision]:
        """Chosen requests beyond this invocation's time go to the work queue, in messages
        sized to one receiving invocation, with what this sweep read of them kept in the
        audit table for their receivers (reaper.handoff; if the table refuses it, each
        receiver reads its requests, and the messages are sized for that). If the queue
        refuses them, they fail here (and are dead-lettered with their token)."""
        if not requests:
            return []
        run = self._run
        rate, seconds = run.config.calls_per_second_per_invocation, run.deadline.initial_seconds
        now = run.ports.clock.now()
        sightings = {request.token: sighting for request, sighting, _ in plan.to_cancel}
        sightings.update(plan.handed)
        parts = _chunks(requests, handoff_batch(rate, seconds, HANDOFF_READ_CALLS_PER_TOKEN))
        refs: list[HandOffRef | None]
        try:
            readings = [[_reading(r, sightings.get(r.token), now) for r in p] for p in parts]
            owner = owner_of(self._delivery.source, self._delivery.delivery_id)
            refs = list(run.ports.audit.store_handoff(owner, readings, now, self._parts))
            self._parts += len(refs)
        except StoreError as exc:
            logger.warning("hand-off readings not stored", extra={"error": exc.message})
            parts = _chunks(requests, handoff_batch(rate, seconds, HANDOFF_CALLS_PER_TOKEN))
            refs = [None] * len(parts)
        messages = [
            WorkMessage(tuple(r.token for r in part), Source.SWEEP, Mode.CANCEL, handoff=ref)
            for part, ref in zip(parts, refs, strict=True)
        ]
        try:
            run.ports.work_queue.send(messages)
        except QueueError as exc:
            logger.error("hand-off failed", extra={"error": exc.message, "tokens": len(requests)})
            return [failed(run.base(r.token, self._delivery), exc) for r in requests]
        run.add("handed_off", len(requests))
        logger.info("handed off to the work queue", extra={"tokens": len(requests)})
        return []

    def _settle(self, decisions: list[Decision]) -> list[Decision]:
        try:
            decisions = self._follower.follow(decisions)
        finally:
            recorded = self._ledger.settle(
                decisions, Mode.CANCEL, dump({"sweep": self._run.request_id})
            )
        return recorded

    def _remember(self, plan: _Plan, decided: list[Decision]) -> None:
        """First sightings of requests still active (a cancelled one needs none). A request
        the sweep chose, decided (recorded or dead-lettered) or handed off keeps its own item,
        which a token delivery (a redelivery, a replay) reads too; the healthy ones, only
        counted, are packed many to an item, for the next sweep."""
        gone = {d.token for d in decided if d.status_after in CANCEL_STATUSES}
        gone |= {d.token for d in decided if d.outcome in (Outcome.NOT_FOUND, Outcome.TERMINAL)}
        own = {d.token for d in plan.decisions} | plan.handed.keys()
        own |= {request.token for request, _, _ in plan.to_cancel}
        sightings = {t: s for t, s in plan.unsighted.items() if t not in gone}
        audit = self._run.ports.audit
        kept = {t: s for t, s in sightings.items() if t in own}
        packed = {t: s for t, s in sightings.items() if t not in own}
        now = self._run.ports.clock.now()
        stores: list[Callable[[], object]] = []
        if kept:
            stores.append(lambda: audit.remember_first_seen(kept))
        if packed:
            stores.append(lambda: audit.pack_first_seen(packed, now))
        for store in stores:
            try:
                store()
            except StoreError as exc:
                # It only makes a request look younger next time (EventTime moves forward).
                logger.warning("first sightings not stored", extra={"error": exc.message})

    def _close(self, opened: list[OpenRun]) -> None:
        for mark in opened:
            try:
                self._run.ports.audit.close_run(mark)
            except StoreError as exc:  # the next sweep finds nothing left and closes it
                logger.warning("open run not closed", extra={"error": exc.message})


def _chunks(requests: list[RequestStatus], size: int) -> list[list[RequestStatus]]:
    return [requests[i : i + size] for i in range(0, len(requests), size)]


def _reading(request: RequestStatus, sighting: Sighting | None, now: datetime) -> Reading:
    return Reading(request, sighting.at if sighting is not None else now)


def _run_step(step: Callable[[], None]) -> Exception | None:
    """Run one step of a sweep's ending; its error is kept for later, never a reason to skip
    the next step."""
    try:
        step()
    except Exception as exc:
        logger.exception("sweep step failed")
        return exc
    return None
