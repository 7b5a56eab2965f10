"""The decisions: which token to cancel, when, and what to record. No boto3, no Powertools
objects but the shared logger; every effect goes through a port.

``Reaper`` lives as long as the container (it holds the ports and the config); ``Run`` is one
invocation (its request id, its deadline, its cap on cancellations, its counters).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from reaper.clock import Deadline
from reaper.errors import (
    CloudControlError,
    DeadlineNear,
    QueueError,
    ReaperError,
    RequestNotFound,
    StoreError,
)
from reaper.models import (
    ACTIVE_STATUSES,
    CANCEL_STATUSES,
    Decision,
    Delivery,
    Mode,
    Outcome,
    RequestStatus,
    Source,
    Status,
    clip,
)
from reaper.observability import logger, span
from reaper.parsing import (
    Ignored,
    InvalidInput,
    SweepRequest,
    TokenRequest,
    parse_body,
    parse_event,
)
from reaper.policy import Assessment, assess
from reaper.ports import (
    AuditStore,
    Clock,
    CloudControl,
    DeadLetter,
    DeadLetters,
    WorkMessage,
    WorkQueue,
)

# The audit key of an input that holds no valid token: it cannot collide with a real token.
INVALID_TOKEN_KEY = "(invalid)"  # noqa: S105
# The error code of a decision written ahead of a cancel: its invocation never recorded more.
INTERRUPTED = "Interrupted"
# SQS caps DelaySeconds at 15 minutes: a watch re-check hops at most this far ahead.
MAX_WATCH_DELAY_SECONDS = 900
# Following a few cancels costs one Get each; more than this, one List pass is cheaper.
FOLLOW_BY_GET_MAX = 5
# A sweep worker claims, writes ahead and cancels a chunk of requests at a time (one audit
# batch write for all of them): at most 25 (one BatchWriteItem), and what its share of the
# rate cancels in 4 s or a third of the deadline margin, so a chunk started just before the
# margin ends well inside it.
CHUNK_SECONDS = 4.0
CHUNK_MAX = 25
HANDOFF_BATCH = 100
DEAD_LETTER_BATCH = 100
ORIGINAL_MAX_CHARS = 200 * 1024
KILL_SWITCH_CACHE_SECONDS = 5.0


if TYPE_CHECKING:
    from reaper.config import ReaperConfig

# A request chosen for cancelling, with what the decision needs to say about it.
Chosen = tuple[RequestStatus, datetime | None, Assessment]
# What cancelling a chosen request gave: a decision, or the request itself when the deadline
# was too near to start (the sweep hands it off to the work queue).
Cancelled = Decision | RequestStatus
# A request no longer PENDING/IN_PROGRESS after these: its first sighting is never needed.
GONE = frozenset({Outcome.CANCELLED, Outcome.CANCEL_COMPLETE, Outcome.NOT_FOUND, Outcome.TERMINAL})


class RetryLater(ReaperError):
    """The SQS record should fail and come back: some tokens failed, retries remain."""


class Unrecorded(StoreError):
    """The audit table refused some decisions even 25 at a time: ``unrecorded`` are those,
    ``recorded`` the ones written (a bad write costs its own chunk, not the whole run)."""

    def __init__(
        self, error: StoreError, recorded: list[Decision], unrecorded: list[Decision]
    ) -> None:
        super().__init__(error.code, error.message)
        self.recorded = recorded
        self.unrecorded = unrecorded


@dataclass
class RunReport:
    """What one invocation did: the handler turns it into metrics."""

    outcomes: Counter[Outcome] = field(default_factory=Counter)
    claimed_elsewhere: int = 0
    duplicates: int = 0
    handed_off: int = 0
    dead_lettered: int = 0
    sweep_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class SweepReport:
    listed: int
    decisions: tuple[Decision, ...]
    handed_off: int
    stopped_early: bool


@dataclass
class _SweepWork:
    """What one sweep has under way: decisions made, chunks cancelling, sightings writing."""

    delivery: Delivery
    decisions: list[Decision] = field(default_factory=list)
    cancels: list[Future[list[Cancelled]]] = field(default_factory=list)
    sightings: list[Future[object]] = field(default_factory=list)
    # First seen now and chosen for cancelling: stored at the end, only if left active.
    unsighted: dict[str, datetime] = field(default_factory=dict)
    handoff: list[str] = field(default_factory=list)

    def collect(self) -> None:
        """Wait for the pool: decisions join the others, requests not started are handed
        off; a sighting that failed is logged (it only makes a request look younger next
        time, as EventTime moves forward), never a reason to lose the sweep's decisions."""
        for future in self.cancels:
            for result in future.result():
                if isinstance(result, Decision):
                    self.decisions.append(result)
                else:
                    self.handoff.append(result.token)
        for write in self.sightings:
            error = write.exception()
            if error is not None:
                logger.warning("first sightings not stored", extra={"error": str(error)})


