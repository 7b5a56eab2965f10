"""How a token ends: the one object through which every delivery's tokens end, in exactly one
of three ways (docs/DESIGN.md, "the ledger rule"):

1. a decision recorded in the audit table;
2. a dead letter whose replay ends in a recorded decision: a failure carries its token (the
   replay decides it again, under the same delivery), a decision the table refused carries the
   decision itself (the replay records it as it was, never deciding it again);
3. an SQS record failed for redelivery (``RetryLater``, or the ids ``record_batch`` returns).

Nothing else may end a token. The steps of an ending each run whatever the one before did;
an error that leaves a token without one of the three endings is raised, last, to the caller,
whose delivery then fails (Lambda retries it, SQS redelivers it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from reaper import notices
from reaper.errors import QueueError, ReaperError, StoreError
from reaper.models import (
    CANCEL_MAY_HAVE_LANDED,
    LETTER_NOT_SENT,
    UNREAD,
    Decision,
    Mode,
    Outcome,
    Plan,
    Source,
    clip,
)
from reaper.observability import logger
from reaper.parsing import InvalidInput
from reaper.ports import DeadLetter
from reaper.run_state import RunState
from reaper.sizing import (
    CARRIED_DECISIONS_BATCH,
    CHUNK_MAX,
    DEAD_LETTER_BATCH,
    ORIGINAL_MAX_CHARS,
)

# The audit key of an input that holds no valid token: it cannot collide with a real token.
INVALID_TOKEN_KEY = "(invalid)"  # noqa: S105
UNRECORDED = "Unrecorded"


class RetryLater(ReaperError):
    """The SQS record should fail and come back: some tokens failed, retries remain."""


class Unrecorded(StoreError):
    """The audit table refused some decisions even 25 at a time: ``unrecorded`` are those,
    ``recorded`` the ones written (a bad write costs its own part, not the whole run)."""

    def __init__(
        self, error: StoreError, recorded: list[Decision], unrecorded: list[Decision]
    ) -> None:
        super().__init__(error.code, error.message)
        self.recorded = recorded
        self.unrecorded = unrecorded


class Ledger:
    def __init__(self, run: RunState) -> None:
        self._run = run
        self._audit = run.ports.audit

    # ------------------------------------------------------------------ the three endings
    def settle(self, decisions: list[Decision], mode: Mode, original: str) -> list[Decision]:
        """End a delivery that is not redelivered (an event, a sweep): record every decision;
        what the table refuses is dead-lettered with its decision, what failed with its token.
        Returns the decisions recorded. Raises QueueError when a letter could not be sent."""
        recorded = decisions
        refused: list[Decision] = []
        try:
            self.record(decisions)
        except Unrecorded as exc:
            logger.error(
                "audit write failed: unrecorded decisions go to the DLQ",
                extra={"error": clip(exc.message), "decisions": len(exc.unrecorded)},
            )
            recorded, refused = exc.recorded, exc.unrecorded
        # A refused failure is decided again by its replay; any other refused decision is
        # carried by its letter and recorded as it was.
        carried = [d for d in refused if d.outcome is not Outcome.FAILED]
        failed = [d for d in (*recorded, *refused) if d.outcome is Outcome.FAILED]
        errors: list[QueueError] = []
        for letters, carry in ((carried, True), (failed, False)):
            try:
                self.dead_letter(letters, mode, original, carry_decisions=carry)
            except QueueError as exc:
                errors.append(exc)
                if not carry:
                    self._leave_to_reconcile(failed)
        if errors:
            raise errors[0]
        return recorded

    def _leave_to_reconcile(self, failed: list[Decision]) -> None:
        """Failures whose dead letter was refused: recorded again where the next sweep
        reconciles them (a retry of this delivery may no longer see their requests)."""
        marked = [
            d.but(
                error_code=LETTER_NOT_SENT,
                error_message=clip(f"{d.error_code}: {d.error_message} (dead letter refused)"),
            )
            for d in failed
            if d.error_code not in CANCEL_MAY_HAVE_LANDED and d.error_code != UNREAD
        ]
        _, refused, error = self._in_parts(marked, CHUNK_MAX)
        if error is not None:
            logger.error(
                "failures left unreconcilable",
                extra={"error": clip(error.message), "decisions": len(refused)},
            )

    def end_message(
        self, failed: list[Decision], receive_count: int, mode: Mode, body: str
    ) -> None:
        """An SQS record whose tokens failed: retry it while receives remain (RetryLater),
        else dead-letter the failures (QueueError if the DLQ refuses: the record fails)."""
        if not failed:
            return
        if receive_count < self._run.config.max_receive_count:
            first = failed[0]
            raise RetryLater(first.error_code or "Failed", first.error_message or "failed")
        self.dead_letter(failed, mode, body, carry_decisions=False)

    def record_batch(
        self, decisions: list[Decision], followed: Sequence[Decision] = ()
    ) -> list[str]:
        """Record an SQS batch's decisions (and what its follow-ups saw: ``record``); returns
        the ids of the messages whose decisions the table refused: those records must fail
        (a redelivery finds a cancel written ahead in its claim and records it)."""
        try:
            self.record(decisions, followed)
        except Unrecorded as exc:
            logger.error("audit write failed for a batch", extra={"error": clip(exc.message)})
            return list(dict.fromkeys(d.delivery_id for d in exc.unrecorded))
        return []

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
            decided_at=self._run.ports.clock.now(),
            request_id=self._run.request_id,
            dry_run=self._run.config.dry_run,
            error_code=error.code.value,
            error_message=clip(error.message),
        )
        self._run.count([Outcome.INVALID])
        try:
            self._audit.record([decision])
        except StoreError as exc:
            # The DLQ still gets it: the input is not dropped, only its audit line is.
            logger.error("audit write failed for invalid input", extra={"error": exc.message})
        self._send(
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

    # ------------------------------------------------------------------ writing
    def record(self, decisions: list[Decision], followed: Sequence[Decision] = ()) -> None:
        """Log, count and write the decisions; raise Unrecorded with those the table refuses
        even 25 at a time (the others are then written). ``followed``: cancels a follow-up
        message saw to their end, written with them but neither counted nor told again (the
        cancel was, when it was made)."""
        self._run.count(d.outcome for d in decisions)
        for decision in (*decisions, *followed):
            _log(decision)
        # A failure to read the delivery's earlier decision is never written: it might
        # replace a write-ahead nobody has seen (it is retried or dead-lettered instead).
        written = [d for d in (*decisions, *followed) if d.error_code != UNREAD]
        recorded, unrecorded, error = self._in_parts(written, CHUNK_MAX)
        again = {id(d) for d in followed}
        self._tell([d for d in recorded if id(d) not in again])
        self._ask_approval(recorded)
        if error is not None:
            raise Unrecorded(error, recorded, unrecorded)

    def _ask_approval(self, recorded: list[Decision]) -> None:
        """Decisions awaiting approval become a plan per delivery (its id the plan's), kept
        for ``cc-reaper approve`` and told to the approval topic. A plan that cannot be kept
        is logged: its requests are still stale, so the next sweep plans them again."""
        plans: dict[tuple[Source, str], list[str]] = {}
        for d in recorded:
            if d.outcome is Outcome.AWAITING_APPROVAL:
                plans.setdefault((d.source, d.delivery_id), []).append(d.token)
        for (source, plan_id), tokens in plans.items():
            plan = Plan(plan_id, source, tuple(tokens), self._run.ports.clock.now())
            try:
                self._audit.save_plan(plan)
            except StoreError as exc:
                logger.error("plan not kept", extra={"plan_id": plan_id, "error": exc.message})
                continue
            self._run.add("plans_awaiting")
            notifier = self._run.ports.notifier
            if notifier is not None:
                notifier.publish(
                    f"Cloud Control Reaper: {len(tokens)} cancel(s) await approval",
                    f"Plan {plan_id} ({source.value}) would cancel {len(tokens)} stale "
                    f"request(s). Review: cc-reaper audit --token <token>. Approve: "
                    f"cc-reaper approve {plan_id} --approved-by <you>",
                )

    def _tell(self, recorded: list[Decision]) -> None:
        """The reaper's events, for decisions recorded (the record comes first)."""
        bus = self._run.ports.events
        found = notices.entries(recorded) if bus is not None else []
        if bus is None or not found:
            return
        lost = bus.put(found)
        self._run.add("events_sent", len(found) - lost)
        self._run.add("events_not_sent", lost)

    def _in_parts(
        self, decisions: list[Decision], size: int
    ) -> tuple[list[Decision], list[Decision], StoreError | None]:
        """One write; if the table refuses it, again ``size`` decisions at a time, so a bad
        write costs its own part only. Returns (written, refused, the last error or None)."""
        if not decisions:
            return [], [], None
        try:
            self._audit.record(decisions)
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
                self._audit.record(part)
            except StoreError as exc:
                error = exc
                refused += part
            else:
                written += part
        return written, refused, (error if refused else None)

    # ------------------------------------------------------------------ dead letters
    def dead_letter(
        self, decisions: Sequence[Decision], mode: Mode, original: str, *, carry_decisions: bool
    ) -> None:
        """One letter per delivery and error code (up to 100 tokens each), replayable as is.
        ``carry_decisions``: the letter holds the decisions (the table refused them), so its
        replay records them instead of deciding again. Every letter is tried; the first
        QueueError is raised after."""
        groups: dict[tuple[Source, str, str], list[Decision]] = {}
        for decision in decisions:
            code = UNRECORDED if carry_decisions else (decision.error_code or "Failed")
            key = (decision.source, decision.delivery_id, code)
            groups.setdefault(key, []).append(decision)
        error: QueueError | None = None
        size = CARRIED_DECISIONS_BATCH if carry_decisions else DEAD_LETTER_BATCH
        for (source, delivery_id, code), group in groups.items():
            for i in range(0, len(group), size):
                chunk = group[i : i + size]
                message = (
                    f"the audit table refused these decisions ({chunk[0].error_code or ''}"
                    "); a replay records them"
                    if carry_decisions
                    else chunk[0].error_message or code
                )
                try:
                    self._send(
                        DeadLetter(
                            tokens=tuple(d.token for d in chunk),
                            mode=mode,
                            source=source,
                            delivery_id=delivery_id,
                            error_code=code,
                            error_message=message,
                            original=original,
                            failed_at=self._run.ports.clock.now(),
                            decisions=tuple(chunk) if carry_decisions else (),
                        )
                    )
                except QueueError as exc:
                    logger.error(
                        "dead letter not sent",
                        extra={"error": clip(exc.message), "tokens": len(chunk)},
                    )
                    error = error or exc
        if error is not None:
            raise error

    def _send(self, letter: DeadLetter) -> None:
        self._run.ports.dead_letters.send(
            DeadLetter(
                tokens=letter.tokens,
                mode=letter.mode,
                source=letter.source,
                delivery_id=letter.delivery_id,
                error_code=letter.error_code,
                error_message=clip(letter.error_message) or letter.error_code,
                original=letter.original[:ORIGINAL_MAX_CHARS],
                failed_at=letter.failed_at,
                decisions=letter.decisions,
            )
        )
        self._run.add("dead_lettered", max(1, len(letter.tokens)))


def dump(value: object) -> str:
    """An input as it is kept in a dead letter (cut)."""
    try:
        return json.dumps(value, default=str)[:ORIGINAL_MAX_CHARS]
    except (TypeError, ValueError):
        return repr(value)[:ORIGINAL_MAX_CHARS]


def _log(decision: Decision) -> None:
    extra = {
        "token": decision.token,
        "source": decision.source.value,
        "delivery_id": decision.delivery_id,
        "outcome": decision.outcome.value,
        "type_name": decision.type_name,
        "status_seen": decision.status_seen,
        "status_after": decision.status_after,
        "age_seconds": decision.age_seconds,
        "threshold_minutes": decision.threshold_minutes,
        "error_code": decision.error_code,
    }
    if decision.outcome in (Outcome.NOT_STALE, Outcome.FILTERED, Outcome.WATCHING):
        logger.debug("decided", extra=extra)
    elif decision.outcome is Outcome.FAILED:
        logger.warning("decided", extra={**extra, "error": decision.error_message})
    else:
        logger.info("decided", extra=extra)
