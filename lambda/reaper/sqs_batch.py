"""An SQS batch, decided together: the handler hands each record over as it parses it
(``add``), then ``finish`` decides the records at once from a pool (the shared token bucket
keeps Cloud Control within the rate budget), ends each record (ledger.py), sends the
follow-ups of the cancels (follow_ups.py: nothing waits in Lambda for a cancel to complete)
and records every decision in one write. Returns the ids of the records that must fail.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from reaper.errors import ReaperError
from reaper.follow_ups import FollowUps
from reaper.inputs import FollowUp, TokenRequest
from reaper.ledger import Ledger
from reaper.models import Decision, Outcome
from reaper.observability import logger

Decide = Callable[[TokenRequest, str], list[Decision]]


@dataclass(frozen=True, slots=True)
class Record:
    """One SQS record: a token request, or a follow-up."""

    message_id: str
    receive_count: int
    body: str
    work: TokenRequest | FollowUp


class Batch:
    def __init__(self, ledger: Ledger, decide: Decide, follow_ups: FollowUps, workers: int):
        self._ledger = ledger
        self._decide = decide
        self._follow_ups = follow_ups
        self._workers = max(1, workers)
        self._records: list[Record] = []

    def add(self, record: Record) -> None:
        self._records.append(record)

    def finish(self) -> list[str]:
        """Decide, end, follow up and record the records added; returns the ids of those
        that must fail (a token failed with receives left, a dead letter refused, the
        deadline near, a decision the table refused): SQS delivers them again."""
        records, self._records = self._records, []
        if not records:
            return []
        workers = min(self._workers, len(records))
        with ThreadPoolExecutor(workers, thread_name_prefix="record") as pool:
            results = list(pool.map(self._one, records))
        failing: list[str] = []
        decided: list[Decision] = []
        followed: list[Decision] = []
        for record, (made, raised) in zip(records, results, strict=True):
            error = raised
            if error is None and isinstance(record.work, TokenRequest):
                error = self._end(record, made)
            if error is not None:
                logger.info(
                    "record fails",
                    extra={"delivery_id": record.message_id, "error": error.code},
                )
                failing.append(record.message_id)
            (decided if isinstance(record.work, TokenRequest) else followed).extend(made)
        started = decided
        try:
            started = self._follow_ups.start(decided)
        finally:
            unrecorded = self._ledger.record_batch(started, followed)
        return list(dict.fromkeys([*failing, *unrecorded]))

    def _one(self, record: Record) -> tuple[list[Decision], ReaperError | None]:
        try:
            if isinstance(record.work, FollowUp):
                decision = self._follow_ups.handle(record.work, record.receive_count)
                return ([decision] if decision is not None else []), None
            return self._decide(record.work, record.message_id), None
        except ReaperError as exc:
            return [], exc

    def _end(self, record: Record, decisions: list[Decision]) -> ReaperError | None:
        assert isinstance(record.work, TokenRequest)
        failed = [d for d in decisions if d.outcome is Outcome.FAILED]
        try:
            self._ledger.end_message(failed, record.receive_count, record.work.mode, record.body)
        except ReaperError as exc:
            return exc
        return None