class Reaper:
    """The long-lived service: ports, config and a pool size; ``run`` starts an invocation."""

    def __init__(
        self,
        *,
        config: ReaperConfig,
        cloud_control: CloudControl,
        audit: AuditStore,
        dead_letters: DeadLetters,
        work_queue: WorkQueue,
        clock: Clock,
        workers: int = 16,
        follow_poll_seconds: float = 2.0,
    ) -> None:
        self.config = config
        self.cloud_control = cloud_control
        self.audit = audit
        self.dead_letters = dead_letters
        self.work_queue = work_queue
        self.clock = clock
        self.workers = workers
        self.follow_poll_seconds = follow_poll_seconds

    def run(self, request_id: str, deadline: Deadline | None = None) -> Run:
        return Run(self, request_id, deadline or Deadline.unlimited())


class Run:
    """One invocation: every decision it makes shares its cap, kill-switch view and report."""

    def __init__(self, reaper: Reaper, request_id: str, deadline: Deadline) -> None:
        self._r = reaper
        self.config = reaper.config
        self.request_id = request_id
        self.deadline = deadline
        self.report = RunReport()
        self._cancels_left = reaper.config.max_cancellations_per_run
        self._lock = threading.Lock()
        self._kill_switch: tuple[float, bool] | None = None
        seconds = min(CHUNK_SECONDS, deadline.margin_seconds / 3 or CHUNK_SECONDS)
        share = reaper.config.calls_per_second_per_invocation / reaper.workers
        self._chunk = max(1, min(CHUNK_MAX, round(share * seconds)))
        # Decisions of SQS records processed with ``later``: followed and recorded together.
        self._later: list[Decision] = []

    # ------------------------------------------------------------------ entry points
    def process_message(
        self, body: str, message_id: str, receive_count: int = 1, *, later: bool = False
    ) -> None:
        """One SQS record. Returns when every token ended in the audit table or the DLQ;
        raises RetryLater (or QueueError, DeadlineNear) to make SQS deliver it again.

        ``later``: its decisions are kept for ``finish_messages``, which follows the cancels
        of a whole batch in one wait and records them in one write (the handler's way)."""
        if self.deadline.near():
            raise DeadlineNear()
        try:
            parsed = parse_body(body)
        except InvalidInput as error:
            self.reject(error, Source.SQS, message_id, body)
            return
        if isinstance(parsed, SweepRequest | Ignored):
            why = parsed.why if isinstance(parsed, Ignored) else "sweeps run on their schedule"
            logger.info("message ignored", extra={"delivery_id": message_id, "why": why})
            return
        decisions = self.decide_tokens(parsed, message_id, later=later)
        failed = [d for d in decisions if d.outcome is Outcome.FAILED]
        if not failed:
            return
        if receive_count < self.config.max_receive_count:
            first = failed[0]
            raise RetryLater(first.error_code or "Failed", first.error_message or "failed")
        self._dead_letter_failures(failed, parsed.mode, body)

    def process_event(self, event: Mapping[str, Any], event_id: str) -> dict[str, Any]:
        """A direct invocation (EventBridge rule or schedule). Raises only when a failure could
        not reach the DLQ, so Lambda's async retry and on-failure destination keep it."""
        original = _dump(event)
        try:
            parsed = parse_event(event)
        except InvalidInput as error:
            self.reject(error, Source.EVENTBRIDGE, event_id, original)
            return {"outcome": Outcome.INVALID.value, "error": error.message}
        if isinstance(parsed, Ignored):
            logger.info("event ignored", extra={"delivery_id": event_id, "why": parsed.why})
            return {"ignored": parsed.why}
        if isinstance(parsed, SweepRequest):
            report = self.sweep()
            return {
                "listed": report.listed,
                "decided": len(report.decisions),
                "handedOff": report.handed_off,
                "stoppedEarly": report.stopped_early,
            }
        decisions = self.decide_tokens(parsed, event_id)
        failed = [d for d in decisions if d.outcome is Outcome.FAILED]
        if failed:
            self._dead_letter_failures(failed, parsed.mode, original)
        return {"outcomes": dict(Counter(d.outcome.value for d in decisions))}

    def decide_tokens(
        self, request: TokenRequest, delivery_id: str, *, later: bool = False
    ) -> list[Decision]:
        """Decide each token of one delivery, follow what was cancelled, record everything
        (``later``: keep the decisions for ``finish_messages`` instead)."""
        delivery = Delivery(request.source, delivery_id, request.mode, request.reason)
        decisions: list[Decision] = []
        try:
            for token in request.tokens:
                if self.deadline.near():
                    raise DeadlineNear()
                decision = self._decide_token(token, delivery)
                if decision is not None:
                    decisions.append(decision)
        finally:
            if later:
                self._later.extend(decisions)
            else:
                decisions = self._finish(decisions)
        return decisions

    def finish_messages(self) -> list[str]:
        """Follow and record what the records processed with ``later`` decided: one wait for
        all of their cancels, one batch write. Returns the ids of the messages whose
        decisions could not be recorded: they must fail, so SQS delivers them again (a
        redelivery finds a cancel written ahead as ``Interrupted`` and records it)."""
        decisions, self._later = self._later, []
        if not decisions:
            return []
        try:
            self._finish(decisions)
        except Unrecorded as exc:
            logger.error("audit write failed for a batch", extra={"error": clip(exc.message)})
            return list(dict.fromkeys(d.delivery_id for d in exc.unrecorded))
        return []

    def sweep(self) -> SweepReport:
        """List PENDING/IN_PROGRESS requests page by page and decide each; cancel in a pool.

        Never calls GetResourceRequestStatus: the page already holds each ProgressEvent. Stops
        listing when the deadline nears (the next run lists again) and hands tokens already
        chosen but not yet cancelled to the work queue.
        """
        started = time.monotonic()
        work = _SweepWork(Delivery(Source.SWEEP, self.request_id))
        decisions = work.decisions
        listed = 0
        stopped_early = False
        with span("sweep"):
            try:
                with ThreadPoolExecutor(self._r.workers, thread_name_prefix="cancel") as pool:
                    try:
                        for page in self._r.cloud_control.list_requests(ACTIVE_STATUSES):
                            listed += len(page)
                            self._plan_page(page, work, pool)
                            if self.deadline.near():
                                stopped_early = True
                                break
                    finally:
                        # Even if listing fails, what was already cancelled is recorded.
                        work.collect()
            finally:
                try:
                    decisions = self._finish(work.decisions)
                except Unrecorded as exc:
                    decisions = self._dead_letter_unrecorded(exc)
                gone = {d.token for d in decisions if d.outcome in GONE}
                self._remember({t: at for t, at in work.unsighted.items() if t not in gone})
                self._hand_off(work.handoff)
                self.report.sweep_seconds = time.monotonic() - started
        handoff = work.handoff
        failed = [d for d in decisions if d.outcome is Outcome.FAILED]
        if failed:
            self._dead_letter_failures(failed, Mode.CANCEL, _dump({"sweep": self.request_id}))
        logger.info(
            "sweep finished",
            extra={
                "listed": listed,
                "recorded": len(decisions),
                "handed_off": len(handoff),
                "stopped_early": stopped_early,
                "outcomes": {k.value: v for k, v in self.report.outcomes.items()},
            },
        )
        return SweepReport(listed, tuple(decisions), len(handoff), stopped_early)

    def _plan_page(
        self, page: Sequence[RequestStatus], work: _SweepWork, pool: ThreadPoolExecutor
    ) -> None:
        """Decide one listed page: what is left alone or deferred is decided here; what is to
        be cancelled goes to the pool in chunks; first sightings are written by the pool,
        except those of requests about to be cancelled (their decision carries it)."""
        assessed, new = self._assess_page(page)
        to_cancel: list[Chosen] = []
        for chosen in assessed:
            decision = self._gate(*chosen, work.delivery)
            if decision is not None:
                work.decisions.append(decision)
            elif chosen[2].stale:
                to_cancel.append(chosen)
        chunk = self._chunk
        for i in range(0, len(to_cancel), chunk):
            part = to_cancel[i : i + chunk]
            work.cancels.append(pool.submit(self._claim_and_cancel, part, work.delivery))
        for request, _, _ in to_cancel:
            if request.token in new:
                work.unsighted[request.token] = new.pop(request.token)
        if new:
            work.sightings.append(pool.submit(self._r.audit.remember_first_seen, new))

    def reject(self, error: InvalidInput, source: Source, delivery_id: str, original: str) -> None:
        """Input that can never be decided: audited as invalid and dead-lettered, never sent
        to Cloud Control. Raises QueueError if the DLQ refuses it (the caller keeps it)."""
        logger.warning(
            "invalid input",
            extra={
                "source": source.value,
                "delivery_id": delivery_id,
                "error": clip(error.message),
            },
        )
        decision = Decision(
            token=INVALID_TOKEN_KEY,
            source=source,
            delivery_id=delivery_id,
            outcome=Outcome.INVALID,
            decided_at=self._r.clock.now(),
            request_id=self.request_id,
            dry_run=self.config.dry_run,
            error_code=error.code.value,
            error_message=clip(error.message),
        )
        self.report.outcomes[Outcome.INVALID] += 1
        try:
            self._r.audit.record([decision])
        except StoreError as exc:
            # The DLQ still gets it: the token is not dropped, only its audit line is.
            logger.error("audit write failed for invalid input", extra={"error": exc.message})
        self._send_dead_letter(
            DeadLetter(
                tokens=(),
                mode=Mode.CANCEL,
                source=source,
                delivery_id=delivery_id,
                error_code=error.code.value,
                error_message=error.message,
                original=original,
                failed_at=decision.decided_at,
            )
        )

    # ------------------------------------------------------------------ one token
    def _decide_token(self, token: str, delivery: Delivery) -> Decision | None:
        base = self._base(token, delivery)
        try:
            existing = self._r.audit.find_decision(token, delivery.source, delivery.delivery_id)
            if existing is not None and existing.outcome is not Outcome.FAILED:
                # A redelivery: the first decision stands, no second outcome is written.
                self.report.duplicates += 1
                logger.info("already decided", extra=_keys(base, existing.outcome))
                return None
            # Persist the sighting before polling: it is the only age that never moves forward.
            first_seen = self._r.audit.remember_first_seen({token: base.decided_at})[token]
            request = self._r.cloud_control.get_status(token)
        except RequestNotFound:
            return base.but(outcome=Outcome.NOT_FOUND)
        except (CloudControlError, StoreError) as exc:
            return _failed(base, exc)
        if (
            existing is not None
            and existing.error_code == INTERRUPTED
            and request.status in CANCEL_STATUSES
        ):
            # This delivery's earlier invocation cancelled it and ended before recording it.
            outcome = (
                Outcome.CANCEL_COMPLETE
                if request.status is Status.CANCEL_COMPLETE
                else Outcome.CANCELLED
            )
            return existing.but(
                outcome=outcome,
                status_after=request.status,
                error_code=None,
                error_message=None,
                decided_at=base.decided_at,
                request_id=self.request_id,
            )
        assessment = assess(request, first_seen, self._r.clock.now(), self.config)
        if delivery.mode is Mode.WATCH and assessment.skip is Outcome.NOT_STALE:
            return self._watch(request, first_seen, assessment, delivery)
        try:
            decision = self._gate(request, first_seen, assessment, delivery)
        except StoreError as exc:
            return _failed(self._seen(base, request, first_seen, assessment), exc)
        if decision is not None or not assessment.stale:
            return decision
        results = self._claim_and_cancel([(request, first_seen, assessment)], delivery)
        if not results:
            return None  # another delivery holds the claim
        if isinstance(results[0], RequestStatus):
            raise DeadlineNear()
        return results[0]

    def _watch(
        self,
        request: RequestStatus,
        first_seen: datetime,
        assessment: Assessment,
        delivery: Delivery,
    ) -> Decision:
        """Not stale yet: come back when it will be (SQS delays at most 15 minutes a hop)."""
        decision = self._seen(self._base(request.token, delivery), request, first_seen, assessment)
        now = self._r.clock.now()
        due = assessment.stale_at or now + timedelta(seconds=MAX_WATCH_DELAY_SECONDS)
        delay = int(min(MAX_WATCH_DELAY_SECONDS, max(1.0, (due - now).total_seconds() + 1)))
        try:
            self._r.work_queue.send(
                [WorkMessage((request.token,), delivery.source, Mode.WATCH, delivery.reason, delay)]
            )
        except QueueError as exc:
            return _failed(decision, exc)
        return decision.but(outcome=Outcome.WATCHING)

    def _gate(
        self,
        request: RequestStatus,
        first_seen: datetime | None,
        assessment: Assessment,
        delivery: Delivery,
    ) -> Decision | None:
        """Skip, defer or dry-run a request; None means: go on and cancel it (a slot is taken).

        Order: left alone (terminal, filtered, young), kill switch, cap, dry run. The cap
        counts dry runs too, so a dry run previews exactly what a real run would cancel.
        """
        if assessment.skip is not None:
            if delivery.source is Source.SWEEP:
                # A sweep audits only stale requests: the healthy ones are counted, not stored.
                self.report.outcomes[assessment.skip] += 1
                return None
            return self._seen(self._base(request.token, delivery), request, first_seen, assessment)
        outcome: Outcome | None = None
        if self._kill_switch_engaged():
            outcome = Outcome.DEFERRED_KILL_SWITCH
        else:
            with self._lock:
                if self._cancels_left > 0:
                    self._cancels_left -= 1
                else:
                    outcome = Outcome.DEFERRED_CAP
            if outcome is None and self.config.dry_run:
                outcome = Outcome.DRY_RUN
        if outcome is None:
            return None
        decision = self._seen(self._base(request.token, delivery), request, first_seen, assessment)
        return decision.but(outcome=outcome)

    def _claim_and_cancel(self, chosen: Sequence[Chosen], delivery: Delivery) -> list[Cancelled]:
        """Claim (a conditional put each), write the decisions ahead, cancel one by one (in a
        pool thread for a sweep).

        A request another delivery holds the claim of gives nothing: that delivery cancels
        and records, so there is no second cancel and no second outcome. The requests
        themselves come back when the deadline is too near to start (the caller hands them
        off). Each decision is written ahead as ``Interrupted`` (all of them in one batch):
        if the invocation ends between a cancel and its record, the audit still names the
        token (the outcome overwrites it, same key). A write that fails fails its own token
        only: a claim is one put per token, and a refused batch is retried item by item."""
        if self.deadline.near():
            return [request for request, _, _ in chosen]
        owner = f"{delivery.source.value}#{delivery.delivery_id}"
        results: list[Cancelled] = []
        claimed: list[Decision] = []
        for request, first_seen, assessment in chosen:
            decision = self._seen(
                self._base(request.token, delivery), request, first_seen, assessment
            )
            try:
                held = self._r.audit.claim([request.token], owner, self._r.clock.now())
            except StoreError as exc:
                results.append(_failed(decision, exc))
                continue
            if held:
                claimed.append(decision)
                continue
            with self._lock:
                self.report.claimed_elsewhere += 1
            logger.info(
                "claimed by another delivery",
                extra={"token": request.token, "source": delivery.source.value},
            )
        ready, unwritten = self._write_ahead(claimed)
        # Nothing is cancelled that could not be recorded.
        return [*results, *unwritten, *(self._cancel(d) for d in ready)]

    def _write_ahead(self, decisions: list[Decision]) -> tuple[list[Decision], list[Decision]]:
        """Record the decisions as ``Interrupted`` before their cancels: (written, failed)."""
        _, refused, error = self._record_in_parts([_interrupted(d) for d in decisions], 1)
        if error is None:
            return decisions, []
        lost = {d.token for d in refused}
        return (
            [d for d in decisions if d.token not in lost],
            [_failed(d, error) for d in decisions if d.token in lost],
        )

    def _cancel(self, decision: Decision) -> Decision:
        """Cancel a claimed request whose decision was written ahead. A cancel whose answer is
        lost (a timeout) may still have been applied: one read tells."""
        try:
            after = self._r.cloud_control.cancel(decision.token)
        except RequestNotFound:
            return decision.but(outcome=Outcome.NOT_FOUND)
        except CloudControlError as exc:
            seen_after = self._status_or_none(decision.token)
            if seen_after is None or seen_after.status not in CANCEL_STATUSES:
                return _failed(decision, exc)
            after = seen_after
        if after.status in CANCEL_STATUSES:
            outcome = (
                Outcome.CANCEL_COMPLETE
                if after.status is Status.CANCEL_COMPLETE
                else Outcome.CANCELLED
            )
            return decision.but(outcome=outcome, status_after=after.status)
        # It finished between our read and the cancel: not a failure, and nothing to cancel.
        return decision.but(outcome=Outcome.TERMINAL, status_after=after.status)

    def _status_or_none(self, token: str) -> RequestStatus | None:
        try:
            return self._r.cloud_control.get_status(token)
        except (CloudControlError, RequestNotFound):
            return None

    # ------------------------------------------------------------------ after deciding
    def _finish(self, decisions: list[Decision]) -> list[Decision]:
        """Follow the cancels, then record every decision and count it."""
        try:
            decisions = self._follow(decisions)
        finally:
            with self._lock:
                self.report.outcomes.update(d.outcome for d in decisions)
            for decision in decisions:
                _log_decision(decision)
            self._record(decisions)
        return decisions

    def _record(self, decisions: list[Decision]) -> None:
        """Write the decisions; raise Unrecorded with those the table refuses even 25 at a
        time (the others are then written)."""
        recorded, unrecorded, error = self._record_in_parts(decisions, CHUNK_MAX)
        if error is not None:
            raise Unrecorded(error, recorded, unrecorded)

    def _record_in_parts(
        self, decisions: list[Decision], size: int
    ) -> tuple[list[Decision], list[Decision], StoreError | None]:
        """One write; if the table refuses it, again ``size`` decisions at a time, so a bad
        write costs its own part only. Returns (written, refused, the last error or None)."""
        try:
            self._r.audit.record(decisions)
            return decisions, [], None
        except StoreError as exc:
            error = exc
        if len(decisions) <= size:
            return [], decisions, error
        written: list[Decision] = []
        refused: list[Decision] = []
        for i in range(0, len(decisions), size):
            part = decisions[i : i + size]
            try:
                self._r.audit.record(part)
            except StoreError as exc:
                error = exc
                refused += part
            else:
                written += part
        return written, refused, (error if refused else None)

    def _follow(self, decisions: list[Decision]) -> list[Decision]:
        """Poll cancelled requests until CANCEL_COMPLETE or ``cancel_follow_seconds``."""
        waiting = {d.token: d for d in decisions if d.outcome is Outcome.CANCELLED}
        if not waiting:
            return decisions
        clock = self._r.clock
        give_up = clock.now() + timedelta(seconds=self.config.cancel_follow_seconds)
        done: dict[str, Decision] = {}
        with span("follow"):
            while True:
                try:
                    statuses = self._cancel_statuses(set(waiting) - set(done))
                except CloudControlError as exc:
                    logger.warning("follow failed", extra={"error": exc.message})
                    break
                for token, status in statuses.items():
                    if status is Status.CANCEL_COMPLETE:
                        done[token] = waiting[token].but(
                            outcome=Outcome.CANCEL_COMPLETE, status_after=status
                        )
                pause = min(self._r.follow_poll_seconds, (give_up - clock.now()).total_seconds())
                if len(done) == len(waiting) or pause <= 0 or self.deadline.seconds_left() < pause:
                    break
                clock.sleep(pause)
        seconds = self.config.cancel_follow_seconds
        for token, decision in waiting.items():
            if token not in done:
                done[token] = decision.but(
                    error_code="CancelNotComplete",
                    error_message=f"not CANCEL_COMPLETE {seconds} s after the cancel",
                )
        return [done.get(d.token, d) if d.outcome is Outcome.CANCELLED else d for d in decisions]

    def _cancel_statuses(self, tokens: set[str]) -> dict[str, Status]:
        """Where these cancelled requests are now: a Get each if few; else one pass over the
        requests still CANCEL_IN_PROGRESS. A cancelled request's only next state is
        CANCEL_COMPLETE, so one no longer listed there has completed (listing CANCEL_COMPLETE
        too would page through every cancel of the last 7 days, on every poll)."""
        cc = self._r.cloud_control
        if len(tokens) <= FOLLOW_BY_GET_MAX:
            found: dict[str, Status] = {}
            for token in tokens:
                try:
                    found[token] = cc.get_status(token).status
                except RequestNotFound:
                    continue
            return found
        in_progress: set[str] = set()
        for page in cc.list_requests((Status.CANCEL_IN_PROGRESS,)):
            in_progress.update(
                r.token for r in page if r.status is Status.CANCEL_IN_PROGRESS and r.token in tokens
            )
        return {
            t: Status.CANCEL_IN_PROGRESS if t in in_progress else Status.CANCEL_COMPLETE
            for t in tokens
        }

    def _hand_off(self, tokens: Sequence[str]) -> None:
        """Tokens a sweep chose but had no time to cancel go to the work queue."""
        if not tokens:
            return
        messages = [
            WorkMessage(tuple(tokens[i : i + HANDOFF_BATCH]), Source.SWEEP, Mode.CANCEL)
            for i in range(0, len(tokens), HANDOFF_BATCH)
        ]
        self._r.work_queue.send(messages)
        self.report.handed_off += len(tokens)
        logger.info("handed off to the work queue", extra={"tokens": len(tokens)})

    def _dead_letter_unrecorded(self, error: Unrecorded) -> list[Decision]:
        """The audit table refused some of a sweep's decisions, and a schedule delivers
        nothing twice (the next sweep no longer lists what was cancelled): the DLQ keeps each
        of them, replayable, so no cancel goes unrecorded. Returns the recorded ones."""
        logger.error(
            "audit write failed: the sweep's unrecorded decisions go to the DLQ",
            extra={"error": clip(error.message), "decisions": len(error.unrecorded)},
        )
        why = clip(f"the audit table refused this sweep's decisions ({error.code}); replay them")
        unrecorded = [
            d.but(outcome=Outcome.FAILED, error_code="Unrecorded", error_message=why)
            for d in error.unrecorded
        ]
        self._dead_letter_failures(unrecorded, Mode.CANCEL, _dump({"sweep": self.request_id}))
        return error.recorded

    def _dead_letter_failures(self, failed: Sequence[Decision], mode: Mode, original: str) -> None:
        """One dead-letter record per error code (up to 100 tokens each), replayable as is."""
        by_code: dict[str, list[Decision]] = {}
        for decision in failed:
            by_code.setdefault(decision.error_code or "Failed", []).append(decision)
        for code, group in by_code.items():
            for i in range(0, len(group), DEAD_LETTER_BATCH):
                chunk = group[i : i + DEAD_LETTER_BATCH]
                first = chunk[0]
                self._send_dead_letter(
                    DeadLetter(
                        tokens=tuple(d.token for d in chunk),
                        mode=mode,
                        source=first.source,
                        delivery_id=first.delivery_id,
                        error_code=code,
                        error_message=first.error_message or code,
                        original=original,
                        failed_at=self._r.clock.now(),
                    )
                )

    def _send_dead_letter(self, letter: DeadLetter) -> None:
        self._r.dead_letters.send(
            DeadLetter(
                tokens=letter.tokens,
                mode=letter.mode,
                source=letter.source,
                delivery_id=letter.delivery_id,
                error_code=letter.error_code,
                error_message=clip(letter.error_message) or letter.error_code,
                original=letter.original[:ORIGINAL_MAX_CHARS],
                failed_at=letter.failed_at,
            )
        )
        self.report.dead_lettered += max(1, len(letter.tokens))

    # ------------------------------------------------------------------ helpers
    def _assess_page(
        self, page: Sequence[RequestStatus]
    ) -> tuple[list[Chosen], dict[str, datetime]]:
        """First sightings of a whole page in one read; returns each request assessed, and
        the tokens seen for the first time (now), which the caller stores."""
        now = self._r.clock.now()
        tokens = [r.token for r in page]
        seen = self._r.audit.first_seen(tokens)
        new = {t: now for t in tokens if t not in seen}
        seen.update(new)
        assessed: list[Chosen] = []
        for request in page:
            first_seen = seen.get(request.token)
            assessed.append((request, first_seen, assess(request, first_seen, now, self.config)))
        return assessed, new

    def _remember(self, sightings: Mapping[str, datetime]) -> None:
        if not sightings:
            return
        try:
            self._r.audit.remember_first_seen(sightings)
        except StoreError as exc:
            logger.warning("first sightings not stored", extra={"error": exc.message})

    def _kill_switch_engaged(self) -> bool:
        """Read at most every few seconds, so engaging it stops a running sweep too."""
        now = time.monotonic()
        cached = self._kill_switch
        if cached is None or now - cached[0] > KILL_SWITCH_CACHE_SECONDS:
            engaged = self._r.audit.kill_switch().engaged
            self._kill_switch = cached = (now, engaged)
        return cached[1]

    def _base(self, token: str, delivery: Delivery) -> Decision:
        return Decision(
            token=token,
            source=delivery.source,
            delivery_id=delivery.delivery_id,
            outcome=Outcome.FAILED,
            decided_at=self._r.clock.now(),
            request_id=self.request_id,
            dry_run=self.config.dry_run,
            reason=clip(delivery.reason),
        )

    @staticmethod
    def _seen(
        base: Decision,
        request: RequestStatus,
        first_seen: datetime | None,
        assessment: Assessment,
    ) -> Decision:
        return base.but(
            outcome=assessment.skip or Outcome.FAILED,
            status_seen=request.status,
            type_name=clip(request.type_name),
            identifier=clip(request.identifier),
            operation=request.operation,
            event_time=request.event_time,
            first_seen=first_seen,
            age_seconds=assessment.age_seconds,
            threshold_minutes=assessment.threshold_minutes,
        )


