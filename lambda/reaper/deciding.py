"""How the tokens of one delivery (an SQS record, an event, an operator's cancel) are decided:
one token at a time, read from Cloud Control, assessed, gated, cancelled. What a delivery does
with the decisions (follow, record, retry, dead-letter) is the service's and the ledger's."""

from __future__ import annotations

from datetime import timedelta

from reaper.cancelling import Canceller
from reaper.errors import (
    CloudControlError,
    DeadlineNear,
    QueueError,
    ReaperError,
    RequestNotFound,
    StoreError,
)
from reaper.gate import Gate
from reaper.handoff import Reading
from reaper.models import (
    ACTIVE_STATUSES,
    CANCEL_STATUSES,
    UNREAD,
    Decision,
    Delivery,
    Mode,
    Outcome,
    RequestStatus,
    Sighting,
    Source,
    clip,
)
from reaper.observability import logger
from reaper.parsing import CallWithoutToken
from reaper.policy import Assessment, assess
from reaper.ports import WorkMessage
from reaper.reconciling import settle_interrupted
from reaper.run_state import RunState, failed, is_interrupted
from reaper.sizing import MAX_WATCH_DELAY_SECONDS

# Deliveries that are a person's decision to cancel (requireApproval asks no one else).
APPROVERS = frozenset({Source.APPROVAL, Source.CLI})
# Outcomes after which the request is never looked at again: no first sighting is kept.
GONE = frozenset({Outcome.CANCELLED, Outcome.CANCEL_COMPLETE, Outcome.NOT_FOUND, Outcome.TERMINAL})
# Modes whose young requests are looked at again later (a work-queue message with a delay).
RECHECKED = frozenset({Mode.WATCH, Mode.UNBLOCK})
# A request matches a CloudTrail record of the call that started it if its EventTime is no
# earlier than the call's time less this (clocks differ; EventTime only moves forward).
CALL_MATCH_SLACK = timedelta(minutes=5)


