"""The entry points: an SQS record, a direct event, an operator's tokens, a sweep. No boto3, no
Powertools objects but the shared logger; every effect goes through a port.

``Reaper`` lives as long as the container (the ports, the config, a pool size); ``Run`` is one
invocation. A run is made of pieces that each answer one question (docs/lambda.md):
``Gate`` (may this be cancelled now?), ``Canceller`` (claim, write ahead, cancel),
``Follower`` (did it complete?), ``TokenDecider`` (what about this token?), ``Sweep`` (what
is stale in the account?) and ``Ledger`` (how does each token end?).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from reaper.cancelling import Canceller
from reaper.clock import Deadline
from reaper.deciding import TokenDecider
from reaper.errors import DeadlineNear, StoreError
from reaper.follow_ups import FollowUps
from reaper.following import Follower
from reaper.gate import Gate
from reaper.handoff import HandOffRef, Reading
from reaper.ledger import INVALID_TOKEN_KEY, Ledger, RetryLater, Unrecorded, dump
from reaper.models import Decision, Delivery, Mode, Outcome, Source, clip
from reaper.observability import logger
from reaper.parsing import (
    Approval,
    BlockedCall,
    CallWithoutToken,
    FollowUp,
    Ignored,
    InvalidInput,
    SweepRequest,
    TokenRequest,
    parse_body,
    parse_event,
)
from reaper.ports import (
    Clock,
    CloudControl,
    DeadLetters,
    EventBus,
    Notifier,
)
from reaper.run_state import Audit, Ports, RunReport, RunState, WorkQueueOfFollowUps
from reaper.sizing import FOLLOW_POLL_SECONDS, ORIGINAL_MAX_CHARS
from reaper.sqs_batch import Batch, Record
from reaper.sweeping import Sweep, SweepReport

if TYPE_CHECKING:
    from reaper.config import ReaperConfig

__all__ = [
    "INVALID_TOKEN_KEY",
    "ORIGINAL_MAX_CHARS",
    "Reaper",
    "RetryLater",
    "Run",
    "RunReport",
    "SweepReport",
    "Unrecorded",
]
UNMATCHED_TOKEN_KEY = "(unmatched)"  # noqa: S105 - an audit key, not a secret
APPROVAL_KEY = "(approval)"


class Reaper:
    """The long-lived service: ports, config and a pool size; ``run`` starts an invocation."""

    def __init__(
        self,
        *,
        config: ReaperConfig,
        cloud_control: CloudControl,
        audit: Audit,
        dead_letters: DeadLetters,
        work_queue: WorkQueueOfFollowUps,
        clock: Clock,
        events: EventBus | None = None,
        notifier: Notifier | None = None,
        workers: int = 16,
        follow_poll_seconds: float = FOLLOW_POLL_SECONDS,
    ) -> None:
        self.config = config
        self.ports = Ports(
            config, cloud_control, audit, dead_letters, work_queue, clock, events, notifier
        )
        self.workers = workers
        self.follow_poll_seconds = follow_poll_seconds

    def run(self, request_id: str, deadline: Deadline | None = None) -> Run:
        return Run(self, request_id, deadline or Deadline.unlimited())


class Run:
    """One invocation: its pieces share one gate (the cap, the kill-switch view) and report."""

    def __init__(self, reaper: Reaper, request_id: str, deadline: Deadline) -> None:
        state = RunState(reaper.ports, request_id, deadline)
        config = reaper.config
        self._state = state
        self.config = config
        self.request_id = request_id
        self.deadline = deadline
        self.report: RunReport = state.report
        self._gate = Gate(
            reaper.ports.audit,
            cap=config.max_cancellations_per_run,
            dry_run=config.dry_run,
            require_approval=config.require_approval,
        )
        self._ledger = Ledger(state)
        self._canceller = Canceller(state, self._gate, self._ledger)
        self._follower = Follower(state, reaper.follow_poll_seconds)
        self._decider = TokenDecider(state, self._gate, self._canceller)
        self._workers = reaper.workers
        self._follow_ups = FollowUps(state, self._follower)
        # SQS records processed with ``later``: decided, followed up and recorded together.
        self._batch = Batch(self._ledger, self._decide, self._follow_ups, reaper.workers)

    # ------------------------------------------------------------------ entry points
    def process_message(
        self, body: str, message_id: str, receive_count: int = 1, *, later: bool = False
    ) -> None:
        """One SQS record. Returns when every token ended (ledger.py); raises RetryLater (or
        QueueError, DeadlineNear, CloudControlError) to make SQS deliver it again.

        ``later``: the record is parsed now and decided by ``finish_messages``, with the
        rest of its batch, at once (the handler's way); its cancels are followed by delayed
        follow-up messages, never by a wait."""
        if self.deadline.near():
            raise DeadlineNear()
        try:
            parsed = parse_body(body)
        except InvalidInput as error:
            self._ledger.reject(error, Source.SQS, message_id, body)
            return
        if isinstance(parsed, SweepRequest | Ignored):
            why = parsed.why if isinstance(parsed, Ignored) else "sweeps run on their schedule"
            logger.info("message ignored", extra={"delivery_id": message_id, "why": why})
            return
        if isinstance(parsed, FollowUp):
            if later:
                self._batch.add(Record(message_id, receive_count, body, parsed))
                return
            followed = self._follow_ups.handle(parsed, receive_count)
            self._ledger.record([], [followed] if followed is not None else [])
            return
        request = self._tokens_of(parsed, message_id)
        if request is None:
            return
        if later:
            self._batch.add(Record(message_id, receive_count, body, request))
            return
        decisions = self.decide_tokens(request, message_id)
        failed = [d for d in decisions if d.outcome is Outcome.FAILED]
        self._ledger.end_message(failed, receive_count, request.mode, body)

    def process_event(self, event: Mapping[str, Any], event_id: str) -> dict[str, Any]:
        """A direct invocation (EventBridge rule or schedule). Raises only when a token could
        not end (ledger.py), so Lambda's async retry and on-failure destination keep it."""
        original = dump(event)
        try:
            parsed = parse_event(event)
        except InvalidInput as error:
            self._ledger.reject(error, Source.EVENTBRIDGE, event_id, original)
            return {"outcome": Outcome.INVALID.value, "error": error.message}
        if isinstance(parsed, Ignored):
            logger.info("event ignored", extra={"delivery_id": event_id, "why": parsed.why})
            return {"ignored": parsed.why}
        if isinstance(parsed, FollowUp):  # a follow-up sent as an event: its last chance
            followed = self._follow_ups.handle(parsed, self.config.max_receive_count)
            self._ledger.record([], [followed] if followed is not None else [])
            return {"followed": followed.outcome.value if followed is not None else None}
        if isinstance(parsed, SweepRequest):
            report = self.sweep()
            return {
                "listed": report.listed,
                "decided": len(report.decisions),
                "handedOff": report.handed_off,
                "stoppedEarly": report.stopped_early,
            }
        request = self._tokens_of(parsed, event_id)
        if request is None:  # one item recorded: unmatched, or an approval refused
            refused = isinstance(parsed, Approval)
            outcome = Outcome.APPROVAL_REFUSED if refused else Outcome.UNMATCHED
            return {"outcomes": {outcome.value: 1}}
        decisions = self._decide(request, event_id)
        decisions = self._ledger.settle(self._follower.follow(decisions), request.mode, original)
        return {"outcomes": dict(Counter(d.outcome.value for d in decisions))}

    def decide_tokens(self, request: TokenRequest, delivery_id: str) -> list[Decision]:
        """Decide each token of one delivery, follow what was cancelled and record everything
        (raises Unrecorded if the table refuses some). The operator's CLI calls this."""
        decisions = self._follower.follow(self._decide(request, delivery_id))
        self._ledger.record(decisions)
        return decisions

    def finish_messages(self) -> list[str]:
        """Decide, follow up and record the records processed with ``later`` (sqs_batch.py).
        Returns the ids of the messages that must fail, so SQS delivers them again."""
        return self._batch.finish()

    def sweep(self) -> SweepReport:
        """List PENDING/IN_PROGRESS requests, cancel the stale ones (sweeping.py)."""
        return Sweep(
            self._state,
            gate=self._gate,
            ledger=self._ledger,
            canceller=self._canceller,
            follower=self._follower,
            workers=self._workers,
        ).run()

    def unblock(
        self,
        type_name: str,
        identifier: str,
        *,
        blocked_call: str,
        delivery_id: str,
        source: Source = Source.CLI,
    ) -> list[Decision]:
        """An operator's unblock: the requests blocking resource ``type_name``/``identifier``
        decided with the blocking threshold, followed and recorded (none found: [])."""
        tokens = self._decider.find_blocking(type_name, identifier, None)
        if not tokens:
            return []
        request = TokenRequest(tuple(tokens[:100]), source, Mode.UNBLOCK, blocked_call)
        return self.decide_tokens(request, delivery_id)

    def reject(self, error: InvalidInput, source: Source, delivery_id: str, original: str) -> None:
        self._ledger.reject(error, source, delivery_id, original)

    # ------------------------------------------------------------------ helpers
    def _decide(self, request: TokenRequest, delivery_id: str) -> list[Decision]:
        """Each token of one delivery, in order. A dead letter's replay continues the delivery
        it failed in. If the deadline nears, the decisions made so far are kept by the caller
        (``later``) and DeadlineNear fails the delivery, to be redelivered."""
        caller = request.caller
        delivery = Delivery(
            request.source,
            request.delivery_id or delivery_id,
            request.mode,
            request.reason,
            started_by=caller.principal if caller else None,
            user_agent=caller.user_agent if caller else None,
        )
        settled = {d.token: d for d in request.settled}
        readings = self._readings(request.handoff)
        decisions: list[Decision] = []
        try:
            for token in request.tokens:
                if self.deadline.near():
                    raise DeadlineNear()
                decision = self._decider.decide(
                    token, delivery, settled.get(token), readings.get(token)
                )
                if decision is not None:
                    decisions.append(decision)
        except DeadlineNear:
            self._later_or_record(decisions)
            raise
        return decisions

    def _readings(self, ref: HandOffRef | None) -> dict[str, Reading]:
        """What the sweep that handed these tokens off read of them, from the audit table
        (reaper.handoff); a token without one is read from Cloud Control."""
        if ref is None:
            return {}
        try:
            return self._state.ports.audit.handoff_readings(ref)
        except StoreError as exc:
            logger.warning("hand-off readings unread", extra={"error": exc.message})
            return {}

    def _later_or_record(self, decisions: list[Decision]) -> None:
        """Decisions made before the deadline neared are recorded, never dropped."""
        if decisions:
            try:
                self._ledger.record(decisions)
            except Unrecorded as exc:
                logger.error("audit write failed near the deadline", extra={"error": exc.message})

    def _approved(self, approval: Approval, delivery_id: str) -> TokenRequest | None:
        """A person approved a plan: its requests, decided again now (only those still stale
        are cancelled). An unknown plan, or one older than approval_expiry_hours, is refused:
        one audit item, nothing cancelled. Raises StoreError (the delivery is retried)."""
        plan = self._state.ports.audit.load_plan(approval.plan_id)
        now = self._state.ports.clock.now()
        expiry = timedelta(hours=self.config.approval_expiry_hours)
        who = f"approved by {approval.approved_by} at {approval.approved_at.isoformat()}"
        if plan is not None and now - plan.created_at <= expiry:
            reason = f"{who} (plan {plan.plan_id})"
            return TokenRequest(
                plan.tokens, Source.APPROVAL, Mode.CANCEL, reason, delivery_id=plan.plan_id
            )
        why = (
            f"no plan {approval.plan_id}"
            if plan is None
            else f"plan {plan.plan_id} is older than {self.config.approval_expiry_hours} h"
        )
        base = self._state.base(APPROVAL_KEY, Delivery(Source.APPROVAL, delivery_id))
        self._ledger.record([base.but(outcome=Outcome.APPROVAL_REFUSED, reason=clip(who), why=why)])
        logger.warning("approval refused", extra={"plan_id": approval.plan_id, "why": why})
        return None

    def _tokens_of(
        self, parsed: TokenRequest | CallWithoutToken | BlockedCall | Approval, delivery_id: str
    ) -> TokenRequest | None:
        """The tokens a CloudTrail record stands for: those it names; for a call without a
        token, the requests it may have started (to watch); for a call refused because of
        another request, the requests blocking its resource (to unblock). None matched: one
        audit item and a metric (no dead letter: nothing to replay). Raises
        CloudControlError if the listing fails (the delivery is retried)."""
        if isinstance(parsed, TokenRequest):
            return parsed
        if isinstance(parsed, Approval):
            return self._approved(parsed, delivery_id)
        caller = parsed.caller
        if isinstance(parsed, BlockedCall):
            tokens = self._decider.find_blocking(
                parsed.type_name, parsed.identifier, parsed.message_token
            )
            mode, reason = Mode.UNBLOCK, parsed.describe()
            why = f"{reason}: no active request on that resource"
        else:
            tokens = self._decider.match_call(parsed)
            mode, reason = Mode.WATCH, None
            why = f"{parsed.event_name}: no token in the record and no active request matches it"
        if tokens:
            # The caller of a refused call did not start the request that blocks it: only
            # the call that started a request says who did.
            starter = None if isinstance(parsed, BlockedCall) else caller
            return TokenRequest(
                tuple(tokens[:100]), Source.CLOUDTRAIL, mode, reason, caller=starter
            )
        base = self._state.base(UNMATCHED_TOKEN_KEY, Delivery(Source.CLOUDTRAIL, delivery_id))
        decision = base.but(
            outcome=Outcome.UNMATCHED,
            type_name=parsed.type_name,
            identifier=parsed.identifier,
            operation=parsed.operation,
            event_time=parsed.event_time,
            started_by=caller.principal if caller else None,
            user_agent=caller.user_agent if caller else None,
            blocked_call=reason,
            why=why,
        )
        self._ledger.record([decision])
        return None