def _interrupted(decision: Decision) -> Decision:
    return decision.but(
        outcome=Outcome.FAILED,
        error_code=INTERRUPTED,
        error_message="the invocation ended between the cancel and its outcome",
    )


def _failed(decision: Decision, error: ReaperError) -> Decision:
    return decision.but(
        outcome=Outcome.FAILED, error_code=error.code, error_message=clip(error.message)
    )


def _keys(decision: Decision, outcome: Outcome | None) -> dict[str, Any]:
    keys: dict[str, Any] = {
        "token": decision.token,
        "source": decision.source.value,
        "delivery_id": decision.delivery_id,
    }
    if outcome is not None:
        keys["outcome"] = outcome.value
    return keys


def _log_decision(decision: Decision) -> None:
    extra = _keys(decision, decision.outcome)
    extra.update(
        type_name=decision.type_name,
        status_seen=decision.status_seen,
        status_after=decision.status_after,
        age_seconds=decision.age_seconds,
        threshold_minutes=decision.threshold_minutes,
        error_code=decision.error_code,
    )
    if decision.outcome in (Outcome.NOT_STALE, Outcome.FILTERED, Outcome.WATCHING):
        logger.debug("decided", extra=extra)
    elif decision.outcome is Outcome.FAILED:
        logger.warning("decided", extra={**extra, "error": decision.error_message})
    else:
        logger.info("decided", extra=extra)


def _dump(value: object) -> str:
    try:
        return json.dumps(value, default=str)[:ORIGINAL_MAX_CHARS]
    except (TypeError, ValueError):
        return repr(value)[:ORIGINAL_MAX_CHARS]