class TokenDecider:
    def __init__(self, run: RunState, gate: Gate, canceller: Canceller) -> None:
        self._run = run
        self._gate = gate
        self._canceller = canceller
        self._audit = run.ports.audit
        self._cc = run.ports.cloud_control

    def decide(
        self,
        token: str,
        delivery: Delivery,
        settled: Decision | None,
        reading: Reading | None = None,
    ) -> Decision | None:
        """One token's decision; None when this delivery already has one recorded (a
        redelivery: the first decision stands, counted as a duplicate). ``settled``: the
        decision a dead letter carries (the audit table once refused it): recorded as is.
        ``reading``: what the sweep that handed the token off read of it (reaper.handoff),
        used instead of a status read when this delivery has decided nothing before."""
        base = self._run.base(token, delivery)
        try:
            existing = self._audit.find_decision(token, delivery.source, delivery.delivery_id)
        except StoreError as exc:
            return failed(base, ReaperError(UNREAD, f"{exc.code}: {exc.message}"))
        if existing is not None and existing.outcome is not Outcome.FAILED:
            self._run.add("duplicates")
            logger.info("already decided", extra={"token": token, "outcome": existing.outcome})
            return None
        if settled is not None:
            return settled
        if reading is not None and existing is None:
            # A handed-off request, as its sweep read it: it is only older now, and the
            # cancel's own answer says whether it is still active.
            decision = self._assessed(
                delivery, base, None, reading.request, Sighting(reading.first_seen)
            )
        else:
            decision = self._fresh(token, delivery, base, existing)
        if (
            existing is not None
            and is_interrupted(existing)
            and decision is not None
            and decision.outcome is Outcome.FAILED
            and not is_interrupted(decision)
        ):
            # Its earlier cancel may have landed: the marker stays (with this failure's word)
            # until a read tells what happened, so that cancel is never lost.
            note = clip(f"{decision.error_code}: {decision.error_message}")
            return existing.but(
                decided_at=base.decided_at, request_id=self._run.request_id, why=note
            )
        return decision

    def _fresh(
        self, token: str, delivery: Delivery, base: Decision, existing: Decision | None
    ) -> Decision | None:
        """The decision, read from Cloud Control and assessed, cancelling if stale."""
        seen_now = Sighting(base.decided_at, delivery.started_by, delivery.user_agent)
        try:
            known = self._audit.first_seen([token]).get(token)
            request = self._cc.get_status(token)
        except RequestNotFound:
            return base.but(outcome=Outcome.NOT_FOUND)
        except (CloudControlError, StoreError) as exc:
            return failed(base, exc)
        decision = self._assessed(delivery, base, existing, request, known or seen_now)
        if decision is None or decision.outcome in GONE:
            return decision
        # Still there to be seen again: its first sighting is kept (the one age that never
        # moves forward). A request cancelled at first sight needs none (its decision says).
        if known is None or (delivery.started_by and known.started_by is None):
            try:
                self._audit.remember_first_seen({token: seen_now})
            except StoreError as exc:
                return failed(decision, exc) if decision.outcome is not Outcome.FAILED else decision
        return decision

    def _assessed(
        self,
        delivery: Delivery,
        base: Decision,
        existing: Decision | None,
        request: RequestStatus,
        sighting: Sighting,
    ) -> Decision | None:
        """The decision about a request just read, cancelling it if stale."""
        if is_interrupted(existing) and request.status in CANCEL_STATUSES:
            # This delivery's earlier invocation cancelled it and ended before recording it,
            # unless another delivery claimed it since (then that one cancelled it).
            assert existing is not None
            try:
                return settle_interrupted(existing, request.status, self._audit, base.decided_at)
            except StoreError as exc:
                return failed(base, exc)
        now = self._run.ports.clock.now()
        blocking = delivery.mode is Mode.UNBLOCK
        assessment = assess(request, sighting.at, now, self._run.config, blocking=blocking)
        decision = self._run.seen(delivery, request, sighting, assessment)
        if delivery.mode in RECHECKED and assessment.skip is Outcome.NOT_STALE:
            watching = self._watch(decision, assessment, delivery)
            if blocking and watching.outcome is Outcome.WATCHING:
                return watching.but(outcome=Outcome.BLOCKING)
            return watching
        if not assessment.stale:
            return decision
        try:
            # An operator's cancel, or a person's approval of a plan, is the approval.
            stopped = self._gate.admit(approved=delivery.source in APPROVERS)
        except StoreError as exc:
            return failed(decision, exc)
        if stopped is not None:
            return decision.but(outcome=stopped)
        result = self._canceller.claim_and_cancel([(request, sighting, assessment)], delivery)
        if isinstance(result[0], RequestStatus):
            raise DeadlineNear()
        return result[0]

    def _watch(self, decision: Decision, assessment: Assessment, delivery: Delivery) -> Decision:
        """Not stale yet: come back when it will be (SQS delays at most 15 minutes a hop)."""
        now = self._run.ports.clock.now()
        due = assessment.stale_at or now + timedelta(seconds=MAX_WATCH_DELAY_SECONDS)
        delay = int(min(MAX_WATCH_DELAY_SECONDS, max(1.0, (due - now).total_seconds() + 1)))
        message = WorkMessage(
            (decision.token,), delivery.source, delivery.mode, delivery.reason, delay
        )
        try:
            self._run.ports.work_queue.send([message])
        except QueueError as exc:
            return failed(decision, exc)
        return decision.but(outcome=Outcome.WATCHING)

    def find_blocking(
        self, type_name: str | None, identifier: str | None, hint: str | None
    ) -> list[str]:
        """The active requests on resource ``type_name``/``identifier``: the token a refused
        call's message names, only if Cloud Control confirms it is active on that very
        resource, and every listed active request on it. Raises CloudControlError."""
        if not type_name or not identifier:
            return []
        found: list[str] = []
        if hint is not None:
            try:
                request = self._cc.get_status(hint)
            except RequestNotFound:
                request = None
            if request is not None and _on(request, type_name, identifier):
                found.append(hint)
        for page in self._cc.list_requests(ACTIVE_STATUSES):
            found += [r.token for r in page if _on(r, type_name, identifier)]
        return list(dict.fromkeys(found))

    def match_call(self, call: CallWithoutToken) -> list[str]:
        """The active requests a CloudTrail record without a token may have started: same
        type, operation and (when both are known) identifier, started no earlier than the
        call. Raises CloudControlError if the listing fails."""
        matches: list[str] = []
        for page in self._cc.list_requests(ACTIVE_STATUSES):
            matches += [r.token for r in page if _matches(r, call)]
        return matches


def _on(request: RequestStatus, type_name: str, identifier: str) -> bool:
    return (
        request.status in ACTIVE_STATUSES
        and request.type_name == type_name
        and request.identifier == identifier
    )


def _matches(request: RequestStatus, call: CallWithoutToken) -> bool:
    """Only on evidence: a record that names no type or no time matches nothing."""
    if call.type_name is None or call.event_time is None:
        return False
    if request.status not in ACTIVE_STATUSES or request.operation != call.operation:
        return False
    if request.type_name != call.type_name or request.event_time is None:
        return False
    if call.identifier and request.identifier != call.identifier:
        return False
    return request.event_time >= call.event_time - CALL_MATCH_SLACK
